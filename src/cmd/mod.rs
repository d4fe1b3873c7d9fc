//! One module per subcommand: orchestration only (no SQL, crypto, HTTP or rendering here).

pub mod audit;
pub mod buy;
pub mod config;
pub mod confirm;
pub mod credentials;
pub mod demo;
pub mod fetch;
pub mod init;
pub mod label;
pub mod operator;
pub mod orders;
pub mod purge;
pub mod sandbox;
pub mod ship;
pub mod station;
