//! Leak scanning: find any PII value the vault holds in files where it must not be (COMPLIANCE
//! R26: logs; R20/R21: stray copies), however the copy was encoded.
//!
//! A [`LeakScanner`] is built from opened PII by [`crate::vault::Session::leak_scanner`] (the
//! auditor's PII key; one `pii.scanned` record) and reports *where* a value was found (file,
//! line, byte offset, and in which form) and *whose* (order id and field name), never the
//! value.
//!
//! **What is matched.** Fields that identify someone on their own: names, e-mail, phone,
//! address lines, tax info and gift messages, ASCII case-insensitively, each at least
//! [`MIN_LEN`] bytes long without its spaces. City, region, postcode and country are left out:
//! alone they are not PII (R1), and short values such as a 5-digit postcode occur by chance in
//! any log full of hex hashes, which would bury real leaks under false ones.
//!
//! **In which forms** ([`FORMS`], listed in the audit report). Each value is looked for as
//! several patterns: its UTF-8 text, its Latin-1 bytes, its UTF-16LE and UTF-16BE (for values
//! beyond Latin-1), the WinAnsi hex fulfill's own PDF labels write, and its characters reversed.
//! Text and patterns are compared in a normal form without NUL and ASCII whitespace
//! ([`normal`]), so one pass also finds a value broken over lines or by spaces and UTF-16 text
//! of Latin-1 characters (with or without BOM). What must be decoded first is decoded where it
//! is found ([`decode`]): base64 runs, percent-encoded stretches, gzip, zlib and zip members;
//! what they hold is scanned the same way, encodings inside encodings up to three deep. A
//! copy encoded otherwise (JSON `\u` escapes, quoted-printable, other compressors, encrypted
//! archives) is not found; encrypted zip members and other zip methods are reported as not
//! scanned.
//!
//! **How.** A value is reported where one pass of a leftmost-longest automaton over the normal
//! form would report it: from the left, the longest value starting at the first position where
//! any starts (the first added on a tie), then on after its end. The automaton (aho-corasick,
//! anchored) only runs where the prefilter ([`filter`]: sampled q-grams of every value's first
//! bytes, in a cache-sized Bloom filter) says a value may start, so most text is looked at once
//! per 3 to 7 bytes. A file is read in 8 MiB chunks (the bytes holding the last few hundred
//! kept bytes carried over), and a chunk is split over the cores ([`scan`]): each part is put in
//! normal form 64 KiB at a time (in cache), matched, and searched for encodings on its own
//! thread, then one pass in order drops starts that fall inside an earlier match and decodes
//! what was found.
//!
//! **Memory.** Flat whatever the file's size: the two tables, the automaton, two chunks, and
//! per decoded stream two 1 MiB chunks. Decompression is capped against zip and gzip bombs: a
//! stream yields at most 1 GiB (or 32 times the compressed bytes that can hold it, if more),
//! a file at most 4 GiB (or 32 times its size); what a cap cuts off is reported as not scanned.
//! The matcher holds the pattern bytes while it lives; `aho-corasick` cannot zeroize them on
//! drop. The scanner lives only for one audit run, in a process that cannot dump core.

use std::fmt;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};
use serde::Serialize;
use sha2::Digest;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::pii::BuyerPii;

mod decode;
mod filter;
mod normal;
mod scan;

/// Shortest value matched, in bytes, without its spaces.
pub const MIN_LEN: usize = 6;

/// Every form the scan finds a value in, as the audit report lists them.
pub const FORMS: &[&str] = &[
    "text (UTF-8, any ASCII case)",
    "text broken by line breaks, spaces or tabs",
    "Latin-1",
    "UTF-16LE and UTF-16BE, with or without BOM",
    "PDF hex strings (WinAnsi)",
    "reversed text",
    "base64 (standard or URL-safe, wrapped or not)",
    "percent-encoding (URLs, form bodies)",
    "gzip",
    "zlib (deflate streams, as in PDF)",
    "zip members (stored or deflated)",
    "these encodings inside each other, up to 3 deep",
];

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

/// Which form of a value a pattern is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// UTF-8, as stored.
    Text,
    /// Latin-1 bytes (values with a character from U+0080 to U+00FF).
    Latin1,
    /// UTF-16LE bytes (values with a character beyond U+00FF).
    Utf16Le,
    /// UTF-16BE bytes (values with a character beyond U+00FF).
    Utf16Be,
    /// WinAnsi hex, as fulfill's PDF labels write Latin-1 text.
    PdfHex,
    /// The characters in reverse order.
    Reversed,
}

