//! The integration tests: one test binary (one link instead of one per file), a module per
//! subject. `cargo test --test it MODULE::` runs one subject, e.g. `--test it audit_log::`.
//! The crash test (`tests/fetch_crash.rs`) stays its own binary: it kills processes and its
//! long run is opt-in.

// Tests look at the vault's file as an operator with sqlite3 would: with a connection of
// their own (clippy.toml keeps connections out of the crate outside `vault`).
#![allow(clippy::disallowed_types)]

#[path = "../fetch_support/mod.rs"]
mod fetch_support;
#[path = "../support/mod.rs"]
mod support;

mod anchors;
mod audit_cmd;
mod audit_events;
mod audit_log;
mod bounds;
mod buy;
mod cli;
mod cli_cases;
mod cups;
mod fetch;
mod fetch_cli;
mod hostile;
mod insider;
mod label;
mod manifest;
mod migration;
mod mws_fixtures;
mod orders;
mod pacing;
mod partial;
mod pg;
mod pg_store;
mod picklist;
mod purge;
mod quick_start;
mod regions;
mod report;
mod sandbox;
mod scripts;
mod sealing;
mod ship;
mod slip;
mod sp_env;
mod spapi;
mod spapi_buy;
mod spapi_cli;
mod spapi_fixtures;
mod station;
mod stations;
mod vault;
