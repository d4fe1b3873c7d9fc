//! `fulfill man`: the man page (roff, section 1) generated from [`crate::cli`].
//!
//! Needs no home and no vault. Install, e.g.:
//! `fulfill man > ~/.local/share/man/man1/fulfill.1`.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Exit, Result};

/// The man page as roff.
pub fn page() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// Prints the man page to stdout.
pub fn run() -> Result<Exit> {
    super::write_stdout(&page()?)?;
    Ok(Exit::Ok)
}
