use crate::support::*;

struct Shop {
    d: TestDir,
    owner: std::path::PathBuf,
}

impl Shop {
    fn new() -> Shop {
        let d = TestDir::new();
        let owner = d.init(false);
        Shop { d, owner }
    }

    fn as_op(&self, name: &str, pass: &std::path::Path) -> std::process::Command {
        self.d.as_op(name, pass)
    }

    fn add(
        &self,
        by: &str,
        by_pass: &std::path::Path,
        name: &str,
        role: &str,
    ) -> (Run, std::path::PathBuf) {
        self.d.add_operator(by, by_pass, name, role)
    }

    fn audit_text(&self) -> String {
        self.d.audit_text()
    }
}

#[test]
fn admin_cannot_add_a_packer_but_the_owner_can() {
    let s = Shop::new();
    let (r, admin) = s.add("olga", &s.owner, "adam", "admin");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, _) = s.add("adam", &admin, "pat", "packer");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("PII key"), "{}", r.stderr);
    let (r, _) = s.add("adam", &admin, "pia", "picker");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, _) = s.add("olga", &s.owner, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = s.audit_text();
    assert!(
        log.contains(r#""event":"access.denied""#) && log.contains(r#""action":"operator.add""#),
        "{log}"
    );
}

#[test]
fn wrong_passphrase_exits_3_and_ten_lock_until_unlocked() {
    let s = Shop::new();
    let (_, packer) = s.add("olga", &s.owner, "pat", "packer");
    let bad = s.d.secret_file("bad", "not the right passphrase\n");
    for i in 1..=10 {
        let r = run(s.as_op("pat", &bad).args(["operator", "list"]));
        assert_eq!(r.code, 3, "attempt {i}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    }
    let r = run(s.as_op("pat", &packer).args(["operator", "list"]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    let r = run(s
        .as_op("olga", &s.owner)
        .args(["operator", "unlock", "pat"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A packer may not list operators (that is people management), but it can unlock now.
    let r = run(s.as_op("pat", &packer).args(["operator", "list"]));
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("may not manage operators"),
        "{}",
        r.stderr
    );
    let log = s.audit_text();
    for ev in [
        "unlock.failed",
        "operator.locked",
        "operator.unlocked",
        "unlock.ok",
    ] {
        assert!(log.contains(&format!(r#""event":"{ev}""#)), "{ev} missing");
    }
}

#[test]
fn no_passphrase_and_no_tty_exits_3() {
    let s = Shop::new();
    let r = run(s
        .d
        .fulfill()
        .args(["--operator", "olga", "operator", "list"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("--passphrase-file"), "{}", r.stderr);
}

#[test]
fn list_json_field_names_are_pinned() {
    let s = Shop::new();
    let r = run(s
        .as_op("olga", &s.owner)
        .args(["operator", "list", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let obj = v[0].as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created",
            "created_by",
            "credential",
            "disabled",
            "last_used",
            "locked",
            "name",
            "role"
        ]
    );
    assert_eq!(obj["role"], "owner");
}

#[test]
fn fetcher_key_file_written_private_and_unlocks() {
    let s = Shop::new();
    let kf = s.d.path().join("cron.key");
    let r = run(s
        .as_op("olga", &s.owner)
        .args(["operator", "add", "cron", "--role", "fetcher", "--key-file"])
        .arg(&kf));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::metadata(&kf).unwrap().len(), 32);
    // The fetcher unlocks with its key file (and is then refused people management).
    let r = run(s
        .d
        .fulfill()
        .args(["--operator", "cron", "--operator-key-file"])
        .arg(&kf)
        .args(["operator", "list"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("role fetcher"), "{}", r.stderr);
    assert!(
        s.audit_text()
            .contains(r#""event":"unlock.ok","operator":"cron""#)
    );
}

#[test]
fn passwd_and_disable() {
    let s = Shop::new();
    let (_, pat) = s.add("olga", &s.owner, "pat", "packer");
    let newp = s.d.secret_file("pat2", "a brand new passphrase\n");
    let r = run(s
        .as_op("pat", &pat)
        .args(["operator", "passwd", "--new-passphrase-file"])
        .arg(&newp));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(run(s.as_op("pat", &pat).args(["operator", "list"])).code, 3);
    let r = run(s
        .as_op("olga", &s.owner)
        .args(["operator", "disable", "pat"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(s.as_op("pat", &newp).args(["operator", "list"]));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("disabled"), "{}", r.stderr);
    let log = s.audit_text();
    assert!(
        log.contains(r#""event":"operator.passwd""#)
            && log.contains(r#""event":"operator.disabled""#)
    );
}
