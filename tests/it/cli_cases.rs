//! The CLI contract as data: help, usage errors and exit codes from `tests/cmd/*.toml`
//! (trycmd; `TRYCMD=overwrite cargo test --test cli_cases` rewrites the expected output after a
//! deliberate change), and the generated completion scripts and man page.

use std::process::Command;

fn fulfill(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fulfill"))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn cli_cases() {
    trycmd::TestCases::new()
        .register_bin(
            "fulfill",
            std::path::Path::new(env!("CARGO_BIN_EXE_fulfill")),
        )
        .case("tests/cmd/*.toml");
}

/// Every subcommand the CLI has, from `fulfill --help` (so a new one is covered by itself).
fn subcommands() -> Vec<String> {
    let out = fulfill(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let list: Vec<String> = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands section")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        // A command's line is indented by two; a wrapped description by more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    // Positive control: the list is the real one, not an empty parse.
    for c in ["init", "fetch", "picklist", "sku", "completions", "man"] {
        assert!(list.iter().any(|s| s == c), "{c} not in {list:?}");
    }
    list
}

#[test]
fn bash_completion_names_every_subcommand() {
    let subs = subcommands();
    let out = fulfill(&["completions", "bash"]);
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("complete -F _fulfill"), "registers itself");
    // The top-level word list: `opts="... init operator ..."` in the `fulfill)` case.
    let top = script
        .lines()
        .find(|l| l.trim_start().starts_with("opts=") && l.contains(" init "))
        .expect("the top-level word list");
    let words: Vec<&str> = top
        .trim_start()
        .trim_start_matches("opts=\"")
        .trim_end_matches('"')
        .split_whitespace()
        .collect();
    for s in &subs {
        assert!(words.contains(&s.as_str()), "bash completion lacks {s}");
    }
    // Positive control: a word that is not a subcommand is not offered.
    assert!(!words.contains(&"frobnicate"));
    // And the others generate.
    for shell in ["zsh", "fish"] {
        let out = fulfill(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let s = String::from_utf8(out.stdout).unwrap();
        assert!(
            s.contains("picklist") && s.contains("set-location"),
            "{shell}"
        );
    }
}

#[test]
fn the_man_page_is_roff_naming_every_command() {
    let subs = subcommands();
    let out = fulfill(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = page.lines().collect();
    let th = lines
        .iter()
        .position(|l| l.starts_with(".TH fulfill 1 "))
        .expect("a .TH fulfill 1 title line");
    assert!(
        lines[..th]
            .iter()
            .all(|l| l.starts_with(".ie ") || l.starts_with(".el ")),
        "only conditionals before .TH"
    );
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(
            lines.contains(&format!(".SH {section}").as_str()),
            "no {section} section"
        );
    }
    // Every line is a request/macro line, a roff comment or text; no raw control characters.
    assert!(page.chars().all(|c| c == '\n' || !c.is_control()));
    for s in &subs {
        // Hyphens are escaped in roff: `fulfill\-set` etc.
        let name = format!("fulfill\\-{}(1)", s.replace('-', "\\-"));
        assert!(page.contains(&name), "man page does not name {s}");
    }
    assert!(!page.contains("fulfill\\-help(1)"), "no page for `help`");
    // --out-dir writes every page the top one refers to, and the subcommands' own.
    let dir = tempfile::tempdir().unwrap();
    let out = fulfill(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dir.path().join("fulfill.1")).unwrap(),
        page.as_bytes()
    );
    for s in &subs {
        let p = dir.path().join(format!("fulfill-{s}.1"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(text.contains(&format!(".TH fulfill-{s} 1 ")), "{s}");
    }
    assert!(dir.path().join("fulfill-sku-set-location.1").exists());
    assert!(!dir.path().join("fulfill-help.1").exists());
    // When groff is installed, it formats the page without a single warning.
    if let Ok(mut child) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let r = child.wait_with_output().unwrap();
        assert!(r.status.success());
        assert_eq!(String::from_utf8_lossy(&r.stderr), "", "groff warnings");
    }
}

/// The command line of an example, parsed by the real CLI definition.
fn parses(line: &str) {
    use clap::Parser;
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args[0].rsplit('/').next(), Some("fulfill"), "{line}");
    if let Err(e) = fulfill::cli::Cli::try_parse_from(&args) {
        panic!("{line}: {e}");
    }
}

#[test]
fn the_examples_run_commands_the_cli_has_and_the_units_are_hardened() {
    let crontab = std::fs::read_to_string("examples/cron/crontab").unwrap();
    let jobs: Vec<&str> = crontab
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.contains('='))
        .collect();
    assert_eq!(jobs.len(), 3, "fetch, confirm, purge");
    for job in &jobs {
        let fields: Vec<&str> = job.split_whitespace().collect();
        assert!(fields.len() > 5, "{job}");
        parses(&fields[5..].join(" "));
    }
    for (cmd, every) in [("fetch", "*/5"), ("confirm", "2-59/5"), ("purge", "17")] {
        assert!(
            jobs.iter()
                .any(|j| j.starts_with(every) && j.ends_with(&format!("fulfill {cmd}"))),
            "{cmd}"
        );
    }
    assert!(crontab.contains("FULFILL_KEY_FILE=") && crontab.contains("FULFILL_OPERATOR=cron"));

    for cmd in ["fetch", "confirm", "purge"] {
        let unit =
            std::fs::read_to_string(format!("examples/systemd/fulfill-{cmd}.service")).unwrap();
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart");
        parses(exec);
        assert!(exec.ends_with(&format!(" {cmd}")), "{exec}");
        for key in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "UMask=0077",
            "LimitCORE=0",
            "Type=oneshot",
        ] {
            assert!(unit.lines().any(|l| l == key), "{cmd}: no {key}");
        }
        assert_eq!(
            unit.contains("LoadCredential=cron.key:"),
            cmd != "purge",
            "{cmd}: only fetch and confirm need the key file"
        );
        let timer =
            std::fs::read_to_string(format!("examples/systemd/fulfill-{cmd}.timer")).unwrap();
        assert!(timer.contains("OnCalendar=") && timer.contains("WantedBy=timers.target"));
    }
    // Positive control: a command the CLI does not have is caught.
    assert!(std::panic::catch_unwind(|| parses("fulfill frobnicate")).is_err());
}