/// Collects PII values, then builds the matcher.
#[derive(Default)]
pub struct ScannerBuilder {
    /// Every pattern in normal form.
    patterns: Vec<Zeroizing<Vec<u8>>>,
    /// Every pattern before the normal form.
    originals: Vec<Zeroizing<Vec<u8>>>,
    kinds: Vec<Kind>,
    /// Digests of the values already added (normal form, lowercased), to look for each once.
    seen: std::collections::HashSet<[u8; 32]>,
    /// Distinct values (each has several patterns).
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
            if !MATCHED.contains(&field) {
                continue;
            }
            let text = Zeroizing::new(normal::normal(v.as_bytes()));
            // The same value in two fields or orders is looked for once (the first owner).
            if text.len() < MIN_LEN
                || !self.seen.insert(
                    sha2::Sha256::digest(Zeroizing::new(text.to_ascii_lowercase()).as_slice())
                        .into(),
                )
            {
                continue;
            }
            self.values += 1;
            let mut forms = vec![(Kind::Text, Zeroizing::new(v.as_bytes().to_vec()))];
            if v.chars().all(|c| (c as u32) < 0x100) {
                let latin1: Zeroizing<Vec<u8>> =
                    Zeroizing::new(v.chars().map(|c| c as u32 as u8).collect());
                let hex: String = latin1.iter().map(|b| format!("{b:02X}")).collect();
                if !v.is_ascii() {
                    forms.push((Kind::Latin1, latin1));
                }
                forms.push((Kind::PdfHex, Zeroizing::new(hex.into_bytes())));
            } else {
                let units = || v.encode_utf16();
                forms.push((
                    Kind::Utf16Le,
                    Zeroizing::new(units().flat_map(u16::to_le_bytes).collect()),
                ));
                forms.push((
                    Kind::Utf16Be,
                    Zeroizing::new(units().flat_map(u16::to_be_bytes).collect()),
                ));
            }
            let reversed: String = v.chars().rev().collect();
            forms.push((Kind::Reversed, Zeroizing::new(reversed.into_bytes())));
            let first = self.patterns.len();
            for (kind, original) in forms {
                let n = Zeroizing::new(normal::normal(&original));
                if n.is_empty()
                    || self.patterns[first..]
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(&n))
                {
                    continue;
                }
                self.patterns.push(n);
                self.originals.push(original);
                self.kinds.push(kind);
                self.owners.push((order.to_string(), field));
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
        let matcher = Matcher::new(self.patterns.iter().map(|p| p.as_slice()))?;
        Ok(LeakScanner::new(
            matcher,
            self.values,
            self.owners,
            self.kinds,
            self.originals,
        ))
    }
}

/// Below this many bytes a chunk is scanned on one thread.
const PARALLEL_MIN: usize = 1 << 20;

/// Values of at least this many bytes (every PDF hex form) are filtered on 6-byte grams
/// every `shortest - 5` bytes (7 for 12-byte values); shorter ones on 4-byte grams every
/// `shortest - 3` bytes, in a pass of their own...
const LONG: usize = 12;

/// ... unless none is shorter than this: then all values are filtered on 6-byte grams, every
/// `shortest - 5` bytes (3 to 6). One table read every 3 to 6 bytes costs less than two
/// passes (measured with values of 10 bytes: one pass every 5 bytes beat a second pass of
/// 4-byte grams, every 7 bytes).
const ONE_GROUP: usize = 8;

/// The matcher: the prefilter ([`filter`]) proposes starts, and an anchored, leftmost-longest,
/// ASCII-case-insensitive aho-corasick automaton says which value (if any) starts there.
struct Matcher {
    /// Anchored searches only: it runs at candidate starts, never over the whole text.
    ac: AhoCorasick,
    groups: Vec<filter::Group>,
    /// The longest value, in bytes.
    longest: usize,
    /// Threads a large chunk is split over.
    threads: usize,
    /// Chunks shorter than this are scanned on one thread.
    parallel_min: usize,
}

