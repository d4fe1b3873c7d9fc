//! `fulfill sandbox`: serve the built-in fake MWS until killed.

use crate::cli::SandboxArgs;
use crate::{Error, Exit, Result};

/// Runs the sandbox command.
pub fn run(_args: &SandboxArgs) -> Result<Exit> {
    Err(Error::usage("sandbox: not built yet"))
}
