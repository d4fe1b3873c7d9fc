//! fulfill: merchant-fulfilled Amazon orders in an encrypted local vault.
//!
//! The binary (`src/main.rs`) only parses arguments and calls [`run`]. Everything else lives
//! here so tests, benchmarks and the demo drive the same code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod calls;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod context;
pub mod error;
pub mod flow;
pub mod home;
pub mod interrupt;
pub mod label;
pub mod logging;
pub mod market;
pub mod model;
pub mod mws;
pub mod pii;
pub mod role;
pub mod safety;
pub mod sandbox;
pub mod spapi;
pub mod store;
pub mod term;
pub mod vault;

pub use error::{Error, Exit, Result};

/// `println!` for command output that ends quietly when stdout is closed (`fulfill orders |
/// head`) instead of panicking. Everything it follows has already been committed.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut out = ::std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*) {
            if e.kind() == ::std::io::ErrorKind::BrokenPipe {
                ::std::process::exit(0);
            }
        }
    }};
}

/// Runs one command line and returns the exit code to end with.
pub fn run(cli: cli::Cli) -> Result<Exit> {
    safety::harden_process();
    let g = &cli.global;
    match &cli.command {
        cli::Command::Init(args) => cmd::init::run(g, args),
        cli::Command::Restore(args) => cmd::backup::restore(g, args),
        cli::Command::Demo(args) => {
            let _log = logging::init(None, g.verbose);
            cmd::demo::run(args)
        }
        cli::Command::Sandbox(args) => {
            let _log = logging::init(None, g.verbose);
            cmd::sandbox::run(args)
        }
        cli::Command::Completions(args) => cmd::completions::run(args),
        cli::Command::Man(args) => cmd::man::run(args),
        command => {
            let ctx = context::Context::open(g)?;
            if matches!(command, cli::Command::Purge(_) | cli::Command::Audit(_)) {
                // `audit` is there to report a broken log, and `purge`'s deletions must not
                // wait for one; every other command refuses to write to it (exit 5).
                ctx.vault.tolerate_log_breaks();
            }
            let _log = logging::init(Some(&ctx.vault.home().logs_dir()), g.verbose);
            match command {
                cli::Command::Operator(c) => cmd::operator::run(&ctx, c),
                cli::Command::Credentials(c) => cmd::credentials::run(&ctx, c),
                cli::Command::Rekey(a) => cmd::rekey::run(&ctx, a),
                cli::Command::Backup(a) => cmd::backup::backup(&ctx, a),
                cli::Command::Fetch(a) => cmd::fetch::run(&ctx, a),
                cli::Command::Orders(a) => cmd::orders::run(&ctx, a),
                cli::Command::Config(c) => cmd::config::run(&ctx, c),
                cli::Command::Purge(a) => cmd::purge::run(&ctx, a),
                cli::Command::Audit(a) => cmd::audit::run(&ctx, a),
                cli::Command::Label(a) => cmd::label::run(&ctx, a),
                cli::Command::Slip(a) => cmd::slip::run(&ctx, a),
                cli::Command::Buy(a) => cmd::buy::run(&ctx, a),
                cli::Command::Ship(a) => cmd::ship::run(&ctx, a),
                cli::Command::Station(a) => cmd::station::run(&ctx, a),
                cli::Command::Confirm(a) => cmd::confirm::run(&ctx, a),
                cli::Command::Picklist(a) => cmd::picklist::run(&ctx, a),
                cli::Command::Manifest(a) => cmd::manifest::run(&ctx, a),
                cli::Command::Sku(c) => cmd::sku::run(&ctx, c),
                cli::Command::Init(_)
                | cli::Command::Restore(_)
                | cli::Command::Sandbox(_)
                | cli::Command::Demo(_)
                | cli::Command::Completions(_)
                | cli::Command::Man(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}
