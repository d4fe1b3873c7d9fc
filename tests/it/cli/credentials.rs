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
            "--api",
            "mws",
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

#[test]
fn sp_api_is_the_default_and_mws_flags_say_to_pass_api_mws() {
    let (d, owner) = shop(false);
    let sk = d.secret_file("sk", "SECRETKEYVALUE/ZQXSECRET+abc\n");
    let r = run(d
        .as_op("olga", &owner)
        .args([
            "credentials",
            "set",
            "--seller-id",
            "A1SELLER",
            "--access-key-id",
            "AKIAEXAMPLE",
            "--marketplace",
            "ATVPDKIKX0DER",
            "--secret-key-file",
        ])
        .arg(&sk));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--access-key-id is an MWS flag: pass --api mws"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
    // SP-API without its flags: what it needs, and the other ways.
    let r = run(d.as_op("olga", &owner).args([
        "credentials",
        "set",
        "--seller-id",
        "A1SELLER",
        "--marketplace",
        "ATVPDKIKX0DER",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("SP-API credentials need --lwa-client-id")
            && r.stderr.contains("--from-sandbox"),
        "{}",
        r.stderr
    );
}

#[test]
fn from_sandbox_is_for_a_sandbox_home_and_a_file_the_sandbox_wrote() {
    let line = r#"{"api":"sp-api","base_url":"http://127.0.0.1:9","token_url":"http://127.0.0.1:9/auth/o2/token","lwa_client_id":"amzn1.application-oa2-client.sandbox","lwa_client_secret":"SANDBOXSECRET","refresh_token":"Atzr|sandbox","seller_id":"A1SANDBOX","marketplace_id":"ATVPDKIKX0DER","time_scale":1.0}"#;
    // A real home: refused, nothing stored.
    let (d, owner) = shop(false);
    let f = d.secret_file("sb.json", line);
    let set = |d: &TestDir, owner: &std::path::Path, f: &std::path::Path| {
        run(d
            .as_op("olga", owner)
            .args(["credentials", "set", "--from-sandbox"])
            .arg(f))
    };
    let r = set(&d, &owner, &f);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is for a sandbox home"), "{}", r.stderr);
    // A sandbox home: stored as SP-API credentials, the secret never shown.
    let (s, sowner) = shop(true);
    let f = s.secret_file("sb.json", line);
    let r = set(&s, &sowner, &f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("Stored the sandbox's SP-API credentials for seller A1SANDBOX"),
        "{}",
        r.stdout
    );
    let r = run(s
        .as_op("olga", &sowner)
        .args(["credentials", "show", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["api"], "sp-api");
    assert_eq!(v["regions"][0]["endpoint"], "http://127.0.0.1:9");
    assert_eq!(scan_dir(&s.home(), b"SANDBOXSECRET"), vec![]);
    // Not the sandbox's line, or readable by others: refused.
    let bad = s.secret_file("bad.json", "{\"hello\": 1}");
    let r = set(&s, &sowner, &bad);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is not the line `fulfill sandbox` prints"),
        "{}",
        r.stderr
    );
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert_eq!(set(&s, &sowner, &f).code, 5);
}
