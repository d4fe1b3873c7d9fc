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

/// The top-level man page as roff.
pub fn page() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command()).render(&mut out)?;
    Ok(out)
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
        }
    }
    Ok(Exit::Ok)
}
