use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::*;

fn init_at(d: &TestDir, home: &std::path::Path) -> (Run, std::path::PathBuf) {
    let pf = d.secret_file("pass", "owner passphrase, long enough\n");
    let r = run(d
        .fulfill()
        .env("FULFILL_HOME", home)
        .args([
            "init",
            "--profile",
            "mws-2020",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf));
    (r, pf)
}

#[test]
fn group_or_world_accessible_home_or_vault_is_refused_with_exit_5() {
    let d = TestDir::new();
    let (r, pf) = init_at(&d, &d.home());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = || run(d.as_op("olga", &pf).args(["operator", "list"]));
    assert_eq!(list().code, 0);
    for (path, bad, good) in [
        (d.home(), 0o755, 0o700),
        (d.home().join("vault.db"), 0o644, 0o600),
        (d.home().join("logs"), 0o750, 0o700),
        (d.home().join("config.toml"), 0o604, 0o600),
    ] {
        fs::set_permissions(&path, fs::Permissions::from_mode(bad)).unwrap();
        let r = list();
        assert_eq!(r.code, 5, "{}: {}", path.display(), r.stderr);
        assert!(r.stderr.contains("chmod"), "{}", r.stderr);
        fs::set_permissions(&path, fs::Permissions::from_mode(good)).unwrap();
        assert_eq!(list().code, 0);
    }
    // The refusal itself is in the audit log.
    let log = fs::read_dir(d.home().join("logs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit-"))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(log.contains(r#""event":"environment.refused""#), "{log}");
}

#[test]
fn a_passphrase_file_others_can_read_is_refused() {
    let d = TestDir::new();
    let (_, pf) = init_at(&d, &d.home());
    fs::set_permissions(&pf, fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(d.as_op("olga", &pf).args(["operator", "list"]));
    assert_eq!(r.code, 5, "{}", r.stderr);
}

#[test]
fn a_home_in_a_cloud_sync_folder_is_refused() {
    let d = TestDir::new();
    for sub in ["Dropbox/shop", "OneDrive - Contoso/fulfill"] {
        let home = d.path().join(sub);
        let (r, _) = init_at(&d, &home);
        assert_eq!(r.code, 5, "{sub}: {}", r.stderr);
        assert!(r.stderr.contains("cloud-sync"), "{}", r.stderr);
        assert!(!home.exists(), "nothing is created in a refused place");
    }
    // A folder that becomes synced later (Syncthing marker) is refused from then on.
    let home = d.path().join("Shared/fulfill");
    let (r, pf) = init_at(&d, &home);
    assert_eq!(r.code, 0, "{}", r.stderr);
    fs::write(d.path().join("Shared/.stfolder"), "").unwrap();
    let r = run(d
        .fulfill()
        .env("FULFILL_HOME", &home)
        .args(["--operator", "olga", "--passphrase-file"])
        .arg(&pf)
        .args(["operator", "list"]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("Syncthing"), "{}", r.stderr);
}

#[test]
fn every_cloud_client_folder_is_refused_and_ordinary_names_are_not() {
    let d = TestDir::new();
    for name in [
        "Box",
        "Sync",
        "My Dropbox",
        "Dropbox.old",
        "Proton Drive",
        "Syncthing",
        "Resilio Sync",
        "Koofr",
        "IDrive-Sync",
        "Icedrive",
    ] {
        let home = d.path().join(name).join("fulfill");
        let (r, _) = init_at(&d, &home);
        assert_eq!(r.code, 5, "{name}: {}", r.stderr);
        assert!(r.stderr.contains("cloud-sync"), "{name}: {}", r.stderr);
        assert!(
            !home.exists(),
            "{name}: nothing is created in a refused place"
        );
    }
    // The controls: the short names as ordinary words are homes like any other.
    for name in ["Boxes", "sync"] {
        let home = d.path().join(name).join("fulfill");
        let (r, _) = init_at(&d, &home);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
    // A folder a client syncs later is refused from then on: Resilio Sync's folder ID, Koofr's
    // SyncTrash.
    let (r, pf) = init_at(&d, &d.path().join("Shop/fulfill"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = || {
        run(d
            .fulfill()
            .env("FULFILL_HOME", d.path().join("Shop/fulfill"))
            .args(["--operator", "olga", "--passphrase-file"])
            .arg(&pf)
            .args(["operator", "list"]))
    };
    assert_eq!(list().code, 0, "the control: not synced yet");
    fs::create_dir_all(d.path().join("Shop/.sync")).unwrap();
    fs::write(d.path().join("Shop/.sync/ID"), "x").unwrap();
    let r = list();
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("Resilio Sync marker"), "{}", r.stderr);
    fs::remove_dir_all(d.path().join("Shop/.sync")).unwrap();
    assert_eq!(list().code, 0);
    fs::create_dir(d.path().join("Shop/SyncTrash")).unwrap();
    let r = list();
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("Koofr"), "{}", r.stderr);
}

#[test]
fn a_tampered_vault_file_is_an_integrity_failure() {
    let d = TestDir::new();
    let (r, pf) = init_at(&d, &d.home());
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(d.home().join("vault.db"), vec![0x5a; 8192]).unwrap();
    let r = run(d.as_op("olga", &pf).args(["operator", "list"]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("integrity"), "{}", r.stderr);
}

#[test]
fn links_anywhere_in_the_home_are_refused_with_exit_5() {
    let d = TestDir::new();
    let (r, pf) = init_at(&d, &d.home());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = || run(d.as_op("olga", &pf).args(["operator", "list"]));
    assert_eq!(list().code, 0, "the control: a home without links");
    // Where the linked files really are: a folder outside the home (it could be synced or
    // shared; the home's own check never looks there).
    let away = d.path().join("elsewhere");
    fs::create_dir(&away).unwrap();
    fs::set_permissions(&away, fs::Permissions::from_mode(0o700)).unwrap();
    let day_file = fs::read_dir(d.home().join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .expect("an audit day file");
    let home = d.home();
    for (path, exists) in [
        (home.join("vault.db"), true),
        (home.join("vault.db-wal"), false),
        (home.join("vault.db-shm"), false),
        (home.join("config.toml"), true),
        (home.join("logs"), true),
        (day_file.clone(), true),
        (home.join("spool"), true),
        (home.join("spool/0123.zpl"), false),
        (home.clone(), true),
    ] {
        let real = away.join(format!(
            "real-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        if exists {
            fs::rename(&path, &real).unwrap();
        } else {
            fs::write(&real, "planted").unwrap();
            fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::os::unix::fs::symlink(&real, &path).unwrap();
        let r = list();
        assert_eq!(r.code, 5, "{}: {}", path.display(), r.stderr);
        assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        fs::remove_file(&path).unwrap();
        if exists {
            fs::rename(&real, &path).unwrap();
        }
        assert_eq!(list().code, 0, "restored: {}", path.display());
    }
}
