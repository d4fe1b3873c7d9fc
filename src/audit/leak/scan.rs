//! The leak scan's engine: a stream read in chunks, each chunk split over the cores, each part
//! put in normal form, matched and searched for encodings; then, in order, the matches kept
//! (leftmost-longest) and the encodings found decoded and scanned as streams of their own.
//!
//! **Chunks.** A chunk's own bytes end where its last [`LeakScanner::ext`] kept bytes begin;
//! those bytes (at most [`CARRY_MAX`]) are read again at the start of the next chunk, so every
//! part sees enough bytes past its end to finish a match or a percent-encoded value that
//! starts inside it, and a match that ends past the chunk stops the next one from reporting
//! a start inside it. Encodings are found only where they begin in a part's own bytes.
//!
//! **Decoding.** In the file itself a base64 run or a compressed stream is decoded from where
//! it begins to where it ends, read again from the file (`pread`), so a stream longer than a
//! chunk is decoded whole; the scan does not look for encodings inside bytes a decoder used.
//! Inside a decoded stream, what begins there is decoded from that stream's chunk in memory (so
//! an encoding inside an encoding is decoded as far as one 1 MiB chunk holds it). A percent-
//! encoded stretch is decoded where it lies; its matches count only if they cover an escape
//! (the others are the plain matches already reported).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use super::decode::{self, B64_MIN, Base64, Capped, Counted, Frag, Magic, Opened, PosReader};
use super::normal::{self, Normal, count_lines};
use super::{Kind, LeakScanner};

/// Bytes read at a time from a file.
pub(super) const CHUNK: usize = 8 << 20;
/// Bytes read at a time from a decoded stream.
const INNER_CHUNK: usize = 1 << 20;
/// Most raw bytes carried from one chunk to the next.
const CARRY_MAX: usize = 256 << 10;
/// Raw bytes a part puts in normal form and matches at a time (they stay in cache).
const SUB: usize = 64 << 10;
/// How many encodings deep a value is looked for (base64 in gzip in zip is 3).
const MAX_DEPTH: u8 = 3;
/// Decompressed bytes one stream may always yield.
const STREAM_CAP: u64 = 1 << 30;
/// Decompressed bytes one file may always yield.
const FILE_CAP: u64 = 4 << 30;
/// Decompressed bytes allowed per compressed byte beyond those floors.
const RATIO: u64 = 32;

/// A value found, before it is named.
pub(super) struct Hit {
    /// Stream offset of the match, or of where its outermost encoding begins.
    pub offset: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    pub pattern: usize,
    pub form: String,
    /// For an encoded copy, the match's offset in the innermost decoded stream.
    pub decoded_offset: Option<usize>,
}

/// Where a decoded stream began in the file, and through which encodings.
pub(super) struct Origin {
    offset: usize,
    line: usize,
    chain: String,
}

/// What one file may still decompress, and what was left unscanned.
pub(super) struct Budget {
    left: u64,
    /// Why parts were not scanned.
    pub notes: Vec<String>,
}

impl Budget {
    /// The budget of a file of `len` bytes.
    pub(super) fn new(len: u64) -> Budget {
        Budget {
            left: FILE_CAP.max(len.saturating_mul(RATIO)),
            notes: Vec::new(),
        }
    }
}

/// A whole stream at hand, from which encodings found in it are decoded (a file is read again
/// from the offset; without one, from the chunk in memory).
#[derive(Clone, Copy)]
pub(super) enum Whole<'a> {
    File(&'a File),
    Bytes(&'a [u8]),
}

/// The stream being scanned: how deep, from where, in what chunks.
pub(super) struct Level<'o> {
    depth: u8,
    origin: Option<&'o Origin>,
    chunk: usize,
}

impl Level<'_> {
    /// A file or a byte string, read `chunk` bytes at a time.
    pub(super) fn top(chunk: usize) -> Level<'static> {
        Level {
            depth: 0,
            origin: None,
            chunk,
        }
    }
}

/// The input bytes of the last decoded stream that found something, and what it found: a
/// plain match of the same value there is the same copy.
#[derive(Default)]
struct Shadow {
    from: usize,
    to: usize,
    patterns: Vec<usize>,
}

