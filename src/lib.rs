//! fulfill: merchant-fulfilled Amazon orders in an encrypted local vault.
//!
//! The binary (`src/main.rs`) only parses arguments and calls [`run`]. Everything else lives
//! here so tests, benchmarks and the demo drive the same code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod clock;
pub mod cmd;
pub mod error;
pub mod mws;
pub mod pii;
pub mod sandbox;

pub use error::{Error, Exit, Result};

/// Runs one command line and returns the exit code to end with.
pub fn run(cli: cli::Cli) -> Result<Exit> {
    match cli.command {
        cli::Command::Sandbox(args) => cmd::sandbox::run(&args),
        _ => Err(Error::usage("not built yet")),
    }
}
