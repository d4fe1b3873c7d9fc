//! Ctrl-C (SIGINT) for long commands: say what was saved, then exit 130.
//!
//! A command that runs for long (`fetch`, `station`) calls [`on_interrupt`] with a closure that
//! prints its last lines (what was saved, the shift's summary). On SIGINT a thread of
//! signal-hook's takes the process-wide write gate ([`hold`]) — so no vault write and no audit
//! record is cut in half, and none starts afterwards — runs the closure and exits with 130
//! (128 + SIGINT, what a shell reports for a process Ctrl-C stopped).
//!
//! Every vault write holds the gate ([`crate::vault::Vault::record_after`] and the fetch
//! engine's page stores); a command holds it around a step whose state the closure reports
//! (a station scan: its writes and the tally the summary prints). The gate is re-entrant on
//! its thread, so a step's own writes nest in it; threads of one command (`fetch`'s regions)
//! take turns at it, so Ctrl-C finds each of them between two whole writes.

use std::cell::{Cell, RefCell};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

/// The exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

static GATE: Mutex<()> = Mutex::new(());

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static HELD: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
}

/// Holds the write gate until dropped: Ctrl-C waits for it (see the module docs).
#[derive(Debug)]
#[must_use = "the gate is released when the guard drops"]
pub struct Gate {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Takes the write gate for this thread (re-entrant).
pub fn hold() -> Gate {
    DEPTH.with(|d| {
        if d.get() == 0 {
            let g = GATE.lock().unwrap_or_else(|e| e.into_inner());
            HELD.with(|h| *h.borrow_mut() = Some(g));
        }
        d.set(d.get() + 1);
    });
    Gate {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        DEPTH.with(|d| {
            d.set(d.get() - 1);
            if d.get() == 0 {
                HELD.with(|h| drop(h.borrow_mut().take()));
            }
        });
    }
}

/// On SIGINT: wait for the write gate, run `last_words`, flush, exit 130. Installed once per
/// process (a second call adds a second handler thread; commands call it once).
pub fn on_interrupt(last_words: impl FnOnce() + Send + 'static) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
        .map_err(|e| Error::Failed(format!("cannot handle Ctrl-C: {e}")))?;
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                // Kept until the process ends: nothing writes after this.
                let _gate = GATE.lock().unwrap_or_else(|e| e.into_inner());
                last_words();
                use std::io::Write;
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        })
        .map_err(|e| Error::Failed(format!("cannot handle Ctrl-C: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> (usize, bool) {
        (DEPTH.with(Cell::get), HELD.with(|h| h.borrow().is_some()))
    }

    #[test]
    fn the_gate_nests_on_its_thread_and_is_let_go_by_the_outermost_guard() {
        assert_eq!(held(), (0, false));
        let a = hold();
        let b = hold();
        assert_eq!(held(), (2, true));
        drop(b);
        assert_eq!(held(), (1, true));
        drop(a);
        assert_eq!(held(), (0, false));
    }
}
