use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::*;

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_makes_a_private_home_and_refuses_an_existing_one() {
    let d = TestDir::new();
    let pf = d.secret_file("pass", "owner passphrase, long enough\n");
    // No --profile: the current policy, dpp-2025, which says how to enrol the second factor.
    let r = run(d
        .fulfill()
        .args(["init", "--owner", "olga", "--passphrase-file"])
        .arg(&pf));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("(profile dpp-2025)"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("`fulfill --operator olga operator totp-enroll` shows a QR code"),
        "{}",
        r.stdout
    );
    let h = d.home();
    assert_eq!(mode(&h), 0o700);
    for f in ["vault.db", "config.toml"] {
        assert_eq!(mode(&h.join(f)), 0o600, "{f}");
    }
    for sub in ["logs", "spool"] {
        assert_eq!(mode(&h.join(sub)), 0o700, "{sub}");
    }
    let cfg = fs::read_to_string(h.join("config.toml")).unwrap();
    assert!(
        cfg.contains("pii_days = 30") && cfg.contains("max_days = 365"),
        "{cfg}"
    );
    // Until the owner enrols, only `operator totp-enroll` works.
    let r = run(d.as_op("olga", &pf).args(["operator", "list"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("operator totp-enroll"), "{}", r.stderr);
    let again = run(d
        .fulfill()
        .args([
            "init",
            "--profile",
            "mws-2020",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf));
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn init_refuses_a_short_passphrase_and_leaves_nothing_behind() {
    let d = TestDir::new();
    let pf = d.secret_file("pass", "short\n");
    let r = run(d
        .fulfill()
        .args([
            "init",
            "--profile",
            "mws-2020",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("too short"), "{}", r.stderr);
    assert!(!d.home().exists());
}

#[test]
fn init_without_passphrase_or_tty_is_a_usage_error() {
    let d = TestDir::new();
    let r = run(d
        .fulfill()
        .args(["init", "--profile", "mws-2020", "--owner", "olga"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("passphrase"), "{}", r.stderr);
}

#[test]
fn now_override_only_in_a_sandbox_home() {
    let d = TestDir::new();
    let pf = d.secret_file("pass", "owner passphrase, long enough\n");
    let r = run(d
        .fulfill()
        .args([
            "--now",
            "2026-01-01T00:00:00Z",
            "init",
            "--profile",
            "mws-2020",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("sandbox"), "{}", r.stderr);
    assert_eq!(
        run(d
            .fulfill()
            .args([
                "init",
                "--profile",
                "mws-2020",
                "--owner",
                "olga",
                "--passphrase-file"
            ])
            .arg(&pf))
        .code,
        0
    );
    let r = run(d
        .fulfill()
        .args([
            "--now",
            "2026-01-01T00:00:00Z",
            "--operator",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf)
        .args(["operator", "list"]));
    assert_eq!(r.code, 2, "{}", r.stderr);

    let s = TestDir::new();
    let pf = s.secret_file("pass", "owner passphrase, long enough\n");
    let r = run(s
        .fulfill()
        .args([
            "--now",
            "2026-01-01T00:00:00Z",
            "init",
            "--profile",
            "mws-2020",
            "--sandbox",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(s
        .fulfill()
        .args([
            "--now",
            "2026-02-03T04:05:06Z",
            "--operator",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf)
        .args(["operator", "list", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("2026-02-03T04:05:06Z"),
        "last used follows --now: {}",
        r.stdout
    );
    assert!(s.home().join("logs/audit-2026-02-03.jsonl").exists());
}
