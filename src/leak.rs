//! Leak scanning: find any PII value the vault holds in files where it must not be (COMPLIANCE
//! R26: logs; R20/R21: stray copies).
//!
//! A [`LeakScanner`] is built from opened PII by [`crate::vault::Session::leak_scanner`] (the
//! auditor's PII key; one `pii.scanned` record) and reports *where* a value was found (file,
//! line, byte offset) and *whose* (order id and field name), never the value.
//!
//! **What is matched.** Fields that identify someone on their own: names, e-mail, phone,
//! address lines, tax info and gift messages, ASCII case-insensitively, each at least
//! [`MIN_LEN`] bytes long. City, region, postcode and country are left out: alone they are not
//! PII (R1), and short values such as a 5-digit postcode occur by chance in any log full of hex
//! hashes, which would bury real leaks under false ones. Values are matched as they are stored,
//! and as fulfill's own PDF labels write Latin-1 text (WinAnsi hex); a copy re-encoded
//! otherwise (JSON `\u` escapes, base64, compressed) is not found.
//!
//! **Memory.** The matcher holds the pattern bytes while it lives; `aho-corasick` cannot zeroize
//! them on drop. The scanner lives only for one audit run, in a process that cannot dump core.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Serialize;
use sha2::Digest;

use crate::error::{Error, Result};
use crate::pii::BuyerPii;

/// Shortest value matched, in bytes.
pub const MIN_LEN: usize = 6;

/// The fields matched (see the module doc for why the others are not).
const MATCHED: &[&str] = &[
    "buyer_name",
    "buyer_email",
    "recipient_name",
    "address_line1",
    "address_line2",
    "address_line3",
    "phone",
    "buyer_tax_info",
    "gift_message",
];

/// Collects PII values, then builds the matcher.
#[derive(Default)]
pub struct ScannerBuilder {
    patterns: Vec<zeroize::Zeroizing<String>>,
    /// Digests of the values already added (lowercased), to look for each value once.
    seen: std::collections::HashSet<[u8; 32]>,
    /// Distinct values (each may have more than one pattern).
    values: usize,
    owners: Vec<(String, &'static str)>,
}

impl fmt::Debug for ScannerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScannerBuilder {{ patterns: {} }}", self.patterns.len())
    }
}

impl ScannerBuilder {
    /// Adds the matched fields of one record (an order's PII, or a gift message) under `order`.
    pub fn add(&mut self, order: &str, pii: &BuyerPii) {
        for (field, value) in pii.fields() {
            let v = value.expose_pii().trim();
            // The same value in two fields or orders is looked for once (the first owner).
            if MATCHED.contains(&field)
                && v.len() >= MIN_LEN
                && self.seen.insert(
                    sha2::Sha256::digest(
                        zeroize::Zeroizing::new(v.to_ascii_lowercase()).as_bytes(),
                    )
                    .into(),
                )
            {
                self.values += 1;
                self.patterns.push(zeroize::Zeroizing::new(v.to_string()));
                self.owners.push((order.to_string(), field));
                // fulfill's own PDF labels write Latin-1 text as WinAnsi hex strings.
                if v.chars().all(|c| (c as u32) < 0x100) {
                    let hex: String = v.chars().map(|c| format!("{:02X}", c as u32)).collect();
                    self.patterns.push(zeroize::Zeroizing::new(hex));
                    self.owners.push((order.to_string(), field));
                }
            }
        }
    }

    /// How many values were collected.
    pub fn len(&self) -> usize {
        self.values
    }

    /// True when no value was collected.
    pub fn is_empty(&self) -> bool {
        self.values == 0
    }

    /// Builds the scanner.
    pub fn build(self) -> Result<LeakScanner> {
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(self.patterns.iter().map(|p| p.as_bytes()))
            .map_err(|e| Error::Failed(format!("cannot build the leak matcher: {e}")))?;
        Ok(LeakScanner {
            ac,
            values: self.values,
            owners: self.owners,
            longest: self.patterns.iter().map(|p| p.len()).max().unwrap_or(0),
        })
    }
}

/// Bytes read at a time when scanning a file.
const CHUNK: usize = 8 << 20;

/// Finds PII values in bytes and files. Its `Debug` shows only the pattern count.
pub struct LeakScanner {
    ac: AhoCorasick,
    values: usize,
    owners: Vec<(String, &'static str)>,
    /// The longest value, in bytes.
    longest: usize,
}

fn count_lines(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'\n').count()
}

/// Fills `buf` unless the input ends first; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl fmt::Debug for LeakScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeakScanner {{ values: {} }}", self.values)
    }
}

/// One PII value found where it must not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (counting `\n`).
    pub line: usize,
    /// Byte offset in the file.
    pub offset: usize,
    /// Whose value it is.
    pub order_id: String,
    /// Which field (never the value).
    pub field: &'static str,
}

impl LeakScanner {
    /// How many values it looks for.
    pub fn patterns(&self) -> usize {
        self.values
    }

