use crate::support::*;

fn shop(sandbox: bool) -> (TestDir, std::path::PathBuf) {
    let d = TestDir::new();
    let owner = d.init(sandbox);
    (d, owner)
}

fn set(d: &TestDir, who: &str, pass: &std::path::Path, endpoint: &str) -> Run {
    let sk = d.secret_file("sk", "SECRETKEYVALUE/ZQXSECRET+abc\n");
    run(d
        .as_op(who, pass)
        .args([
            "credentials",
            "set",
            "--seller-id",
            "A1SELLER",
            "--access-key-id",
            "AKIAEXAMPLE",
            "--marketplace",
            "ATVPDKIKX0DER",
            "--endpoint",
            endpoint,
            "--secret-key-file",
        ])
        .arg(sk))
}

#[test]
fn credentials_are_sealed_shown_without_the_secret_and_audited() {
    let (d, owner) = shop(false);
    let r = set(&d, "olga", &owner, "https://mws.amazonservices.com");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(d
        .as_op("olga", &owner)
        .args(["credentials", "show", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("ZQXSECRET"), "{}", r.stdout);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_key_id",
            "auth_token",
            "endpoint",
            "marketplaces",
            "seller_id",
            "time_scale",
            "updated_at",
            "updated_by"
        ]
    );
    // Sealed: the secret is nowhere in the home's files, and the change is in the audit log.
    assert_eq!(scan_dir(&d.home(), b"ZQXSECRET"), vec![]);
    let log = scan_dir(&d.home().join("logs"), br#""event":"credentials.changed""#);
    assert_eq!(log.len(), 1, "{log:?}");
}

#[test]
fn plain_http_only_for_a_loopback_sandbox_from_a_sandbox_home() {
    let (d, owner) = shop(false);
    let r = set(&d, "olga", &owner, "http://127.0.0.1:9000");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("sandbox home"), "{}", r.stderr);
    let r = set(&d, "olga", &owner, "http://mws.amazonservices.com");
    assert_eq!(r.code, 2, "{}", r.stderr);
    let (s, sowner) = shop(true);
    assert_eq!(set(&s, "olga", &sowner, "http://127.0.0.1:9000").code, 0);
    assert_eq!(set(&s, "olga", &sowner, "http://192.168.1.10:9000").code, 2);
}

#[test]
fn only_owner_or_admin_set_and_roles_without_the_key_cannot_show() {
    let (d, owner) = shop(false);
    assert_eq!(
        set(&d, "olga", &owner, "https://mws.amazonservices.com").code,
        0
    );
    for (name, role) in [("pia", "picker"), ("pat", "packer"), ("adam", "admin")] {
        let (r, _) = d.add_operator("olga", &owner, name, role);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let pass = |n: &str| d.path().join(format!("{n}.pass"));
    // A packer holds the secrets key (it calls Amazon) but may not change credentials.
    assert_eq!(
        set(&d, "pat", &pass("pat"), "https://mws.amazonservices.com").code,
        3
    );
    assert_eq!(
        set(
            &d,
            "adam",
            &pass("adam"),
            "https://mws-eu.amazonservices.com"
        )
        .code,
        0
    );
    let show = |n: &str| run(d.as_op(n, &pass(n)).args(["credentials", "show"]));
    assert_eq!(show("pat").code, 0);
    let r = show("pia");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no secrets key"), "{}", r.stderr);
}
