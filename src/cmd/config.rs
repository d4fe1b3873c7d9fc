//! `fulfill config show|set`.

use crate::audit::Event;
use crate::cli::ConfigCmd;
use crate::config::Config;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::home::write_private;
use crate::role::Capability;

/// Runs a `config` subcommand.
pub fn run(ctx: &Context, cmd: &ConfigCmd) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    let profile = ctx.vault.profile();
    let path = ctx.vault.home().config_path();
    let mut cfg = Config::load(&path, profile)?;
    match cmd {
        ConfigCmd::Show => {
            crate::outln!(
                "# profile: {profile} (PII at most {} days, logs at least {} days)",
                profile.max_pii_days(),
                profile.min_log_days()
            );
            crate::outln!("{}", cfg.to_toml().trim_end());
        }
        ConfigCmd::Set { key, value } => {
            s.require(Capability::ManagePeople, "config.set", now)?;
            let old = cfg.clone();
            cfg.set(key, value, profile)?;
            let old_value = toml::Value::try_from(&old)
                .ok()
                .and_then(|v| lookup(&v, key));
            let ev = Event::new("config.changed")
                .operator(s.name())
                .field("key", key.as_str())
                .field("old", old_value)
                .field("new", value.as_str());
            // Record first, then write: if the record fails, the file is unchanged.
            ctx.vault.record_with(&[ev], now, |_| {
                write_private(&path, cfg.to_toml().as_bytes())
            })?;
            crate::outln!("Set {key} = {value}.");
        }
    }
    Ok(Exit::Ok)
}

fn lookup(v: &toml::Value, dotted: &str) -> Option<String> {
    dotted
        .split('.')
        .try_fold(v, |v, k| v.get(k))
        .map(ToString::to_string)
}
