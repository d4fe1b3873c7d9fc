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
//! **How.** A value is reported where one pass of a leftmost-longest automaton would report
//! it: from the left, the longest value starting at the first position where any starts (the
//! first added on a tie), then on after its end. The automaton (aho-corasick, anchored) only
//! runs where the prefilter ([`filter`]: sampled q-grams of every value's first bytes, in a
//! cache-sized Bloom filter) says a value may start, so most text is looked at once per 3 to 7
//! bytes. A file is read in 8 MiB chunks (the last `longest - 1` bytes carried over), and a
//! chunk is split over the cores: every start in each part is found on its own thread, then
//! one pass in order drops starts that fall inside an earlier match, and line numbers come
//! from each part's newline count. Memory is the two tables, the automaton and one chunk,
//! whatever the file's size.
//!
//! **Memory.** The matcher holds the pattern bytes while it lives; `aho-corasick` cannot zeroize
//! them on drop. The scanner lives only for one audit run, in a process that cannot dump core.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};
use serde::Serialize;
use sha2::Digest;

use crate::error::{Error, Result};
use crate::pii::BuyerPii;

mod filter;

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
        let matcher = Matcher::new(self.patterns.iter().map(|p| p.as_bytes()))?;
        Ok(LeakScanner {
            matcher,
            values: self.values,
            owners: self.owners,
        })
    }
}

/// Bytes read at a time when scanning a file.
const CHUNK: usize = 8 << 20;

/// Below this many bytes a chunk is scanned on one thread.
const PARALLEL_MIN: usize = 1 << 20;

/// Values of at least this many bytes (every PDF hex form) are filtered on 6-byte grams
/// every 7 bytes; shorter ones on 4-byte grams every 3 bytes.
const LONG: usize = 12;

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

/// One chunk's matches, in order: (offset in the chunk, `\n` before it in the chunk, pattern).
type ChunkHits = Vec<(usize, usize, usize)>;