    /// Every value found in `bytes`, as (offset, order id, field).
    pub fn scan_bytes<'s>(
        &'s self,
        bytes: &'s [u8],
    ) -> impl Iterator<Item = (usize, &'s str, &'static str)> + 's {
        self.ac.find_iter(bytes).map(|m| {
            let (order, field) = &self.owners[m.pattern().as_usize()];
            (m.start(), order.as_str(), *field)
        })
    }

    /// Scans one file, in chunks: memory stays bounded however large the file.
    pub fn scan_file(&self, path: &Path) -> Result<Vec<Leak>> {
        let f = std::fs::File::open(path)
            .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
        self.scan_reader(f, CHUNK)
            .map(|hits| {
                hits.into_iter()
                    .map(|(offset, line, i)| {
                        let (order, field) = &self.owners[i];
                        Leak {
                            file: path.to_path_buf(),
                            line,
                            offset,
                            order_id: order.clone(),
                            field,
                        }
                    })
                    .collect()
            })
            .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))
    }

    /// Every match in `r` as (offset, line, pattern index), reading `chunk` bytes at a time.
    /// The last `longest - 1` bytes of a chunk are kept for the next, so a value that
    /// straddles two chunks is found once, as in one pass over the whole input.
    fn scan_reader(
        &self,
        mut r: impl Read,
        chunk: usize,
    ) -> std::io::Result<Vec<(usize, usize, usize)>> {
        let keep = self.longest.saturating_sub(1);
        let mut buf: Vec<u8> = Vec::with_capacity(chunk + keep);
        let mut base = 0; // file offset of buf[0]
        let mut line = 1;
        let mut out = Vec::new();
        loop {
            let before = buf.len();
            buf.resize(before + chunk, 0);
            let n = read_full(&mut r, &mut buf[before..])?;
            buf.truncate(before + n);
            let eof = n < chunk;
            // Matches must start before `limit`: later ones may not be whole yet.
            let limit = if eof {
                buf.len()
            } else {
                buf.len().saturating_sub(keep)
            };
            let mut counted = 0;
            let mut resume = limit;
            for m in self.ac.find_iter(&buf[..]) {
                if m.start() >= limit {
                    break;
                }
                line += count_lines(&buf[counted..m.start()]);
                counted = m.start();
                out.push((base + m.start(), line, m.pattern().as_usize()));
                resume = resume.max(m.end());
            }
            if eof {
                return Ok(out);
            }
            line += count_lines(&buf[counted..resume]);
            buf.drain(..resume);
            base += resume;
        }
    }

    /// Scans every regular file under `root` (a file or a folder, recursively; symbolic links
    /// are not followed). Unreadable files are returned separately.
    pub fn scan_tree(&self, root: &Path) -> (Vec<Leak>, Vec<(PathBuf, String)>, usize) {
        let mut leaks = Vec::new();
        let mut unreadable = Vec::new();
        let mut files = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            let meta = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    unreadable.push((p, e.to_string()));
                    continue;
                }
            };
            if meta.is_dir() {
                match std::fs::read_dir(&p) {
                    Ok(entries) => stack.extend(entries.flatten().map(|e| e.path())),
                    Err(e) => unreadable.push((p, e.to_string())),
                }
            } else if meta.is_file() {
                files += 1;
                match self.scan_file(&p) {
                    Ok(mut l) => leaks.append(&mut l),
                    Err(e) => unreadable.push((p, e.to_string())),
                }
            }
        }
        leaks.sort_by(|a, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
        (leaks, unreadable, files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::Pii;

    fn scanner() -> LeakScanner {
        let mut b = ScannerBuilder::default();
        b.add(
            "111-1111111-1111111",
            &BuyerPii {
                recipient_name: Some(Pii::new("Zoë Marker-Smith")),
                postal_code: Some(Pii::new("90210")),
                phone: Some(Pii::new("+1 555 0100")),
                ..Default::default()
            },
        );
        b.add(
            "222-2222222-2222222",
            &BuyerPii {
                buyer_email: Some(Pii::new("abc@marketplace.amazon.com")),
                buyer_name: Some(Pii::new("Al")),
                ..Default::default()
            },
        );
        assert_eq!(b.len(), 3, "postcode and short names are not matched");
        b.build().unwrap()
    }

    #[test]
    fn finds_values_by_order_and_field_never_printing_them() {
        let s = scanner();
        let text =
            b"ok\nship to ZO\xc3\xab marker-smith today\nmail ABC@marketplace.amazon.com 90210";
        let hits: Vec<_> = s.scan_bytes(text).collect();
        assert_eq!(
            hits,
            vec![
                (11, "111-1111111-1111111", "recipient_name"),
                (40, "222-2222222-2222222", "buyer_email")
            ]
        );
        assert!(!format!("{s:?}").contains("Marker"));
    }

    #[test]
    fn chunked_scans_find_what_one_pass_finds() {
        let s = scanner();
        let mut text = Vec::new();
        for i in 0..300 {
            text.extend_from_slice(format!("line {i} ").as_bytes());
            if i % 37 == 0 {
                text.extend_from_slice(b"to zo\xc3\xab marker-smith");
            }
            if i % 53 == 0 {
                text.extend_from_slice(b" +1 555 0100");
            }
            text.push(b'\n');
        }
        let whole: Vec<(usize, usize)> = s.scan_bytes(&text).map(|(o, _, _)| (o, 0)).collect();
        for chunk in [1, 5, 16, 17, 64, 1000, 1 << 20] {
            let hits = s.scan_reader(&text[..], chunk).unwrap();
            let offsets: Vec<(usize, usize)> = hits.iter().map(|h| (h.0, 0)).collect();
            assert_eq!(offsets, whole, "chunk {chunk}");
            for (offset, line, _) in hits {
                assert_eq!(line, 1 + count_lines(&text[..offset]), "chunk {chunk}");
            }
        }
        assert_eq!(whole.len(), 9 + 6);
    }

    #[test]
    fn file_hits_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.log");
        std::fs::write(&f, "one\ntwo\ncall +1 555 0100 now\n").unwrap();
        let (leaks, bad, files) = scanner().scan_tree(dir.path());
        assert_eq!((files, bad.len()), (1, 0));
        assert_eq!(leaks.len(), 1);
        assert_eq!((leaks[0].line, leaks[0].field), (3, "phone"));
    }
}
