//! Where PII may live: permissions, removable media, cloud-sync folders, process hardening.
//!
//! Checks take their inputs (the mount table, the sysfs root) as parameters so tests can
//! inject a USB stick or a Dropbox folder without having one. [`Environment::system`] reads the
//! real ones.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Process hardening done once at start: no core dumps (they would hold keys and PII), not
/// dumpable or ptrace-attachable by other processes of the same user, and a umask so every
/// file the process creates is 0600 and every folder 0700.
pub fn harden_process() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Refuses a file or folder that is group- or world-accessible, or owned by another user.
pub fn check_private(path: &Path) -> Result<()> {
    let md = fs::metadata(path)
        .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
    let mode = md.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let want = if md.is_dir() { "700" } else { "600" };
        return Err(Error::Unsafe(format!(
            "{} is group- or world-accessible (mode {mode:o}); run `chmod {want} {}`",
            path.display(),
            path.display()
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if md.uid() != me {
        return Err(Error::Unsafe(format!(
            "{} is owned by uid {}, not by this user (uid {me})",
            path.display(),
            md.uid()
        )));
    }
    Ok(())
}

/// Refuses a symbolic link: the home's files must be the files themselves, in the home (a
/// `vault.db` linked into a synced or shared folder would put the vault there).
pub fn check_not_link(path: &Path) -> Result<()> {
    let md = fs::symlink_metadata(path)
        .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
    if md.file_type().is_symlink() {
        let to = fs::read_link(path)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(Error::Unsafe(format!(
            "{} is a symbolic link{to}; the home's files must not be links: move the real file \
             or folder into the home in its place",
            path.display()
        )));
    }
    Ok(())
}

/// Reads a secret from a file that must be private to this user (passphrases, keys).
pub fn read_private_file(path: &Path, what: &str) -> Result<zeroize::Zeroizing<String>> {
    check_private(path)?;
    fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| {
            Error::usage(format!(
                "cannot read the {what} file {}: {e}",
                path.display()
            ))
        })
}

/// One line of `/proc/self/mountinfo`, the parts we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the device.
    pub device: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// File system type (`ext4`, `vfat`, `fuse.rclone`...).
    pub fs_type: String,
}

/// The machine facts the location checks read, injectable for tests.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Parsed mount table.
    pub mounts: Vec<Mount>,
    /// Root of sysfs (`/sys`), where `dev/block/MAJ:MIN/removable` is read.
    pub sys_root: PathBuf,
}

impl Environment {
    /// The running machine's mount table and sysfs.
    pub fn system() -> Self {
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Environment {
            mounts: parse_mountinfo(&text),
            sys_root: PathBuf::from("/sys"),
        }
    }

    /// Refuses a location on removable media or inside a cloud-sync folder (COMPLIANCE R21).
    /// `path` should exist (it is canonicalized when it does).
    pub fn check_location(&self, path: &Path) -> Result<()> {
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(reason) = cloud_sync_reason(&path) {
            return Err(Error::Unsafe(format!(
                "{} is inside a cloud-sync folder ({reason}); PII must not be synced to a cloud",
                path.display()
            )));
        }
        if let Some(reason) = self.cloud_mount_reason(&path) {
            return Err(Error::Unsafe(format!(
                "{} is inside a cloud-sync folder ({reason}); PII must not be synced to a cloud",
                path.display()
            )));
        }
        if let Some(reason) = self.removable_reason(&path) {
            return Err(Error::Unsafe(format!(
                "{} is on removable media ({reason}); keep the home on a fixed disk",
                path.display()
            )));
        }
        Ok(())
    }

    /// The mount `path` lies on, when it is a cloud client's FUSE file system.
    fn cloud_mount_reason(&self, path: &Path) -> Option<String> {
        let m = self
            .mounts
            .iter()
            .filter(|m| path.starts_with(&m.mount_point))
            .max_by_key(|m| m.mount_point.as_os_str().len())?;
        let t = m.fs_type.to_ascii_lowercase();
        let sub = t
            .strip_prefix("fuse.")
            .or_else(|| t.strip_prefix("fuseblk."))?;
        CLOUD_FUSE
            .iter()
            .find(|(k, _)| sub.contains(k))
            .map(|(_, client)| {
                format!("{client} mount {} ({})", m.mount_point.display(), m.fs_type)
            })
    }

