//! The `fulfill` binary: one integration test binary, a module per command.

#[path = "../support/mod.rs"]
mod support;

mod config;
mod credentials;
mod demo;
mod init;
mod operator;
mod safety;
