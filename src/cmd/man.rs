//! `fulfill man`: the man pages (roff, section 1) generated from [`crate::cli`].
//!
//! Needs no home and no vault. Install, e.g.:
//! `fulfill man > ~/.local/share/man/man1/fulfill.1`, or every page at once with
//! `fulfill man --out-dir ~/.local/share/man/man1`.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{Error, Exit, Result};

/// The command the pages describe (no `help` subcommand: it has no page).
fn command() -> clap::Command {
    Cli::command().disable_help_subcommand(true)
}

/// Exit status: code and meaning. The README's "Exit codes" table is this table (a test
/// keeps them equal), so the man page and the README say the same.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (0, "success"),
    (
        1,
        "audit findings, some orders or confirmations failed, `fetch`: some SP-API regions failed (the others were fetched), or an operational failure (disk full, I/O; a printer or CUPS queue that does not answer, does not exist or refuses the job)",
    ),
    (2, "usage error or bad input"),
    (3, "wrong passphrase, operator locked, or action denied"),
    (
        4,
        "Amazon or the network failed after retries (`fetch`: in every region), or a remote wait reached its bound (a reply, one wait, the run's time limit, a listing that does not end; see `docs/sp-api.md`)",
    ),
    (
        5,
        "vault integrity failure, audit log broken or not writable, or unsafe environment",
    ),
    (
        6,
        "`buy`: a label purchase that may have been bought, which Amazon would neither hand back nor rule out (it refused the purchase and says the order is shipped): print the label from Seller Central; the purchase stays noted and `audit` lists it until a later `buy` is answered or the shipment is recorded",
    ),
    (
        130,
        "interrupted by Ctrl-C (SIGINT): `fetch` says what it saved, `station` prints the shift's summary, after the write in hand is finished",
    ),
];

/// Environment variables read, and what for.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "FULFILL_HOME",
        "the home folder (as --home); default $XDG_DATA_HOME/fulfill, else ~/.local/share/fulfill",
    ),
    (
        "FULFILL_OPERATOR",
        "the operator to act as (as --operator); default the OS user",
    ),
    (
        "FULFILL_PASSPHRASE_FILE",
        "a file (0600) holding the operator's passphrase (as --passphrase-file); passphrases are never taken from the command line or the environment itself",
    ),
    (
        "FULFILL_TOTP_FILE",
        "a file holding the one-time code of an operator with a second factor (as --totp-file)",
    ),
    (
        "FULFILL_KEY_FILE",
        "a service operator's 32-byte key file (as --operator-key-file)",
    ),
    (
        "FULFILL_FONT_DIRS",
        "folders (colon-separated) searched for the Chinese, Japanese and Korean fonts labels and slips need, instead of /usr/share/fonts, /usr/local/share/fonts and ~/.local/share/fonts",
    ),
    (
        "CUPS_SERVER",
        "the CUPS server `--to cups:QUEUE` prints through, as for lp: a socket path or localhost:PORT (default /run/cups/cups.sock, then localhost:631); a remote server is refused",
    ),
    (
        "TZ",
        "the time zone of local times shown (orders' ship-by, the manifest's day, the audit report)",
    ),
    (
        "FULFILL_NOW",
        "a clock override (as the hidden --now), honoured only by a sandbox home: tests and the demo",
    ),
    ("XDG_DATA_HOME", "where the default home lives"),
    (
        "RUST_LOG",
        "the diagnostic log's filter (as -v); diagnostics never hold PII",
    ),
];

/// The files of a home, and what each holds.
pub const FILES: &[(&str, &str)] = &[
    (
        "HOME/vault.db",
        "the vault (SQLite): operators, their wrapped keys, orders with sealed PII, shipments",
    ),
    (
        "HOME/keyring",
        "the wrapped epoch data keys that open the sealed PII, apart from the rows; a key dies by being overwritten in place",
    ),
    (
        "HOME/config.toml",
        "retention numbers (never looser than the policy profile), ship-from address, anchors, business name; change it with `fulfill config set`",
    ),
    (
        "HOME/logs/audit-YYYY-MM-DD.jsonl",
        "the audit log: hash-chained, forward-secure MACs, no PII",
    ),
    (
        "HOME/logs/audit.key",
        "the audit log writer's current key (moves on after every record)",
    ),
    ("HOME/logs/fulfill.log.*", "the diagnostic log (no PII)"),
    (
        "HOME/spool/",
        "label and slip files under generated names, destroyed by `purge` with their order's PII",
    ),
];

