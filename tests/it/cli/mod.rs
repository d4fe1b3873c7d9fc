//! The `fulfill` binary, command by command (init, operator, config, credentials, safety, demo).

mod config;
mod credentials;
mod demo;
mod init;
mod operator;
mod safety;