impl Matcher {
    fn new<'p>(patterns: impl Iterator<Item = &'p [u8]> + Clone) -> Result<Matcher> {
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .build(patterns.clone())
            .map_err(|e| Error::Failed(format!("cannot build the leak matcher: {e}")))?;
        let (mut shortest, mut longest, mut shortest_long) = (usize::MAX, 0, usize::MAX);
        for p in patterns.clone() {
            shortest = shortest.min(p.len());
            longest = longest.max(p.len());
            if p.len() >= LONG {
                shortest_long = shortest_long.min(p.len());
            }
        }
        if shortest == 0 {
            return Err(Error::Failed(
                "cannot build the leak matcher: an empty value".into(),
            ));
        }
        let long_from = if shortest >= ONE_GROUP { 0 } else { LONG };
        let long = patterns.clone().filter(|p| p.len() >= long_from).count();
        let short = patterns.clone().count() - long;
        let mut groups = Vec::new();
        let (mut s, mut l) = (None, None);
        if short > 0 {
            s = Some(groups.len());
            groups.push(filter::Group::new(shortest, 4, short));
        }
        if long > 0 {
            l = Some(groups.len());
            groups.push(filter::Group::new(
                shortest.max(long_from).min(shortest_long),
                6,
                long,
            ));
        }
        for p in patterns {
            let g = if p.len() >= long_from { l } else { s };
            groups[g.expect("a group for every length")].add(p);
        }
        Ok(Matcher {
            ac,
            groups,
            longest,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            parallel_min: PARALLEL_MIN,
        })
    }

    /// The longest value starting at `p`, as (end, pattern).
    #[inline]
    fn at(&self, h: &[u8], p: usize) -> Option<(usize, usize)> {
        let window = &h[p..h.len().min(p + self.longest)];
        self.ac
            .find(Input::new(window).anchored(Anchored::Yes))
            .map(|m| (p + m.end(), m.pattern().as_usize()))
    }

    /// Every start in `0 .. hi` where a value occurs in `h` (which holds at least
    /// `longest - 1` bytes past `hi`, or ends the input), with its longest value, in order,
    /// as (start, end, pattern).
    fn find_all(&self, h: &[u8], hi: usize) -> Vec<(usize, usize, usize)> {
        let mut found = Vec::new();
        for g in &self.groups {
            g.candidates(h, 0, hi, |p| {
                if let Some((end, i)) = self.at(h, p) {
                    found.push((p, end, i));
                }
            });
        }
        found.sort_unstable();
        found.dedup_by_key(|m| m.0);
        found
    }
}

/// Finds PII values in bytes and files. Its `Debug` shows only the value count.
pub struct LeakScanner {
    matcher: Matcher,
    values: usize,
    owners: Vec<(String, &'static str)>,
    kinds: Vec<Kind>,
    /// Every pattern before the normal form, to name the form a hit was found in.
    originals: Vec<Zeroizing<Vec<u8>>>,
    /// Kept bytes looked at past a stretch: enough for a percent-encoded value (three bytes
    /// for each of the longest pattern's).
    ext: usize,
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
    /// 1-based line number (counting `\n`); of where the encoding begins, for an encoded copy.
    pub line: usize,
    /// Byte offset in the file; of where the encoding begins, for an encoded copy.
    pub offset: usize,
    /// Whose value it is.
    pub order_id: String,
    /// Which field (never the value).
    pub field: &'static str,
    /// The form it was found in (`text`, `UTF-16LE`, `gzip`, `base64 > gzip`, ...).
    pub form: String,
    /// For an encoded copy, the value's offset in the decoded bytes (of the innermost encoding).
    pub decoded_offset: Option<usize>,
}

/// What scanning one file found, and what it could not scan.
#[derive(Debug, Clone, Default)]
pub struct FileScan {
    /// Values found.
    pub leaks: Vec<Leak>,
    /// Parts left unscanned and why (an encrypted zip member, a stream past the caps).
    pub unscanned: Vec<String>,
}

impl LeakScanner {
    fn new(
        matcher: Matcher,
        values: usize,
        owners: Vec<(String, &'static str)>,
        kinds: Vec<Kind>,
        originals: Vec<Zeroizing<Vec<u8>>>,
    ) -> LeakScanner {
        let ext = 3 * matcher.longest + 16;
        LeakScanner {
            matcher,
            values,
            owners,
            kinds,
            originals,
            ext,
        }
    }

    /// How many values it looks for.
    pub fn patterns(&self) -> usize {
        self.values
    }

    /// Every value found in `bytes`, as (offset, order id, field), in every form.
    pub fn scan_bytes<'s>(
        &'s self,
        bytes: &'s [u8],
    ) -> impl Iterator<Item = (usize, &'s str, &'static str)> + 's {
        let mut budget = scan::Budget::new(bytes.len() as u64);
        let hits = self
            .scan_stream(
                &mut &bytes[..],
                Some(scan::Whole::Bytes(bytes)),
                scan::Level::top(bytes.len().max(1)),
                &mut budget,
            )
            .unwrap_or_default();
        hits.into_iter().map(|h| {
            let (order, field) = &self.owners[h.pattern];
            (h.offset, order.as_str(), *field)
        })
    }

