//! The workflows, free of protocol names and SQL: they drive a [`crate::market::Marketplace`]
//! and the vault's store functions.

pub mod buy;
pub mod confirm;
pub mod fetch;
pub mod retention;
pub mod ship;
pub mod station;
