//! `fulfill completions bash|zsh|fish`: a completion script generated from [`crate::cli`].
//!
//! Needs no home and no vault. Install, e.g.:
//! `fulfill completions bash > ~/.local/share/bash-completion/completions/fulfill`.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs, ShellArg};
use crate::error::{Exit, Result};

/// The completion script for `shell`.
pub fn script(shell: ShellArg) -> Vec<u8> {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "fulfill", &mut out);
    out
}

/// Prints the script to stdout.
pub fn run(args: &CompletionsArgs) -> Result<Exit> {
    super::write_stdout(&script(args.shell))?;
    Ok(Exit::Ok)
}