    fn removable_reason(&self, path: &Path) -> Option<String> {
        let m = self
            .mounts
            .iter()
            .filter(|m| path.starts_with(&m.mount_point))
            .max_by_key(|m| m.mount_point.as_os_str().len())?;
        let removable_flag =
            |dev: &Path| fs::read_to_string(dev.join("removable")).is_ok_and(|s| s.trim() == "1");
        let dev = self.sys_root.join("dev/block").join(&m.device);
        // A partition's flag lives on its parent disk, one level up in the canonical path.
        let parent = fs::canonicalize(&dev)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if removable_flag(&dev) || parent.as_deref().is_some_and(removable_flag) {
            return Some(format!("device {} has the removable flag", m.device));
        }
        // An external drive: its device path goes through an external bus, whatever its flag
        // and file system say (a USB disk in ext4 reports removable = 0).
        if let Some(bus) = fs::canonicalize(&dev).ok().and_then(|p| external_bus(&p)) {
            return Some(format!("device {} is attached by {bus}", m.device));
        }
        let fat = matches!(m.fs_type.as_str(), "vfat" | "exfat" | "msdos");
        let media = ["/media", "/run/media", "/mnt"]
            .iter()
            .any(|p| m.mount_point.starts_with(p));
        if fat && media {
            return Some(format!(
                "{} mount at {}",
                m.fs_type,
                m.mount_point.display()
            ));
        }
        None
    }
}

/// The external bus a sysfs device path goes through (`.../usb2/2-1/...`), if any.
pub fn external_bus(device_path: &Path) -> Option<&'static str> {
    device_path.components().find_map(|c| {
        let Component::Normal(n) = c else {
            return None;
        };
        let n = n.to_string_lossy().to_ascii_lowercase();
        let numbered = |prefix: &str| {
            n.strip_prefix(prefix)
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        };
        if numbered("usb") || n == "usb" {
            Some("USB")
        } else if n.starts_with("firewire") || numbered("fw") {
            Some("FireWire")
        } else if n.starts_with("thunderbolt") {
            Some("Thunderbolt")
        } else if numbered("mmc") || n.starts_with("mmc_host") || n.starts_with("mmcblk") {
            Some("MMC/SD")
        } else if n.starts_with("sdio") {
            Some("SDIO")
        } else {
            None
        }
    })
}

/// FUSE file systems of cloud clients, by mount type (`fuse.rclone`...).
const CLOUD_FUSE: &[(&str, &str)] = &[
    ("rclone", "rclone"),
    ("pcloud", "pCloud"),
    ("seadrive", "Seafile SeaDrive"),
    ("google-drive-ocamlfuse", "Google Drive"),
    ("gdfs", "Google Drive"),
    ("onedriver", "OneDrive"),
    ("yandex", "Yandex.Disk"),
    ("s3fs", "S3"),
    ("gcsfuse", "Google Cloud Storage"),
    ("boxfs", "Box"),
    ("dropbox", "Dropbox"),
];

