//! One module per subcommand: orchestration only (no SQL, crypto, HTTP or rendering here).

pub mod init;
pub mod operator;
pub mod sandbox;
