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
        if let Some(reason) = self.removable_reason(&path) {
            return Err(Error::Unsafe(format!(
                "{} is on removable media ({reason}); keep the home on a fixed disk",
                path.display()
            )));
        }
        Ok(())
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

/// Folder names that cloud-sync clients create, compared case-insensitively.
const CLOUD_FOLDERS: &[&str] = &[
    "dropbox",
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
];

/// Files a sync client leaves in the root of a synced folder.
const CLOUD_MARKERS: &[(&str, &str)] = &[
    (".dropbox", "Dropbox"),
    (".dropbox.cache", "Dropbox"),
    (".stfolder", "Syncthing"),
    (".stignore", "Syncthing"),
    (".megaignore", "MEGA"),
    (".debris", "MEGA"),
    (".owncloudsync.log", "ownCloud"),
    (".nextcloudsync.log", "Nextcloud"),
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
        ] {
            assert!(cloud_sync_reason(Path::new(p)).is_some(), "{p}");
        }
        for p in [
            "/home/a/fulfill",
            "/home/a/megaphone/x",
            "/home/a/dropboxes-not/x",
        ] {
            assert!(cloud_sync_reason(Path::new(p)).is_none(), "{p}");
        }
    }

    #[test]
    fn cloud_folders_by_marker() {
        let d = tempfile::tempdir().unwrap();
        let synced = d.path().join("Sync");
        fs::create_dir_all(synced.join("shop/fulfill")).unwrap();
        assert!(cloud_sync_reason(&synced.join("shop/fulfill")).is_none());
        fs::write(synced.join(".stfolder"), "").unwrap();
        let r = cloud_sync_reason(&synced.join("shop/fulfill")).unwrap();
        assert!(r.contains("Syncthing"), "{r}");
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