/// Parses `/proc/self/mountinfo` (see proc(5)).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let fs_type = post.split(' ').next()?;
            Some(Mount {
                device: f.get(2)?.to_string(),
                mount_point: PathBuf::from(unescape_octal(f.get(4)?)),
                fs_type: fs_type.to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Folder names that cloud-sync clients create, compared case-insensitively, alone or followed
/// by a space, `-`, `(`, `_` or digits ("OneDrive - Contoso", "Dropbox (Personal)").
const CLOUD_FOLDERS: &[&str] = &[
    "dropbox",
    "my dropbox",
    "dropbox.old",
    "google drive",
    "googledrive",
    "my drive",
    "onedrive",
    "icloud drive",
    "iclouddrive",
    "mobile documents",
    "com~apple~clouddocs",
    "nextcloud",
    "owncloud",
    "mega",
    "megasync",
    "pclouddrive",
    "pcloud drive",
    "pcloud",
    "box sync",
    "box drive",
    "box-box",
    "cloudstorage",
    "yandex.disk",
    "yandexdisk",
    "seafile",
    "seadrive",
    "sync.com",
    "spideroak hive",
    "spideroakone",
    "spideroak",
    "tresors",
    "tresorit",
    "tresorit drive",
    "insync",
    "proton drive",
    "protondrive",
    "syncthing",
    "resilio sync",
    "koofr",
    "idrive-sync",
    "icedrive",
];

/// Folder names too common as words to match loosely: refused only as a whole path component,
/// spelt exactly so (`Box` is Box Drive's folder, `Sync` Sync.com's and Syncthing's default
/// folder; `box`, `Boxes` or `sync` are left alone).
const CLOUD_EXACT: &[(&str, &str)] = &[
    ("Box", "Box Drive"),
    ("Sync", "Sync.com, or Syncthing's default folder"),
];

/// Files a sync client leaves in the root of a synced folder (the first that matches names
/// the client).
const CLOUD_MARKERS: &[(&str, &str)] = &[
    (".dropbox", "Dropbox"),
    (".dropbox.cache", "Dropbox"),
    (".stfolder", "Syncthing"),
    (".stignore", "Syncthing"),
    (".stversions", "Syncthing"),
    (".sync/ID", "Resilio Sync"),
    (".sync/IgnoreList", "Resilio Sync"),
    (".sync/StreamsList", "Resilio Sync"),
    (".SyncID", "BitTorrent Sync"),
    (".SyncArchive", "BitTorrent Sync"),
    ("SyncTrash", "Koofr"),
    (".megaignore", "MEGA"),
    (".debris", "MEGA"),
    (".owncloudsync.log", "ownCloud"),
    (".nextcloudsync.log", "Nextcloud"),
    (".sync", "Yandex.Disk or Resilio Sync"),
    (".tmp.drivedownload", "Google Drive"),
    (".tmp.driveupload", "Google Drive"),
    (".insync-trash", "Insync"),
    (".tresorit", "Tresorit"),
    (".seafile-data", "Seafile"),
    (".sync.ffs_db", "FreeFileSync"),
];

/// Why `path` looks like it is inside a cloud-sync folder, if it does.
pub fn cloud_sync_reason(path: &Path) -> Option<String> {
    for comp in path.components() {
        if let Component::Normal(name) = comp {
            let lower = name.to_string_lossy().to_lowercase();
            // "OneDrive - Contoso", "Nextcloud2", "Dropbox (Personal)" and the like.
            if let Some(hit) = CLOUD_FOLDERS.iter().find(|c| {
                lower == **c
                    || lower.strip_prefix(**c).is_some_and(|rest| {
                        rest.starts_with([' ', '-', '(', '_'])
                            || rest.chars().all(|c| c.is_ascii_digit())
                    })
            }) {
                return Some(format!("folder {:?} ({hit})", name.to_string_lossy()));
            }
        }
    }
    for comp in path.components() {
        if let Component::Normal(name) = comp
            && let Some((n, client)) = CLOUD_EXACT.iter().find(|(n, _)| name == *n)
        {
            return Some(format!("folder {n:?} ({client})"));
        }
    }
    let mut dir = Some(path);
    while let Some(d) = dir {
        for (marker, client) in CLOUD_MARKERS {
            if d.join(marker).exists() {
                return Some(format!("{client} marker {}", d.join(marker).display()));
            }
        }
        if let Ok(rd) = fs::read_dir(d) {
            // ownCloud/Nextcloud journal: `.sync_<hash>.db` or `._sync_<hash>.db`.
            let journal = rd.flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n.starts_with(".sync_") || n.starts_with("._sync_")) && n.ends_with(".db")
            });
            if journal {
                return Some(format!("ownCloud/Nextcloud journal in {}", d.display()));
            }
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 8:17 / /media/alice/STICK rw,nosuid - vfat /dev/sdb1 rw,uid=1000
41 22 8:33 / /mnt/backup\\040disk rw - ext4 /dev/sdc1 rw
42 22 0:50 / /srv/data rw - xfs /dev/sdd1 rw
";

    fn env_with_sys(removable: &[(&str, &str)]) -> (tempfile::TempDir, Environment) {
        let sys = tempfile::tempdir().unwrap();
        for (dev, flag) in removable {
            let d = sys.path().join("dev/block").join(dev);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("removable"), flag).unwrap();
        }
        let env = Environment {
            mounts: parse_mountinfo(MOUNTINFO),
            sys_root: sys.path().to_path_buf(),
        };
        (sys, env)
    }

    #[test]
    fn mountinfo_parses_and_unescapes() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].fs_type, "vfat");
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/backup disk"));
    }

    #[test]
    fn fat_stick_under_media_is_refused() {
        let (_s, env) = env_with_sys(&[]);
        let e = env
            .removable_reason(Path::new("/media/alice/STICK/fulfill"))
            .unwrap();
        assert!(e.contains("vfat"), "{e}");
        assert!(
            env.removable_reason(Path::new("/home/alice/fulfill"))
                .is_none()
        );
    }

    #[test]
    fn removable_flag_is_refused_whatever_the_file_system() {
        let (_s, env) = env_with_sys(&[("0:50", "1"), ("8:1", "0")]);
        assert!(
            env.removable_reason(Path::new("/srv/data/fulfill"))
                .is_some()
        );
        assert!(env.removable_reason(Path::new("/home/x")).is_none());
        let err = env
            .check_location(Path::new("/srv/data/fulfill"))
            .unwrap_err();
        assert!(matches!(err, Error::Unsafe(_)), "{err}");
    }

    #[test]
    fn cloud_folders_by_name() {
        for p in [
            "/home/a/Dropbox/fulfill",
            "/home/a/Dropbox (Personal)/x",
            "/home/a/OneDrive - Contoso/x",
            "/home/a/Google Drive/x",
            "/Users/a/Library/Mobile Documents/com~apple~CloudDocs/x",
            "/home/a/Nextcloud/x",
            "/home/a/ownCloud/x",
            "/home/a/MEGA/x",
            "/home/a/iCloud Drive/x",
            "/home/a/pCloudDrive/x",
            "/home/a/Box Sync/x",
            "/Users/a/Library/CloudStorage/Box-Box/x",
            "/home/a/Yandex.Disk/x",
            "/home/a/Seafile/My Library/x",
            "/home/a/Sync/x",
            "/home/a/SpiderOak Hive/x",
            "/home/a/Tresors/x",
            "/home/a/Insync/a@example.com/x",
        ] {
            assert!(cloud_sync_reason(Path::new(p)).is_some(), "{p}");
        }
        for p in [
            "/home/a/fulfill",
            "/home/a/megaphone/x",
            "/home/a/dropboxes-not/x",
            "/home/a/boxes/x",
            "/srv/sync/x",
        ] {
            assert!(cloud_sync_reason(Path::new(p)).is_none(), "{p}");
        }
    }

    #[test]
    fn more_cloud_folders_by_name() {
        for (p, client) in [
            ("/home/a/Box/shop", "Box"),
            ("/Users/a/Box/shop", "Box"),
            ("/srv/cloud/Box/shop", "Box"),
            ("/home/a/work/Sync/x", "Sync"),
            ("/root/Sync/x", "Sync"),
            ("/home/a/My Dropbox/x", "my dropbox"),
            ("/home/a/Dropbox.old/x", "dropbox.old"),
            ("/home/a/Proton Drive/My files/x", "proton drive"),
            ("/srv/ProtonDrive-a@proton.me-folder/x", "protondrive"),
            ("/home/a/ProtonDrive/x", "protondrive"),
            ("/home/a/Syncthing/x", "syncthing"),
            ("/home/a/Resilio Sync/x", "resilio sync"),
            ("/home/a/Koofr/x", "koofr"),
            ("/home/a/IDrive-Sync/x", "idrive-sync"),
            ("/home/a/Icedrive/x", "icedrive"),
        ] {
            let r = cloud_sync_reason(Path::new(p));
            assert!(
                r.as_deref().is_some_and(|r| r.contains(client)),
                "{p}: {r:?}"
            );
        }
        // Ordinary words stay allowed: the short names only as a whole folder name, so spelt.
        for p in [
            "/home/a/box/x",
            "/home/a/Boxes/x",
            "/home/a/Sandbox/x",
            "/home/a/Inbox/x",
            "/home/a/sync/x",
            "/home/a/Syncing/x",
            "/home/a/async/x",
            "/home/a/Sync-scripts/x",
            "/home/a/icebox/x",
            "/home/a/proton/x",
            "/home/a/koofrx/x",
        ] {
            assert!(cloud_sync_reason(Path::new(p)).is_none(), "{p}");
        }
    }

    #[test]
    fn cloud_folders_by_marker() {
        let d = tempfile::tempdir().unwrap();
        let synced = d.path().join("Shared");
        fs::create_dir_all(synced.join("shop/fulfill")).unwrap();
        assert!(cloud_sync_reason(&synced.join("shop/fulfill")).is_none());
        fs::write(synced.join(".stfolder"), "").unwrap();
        let r = cloud_sync_reason(&synced.join("shop/fulfill")).unwrap();
        assert!(r.contains("Syncthing"), "{r}");
    }

    #[test]
    fn more_sync_clients_by_marker() {
        for (marker, client) in [
            (".sync", "Yandex"),
            (".tmp.drivedownload", "Google Drive"),
            (".insync-trash", "Insync"),
            (".tresorit", "Tresorit"),
            (".stversions", "Syncthing"),
            (".SyncID", "BitTorrent Sync"),
            (".SyncArchive", "BitTorrent Sync"),
            ("SyncTrash", "Koofr"),
        ] {
            let d = tempfile::tempdir().unwrap();
            let inner = d.path().join("shop/fulfill");
            fs::create_dir_all(&inner).unwrap();
            assert!(cloud_sync_reason(&inner).is_none(), "control for {marker}");
            fs::create_dir(d.path().join(marker)).unwrap();
            let r = cloud_sync_reason(&inner).unwrap();
            assert!(r.contains(client), "{marker}: {r}");
        }
        // Resilio Sync's `.sync` holds its folder ID (and lists): named as Resilio.
        for file in ["ID", "IgnoreList", "StreamsList"] {
            let d = tempfile::tempdir().unwrap();
            let inner = d.path().join("shop/fulfill");
            fs::create_dir_all(d.path().join(".sync")).unwrap();
            fs::create_dir_all(&inner).unwrap();
            let r = cloud_sync_reason(&inner).unwrap();
            assert!(r.starts_with("Yandex.Disk or Resilio Sync marker"), "{r}");
            fs::write(d.path().join(".sync").join(file), "x").unwrap();
            let r = cloud_sync_reason(&inner).unwrap();
            assert!(r.starts_with("Resilio Sync marker"), "{file}: {r}");
        }
    }

    #[test]
    fn cloud_fuse_mounts_are_refused() {
        let (_s, mut env) = env_with_sys(&[]);
        env.mounts.push(Mount {
            device: "0:60".into(),
            mount_point: PathBuf::from("/home/a/pCloudDrive"),
            fs_type: "fuse.pCloud".into(),
        });
        let e = env
            .check_location(Path::new("/home/a/pCloudDrive/fulfill"))
            .unwrap_err();
        assert!(e.to_string().contains("pCloud"), "{e}");
        assert!(env.cloud_mount_reason(Path::new("/srv/data/x")).is_none());
    }

    /// A fake sysfs whose `dev/block/DEV` links to a device path, as the kernel's do.
    fn env_with_device_path(dev: &str, device_path: &str) -> (tempfile::TempDir, Environment) {
        let sys = tempfile::tempdir().unwrap();
        let target = sys.path().join(device_path);
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("removable"), "0").unwrap();
        fs::create_dir_all(sys.path().join("dev/block")).unwrap();
        std::os::unix::fs::symlink(&target, sys.path().join("dev/block").join(dev)).unwrap();
        let env = Environment {
            mounts: vec![Mount {
                device: dev.into(),
                mount_point: PathBuf::from("/srv/ext"),
                fs_type: "ext4".into(),
            }],
            sys_root: sys.path().to_path_buf(),
        };
        (sys, env)
    }

    #[test]
    fn external_drives_are_refused_by_bus_whatever_the_file_system() {
        for (path, bus) in [
            (
                "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1",
                "USB",
            ),
            (
                "devices/pci0000:00/0000:00:1c.0/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0/mmcblk0p1",
                "MMC",
            ),
            (
                "devices/pci0000:00/0000:05:00.0/fw1/fw1.0/host7/target7:0:0/block/sdc/sdc1",
                "FireWire",
            ),
            (
                "devices/pci0000:00/0000:00:0d.2/thunderbolt/domain0/0-0/0-1/block/sdd/sdd1",
                "Thunderbolt",
            ),
        ] {
            let (_s, env) = env_with_device_path("8:17", path);
            let e = env
                .check_location(Path::new("/srv/ext/fulfill"))
                .unwrap_err();
            assert!(
                matches!(e, Error::Unsafe(_)) && e.to_string().contains(bus),
                "{e}"
            );
        }
        // The control: an internal SATA disk, same file system, same flag.
        let (_s, env) = env_with_device_path(
            "8:17",
            "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1",
        );
        env.check_location(Path::new("/srv/ext/fulfill")).unwrap();
    }

    #[test]
    fn links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "x").unwrap();
        check_not_link(&f).unwrap();
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let e = check_not_link(&l).unwrap_err();
        assert!(
            matches!(e, Error::Unsafe(_)) && e.to_string().contains("symbolic link"),
            "{e}"
        );
    }

    #[test]
    fn permissions_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        check_private(&f).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let e = check_private(&f).unwrap_err();
        assert!(
            matches!(e, Error::Unsafe(_)) && e.to_string().contains("chmod 600"),
            "{e}"
        );
    }
}
