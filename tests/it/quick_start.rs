//! The README's Quick start, run as written: its `sh` block is read from README.md and each
//! line runs in bash with the built binary first on PATH, against the built-in sandbox. What
//! a person would type at the prompts comes from the documented files instead
//! (`FULFILL_PASSPHRASE_FILE`, `FULFILL_TOTP_FILE`), and the enrolment's code is the one an
//! authenticator app would show for the link it prints. Each line runs one minute after the
//! last on the sandbox home's clock (`FULFILL_NOW`), so every unlock has a fresh code.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use crate::support::{OWNER_PASS, TestDir};

/// The commands of the README's Quick start block, one per line, as written.
fn quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Quick start\n")
        .nth(1)
        .expect("a Quick start section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a sh block in the Quick start");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// `line` without its trailing comment.
fn command_of(line: &str) -> &str {
    line.split("  #").next().unwrap_or(line).trim()
}

#[test]
fn the_quick_start_runs_as_written_against_the_sandbox() {
    let lines = quick_start();
    // Positive control: the block is the one the README shows.
    assert!(lines.len() >= 6, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("--from-sandbox")),
        "{lines:?}"
    );
    let dir = TestDir::new();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_fulfill"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pass = dir.secret_file("olga.pass", OWNER_PASS);
    let code_file = dir.path().join("code");
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut app: Option<totp_rs::Totp> = None;
    let mut exports = String::new();
    let mut background: Vec<Child> = Vec::new();
    let mut last = String::new();
    let mut all = String::new();
    for (i, line) in lines.iter().enumerate() {
        let cmd = command_of(line);
        if cmd.starts_with("export ") {
            exports.push_str(cmd);
            exports.push('\n');
            continue;
        }
        let now = t0 + chrono::Duration::minutes(i as i64);
        if let Some(a) = &app {
            dir.secret_file("code", &a.generate(now.timestamp() as u64).to_string());
        }
        let mut c = Command::new("bash");
        c.env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("USER", "nobody-in-particular")
            .env("FULFILL_NOW", now.to_rfc3339())
            .env("FULFILL_PASSPHRASE_FILE", &pass)
            .env("FULFILL_TOTP_FILE", &code_file)
            .current_dir(dir.path());
        if let Some(bg) = cmd.strip_suffix('&') {
            // A job left running (the sandbox): kept, and stopped at the end.
            let child = c
                .args(["-c", &format!("{exports}exec {bg}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            background.push(child);
            continue;
        }
        let mut child = c
            .args(["-ec", &format!("{exports}{line}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take();
        let mut out = String::new();
        for l in BufReader::new(child.stdout.take().unwrap()).lines() {
            let l = l.unwrap();
            // totp-enroll: the code the app shows for the link it was given.
            if l.starts_with("otpauth://") {
                let a = totp_rs::Totp::from_url(&l).unwrap();
                let code = a.generate(now.timestamp() as u64).to_string();
                writeln!(stdin.take().expect("asked once"), "{code}").unwrap();
                app = Some(a);
            }
            out.push_str(&l);
            out.push('\n');
        }
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success(),
            "README Quick start line {} failed ({}):\n{line}\n{out}{err}",
            i + 1,
            o.status
        );
        all.push_str(&out);
        last = out;
    }
    for mut b in background {
        assert!(b.try_wait().unwrap().is_none(), "the sandbox stopped early");
        b.kill().unwrap();
        b.wait().unwrap();
    }
    // The defaults a first hour meets: the current profile, the second factor, SP-API.
    for said in [
        "(profile dpp-2025)",
        "Second factor enrolled for olga.",
        "Stored the sandbox's SP-API credentials",
        "Fetched: ",
    ] {
        assert!(all.contains(said), "{said:?} not in:\n{all}");
    }
    // The last line lists the fetched orders (sandbox order ids), never PII.
    assert!(
        last.lines().any(|l| l
            .split_whitespace()
            .next()
            .is_some_and(|w| { fulfill::mws::ids::order_id(w).is_ok() })),
        "no order listed:\n{last}"
    );
}
