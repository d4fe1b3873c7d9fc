//! `fulfill audit` through the binary: a clean home passes; leaks, overdue PII, stray label
//! files, loose permissions, bursts of failures and a tampered log are each found and named,
//! and the report itself never shows a PII value.

use crate::fetch_support;
use crate::support;

use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fetch_support::CliEnv;
use support::{Run, count};

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Env {
    e: CliEnv,
    auditor: std::path::PathBuf,
}

fn env(seed: u64) -> Env {
    let e = CliEnv::new(40, seed, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, auditor) = e.dir.add_operator("olga", &e.pass, "aud", "auditor");
    assert_eq!(r.code, 0, "{}", r.stderr);
    Env { e, auditor }
}

impl Env {
    fn audit(&self, global: &[&str], args: &[&str]) -> (Run, serde_json::Value) {
        let mut a = global.to_vec();
        a.extend_from_slice(&["--operator", "aud", "--passphrase-file"]);
        a.push(self.auditor.to_str().unwrap());
        a.extend_from_slice(&["audit", "--json"]);
        a.extend_from_slice(args);
        let r = self.e.run(&a);
        let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
        (r, v)
    }

    fn check<'a>(&self, v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    /// One recipient name the vault holds, from the sandbox's ground truth.
    fn a_name(&self) -> (String, String) {
        let db = self.e.db();
        let id: String = db
            .query_row(
                "SELECT amazon_order_id FROM orders WHERE pii IS NOT NULL LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let truth = self.e.sb.orders();
        let o = truth
            .iter()
            .find(|o| o.order.info.amazon_order_id == id)
            .unwrap();
        let name = o
            .order
            .pii
            .recipient_name
            .as_ref()
            .unwrap()
            .expose_pii()
            .to_string();
        (id, name)
    }
}

/// The first audit day file of the home.
fn first_day_file(e: &CliEnv) -> std::path::PathBuf {
    e.dir.audit_day_files().remove(0)
}

#[test]
fn a_clean_home_passes_and_the_run_is_recorded() {
    let t = env(31);
    let (r, v) = t.audit(&[], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(v["findings"], 0);
    assert_eq!(v["chain_intact"], true);
    assert!(v["pii_values_scanned"].as_u64().unwrap() > 20, "{v}");
    assert!(v["files_scanned"].as_u64().unwrap() >= 3);
    for c in v["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "fail", "{c}");
    }
    let log = t.e.dir.audit_text();
    assert!(log.contains("\"event\":\"audit.run\""));
    assert!(log.contains("\"event\":\"pii.scanned\""));
    // The text report has every requirement id.
    let mut a = vec!["--operator", "aud", "--passphrase-file"];
    a.push(t.auditor.to_str().unwrap());
    a.push("audit");
    let r = t.e.run(&a);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for id in [
        "R25", "R27", "R15", "R20", "R21", "R26", "R12", "R11", "R4/R5", "R6/R28", "R2/R24",
    ] {
        assert!(
            r.stdout.contains(&format!("[{id}]")),
            "{id} missing:\n{}",
            r.stdout
        );
    }
    // Only an auditor or the owner may audit.
    let (r, pat) = t.e.dir.add_operator("olga", &t.e.pass, "pat", "packer");
    assert_eq!(r.code, 0);
    let r = t.e.run(&[
        "--operator",
        "pat",
        "--passphrase-file",
        pat.to_str().unwrap(),
        "audit",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
}

#[test]
fn leaks_stray_files_loose_permissions_and_bursts_are_found_without_showing_pii() {
    let t = env(32);
    let (order, name) = t.a_name();
    let home = t.e.dir.home();
    // A PII value copied into a diagnostic log, and a label saved to a Downloads folder.
    let diag = home.join("logs").join("fulfill.log.2026-01-01");
    std::fs::write(&diag, format!("line one\nshipping to {name} now\n")).unwrap();
    std::fs::set_permissions(&diag, std::fs::Permissions::from_mode(0o600)).unwrap();
    let downloads = t.e.dir.path().join("Downloads");
    std::fs::create_dir(&downloads).unwrap();
    std::fs::write(
        downloads.join("label.txt"),
        format!("TO: {}\n", name.to_uppercase()),
    )
    .unwrap();
    // A label file no order owns, and a log file others can read.
    let spool = home.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(spool.join("999-9999999-9999999.pdf"), b"%PDF").unwrap();
    std::fs::set_permissions(
        spool.join("999-9999999-9999999.pdf"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Five wrong passphrases for one operator within minutes.
    let wrong =
        t.e.dir
            .secret_file("wrong.pass", "not the passphrase at all");
    for _ in 0..5 {
        let r = t.e.run(&[
            "--operator",
            "aud",
            "--passphrase-file",
            wrong.to_str().unwrap(),
            "orders",
        ]);
        assert_eq!(r.code, 3);
    }
    let day_file = first_day_file(&t.e);

    let (r, v) = t.audit(&[], &["--scan", downloads.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(v["chain_intact"], true);
    let leaks = v["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 2, "{leaks:?}");
    assert!(leaks.iter().any(|l| {
        l["file"]
            .as_str()
            .unwrap()
            .ends_with("fulfill.log.2026-01-01")
            && l["line"] == 2
    }));
    assert!(
        leaks
            .iter()
            .any(|l| l["file"].as_str().unwrap().ends_with("label.txt") && l["line"] == 1)
    );
    assert!(leaks.iter().all(|l| l["order_id"] == order.as_str()
        && (l["field"] == "recipient_name" || l["field"] == "buyer_name")));
    assert_eq!(t.check(&v, "R26")["status"], "fail");
    assert_eq!(t.check(&v, "R20")["status"], "fail");
    assert_eq!(t.check(&v, "R6/R28")["status"], "fail");
    assert_eq!(t.check(&v, "R21")["status"], "pass");
    // The report names where, never what.
    assert_eq!(count(r.stdout.as_bytes(), name.as_bytes()), 0);
    assert_eq!(count(r.stderr.as_bytes(), name.as_bytes()), 0);

    // A day file made readable by others is a finding.
    std::fs::set_permissions(&day_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (r, v) = t.audit(&[], &[]);
    assert_eq!(r.code, 1);
    let r21 = t.check(&v, "R21");
    assert_eq!(r21["status"], "fail");
    assert!(
        r21["details"]
            .to_string()
            .contains("group- or world-accessible"),
        "{r21}"
    );
}

/// `b` gzipped.
fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A zip archive holding `b` deflated, as `name`: local header, data, central directory, end
/// record (APPNOTE 4.3).
fn zip(name: &str, b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    let data = e.finish().unwrap();
    let mut crc = flate2::Crc::new();
    crc.update(b);
    let (crc, csize, size) = (crc.sum(), data.len() as u32, b.len() as u32);
    let mut z = Vec::new();
    let common = |z: &mut Vec<u8>| {
        z.extend_from_slice(&20u16.to_le_bytes()); // version needed
        z.extend_from_slice(&0u16.to_le_bytes()); // flags
        z.extend_from_slice(&8u16.to_le_bytes()); // deflate
        z.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&csize.to_le_bytes());
        z.extend_from_slice(&size.to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes()); // extra
    };
    z.extend_from_slice(b"PK\x03\x04");
    common(&mut z);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&data);
    let cd = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&20u16.to_le_bytes()); // version made by
    common(&mut z);
    z.extend_from_slice(&[0; 8]); // comment length, disk, attributes
    z.extend_from_slice(&[0; 4]); // external attributes
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// `s` percent-encoded as a form field: letters and digits as they are, `+` for a space.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_label_copy_is_found_in_every_encoding_and_the_report_says_which_forms() {
    use base64::Engine;
    let t = env(35);
    let (order, name) = t.a_name();
    let holders: Vec<String> =
        t.e.sb
            .orders()
            .iter()
            .filter(|o| {
                let p = &o.order.pii;
                [&p.recipient_name, &p.buyer_name]
                    .iter()
                    .any(|v| v.as_ref().is_some_and(|v| v.expose_pii() == name))
            })
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect();
    assert!(
        holders.contains(&order),
        "positive control: {order} holds the name"
    );
    let stranger = "Quentin Nobody-Known";
    assert!(!name.eq_ignore_ascii_case(stranger));
    let downloads = t.e.dir.path().join("Downloads");
    std::fs::create_dir(&downloads).unwrap();
    // Each form of a label copy: the file, its bytes, the form the scan must name. The same
    // for a name the vault does not hold is the control.
    let copies = |who: &str| -> Vec<(&'static str, Vec<u8>, &'static str)> {
        // Long enough that deflate codes it, rather than storing it as it is.
        let label = format!(
            "SHIP TO\n{who}\n{}",
            "Thank you for your order!\n".repeat(8)
        );
        let mid = (1..who.len()).find(|&k| k >= who.len() / 2 && who.is_char_boundary(k));
        let split = format!(
            "SHIP TO\n{}\r\n{}\n",
            &who[..mid.unwrap()],
            &who[mid.unwrap()..]
        );
        let mime = base64::engine::general_purpose::STANDARD.encode(label.as_bytes());
        let mime: Vec<String> = mime
            .as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect();
        vec![
            ("label.txt.gz", gzip(label.as_bytes()), "gzip"),
            ("label.b64", mime.join("\r\n").into_bytes(), "base64"),
            (
                "label-notepad.txt",
                [0xff, 0xfe]
                    .into_iter()
                    .chain(label.encode_utf16().flat_map(u16::to_le_bytes))
                    .collect(),
                "UTF-16LE",
            ),
            (
                "label-utf16be.txt",
                label.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                "UTF-16BE",
            ),
            (
                "label-split.txt",
                split.into_bytes(),
                "text broken by line breaks or spaces",
            ),
            (
                "track.log",
                format!("GET /track?to={} HTTP/1.1\n", form_encode(&label)).into_bytes(),
                "percent-encoded",
            ),
            (
                "label-reversed.txt",
                label.chars().rev().collect::<String>().into_bytes(),
                "reversed",
            ),
            (
                "labels.zip",
                zip("label.txt", label.as_bytes()),
                "zip member",
            ),
        ]
    };
    for (who, dir) in [(name.as_str(), "pii"), (stranger, "control")] {
        std::fs::create_dir(downloads.join(dir)).unwrap();
        for (file, bytes, _) in copies(who) {
            // Only a scan that decodes can find these.
            assert_eq!(count(&bytes, who.as_bytes()), 0, "{file}");
            std::fs::write(downloads.join(dir).join(file), bytes).unwrap();
        }
    }
    let (r, v) = t.audit(&[], &["--scan", downloads.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let leaks = v["leaks"].as_array().unwrap();
    for (file, _, form) in copies(&name) {
        let found: Vec<&serde_json::Value> = leaks
            .iter()
            .filter(|l| {
                l["file"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("pii/{file}"))
            })
            .collect();
        assert_eq!(found.len(), 1, "{file}: {leaks:?}");
        assert_eq!(found[0]["form"], form, "{file}");
        // The same name may be in several orders: it is looked for once, under one of them.
        assert!(
            holders.contains(&found[0]["order_id"].as_str().unwrap().to_string()),
            "{file}: {}",
            found[0]["order_id"]
        );
        assert!(
            found[0]["field"] == "recipient_name" || found[0]["field"] == "buyer_name",
            "{file}"
        );
        // The control: the same encoding of a name the vault does not hold is not a leak.
        assert!(
            !leaks.iter().any(|l| l["file"]
                .as_str()
                .unwrap()
                .ends_with(&format!("control/{file}"))),
            "control {file}: {leaks:?}"
        );
    }
    assert_eq!(leaks.len(), copies(&name).len(), "{leaks:?}");
    // The report lists the forms it searched, in JSON and in the R26 check.
    let forms: Vec<&str> = v["leak_forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for want in [
        "gzip",
        "zip",
        "base64",
        "percent",
        "UTF-16LE",
        "broken by line breaks",
        "reversed",
    ] {
        assert!(forms.iter().any(|f| f.contains(want)), "{want}: {forms:?}");
    }
    let r26 = t.check(&v, "R26");
    assert!(
        r26["details"].to_string().contains("forms searched: "),
        "{r26}"
    );
    assert!(
        r26["details"].to_string().contains("(zip member, at byte "),
        "{r26}"
    );
    // The report names where and how, never what.
    assert_eq!(count(r.stdout.as_bytes(), name.as_bytes()), 0);
    assert_eq!(count(r.stderr.as_bytes(), name.as_bytes()), 0);
}

#[test]
fn pii_past_retention_is_a_finding_until_purged() {
    let t = env(33);
    let later = at(t.e.sb.now() + Duration::days(45));
    let (r, v) = t.audit(&["--now", &later], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r15 = t.check(&v, "R15");
    assert_eq!(r15["status"], "fail");
    assert!(
        r15["details"][0]
            .as_str()
            .unwrap()
            .contains("run `fulfill purge`")
    );
    let r = t.e.run(&["--now", &later, "--operator", "cron", "purge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, v) = t.audit(&["--now", &later], &[]);
    assert_eq!(t.check(&v, "R15")["status"], "pass", "{v}");
}

#[test]
fn a_tampered_log_exits_5_naming_file_and_line() {
    let t = env(34);
    let day = first_day_file(&t.e);
    let text = std::fs::read_to_string(&day).unwrap();
    // Rewrite the third record's operator: a well-formed edit the hash chain must catch.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen("\"operator\":\"olga\"", "\"operator\":\"eve\"", 1);
    assert_ne!(lines[2], text.lines().nth(2).unwrap(), "the edit applies");
    std::fs::write(&day, lines.join("\n") + "\n").unwrap();
    let (r, v) = t.audit(&[], &[]);
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(v["chain_intact"], false);
    let b = &v["chain_breaks"][0];
    assert_eq!(b["line"], 3, "{b}");
    assert!(b["file"].as_str().unwrap().starts_with("audit-"));
    assert_eq!(t.check(&v, "R25")["status"], "fail");
}

#[test]
fn a_huge_window_is_refused_without_a_panic_and_a_damaged_vault_exits_5() {
    let t = env(76);
    let (r, _) = t.audit(&[], &["--window", "4294967295"]);
    assert_eq!(r.code, 2, "a usage error, not a panic: {}", r.stderr);
    assert!(r.stderr.contains("36500"), "{}", r.stderr);
    let (r, v) = t.audit(&[], &["--window", "36500"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(v["window_days"], 36500);
    assert_eq!(v["database_intact"], true);
    assert!(
        t.check(&v, "R25")["details"]
            .to_string()
            .contains("vault.db passed its integrity check")
    );

    // Damage only a full check of the file finds: every live order breaks a constraint.
    t.e.db()
        .execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = replace(sql, 'purged_at TEXT', 'purged_at TEXT NOT NULL')
             WHERE name = 'orders';",
        )
        .unwrap();
    let (r, v) = t.audit(&[], &[]);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert_eq!(v["database_intact"], false);
    let r25 = t.check(&v, "R25");
    assert_eq!(r25["status"], "fail");
    assert!(
        r25["details"].to_string().contains("vault.db is damaged"),
        "{r25}"
    );
}

#[test]
fn a_tracked_label_path_the_tool_did_not_write_is_a_finding() {
    let t = env(77);
    let (_, v) = t.audit(&[], &[]);
    assert_eq!(t.check(&v, "R20")["status"], "pass", "the control");
    let planted = t.e.dir.secret_file("planted.txt", "not a label");
    let order: String =
        t.e.db()
            .query_row("SELECT amazon_order_id FROM orders LIMIT 1", [], |r| {
                r.get(0)
            })
            .unwrap();
    t.e.db()
        .execute(
            "INSERT INTO label_files (path, amazon_order_id, written_at, written_by)
             VALUES (?1, ?2, '2026-01-01T00:00:00.000Z', 'pat')",
            [planted.to_str().unwrap(), order.as_str()],
        )
        .unwrap();
    let (r, v) = t.audit(&[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r20 = t.check(&v, "R20");
    assert_eq!(r20["status"], "fail");
    assert!(
        r20["details"]
            .to_string()
            .contains("tracked as a label of order"),
        "{r20}"
    );
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "not a label");
}

/// Issue 19 item 9: the audit speaks to a manager. The report names the seller (id from the
/// credentials, business name from the config) and marks a sandbox home; times are local with
/// UTC beside them; every FAIL says what to do next; R12 tells the sandbox's plain HTTP apart;
/// MFA (R10), key rotation (R14) and deletion on request (R18) have their own lines.
#[test]
fn the_report_names_the_seller_and_says_what_to_do_next() {
    let t = env(35);
    let pass = t.e.pass.to_str().unwrap().to_owned();
    let olga = |args: &[&str]| {
        let mut a = vec!["--operator", "olga", "--passphrase-file", &pass];
        a.extend_from_slice(args);
        t.e.run(&a)
    };
    let r = olga(&["config", "set", "business.name", "Acme Goods Ltd"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let order: String =
        t.e.db()
            .query_row(
                "SELECT amazon_order_id FROM orders WHERE pii IS NOT NULL LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
    let tracking = crate::support::ups(1);
    let r = olga(&["ship", &order, "--carrier", "UPS", "--tracking", &tracking]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = t.e.run(&["--operator", "cron", "purge", "--order", &order]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, v) = t.audit(&[], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let seller = v["seller_id"].as_str().expect("a seller id").to_string();
    assert!(!seller.is_empty());
    assert_eq!(v["business_name"], "Acme Goods Ltd");
    assert_eq!(v["sandbox"], true);
    assert_eq!(
        v["marketplaces"][0]["marketplace_id"], "ATVPDKIKX0DER",
        "{v}"
    );
    assert!(v["generated_at_local"].as_str().unwrap().len() >= 19, "{v}");
    let lines = |id: &str| -> String {
        t.check(&v, id)["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string() + "\n")
            .collect()
    };
    assert!(
        lines("R10").contains("olga (owner): no second factor (optional under mws-2020"),
        "{}",
        lines("R10")
    );
    assert!(lines("R10").contains("cron (fetcher): a service with a key file"));
    assert!(lines("R14").contains("never rotated since the vault was made"));
    assert!(
        lines("R18").contains(&format!("order {order} purged on request")),
        "{}",
        lines("R18")
    );
    assert!(
        lines("R12").contains("is the built-in sandbox on loopback, over plain HTTP"),
        "{}",
        lines("R12")
    );
    // The text report's first line names the seller and the sandbox, local time and UTC.
    let mut a = vec!["--operator", "aud", "--passphrase-file"];
    a.push(t.auditor.to_str().unwrap());
    a.push("audit");
    let r = t.e.run(&a);
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "fulfill audit for Acme Goods Ltd (seller {seller}), SANDBOX HOME"
        )),
        "{first}"
    );
    assert!(first.contains(" UTC), profile mws-2020"), "{first}");
    // After a rotation R14 says when and by whom.
    let r = olga(&["rekey"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (_, v) = t.audit(&[], &[]);
    assert!(
        t.check(&v, "R14")["details"][0]
            .as_str()
            .unwrap()
            .contains("last rotated"),
        "{}",
        t.check(&v, "R14")
    );

    // A finding (PII past retention, 45 days on): every FAIL says what to do next, in text,
    // JSON and HTML.
    let later = at(t.e.sb.now() + Duration::days(45));
    let html = t.e.dir.path().join("report.html");
    let (r, v) = t.audit(&["--now", &later], &["--html", html.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(
            c["status"] == "fail",
            c["next_action"].as_str().is_some_and(|n| !n.is_empty()),
            "{c}"
        );
    }
    assert!(
        t.check(&v, "R15")["next_action"]
            .as_str()
            .unwrap()
            .contains("fulfill purge")
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<strong>Next:</strong>"),
        "next action in the page"
    );
    assert!(
        page.contains("<time datetime=\""),
        "local time, UTC on hover"
    );
    assert!(page.contains("Acme Goods Ltd (seller "));
    assert!(page.contains("SANDBOX"));
    assert!(
        page.contains("US (amazon.com, USD): "),
        "orders by marketplace"
    );
    let mut a = vec!["--now", &later, "--operator", "aud", "--passphrase-file"];
    a.push(t.auditor.to_str().unwrap());
    a.push("audit");
    let r = t.e.run(&a);
    let fails = r.stdout.lines().filter(|l| l.starts_with("FAIL")).count();
    assert!(fails >= 1, "{}", r.stdout);
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.starts_with("      next: "))
            .count(),
        fails,
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Each FAIL says what to do next."));
}

/// The report per marketplace (issue 22): each marketplace's orders, where their buyers'
/// details stand and the orders opened in the window, in the JSON, the text and the HTML, and
/// the openings (R6/R28) split by marketplace.
#[test]
fn the_report_shows_each_marketplace_its_orders_and_what_was_opened() {
    const US: &str = "ATVPDKIKX0DER";
    const DE: &str = "A1PA6795UKMFR9";
    let t = env(36);
    let db = t.e.db();
    // Half the orders as Amazon would list orders of amazon.de (the MWS sandbox lists one
    // marketplace).
    db.execute(
        "UPDATE orders SET marketplace_id = ?1 WHERE rowid % 2 = 0",
        [DE],
    )
    .unwrap();
    let pick = |m: &str| -> String {
        db.query_row(
            "SELECT amazon_order_id FROM orders WHERE marketplace_id = ?1 AND pii IS NOT NULL
               AND lifecycle = 'unshipped' AND pii_missing = 0 ORDER BY 1 LIMIT 1",
            [m],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (us, de) = (pick(US), pick(DE));
    let pass = t.e.pass.to_str().unwrap().to_owned();
    let olga = |args: &[&str]| {
        let mut a = vec!["--operator", "olga", "--passphrase-file", &pass];
        a.extend_from_slice(args);
        t.e.ok(&a)
    };
    let out = t.e.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for id in [&us, &de] {
        let file = out.join(format!("{id}.zpl"));
        olga(&[
            "label",
            id,
            "--format",
            "zpl",
            "--out",
            file.to_str().unwrap(),
        ]);
    }
    // A slip of the same order opens the same buyer: still one order of amazon.de.
    let slip = out.join("slip.pdf");
    olga(&["slip", &de, "--out", slip.to_str().unwrap()]);

    let html = t.e.dir.path().join("report.html");
    let (r, v) = t.audit(&[], &["--html", html.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for (id, country, currency) in [(US, "US", "USD"), (DE, "DE", "EUR")] {
        let row = v["marketplaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["marketplace_id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v}"));
        let (orders, with_pii): (i64, i64) = db
            .query_row(
                "SELECT count(*), sum(pii IS NOT NULL) FROM orders WHERE marketplace_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(orders > 5, "{orders}");
        assert_eq!(row["orders"], orders, "{row}");
        assert_eq!(row["with_pii"], with_pii, "{row}");
        assert_eq!(row["country"], country, "{row}");
        assert_eq!(row["currency"], currency, "{row}");
        assert_eq!(row["opened_in_window"], 1, "{row}");
    }
    let r28 = t.check(&v, "R6/R28")["details"].to_string();
    assert!(
        r28.contains("orders opened in the window by marketplace: DE 1, US 1"),
        "{r28}"
    );
    let olga_today = v["pii_openings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operator"] == "olga")
        .unwrap();
    assert_eq!(olga_today["count"], 2, "{olga_today}");
    assert_eq!(olga_today["by_marketplace"][DE], 1, "{olga_today}");
    assert_eq!(olga_today["by_marketplace"][US], 1, "{olga_today}");

    // The text report has a line per marketplace; the HTML names them under the openings.
    let mut a = vec!["--operator", "aud", "--passphrase-file"];
    a.push(t.auditor.to_str().unwrap());
    a.push("audit");
    let text = t.e.run(&a).stdout;
    let de_line = text
        .lines()
        .find(|l| l.contains("Marketplace") && l.contains("DE (amazon.de, EUR)"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(de_line.contains("1 opened in the window"), "{de_line}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("id=\"openings-by-marketplace\""),
        "no marketplaces in the HTML"
    );
    assert!(
        page.contains("DE (amazon.de, EUR) 1"),
        "the HTML does not name amazon.de"
    );
}