/// Examples: (what, command).
pub const EXAMPLES: &[(&str, &str)] = &[
    ("The whole flow on the built-in sandbox", "fulfill demo"),
    ("Make a home and its owner", "fulfill init --owner olga"),
    (
        "Add a packer",
        "fulfill --operator olga operator add pat --role packer",
    ),
    (
        "Fetch new orders (cron, with a key file)",
        "fulfill --operator cron --operator-key-file ~/cron.key fetch",
    ),
    (
        "List the most urgent orders",
        "fulfill --operator pat orders --late",
    ),
    (
        "Print every unshipped order's label to a printer",
        "fulfill --operator pat label --all-unshipped --to tcp://10.0.0.20:9100",
    ),
    (
        "Record a shipment, then confirm it to Amazon",
        "fulfill --operator pat ship ORDER --carrier UPS --tracking 1Z999AA10123456784",
    ),
    (
        "Destroy PII past its retention (cron, daily)",
        "fulfill --operator cron purge",
    ),
    (
        "Audit, with the report a manager reads",
        "fulfill --operator olga audit --html audit.html --pdf audit.pdf",
    ),
];

/// The top-level man page as roff: clap's sections, then EXIT STATUS, ENVIRONMENT, FILES and
/// EXAMPLES from the tables above.
pub fn page() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command()).render(&mut out)?;
    extra_sections().to_writer(&mut out)?;
    Ok(out)
}

fn extra_sections() -> clap_mangen::roff::Roff {
    use clap_mangen::roff::{Roff, bold, roman};
    let mut r = Roff::new();
    let plain = |s: &str| s.replace('`', "");
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        r.control("TP", [] as [&str; 0]);
        r.text([bold(code.to_string())]);
        r.text([roman(plain(meaning))]);
    }
    for (title, rows) in [("ENVIRONMENT", ENVIRONMENT), ("FILES", FILES)] {
        r.control("SH", [title]);
        for (name, what) in rows {
            r.control("TP", [] as [&str; 0]);
            r.text([bold(*name)]);
            r.text([roman(plain(what))]);
        }
    }
    r.control("SH", ["EXAMPLES"]);
    for (what, cmd) in EXAMPLES {
        r.text([roman(format!("{what}:"))]);
        r.control("RS", [] as [&str; 0]);
        r.text([bold(*cmd)]);
        r.control("RE", [] as [&str; 0]);
        r.control("PP", [] as [&str; 0]);
    }
    r
}

/// Prints the man page to stdout, or writes every page into `--out-dir`.
pub fn run(args: &ManArgs) -> Result<Exit> {
    match &args.out_dir {
        None => super::write_stdout(&page()?)?,
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::usage(format!(
                    "man: {} is not a folder",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(command(), dir).map_err(|e| {
                Error::Failed(format!("man: cannot write into {}: {e}", dir.display()))
            })?;
            // The top page with the sections clap does not make.
            let top = dir.join("fulfill.1");
            std::fs::write(&top, page()?)
                .map_err(|e| Error::Failed(format!("man: cannot write {}: {e}", top.display())))?;
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "Exit codes" table is [`EXIT_STATUS`], row for row.
    #[test]
    fn the_readme_exit_codes_are_the_man_pages() {
        let readme = include_str!("../../README.md");
        let table: Vec<String> = readme
            .lines()
            .skip_while(|l| *l != "## Exit codes")
            .skip_while(|l| !l.starts_with("| 0 |"))
            .take_while(|l| l.starts_with('|'))
            .map(str::to_string)
            .collect();
        let want: Vec<String> = EXIT_STATUS
            .iter()
            .map(|(c, m)| format!("| {c} | {m} |"))
            .collect();
        assert_eq!(table, want);
        // And every exit code the program has is in it.
        for e in [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::Denied,
            Exit::Remote,
            Exit::Unsafe,
            Exit::Unresolved,
        ] {
            assert!(EXIT_STATUS.iter().any(|(c, _)| *c == e as u8), "{e:?}");
        }
    }

    #[test]
    fn the_page_has_exit_status_environment_files_and_examples() {
        let page = String::from_utf8(page().unwrap()).unwrap();
        for s in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
        ] {
            assert!(page.contains(s), "{s}");
        }
        assert!(page.contains("FULFILL_PASSPHRASE_FILE"));
        assert!(page.contains("HOME/keyring"));
    }
}
