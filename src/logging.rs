//! The diagnostic log: `tracing` to stderr (short, for people) and to daily files
//! `HOME/logs/fulfill.log.YYYY-MM-DD` (operational detail). PII-free like everything else.
//!
//! This is not the audit log: tracing-appender's non-blocking writer drops lines when its
//! buffer is full, which is acceptable for diagnostics and not for audit records.

use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// Keeps the file writer flushing until dropped.
#[derive(Debug)]
pub struct LogGuard {
    _guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the subscriber once per process: level from `RUST_LOG`, else `-v` (warn, info,
/// debug). Later calls (tests running several commands in one process) change nothing.
pub fn init(logs_dir: Option<&Path>, verbose: u8) -> LogGuard {
    // stderr is for people: warnings unless asked (-v info, -vv debug). The file is for
    // operations: info and up, debug with -vv. RUST_LOG overrides both.
    let level = |quiet: &str| match verbose {
        0 => quiet.to_string(),
        1 => "info".to_string(),
        _ => "debug".to_string(),
    };
    let filter = |default: String| {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("fulfill={default}")))
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(filter(level("warn")));
    match logs_dir {
        Some(dir) => {
            let appender = tracing_appender::rolling::daily(dir, "fulfill.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter(level("info")));
            let ok = tracing_subscriber::registry()
                .with(stderr)
                .with(file)
                .try_init()
                .is_ok();
            LogGuard {
                _guard: ok.then_some(guard),
            }
        }
        None => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            LogGuard { _guard: None }
        }
    }
}
