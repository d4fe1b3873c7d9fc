//! The `fulfill` binary: parse arguments, run, print the error once, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = fulfill::cli::Cli::parse();
    match fulfill::run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            // Errors may quote remote text: never let it drive the terminal.
            eprintln!("fulfill: {}", fulfill::term::clean(&e.to_string()));
            e.exit().into()
        }
    }
}