impl Matcher {
    fn new<'p>(patterns: impl Iterator<Item = &'p [u8]> + Clone) -> Result<Matcher> {
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .build(patterns.clone())
            .map_err(|e| Error::Failed(format!("cannot build the leak matcher: {e}")))?;
        let (mut short, mut long, mut shortest, mut longest) = (0, 0, usize::MAX, 0);
        for p in patterns.clone() {
            if p.len() >= LONG {
                long += 1
            } else {
                short += 1
            }
            shortest = shortest.min(p.len());
            longest = longest.max(p.len());
        }
        if shortest == 0 {
            return Err(Error::Failed(
                "cannot build the leak matcher: an empty value".into(),
            ));
        }
        let mut groups = Vec::new();
        let (mut s, mut l) = (None, None);
        if short > 0 {
            s = Some(groups.len());
            groups.push(filter::Group::new(shortest, 4, short));
        }
        if long > 0 {
            l = Some(groups.len());
            groups.push(filter::Group::new(shortest.max(LONG), 6, long));
        }
        for p in patterns {
            let g = if p.len() >= LONG { l } else { s };
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

    /// Every start in `lo .. hi` where a value occurs, with its longest value, in order, as
    /// (start, end, `\n` in `lo .. start`, pattern); and the `\n` in `lo .. hi`.
    fn part(&self, h: &[u8], lo: usize, hi: usize) -> (Vec<(usize, usize, usize, usize)>, usize) {
        let mut found = Vec::new();
        for g in &self.groups {
            g.candidates(h, lo, hi, |p| {
                if let Some((end, i)) = self.at(h, p) {
                    found.push((p, end, 0, i));
                }
            });
        }
        found.sort_unstable();
        found.dedup_by_key(|m| m.0);
        let (mut counted, mut lines) = (lo, 0);
        for m in &mut found {
            lines += count_lines(&h[counted..m.0]);
            counted = m.0;
            m.2 = lines;
        }
        (found, lines + count_lines(&h[counted..hi]))
    }

    /// The leftmost-longest, non-overlapping matches in `h` that start before `limit`
    /// (`h` holds at least `longest - 1` bytes past `limit`, or ends the input), as
    /// (start, `\n` before it, pattern); the end of the last one (at least `limit`); and the
    /// `\n` before that end.
    fn chunk(&self, h: &[u8], limit: usize) -> (ChunkHits, usize, usize) {
        let parts = if limit >= self.parallel_min {
            self.threads
        } else {
            1
        };
        let bounds: Vec<usize> = (0..=parts).map(|k| limit * k / parts).collect();
        let results: Vec<_> = if parts == 1 {
            vec![self.part(h, 0, limit)]
        } else {
            std::thread::scope(|s| {
                let rest: Vec<_> = bounds[1..parts]
                    .iter()
                    .zip(&bounds[2..])
                    .map(|(&lo, &hi)| s.spawn(move || self.part(h, lo, hi)))
                    .collect();
                let mut all = vec![self.part(h, 0, bounds[1])];
                all.extend(
                    rest.into_iter()
                        .map(|t| t.join().expect("leak scan thread")),
                );
                all
            })
        };
        let (mut out, mut resume, mut lines) = (Vec::new(), 0, 0);
        for (found, n) in results {
            for (start, end, before, i) in found {
                if start >= resume {
                    out.push((start, lines + before, i));
                    resume = end;
                }
            }
            lines += n;
        }
        let resume = resume.max(limit);
        (out, resume, lines + count_lines(&h[limit..resume]))
    }
}

/// Finds PII values in bytes and files. Its `Debug` shows only the pattern count.
pub struct LeakScanner {
    matcher: Matcher,
    values: usize,
    owners: Vec<(String, &'static str)>,
}

fn count_lines(b: &[u8]) -> usize {
    // Per 255 bytes a u8 sum cannot overflow, and the compiler vectorizes it.
    b.chunks(255)
        .map(|c| c.iter().map(|&x| u8::from(x == b'\n')).sum::<u8>() as usize)
        .sum()
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
        let (hits, _, _) = self.matcher.chunk(bytes, bytes.len());
        hits.into_iter().map(|(start, _, i)| {
            let (order, field) = &self.owners[i];
            (start, order.as_str(), *field)
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
    /// straddles two chunks is found once, as in one pass over the whole input. Large chunks
    /// are read into a second buffer while the first is scanned.
    fn scan_reader(
        &self,
        mut r: impl Read + Send,
        chunk: usize,
    ) -> std::io::Result<Vec<(usize, usize, usize)>> {
        let keep = self.matcher.longest.saturating_sub(1);
        // Each buffer: room for the bytes kept from the last chunk, then one chunk read.
        let (mut cur, mut next) = (vec![0u8; keep + chunk], vec![0u8; keep + chunk]);
        let mut n = read_full(&mut r, &mut cur[keep..])?;
        let mut start = keep; // the chunk's bytes are cur[start .. keep + n]
        let mut base = 0; // file offset of cur[start]
        let mut line = 1;
        let mut out = Vec::new();
        loop {
            let eof = n < chunk;
            let bytes = &cur[start..keep + n];
            // Matches must start before `limit`: later ones may not be whole yet.
            let limit = if eof {
                bytes.len()
            } else {
                bytes.len().saturating_sub(keep)
            };
            let ((hits, resume, lines), read) = if eof {
                (self.matcher.chunk(bytes, limit), Ok(0))
            } else if chunk >= self.matcher.parallel_min {
                std::thread::scope(|s| {
                    let reader = s.spawn(|| read_full(&mut r, &mut next[keep..]));
                    let found = self.matcher.chunk(bytes, limit);
                    (found, reader.join().expect("leak scan reader"))
                })
            } else {
                let found = self.matcher.chunk(bytes, limit);
                (found, read_full(&mut r, &mut next[keep..]))
            };
            out.extend(
                hits.into_iter()
                    .map(|(at, before, i)| (base + at, line + before, i)),
            );
            if eof {
                return Ok(out);
            }
            // What follows the last match (at most `keep` bytes) goes before the next chunk.
            let carried = &bytes[resume..];
            next[keep - carried.len()..keep].copy_from_slice(carried);
            start = keep - carried.len();
            base += resume;
            line += lines;
            n = read?;
            std::mem::swap(&mut cur, &mut next);
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

    /// A scanner over raw patterns (no hex forms added), split over `threads` threads for
    /// chunks of at least `parallel_min` bytes.
    fn raw(patterns: &[Vec<u8>], threads: usize, parallel_min: usize) -> LeakScanner {
        let mut matcher = Matcher::new(patterns.iter().map(|p| &p[..])).unwrap();
        matcher.threads = threads;
        matcher.parallel_min = parallel_min;
        LeakScanner {
            matcher,
            values: patterns.len(),
            owners: vec![(String::new(), "phone"); patterns.len()],
        }
    }

    /// The reference: at each position from the left, the longest value starting there
    /// (the first added on a tie), compared byte by byte; then on after its end.
    fn naive(patterns: &[Vec<u8>], text: &[u8]) -> Vec<(usize, usize, usize)> {
        let (mut out, mut p) = (Vec::new(), 0);
        while p < text.len() {
            let best = patterns
                .iter()
                .enumerate()
                .filter(|(_, v)| {
                    text[p..].len() >= v.len() && text[p..p + v.len()].eq_ignore_ascii_case(v)
                })
                .max_by_key(|(i, v)| (v.len(), std::cmp::Reverse(*i)));
            match best {
                Some((i, v)) => {
                    out.push((p, 1 + count_lines(&text[..p]), i));
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
        // Values on and around the split points of 2 to 5 parts, some cut by a newline.
        let at = [
            0, 795, 797, 1000, 1330, 1333, 1995, 2000, 2004, 2664, 2667, 3000, 3200, 3984,
        ];
        for (k, &p) in at.iter().enumerate() {
            let v = &pats[k % 3];
            text[p..p + v.len()].copy_from_slice(v);
            if k % 4 == 3 {
                text[p + 2] = b'\n';
            } else if k % 4 == 1 {
                text[p..p + 3].make_ascii_uppercase();
            }
        }
        let want = naive(&pats, &text);
        assert_eq!(
            want.len(),
            7,
            "positive control: the intact values are found"
        );
        for threads in 1..=5 {
            for chunk in [1, 7, 1000, 1 << 20] {
                let s = raw(&pats, threads, 1);
                let got = s.scan_reader(&text[..], chunk).unwrap();
                assert_eq!(got, want, "{threads} threads, chunk {chunk}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Random values and texts made of them (case flipped, cut, overlapping) and noise
        /// from the same few bytes: the chunked, split scan finds what the reference finds,
        /// and what one unanchored aho-corasick pass (the previous matcher) finds.
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
            let mut text = Vec::new();
            for (k, cut, flips) in &pieces {
                match pats.get(*k) {
                    Some(v) => text.extend(v.iter().zip(flips).map(|(b, f)| {
                        if *f { b.to_ascii_uppercase() } else { b.to_ascii_lowercase() }
                    })),
                    None => text.extend_from_slice(&b"ab-\nB0a\xebbA"[..*cut % 10]),
                }
                if *cut < 3 {
                    text.truncate(text.len().saturating_sub(*cut + 1));
                }
            }
            let want = naive(&pats, &text);
            let s = raw(&pats, threads, parallel_min);
            proptest::prop_assert_eq!(s.scan_reader(&text[..], chunk).unwrap(), want.clone());
            let starts: Vec<usize> = s.scan_bytes(&text).map(|h| h.0).collect();
            proptest::prop_assert_eq!(&starts, &want.iter().map(|h| h.0).collect::<Vec<_>>());
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&pats)
                .unwrap();
            let before: Vec<(usize, usize)> =
                ac.find_iter(&text).map(|m| (m.start(), m.pattern().as_usize())).collect();
            proptest::prop_assert_eq!(before, want.iter().map(|h| (h.0, h.2)).collect::<Vec<_>>());
        }
    }
}