impl Shadow {
    fn hides(&self, at: usize, pattern: usize) -> bool {
        (self.from..self.to).contains(&at) && self.patterns.contains(&pattern)
    }
}

/// A match in a part, in chunk offsets.
struct RawHit {
    start: usize,
    end: usize,
    /// Line feeds between the part's start and `start`.
    lines: usize,
    pattern: usize,
    form: String,
}

/// What one part found.
#[derive(Default)]
struct PartOut {
    hits: Vec<RawHit>,
    /// Line feeds in the part's own bytes.
    lines: usize,
    frags: Vec<Frag>,
    regions: Vec<(usize, usize)>,
    magics: Vec<(usize, Magic)>,
}

/// Something to decode, at a chunk offset.
enum Item {
    Base64,
    Magic(Magic),
    Percent(usize),
}

/// Fills `buf` unless the input ends first; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl LeakScanner {
    /// Every value in `src`, in every form, reading `lvl.chunk` bytes at a time. `whole` is
    /// what `src` reads from the start, when it is at hand (encodings are decoded from it).
    pub(super) fn scan_stream<R: Read + Send>(
        &self,
        src: &mut R,
        whole: Option<Whole<'_>>,
        lvl: Level<'_>,
        budget: &mut Budget,
    ) -> io::Result<Vec<Hit>> {
        let chunk = lvl.chunk;
        let room = CARRY_MAX + chunk;
        // A stream shorter than a chunk (most decoded ones) gets a buffer its size.
        let mut first = Vec::new();
        (&mut *src).take(chunk as u64).read_to_end(&mut first)?;
        let mut n = first.len();
        let (mut cur, mut next, mut start) = if n < chunk {
            (first, Vec::new(), 0)
        } else {
            let mut cur = vec![0u8; room];
            cur[CARRY_MAX..].copy_from_slice(&first);
            (cur, vec![0u8; room], CARRY_MAX)
        };
        let mut end = start + n; // the chunk is cur[start .. end]
        let (mut base, mut line) = (0usize, 1usize); // stream offset and line of cur[start]
        // No match starts before `resume`; nothing is decoded again before `decoded_to`.
        let (mut resume, mut decoded_to) = (0usize, 0usize);
        let mut shadow = Shadow::default();
        let threads = self.matcher.threads.max(1);
        let mut normals: Vec<Normal> = (0..threads).map(|_| Normal::default()).collect();
        let items = lvl.depth < MAX_DEPTH;
        // Decoders are slow: the next chunk is decoded while this one is scanned.
        let overlap = chunk >= self.matcher.parallel_min || lvl.depth > 0;
        let mut out = Vec::new();
        loop {
            let eof = n < chunk;
            let buf = &cur[start..end];
            let own = if eof {
                buf.len()
            } else {
                self.carry_start(buf)
            };
            let parts = if own >= self.matcher.parallel_min {
                threads
            } else {
                1
            };
            let bounds: Vec<usize> = (0..=parts).map(|k| own * k / parts).collect();
            let next_ref = &mut next;
            let (step, read) = std::thread::scope(|s| {
                let reader = (!eof && overlap)
                    .then(|| s.spawn(|| read_full(src, &mut next_ref[CARRY_MAX..])));
                let results: Vec<PartOut> = if parts == 1 {
                    vec![self.part(buf, base, 0, own, &mut normals[0], items)]
                } else {
                    let (first, rest) = normals[..parts].split_first_mut().expect("a part");
                    let handles: Vec<_> = rest
                        .iter_mut()
                        .enumerate()
                        .map(|(k, nm)| {
                            let (lo, hi) = (bounds[k + 1], bounds[k + 2]);
                            s.spawn(move || self.part(buf, base, lo, hi, nm, items))
                        })
                        .collect();
                    let mut all = vec![self.part(buf, base, 0, bounds[1], first, items)];
                    all.extend(
                        handles
                            .into_iter()
                            .map(|h| h.join().expect("leak scan thread")),
                    );
                    all
                };
                let step = self.finish_chunk(
                    results,
                    buf,
                    base,
                    line,
                    own,
                    eof,
                    whole,
                    &lvl,
                    (&mut resume, &mut decoded_to, &mut shadow),
                    budget,
                    &mut out,
                );
                let read = match reader {
                    Some(r) => r.join().expect("leak scan reader"),
                    None => Ok(0),
                };
                (step, read)
            });
            let lines_in_own = step?;
            if eof {
                return Ok(out);
            }
            let read = if overlap {
                read?
            } else {
                read_full(src, &mut next[CARRY_MAX..])?
            };
            // What follows the chunk's own bytes goes before the next chunk.
            let carried = &cur[start + own..end];
            next[CARRY_MAX - carried.len()..CARRY_MAX].copy_from_slice(carried);
            start = CARRY_MAX - carried.len();
            base += own;
            line += lines_in_own;
            n = read;
            end = CARRY_MAX + n;
            std::mem::swap(&mut cur, &mut next);
        }
    }

    /// Where a chunk's own bytes end: before the raw bytes holding its last `ext` kept bytes
    /// (at most [`CARRY_MAX`] raw bytes).
    fn carry_start(&self, buf: &[u8]) -> usize {
        let floor = buf.len().saturating_sub(CARRY_MAX);
        let (mut p, mut kept) = (buf.len(), 0);
        while p > floor && kept < self.ext {
            p -= 1;
            kept += usize::from(normal::kept(buf[p]));
        }
        p
    }

    /// One part of a chunk: `buf[lo .. hi]`, [`SUB`] bytes at a time.
    fn part(
        &self,
        buf: &[u8],
        base: usize,
        lo: usize,
        hi: usize,
        nm: &mut Normal,
        items: bool,
    ) -> PartOut {
        let mut out = PartOut::default();
        let mut a = lo;
        while a < hi {
            let b = (a + SUB).min(hi);
            nm.fill(buf, a, b, self.ext);
            for (s, e, i) in self.matcher.find_all(nm.bytes(), nm.own) {
                let (rs, lines) = nm.locate(buf, s);
                let re = nm.locate(buf, e - 1).0 + 1;
                out.hits.push(RawHit {
                    start: rs,
                    end: re,
                    lines: out.lines + lines,
                    pattern: i,
                    form: self.raw_form(buf, base, rs, re, i),
                });
            }
            out.lines += nm.own_lines;
            if items {
                decode::fragments(buf, a, b, &mut out.frags);
                let search = (b + self.ext).min(buf.len());
                decode::percent_regions(buf, a, search, &mut out.regions);
                decode::magics(buf, a, b, &mut out.magics);
            }
            a = b;
        }
        out
    }

    /// The form a match in raw bytes `buf[s .. e]` was found in.
    fn raw_form(&self, buf: &[u8], base: usize, s: usize, e: usize, i: usize) -> String {
        let span = &buf[s..e];
        let original = &self.originals[i];
        // UTF-16 text of Latin-1 characters: a NUL beside each; aligned, LE puts the
        // character first.
        let utf16 = span.contains(&0).then(|| {
            if (base + s).is_multiple_of(2) {
                "UTF-16LE"
            } else {
                "UTF-16BE"
            }
        });
        let name = match self.kinds[i] {
            Kind::Text => utf16.unwrap_or("text"),
            Kind::Latin1 => utf16.unwrap_or("Latin-1"),
            Kind::Utf16Le => "UTF-16LE",
            Kind::Utf16Be => "UTF-16BE",
            Kind::PdfHex => "PDF hex",
            Kind::Reversed => "reversed",
        };
        // Broken: without NULs (UTF-16's high bytes), the copy differs from the value beyond
        // ASCII case (PDF hex strings may hold line breaks anywhere: not a finding of note).
        let no_nul = |b: &[u8]| b.iter().copied().filter(|&c| c != 0).collect::<Vec<u8>>();
        let same =
            self.kinds[i] == Kind::PdfHex || no_nul(span).eq_ignore_ascii_case(&no_nul(original));
        if same {
            name.to_string()
        } else if name == "text" {
            "text broken by line breaks or spaces".to_string()
        } else {
            format!("{name}, broken by line breaks or spaces")
        }
    }

    /// A hit at stream offset `at` (line `line`) in form `form`, as its level reports it.
    fn hit(&self, lvl: &Level<'_>, at: usize, line: usize, pattern: usize, form: &str) -> Hit {
        match lvl.origin {
            None => Hit {
                offset: at,
                line,
                pattern,
                form: form.to_string(),
                decoded_offset: None,
            },
            Some(o) => Hit {
                offset: o.offset,
                line: o.line,
                pattern,
                form: if form == "text" {
                    o.chain.clone()
                } else {
                    format!("{} > {form}", o.chain)
                },
                decoded_offset: Some(at),
            },
        }
    }

    /// The origin of an encoding `name` found at stream offset `at` (line `line`).
    fn origin(&self, lvl: &Level<'_>, at: usize, line: usize, name: &str) -> Origin {
        match lvl.origin {
            None => Origin {
                offset: at,
                line,
                chain: name.to_string(),
            },
            Some(o) => Origin {
                offset: o.offset,
                line: o.line,
                chain: format!("{} > {name}", o.chain),
            },
        }
    }

    /// After a chunk's parts: keeps the leftmost-longest matches, decodes what was found, and
    /// returns the line feeds in the chunk's own bytes.
    #[allow(clippy::too_many_arguments)]
    fn finish_chunk(
        &self,
        results: Vec<PartOut>,
        buf: &[u8],
        base: usize,
        line: usize,
        own: usize,
        eof: bool,
        whole: Option<Whole<'_>>,
        lvl: &Level<'_>,
        (resume, decoded_to, shadow): (&mut usize, &mut usize, &mut Shadow),
        budget: &mut Budget,
        out: &mut Vec<Hit>,
    ) -> io::Result<usize> {
        let mut at_line = line;
        let (mut frags, mut regions, mut todo) = (Vec::new(), Vec::new(), Vec::new());
        // This chunk's plain matches: (index in `out`, stream offset, pattern).
        let mut plain: Vec<(usize, usize, usize)> = Vec::new();
        for p in results {
            for h in p.hits {
                let at = base + h.start;
                if at >= *resume && !shadow.hides(at, h.pattern) {
                    plain.push((out.len(), at, h.pattern));
                    out.push(self.hit(lvl, at, at_line + h.lines, h.pattern, &h.form));
                    *resume = base + h.end;
                }
            }
            at_line += p.lines;
            frags.extend(p.frags);
            regions.extend(p.regions);
            todo.extend(p.magics.into_iter().map(|(s, m)| (s, Item::Magic(m))));
        }
        regions.sort_unstable();
        regions.dedup_by_key(|r| r.0);
        todo.extend(regions.into_iter().map(|(s, e)| (s, Item::Percent(e))));
        // Base64: the pieces of a run meet where parts meet; a run at the end of the chunk's
        // own bytes goes on into the bytes after them, and past the chunk may go on further
        // (then it is decoded however short).
        let mut run: Option<Frag> = None;
        let keep = |mut f: Frag, todo: &mut Vec<(usize, Item)>| {
            if f.end == own && own < buf.len() {
                let more = decode::fragments_from(buf, own);
                f.end = more.end;
                f.alpha += more.alpha;
                f.hex &= more.hex;
            }
            if (f.alpha >= B64_MIN && !f.hex) || (f.end == buf.len() && !eof) {
                todo.push((f.start, Item::Base64));
            }
        };
        for f in frags {
            match &mut run {
                Some(r) if r.end == f.start => {
                    r.end = f.end;
                    r.alpha += f.alpha;
                    r.hex &= f.hex;
                }
                _ => {
                    if let Some(r) = run.replace(f) {
                        keep(r, &mut todo);
                    }
                }
            }
        }
        if let Some(r) = run {
            keep(r, &mut todo);
        }
        todo.sort_by_key(|t| t.0);
        // Lines of offsets in the chunk, counted forward from the last one asked.
        let mut cursor = (0usize, line);
        let mut line_at = |r: usize| {
            if r < cursor.0 {
                cursor = (0, line);
            }
            cursor.1 += count_lines(&buf[cursor.0..r]);
            cursor.0 = r;
            cursor.1
        };
        for (p, item) in todo {
            let at = base + p;
            // An encoding's line is counted only if something is found in it.
            let (found, percent) = (out.len(), matches!(item, Item::Percent(_)));
            match item {
                Item::Percent(end) => {
                    self.percent(buf, base, p, end, own, eof, lvl, &mut line_at, out)
                }
                Item::Base64 | Item::Magic(_) if at < *decoded_to => {}
                Item::Base64 => {
                    let origin = self.origin(lvl, at, 0, "base64");
                    let inner = Level {
                        depth: lvl.depth + 1,
                        origin: Some(&origin),
                        chunk: INNER_CHUNK,
                    };
                    let used = match whole {
                        Some(Whole::File(f)) => {
                            let mut d = Base64::new(BufReader::with_capacity(
                                64 << 10,
                                PosReader::new(f, at as u64),
                            ));
                            out.extend(self.scan_stream(&mut d, None, inner, budget)?);
                            d.consumed
                        }
                        w => {
                            let from = match w {
                                Some(Whole::Bytes(b)) => &b[at..],
                                _ => &buf[p..],
                            };
                            let mut d = Base64::new(from);
                            out.extend(self.scan_stream(&mut d, None, inner, budget)?);
                            d.consumed
                        }
                    };
                    *decoded_to = at + used as usize;
                }
                Item::Magic(m) => {
                    let origin = self.origin(lvl, at, 0, m.name());
                    let used = match whole {
                        Some(Whole::File(f)) => {
                            let left = f
                                .metadata()
                                .map_or(0, |md| md.len())
                                .saturating_sub(at as u64);
                            // Most candidates in binary files are noise: read little at a time.
                            let src = Counted::new(BufReader::with_capacity(
                                16 << 10,
                                PosReader::new(f, at as u64),
                            ));
                            self.decompress(m, src, left, &origin, lvl, budget, out)?
                        }
                        w => {
                            let from = match w {
                                Some(Whole::Bytes(b)) => &b[at..],
                                _ => &buf[p..],
                            };
                            let src = Counted::new(from);
                            self.decompress(m, src, from.len() as u64, &origin, lvl, budget, out)?
                        }
                    };
                    if let Some(used) = used {
                        *decoded_to = at + used as usize;
                    }
                }
            }
            if out.len() > found && !percent {
                if lvl.origin.is_none() {
                    let l = line_at(p);
                    for h in &mut out[found..] {
                        h.line = l;
                    }
                }
                // A value a decoder found may also lie in its input as it is (a stored
                // deflate block): reported once, as decoded.
                let patterns: Vec<usize> = out[found..].iter().map(|h| h.pattern).collect();
                *shadow = Shadow {
                    from: at,
                    to: *decoded_to,
                    patterns,
                };
                let gone: Vec<usize> = plain
                    .iter()
                    .filter(|(_, o, i)| shadow.hides(*o, *i))
                    .map(|(k, _, _)| *k)
                    .collect();
                if !gone.is_empty() {
                    let mut k = 0;
                    out.retain(|_| {
                        k += 1;
                        !gone.contains(&(k - 1))
                    });
                    // Indices after a removed one moved down.
                    plain.retain(|(k, _, _)| !gone.contains(k));
                    for e in plain.iter_mut() {
                        e.0 -= gone.iter().filter(|&&g| g < e.0).count();
                    }
                }
            }
        }
        Ok(at_line - line)
    }

    /// Decodes and scans the compressed stream at the start of `src` (at most `left` bytes
    /// long); returns the bytes it used, when it was one.
    #[allow(clippy::too_many_arguments)]
    fn decompress<S: BufRead + Send>(
        &self,
        m: Magic,
        src: Counted<S>,
        left: u64,
        origin: &Origin,
        lvl: &Level<'_>,
        budget: &mut Budget,
        out: &mut Vec<Hit>,
    ) -> io::Result<Option<u64>> {
        let place = match lvl.origin {
            None => format!("at byte {}", origin.offset),
            Some(o) => format!("inside the {} at byte {}", o.chain, o.offset),
        };
        match decode::open(m, src)? {
            Opened::Nothing => Ok(None),
            Opened::Unscannable(why) => {
                budget.notes.push(format!("{why} {place}: not scanned"));
                Ok(None)
            }
            Opened::Stream(d) => {
                if budget.left == 0 {
                    budget.notes.push(format!(
                        "a {} stream {place}: not scanned, the file's decompression limit was reached",
                        m.name()
                    ));
                    return Ok(None);
                }
                let cap = budget.left.min(STREAM_CAP.max(left.saturating_mul(RATIO)));
                let mut c = Capped::new(d, cap);
                let inner = Level {
                    depth: lvl.depth + 1,
                    origin: Some(origin),
                    chunk: INNER_CHUNK,
                };
                let hits = self.scan_stream(&mut c, None, inner, budget)?;
                out.extend(hits);
                budget.left = budget.left.saturating_sub(c.given);
                if c.cut {
                    budget.notes.push(format!(
                        "a {} stream {place} decompresses to more than {} bytes: the rest was not scanned",
                        m.name(),
                        c.given
                    ));
                }
                // A false start (nothing decoded, or a failure: noise that looked like a
                // header) covers nothing: what follows it is still looked at.
                Ok((c.given > 0 && !c.failed).then(|| c.inner.get_ref().count))
            }
        }
    }

    /// Decodes the percent-encoded stretch `buf[s .. e]` and reports the matches that cover an
    /// escape (the others were found as they are) and start in the chunk's own bytes.
    #[allow(clippy::too_many_arguments)]
    fn percent(
        &self,
        buf: &[u8],
        base: usize,
        s: usize,
        e: usize,
        own: usize,
        eof: bool,
        lvl: &Level<'_>,
        line_at: &mut impl FnMut(usize) -> usize,
        out: &mut Vec<Hit>,
    ) {
        let (mut dec, mut from, mut esc) = (Vec::new(), Vec::new(), Vec::new());
        decode::decode_percent(&buf[s..e], &mut dec, &mut from, &mut esc);
        let mut nm = Normal::default();
        nm.fill(&dec, 0, dec.len(), 0);
        for (a, b, i) in self.matcher.find_all(nm.bytes(), nm.own) {
            let (da, _) = nm.locate(&dec, a);
            let db = nm.locate(&dec, b - 1).0 + 1;
            if !esc[da..db].iter().any(|x| *x) {
                continue;
            }
            let r = s + from[da] as usize;
            if r >= own && !eof {
                continue; // the next chunk has it
            }
            let form = "percent-encoded";
            let h = match lvl.origin {
                None => self.hit(lvl, base + r, line_at(r), i, form),
                Some(_) => self.hit(lvl, base + r, 0, i, form),
            };
            out.push(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::leak::ScannerBuilder;
    use crate::pii::{BuyerPii, Pii};
    use std::io::Write;

    fn scanner(name: &str) -> LeakScanner {
        let mut b = ScannerBuilder::default();
        b.add(
            "111-1111111-1111111",
            &BuyerPii {
                recipient_name: Some(Pii::new(name)),
                ..Default::default()
            },
        );
        b.build().unwrap()
    }

    fn forms(s: &LeakScanner, bytes: &[u8], chunk: usize) -> Vec<(usize, String, Option<usize>)> {
        let mut budget = Budget::new(bytes.len() as u64);
        let hits = s
            .scan_stream(
                &mut &bytes[..],
                Some(Whole::Bytes(bytes)),
                Level::top(chunk),
                &mut budget,
            )
            .unwrap();
        hits.into_iter()
            .map(|h| (h.offset, h.form, h.decoded_offset))
            .collect()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_form_is_found_and_named() {
        use base64::Engine;
        let s = scanner("Zoë Marker-Smith");
        let name = "Zoë Marker-Smith";
        let b64 = base64::engine::general_purpose::STANDARD;
        let utf16le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(name.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf16be: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (format!("to {name}\n").into_bytes(), "text"),
            (
                b"to ZO\xc3\xab MAR\r\nKER-SMITH".to_vec(),
                "text broken by line breaks or spaces",
            ),
            (utf16le, "UTF-16LE"),
            (utf16be, "UTF-16BE"),
            ("htimS-rekraM ëoZ".as_bytes().to_vec(), "reversed"),
            (
                format!("x={}\n", b64.encode(format!("label for {name}, 1 Main St"))).into_bytes(),
                "base64",
            ),
            (
                b"GET /?to=Zo%C3%AB+Marker-Smith HTTP/1.1".to_vec(),
                "percent-encoded",
            ),
            (gzip(format!("TO: {name}").as_bytes()), "gzip"),
            (
                format!("body: {}\n", b64.encode(gzip(name.as_bytes()))).into_bytes(),
                "base64 > gzip",
            ),
        ];
        for (bytes, want) in &cases {
            for chunk in [bytes.len().max(1), 7, 64] {
                let got = forms(&s, bytes, chunk);
                assert_eq!(got.len(), 1, "{want} (chunk {chunk}): {got:?}");
                assert_eq!(got[0].1, *want, "chunk {chunk}");
            }
        }
        // The control: the same encodings of another name find nothing.
        let other = scanner("Yves Other-Person");
        for (bytes, want) in &cases {
            assert!(forms(&other, bytes, 64).is_empty(), "{want}");
        }
    }

    #[test]
    fn a_value_deep_in_a_long_base64_run_is_found() {
        use base64::Engine;
        let s = scanner("Zoë Marker-Smith");
        // More than one inner chunk (1 MiB) of decoded bytes before the value, in 76-character
        // lines as MIME wraps them.
        let mut plain = b"filler line of a log, nothing to see here 0123456789\n".repeat(60_000);
        plain.extend_from_slice("to Zoë Marker-Smith\n".as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut bytes = Vec::new();
        for group in plain.chunks(57) {
            bytes.extend_from_slice(b64.encode(group).as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        let want = plain.len() - "to Zoë Marker-Smith\n".len() + 3;
        for chunk in [bytes.len(), 1 << 20] {
            let got = forms(&s, &bytes, chunk);
            assert_eq!(
                got,
                vec![(0, "base64".to_string(), Some(want))],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn noise_that_looks_like_a_stream_hides_nothing_after_it() {
        let s = scanner("Zoë Marker-Smith");
        // A zlib header and a few bytes that fail to decode, a gzip right after it.
        let mut bytes = b"\x78\x9c\x05\xff\xff\xff\xff".to_vec();
        bytes.extend(gzip("TO: Zoë Marker-Smith".as_bytes()));
        bytes.extend(b"\x78\x01\x02");
        for chunk in [bytes.len(), 5] {
            let got = forms(&s, &bytes, chunk);
            assert_eq!(got, vec![(7, "gzip".to_string(), Some(4))], "chunk {chunk}");
        }
    }

    #[test]
    fn a_gzip_bomb_is_cut_and_reported() {
        let s = scanner("Zoë Marker-Smith");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..40 {
            e.write_all(&zeros).unwrap();
        }
        e.write_all("Zoë Marker-Smith".as_bytes()).unwrap();
        let bomb = e.finish().unwrap();
        let mut budget = Budget {
            left: 8 << 20,
            notes: Vec::new(),
        };
        let hits = s
            .scan_stream(&mut &bomb[..], None, Level::top(1 << 20), &mut budget)
            .unwrap();
        assert!(hits.is_empty(), "the value lies past the cap");
        assert_eq!(budget.notes.len(), 1, "{:?}", budget.notes);
        assert!(
            budget.notes[0].contains("not scanned"),
            "{:?}",
            budget.notes
        );
        // The control: with room, the value at the end is found.
        let mut budget = Budget::new(bomb.len() as u64);
        let hits = s
            .scan_stream(&mut &bomb[..], None, Level::top(1 << 20), &mut budget)
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].decoded_offset, Some(40 << 20));
        assert!(budget.notes.is_empty());
    }
}
