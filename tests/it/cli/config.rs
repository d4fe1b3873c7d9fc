use crate::support::*;

#[test]
fn config_set_is_stricter_only_and_audited() {
    let d = TestDir::new();
    let owner = d.init(false);
    let cfg = |args: &[&str]| run(d.as_op("olga", &owner).arg("config").args(args));
    let r = cfg(&["set", "retention.pii_days", "14"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = cfg(&["set", "retention.pii_days", "45"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = cfg(&["set", "log.max_days", "30"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = cfg(&["set", "nonsense.key", "3"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = cfg(&["show"]);
    assert!(
        r.stdout.contains("pii_days = 14") && r.stdout.contains("mws-2020"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(d.home().join("config.toml")).unwrap();
    assert!(text.contains("pii_days = 14"));
    // Exactly one change recorded, with old and new values.
    let hits = scan_dir(&d.home().join("logs"), br#""event":"config.changed""#);
    assert_eq!(hits.iter().map(|(_, n)| n).sum::<usize>(), 1, "{hits:?}");
    let log = scan_dir(
        &d.home().join("logs"),
        br#""key":"retention.pii_days","new":"14","old":"30""#,
    );
    assert_eq!(log.len(), 1);
}

#[test]
fn a_hand_edited_looser_config_is_refused() {
    let d = TestDir::new();
    let owner = d.init(false);
    let p = d.home().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("pii_days = 30", "pii_days = 60");
    std::fs::write(&p, text).unwrap();
    let r = run(d.as_op("olga", &owner).args(["config", "show"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("retention.pii_days = 60"), "{}", r.stderr);
}