    /// Scans one file, in chunks: memory stays bounded however large the file.
    pub fn scan_file(&self, path: &Path) -> Result<FileScan> {
        let cannot =
            |e: std::io::Error| Error::Failed(format!("cannot read {}: {e}", path.display()));
        let f = std::fs::File::open(path).map_err(cannot)?;
        let len = f.metadata().map_err(cannot)?.len();
        let mut budget = scan::Budget::new(len);
        let hits = self
            .scan_stream(
                &mut &f,
                Some(scan::Whole::File(&f)),
                scan::Level::top(scan::CHUNK),
                &mut budget,
            )
            .map_err(cannot)?;
        let leaks = hits
            .into_iter()
            .map(|h| {
                let (order, field) = &self.owners[h.pattern];
                Leak {
                    file: path.to_path_buf(),
                    line: h.line,
                    offset: h.offset,
                    order_id: order.clone(),
                    field,
                    form: h.form,
                    decoded_offset: h.decoded_offset,
                }
            })
            .collect();
        Ok(FileScan {
            leaks,
            unscanned: budget.notes,
        })
    }

    /// Scans every regular file under `root` (a file or a folder, recursively; symbolic links
    /// are not followed). Unreadable files, and parts of files left unscanned, are returned
    /// separately.
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
                    Ok(mut s) => {
                        leaks.append(&mut s.leaks);
                        unreadable.extend(s.unscanned.into_iter().map(|why| (p.clone(), why)));
                    }
                    Err(e) => unreadable.push((p, e.to_string())),
                }
            }
        }
        leaks.sort_by(|a, b| {
            (&a.file, a.offset, a.decoded_offset).cmp(&(&b.file, b.offset, b.decoded_offset))
        });
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
                buyer_name: Some(Pii::new("Al Bo")),
                ..Default::default()
            },
        );
        assert_eq!(b.len(), 3, "postcode and short names are not matched");
        b.build().unwrap()
    }

    /// The plain matches (not those in decoded bytes) of reading `text` `chunk` bytes at a
    /// time, as (offset, line, pattern).
    fn plain(s: &LeakScanner, text: &[u8], chunk: usize) -> Vec<(usize, usize, usize)> {
        let mut budget = scan::Budget::new(text.len() as u64);
        s.scan_stream(
            &mut &text[..],
            Some(scan::Whole::Bytes(text)),
            scan::Level::top(chunk),
            &mut budget,
        )
        .unwrap()
        .into_iter()
        .filter(|h| h.decoded_offset.is_none() && h.form != "percent-encoded")
        .map(|h| (h.offset, h.line, h.pattern))
        .collect()
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
    fn each_value_is_looked_for_in_each_of_its_forms() {
        let s = scanner();
        let kinds = |order: &str| -> Vec<Kind> {
            (0..s.kinds.len())
                .filter(|&i| s.owners[i].0 == order)
                .map(|i| s.kinds[i])
                .collect()
        };
        // Latin-1 text: its UTF-8, Latin-1, PDF hex and reversed forms (UTF-16 is the Latin-1
        // form once NULs are dropped); ASCII: no Latin-1 form of its own.
        assert_eq!(
            kinds("111-1111111-1111111"),
            vec![
                Kind::Text,
                Kind::Latin1,
                Kind::PdfHex,
                Kind::Reversed,
                Kind::Text,
                Kind::PdfHex,
                Kind::Reversed
            ]
        );
        let mut b = ScannerBuilder::default();
        b.add(
            "333-3333333-3333333",
            &BuyerPii {
                recipient_name: Some(Pii::new("Иван Петров")),
                ..Default::default()
            },
        );
        let s = b.build().unwrap();
        assert_eq!(
            s.kinds,
            vec![Kind::Text, Kind::Utf16Le, Kind::Utf16Be, Kind::Reversed]
        );
        let le: Vec<u8> = "x Иван Петров y"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "Иван\r\nПетров"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(s.scan_bytes(&le).count(), 1);
        assert_eq!(s.scan_bytes(&be).count(), 1);
        assert_eq!(s.scan_bytes("Иван Петрук".as_bytes()).count(), 0);
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
                text.extend_from_slice(b" +1 555\n0100");
            }
            text.push(b'\n');
        }
        let whole = plain(&s, &text, text.len());
        for chunk in [1, 5, 16, 17, 64, 1000, 1 << 20] {
            let hits = plain(&s, &text, chunk);
            assert_eq!(hits, whole, "chunk {chunk}");
            for (offset, line, _) in hits {
                assert_eq!(
                    line,
                    1 + normal::count_lines(&text[..offset]),
                    "chunk {chunk}"
                );
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
        assert_eq!(leaks[0].form, "text");
    }

    /// A scanner over raw patterns (no other forms added), split over `threads` threads for
    /// chunks of at least `parallel_min` bytes.
    fn raw(patterns: &[Vec<u8>], threads: usize, parallel_min: usize) -> LeakScanner {
        let normal: Vec<Vec<u8>> = patterns.iter().map(|p| normal::normal(p)).collect();
        let mut matcher = Matcher::new(normal.iter().map(|p| &p[..])).unwrap();
        matcher.threads = threads;
        matcher.parallel_min = parallel_min;
        LeakScanner::new(
            matcher,
            patterns.len(),
            vec![(String::new(), "phone"); patterns.len()],
            vec![Kind::Text; patterns.len()],
            patterns.iter().map(|p| Zeroizing::new(p.clone())).collect(),
        )
    }

    /// The reference: in the normal form, at each position from the left, the longest value
    /// starting there (the first added on a tie), compared byte by byte; then on after its
    /// end. Offsets and lines are the raw ones.
    fn naive(patterns: &[Vec<u8>], text: &[u8]) -> Vec<(usize, usize, usize)> {
        let at: Vec<usize> = (0..text.len()).filter(|&p| normal::kept(text[p])).collect();
        let t: Vec<u8> = at.iter().map(|&p| text[p]).collect();
        let pats: Vec<Vec<u8>> = patterns.iter().map(|p| normal::normal(p)).collect();
        let (mut out, mut p) = (Vec::new(), 0);
        while p < t.len() {
            let best = pats
                .iter()
                .enumerate()
                .filter(|(_, v)| {
                    t[p..].len() >= v.len() && t[p..p + v.len()].eq_ignore_ascii_case(v)
                })
                .max_by_key(|(i, v)| (v.len(), std::cmp::Reverse(*i)));
            match best {
                Some((i, v)) => {
                    out.push((at[p], 1 + normal::count_lines(&text[..at[p]]), i));
                    p += v.len();
                }
                None => p += 1,
            }
        }
        out
    }

    #[test]
    fn parts_meet_exactly_at_their_bounds() {
        let pats = vec![
            b"abcdef".to_vec(),
            b"abcdefghijklmnop".to_vec(),
            b"zzzzzz".to_vec(),
        ];
        let mut text = vec![b'.'; 4000];
        // Values on and around the split points of 2 to 5 parts, some cut by a line break.
        let at = [
            0, 795, 797, 1000, 1330, 1333, 1995, 2000, 2004, 2664, 2667, 3000, 3200, 3984,
        ];
        for (k, &p) in at.iter().enumerate() {
            let v = &pats[k % 3];
            text[p..p + v.len()].copy_from_slice(v);
            if k % 4 == 3 {
                text.insert(p + 2, b'\n');
            } else if k % 4 == 1 {
                text[p..p + 3].make_ascii_uppercase();
            }
        }
        let want = naive(&pats, &text);
        assert_eq!(want.len(), 9, "positive control: the values are found");
        assert!(
            want.iter().any(|w| text[w.0..w.0 + 3].contains(&b'\n')),
            "broken by a line break too"
        );
        for threads in 1..=5 {
            for chunk in [1, 7, 1000, 1 << 20] {
                let s = raw(&pats, threads, 1);
                assert_eq!(
                    plain(&s, &text, chunk),
                    want,
                    "{threads} threads, chunk {chunk}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Random values and texts made of them (case flipped, cut, overlapping, broken by
        /// whitespace and NULs) and noise from the same few bytes: the chunked, split scan
        /// finds what the reference finds, and what one unanchored aho-corasick pass over
        /// the normal form (the matcher before the prefilter) finds.
        #[test]
        fn matches_the_reference(
            pats in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"abAB-\n\xeb0".to_vec()), 6..24),
                1..8,
            ),
            pieces in proptest::collection::vec(
                (0usize..12, 0usize..24, proptest::collection::vec(proptest::bool::ANY, 24)),
                0..40,
            ),
            chunk in 1usize..80,
            threads in 1usize..4,
            parallel_min in 1usize..64,
        ) {
            proptest::prop_assume!(pats.iter().all(|p| !normal::normal(p).is_empty()));
            let text = made_of(&pats, &pieces);
            let want = naive(&pats, &text);
            let s = raw(&pats, threads, parallel_min);
            proptest::prop_assert_eq!(plain(&s, &text, chunk), want.clone());
            let starts: Vec<usize> = s.scan_bytes(&text).map(|h| h.0).collect();
            let plain_starts: Vec<usize> = plain(&s, &text, text.len().max(1)).iter().map(|h| h.0).collect();
            proptest::prop_assert_eq!(&plain_starts, &want.iter().map(|h| h.0).collect::<Vec<_>>());
            // Whatever decoded bytes add comes on top of the plain matches.
            proptest::prop_assert!(want.iter().all(|h| starts.contains(&h.0)));
            let normal_pats: Vec<Vec<u8>> = pats.iter().map(|p| normal::normal(p)).collect();
            let at: Vec<usize> = (0..text.len()).filter(|&p| normal::kept(text[p])).collect();
            let t: Vec<u8> = at.iter().map(|&p| text[p]).collect();
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&normal_pats)
                .unwrap();
            let before: Vec<(usize, usize)> =
                ac.find_iter(&t).map(|m| (at[m.start()], m.pattern().as_usize())).collect();
            proptest::prop_assert_eq!(before, want.iter().map(|h| (h.0, h.2)).collect::<Vec<_>>());
        }

        /// The same texts as UTF-16 of Latin-1 text (either byte order, either alignment):
        /// the scan finds what the reference finds.
        #[test]
        fn matches_the_reference_in_utf16(
            pats in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"abAB-\n\xeb0".to_vec()), 6..24),
                1..8,
            ),
            pieces in proptest::collection::vec(
                (0usize..12, 0usize..24, proptest::collection::vec(proptest::bool::ANY, 24)),
                0..40,
            ),
            big_endian in proptest::bool::ANY,
            shift in 0usize..2,
            chunk in 1usize..80,
            threads in 1usize..4,
            parallel_min in 1usize..64,
        ) {
            proptest::prop_assume!(pats.iter().all(|p| !normal::normal(p).is_empty()));
            let mut text = vec![0u8; shift];
            for b in made_of(&pats, &pieces) {
                text.extend(if big_endian { [0, b] } else { [b, 0] });
            }
            let want = naive(&pats, &text);
            let s = raw(&pats, threads, parallel_min);
            proptest::prop_assert_eq!(plain(&s, &text, chunk), want);
        }
    }

    /// A text made of `pieces`: each either a value of `pats` (its ASCII case flipped where
    /// the flags say) or noise from the same few bytes, whitespace and NUL, some cut short.
    fn made_of(pats: &[Vec<u8>], pieces: &[(usize, usize, Vec<bool>)]) -> Vec<u8> {
        let mut text = Vec::new();
        for (k, cut, flips) in pieces {
            match pats.get(*k) {
                Some(v) => text.extend(v.iter().zip(flips).map(|(b, f)| {
                    if *f {
                        b.to_ascii_uppercase()
                    } else {
                        b.to_ascii_lowercase()
                    }
                })),
                None => text.extend_from_slice(&b"ab-\nB0 a\xeb\0bA"[..*cut % 11]),
            }
            if *cut < 3 {
                text.truncate(text.len().saturating_sub(*cut + 1));
            }
        }
        text
    }
}
