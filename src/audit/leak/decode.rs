//! The encodings the leak scan undoes: where they begin in a stretch of bytes, and readers that
//! decode them.
//!
//! - **base64** (standard and URL-safe alphabets, `=` padding, wrapped by CR/LF or not): a run
//!   of at least [`B64_MIN`] alphabet characters that is not all hex digits (digests are). Runs
//!   are found sixteen bytes at a time: a run that long holds a word of eight alphabet
//!   characters at a multiple of 16, whose bytes' classes are read from a table without a
//!   branch. (Shorter runs, common in ordinary text, are not decoded.)
//! - **percent-encoding** (URLs, form bodies): a stretch of URL characters holding a `%XX`;
//!   `+` is read as a space. The stretch is decoded where it lies.
//! - **gzip** (`1f 8b 08`), **zlib** (`78 01|5e|9c|da`, any deflate stream such as a PDF's
//!   FlateDecode) and **zip** local headers (`PK 03 04`, deflated members; stored members are
//!   plain bytes already): [`open`] reads the header and hands the deflate data to `flate2`
//!   (its `zlib-rs` backend: about 1.4 times the inflate speed of `miniz_oxide` here, see
//!   docs/benchmarks.md).
//!   Encrypted members and other compression methods are reported as not scanned.
//!
//! Every reader here stops at the end of its encoding and says how many input bytes it used,
//! so the scan skips what a decoder already covered.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::FileExt;

use flate2::bufread::DeflateDecoder;

/// Shortest base64 run decoded, in alphabet characters (18 bytes decoded). Runs this long
/// hold an eight-byte word at a multiple of 16, so only those words are tested.
pub(super) const B64_MIN: usize = 24;

/// Longest percent-encoded stretch decoded at once.
pub(super) const PERCENT_MAX: usize = 64 << 10;

/// A base64 alphabet character (standard or URL-safe), `=`, CR or LF.
const RUN: u8 = 1;
/// A hex digit, CR or LF.
const HEX: u8 = 2;
/// A base64 alphabet character.
const ALPHA: u8 = 4;
/// A character a URL or form body may hold.
const URL: u8 = 8;

static CLS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_') {
            t[b] |= RUN | ALPHA;
        }
        if c.is_ascii_hexdigit() {
            t[b] |= HEX;
        }
        if matches!(c, b'=' | b'\r' | b'\n') {
            t[b] |= RUN;
        }
        if matches!(c, b'\r' | b'\n') {
            t[b] |= HEX;
        }
        if (c > 0x20
            && c < 0x7f
            && !matches!(
                c,
                b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`' | b'{' | b'}' | b'|' | b'^'
            ))
            || c >= 0x80
        {
            t[b] |= URL;
        }
        b += 1;
    }
    t
};

/// Base64 values (both alphabets); 64 for anything else.
static B64: [u8; 256] = {
    let mut t = [64u8; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'-' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'_' as usize] = 63;
    t
};

#[inline(always)]
fn is(b: u8, class: u8) -> bool {
    CLS[b as usize] & class != 0
}

/// A stretch of base64 run bytes inside one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Frag {
    pub start: usize,
    pub end: usize,
    /// Alphabet characters in it.
    pub alpha: usize,
    /// Only hex digits (and line breaks).
    pub hex: bool,
}

fn frag(raw: &[u8], start: usize, hi: usize) -> Frag {
    let (mut e, mut alpha, mut all) = (start, 0, HEX);
    while e < hi {
        let c = CLS[raw[e] as usize];
        if c & RUN == 0 {
            break;
        }
        alpha += usize::from(c & ALPHA != 0);
        all &= c;
        e += 1;
    }
    Frag {
        start,
        end: e,
        alpha,
        hex: all & HEX != 0,
    }
}

/// The base64 run bytes from `at` on (up to the first other byte or the end of `raw`).
pub(super) fn fragments_from(raw: &[u8], at: usize) -> Frag {
    frag(raw, at, raw.len())
}

/// The base64 runs of `raw[lo .. hi]` long enough to decode, and those touching `lo` or `hi`
/// (they may go on in the next part), in order.
pub(super) fn fragments(raw: &[u8], lo: usize, hi: usize, out: &mut Vec<Frag>) {
    if lo >= hi {
        return;
    }
    let mut p = lo;
    if is(raw[lo], RUN) {
        let f = frag(raw, lo, hi);
        p = f.end;
        out.push(f);
    }
    let mut w = (p + 15) & !15;
    while w + 8 <= hi {
        // Branch-free: the table's classes of all eight bytes at once.
        let c = raw[w..w + 8]
            .iter()
            .fold(RUN | HEX, |a, &b| a & CLS[b as usize]);
        if c & (RUN | HEX) == RUN {
            let mut s = w;
            while s > p && is(raw[s - 1], RUN) {
                s -= 1;
            }
            let f = frag(raw, s, hi);
            p = f.end;
            if f.alpha >= B64_MIN || f.end == hi {
                out.push(f);
            }
            w = (p + 16) & !15;
        } else {
            w += 16;
        }
    }
    if hi > p && is(raw[hi - 1], RUN) {
        let mut s = hi - 1;
        while s > p && is(raw[s - 1], RUN) {
            s -= 1;
        }
        out.push(frag(raw, s, hi));
    }
}

/// Decodes base64 from its first character up to the first byte that is neither an alphabet
/// character, `=`, CR nor LF. `=` ends a group (so concatenated encodings decode too).
pub(super) struct Base64<R> {
    inner: R,
    acc: u32,
    n: u32,
    done: bool,
    /// Input bytes used.
    pub consumed: u64,
    /// Decoded bytes a read with room for fewer than three could not take, in `held[took..]`.
    held: [u8; 3],
    held_len: usize,
    took: usize,
}

impl<R: BufRead> Base64<R> {
    pub(super) fn new(inner: R) -> Self {
        Base64 {
            inner,
            acc: 0,
            n: 0,
            done: false,
            consumed: 0,
            held: [0; 3],
            held_len: 0,
            took: 0,
        }
    }
}

/// Writes the bytes of an unfinished group (room for two is guaranteed by the caller).
fn flush(acc: &mut u32, n: &mut u32, out: &mut [u8], o: &mut usize) {
    match *n {
        2 => {
            out[*o] = (*acc >> 4) as u8;
            *o += 1;
        }
        3 => {
            out[*o] = (*acc >> 10) as u8;
            out[*o + 1] = (*acc >> 2) as u8;
            *o += 2;
        }
        _ => {}
    }
    *acc = 0;
    *n = 0;
}

impl<R: BufRead> Read for Base64<R> {
    /// A read never returns 0 before the end, however small `out` is (a reader such as
    /// `Take` or a buffer filled to its last bytes asks for one or two: 0 would read as the
    /// end of the stream and stop its scan there).
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.took == self.held_len && out.len() < 3 {
            let mut held = [0u8; 3];
            self.held_len = self.decode(&mut held)?;
            self.held = held;
            self.took = 0;
        }
        if self.took < self.held_len {
            let k = (self.held_len - self.took).min(out.len());
            out[..k].copy_from_slice(&self.held[self.took..self.took + k]);
            self.took += k;
            return Ok(k);
        }
        self.decode(out)
    }
}

impl<R: BufRead> Base64<R> {
    /// Decodes into `out` (at least three bytes long).
    fn decode(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut o = 0;
        while !self.done && o + 3 <= out.len() {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                flush(&mut self.acc, &mut self.n, out, &mut o);
                self.done = true;
                break;
            }
            let mut i = 0;
            while i < buf.len() && o + 3 <= out.len() {
                let b = buf[i];
                let v = B64[b as usize];
                if v < 64 {
                    self.acc = self.acc << 6 | u32::from(v);
                    self.n += 1;
                    if self.n == 4 {
                        out[o] = (self.acc >> 16) as u8;
                        out[o + 1] = (self.acc >> 8) as u8;
                        out[o + 2] = self.acc as u8;
                        o += 3;
                        self.acc = 0;
                        self.n = 0;
                    }
                } else if b == b'=' {
                    flush(&mut self.acc, &mut self.n, out, &mut o);
                } else if b != b'\r' && b != b'\n' {
                    self.done = true;
                    break;
                }
                i += 1;
            }
            self.inner.consume(i);
            self.consumed += i as u64;
            if self.done {
                flush(&mut self.acc, &mut self.n, out, &mut o);
            }
        }
        Ok(o)
    }
}

/// Percent-encoded stretches of `raw` holding a `%XX` that lies in `lo .. hi`, as
/// (start, end), at most [`PERCENT_MAX`] bytes each (a stretch may be found again by the part
/// next to this one: the caller drops repeats).
pub(super) fn percent_regions(raw: &[u8], lo: usize, hi: usize, out: &mut Vec<(usize, usize)>) {
    let escape = |q: usize| {
        raw.get(q + 1).is_some_and(u8::is_ascii_hexdigit)
            && raw.get(q + 2).is_some_and(u8::is_ascii_hexdigit)
    };
    let mut done = lo;
    for i in memchr::memchr_iter(b'%', &raw[lo..hi]) {
        let q = lo + i;
        if q < done || !escape(q) {
            continue;
        }
        let mut s = q;
        while s > 0 && q - s < PERCENT_MAX / 2 && is(raw[s - 1], URL) {
            s -= 1;
        }
        let mut e = q;
        while e < raw.len() && e - s < PERCENT_MAX && is(raw[e], URL) {
            e += 1;
        }
        out.push((s, e));
        done = e;
    }
}

/// A percent-encoded stretch decoded: the bytes, where each came from, and whether it was
/// escaped (`%XX` or `+`).
pub(super) fn decode_percent(
    raw: &[u8],
    out: &mut Vec<u8>,
    from: &mut Vec<u32>,
    esc: &mut Vec<bool>,
) {
    out.clear();
    from.clear();
    esc.clear();
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let decoded = if b == b'%' {
            match (
                raw.get(i + 1).and_then(|&c| hex(c)),
                raw.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => Some((h << 4 | l, 3)),
                _ => None,
            }
        } else if b == b'+' {
            Some((b' ', 1))
        } else {
            None
        };
        from.push(i as u32);
        match decoded {
            Some((v, len)) => {
                out.push(v);
                esc.push(true);
                i += len;
            }
            None => {
                out.push(b);
                esc.push(false);
                i += 1;
            }
        }
    }
}

/// A compressed stream's kind, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Magic {
    Gzip,
    Zlib,
    Zip,
}

impl Magic {
    pub(super) fn name(self) -> &'static str {
        match self {
            Magic::Gzip => "gzip",
            Magic::Zlib => "zlib",
            Magic::Zip => "zip member",
        }
    }
}

fn zlib_at(raw: &[u8], m: usize) -> bool {
    raw[m] == 0x78
        && raw
            .get(m + 1)
            .is_some_and(|f| matches!(f, 0x01 | 0x5e | 0x9c | 0xda))
        // The first block's type is not the reserved one.
        && raw.get(m + 2).is_some_and(|b| (b >> 1) & 3 != 3)
}

/// Where compressed streams may begin in `lo .. hi`, in order.
pub(super) fn magics(raw: &[u8], lo: usize, hi: usize, out: &mut Vec<(usize, Magic)>) {
    let start = out.len();
    let end = (hi + 3).min(raw.len());
    for i in memchr::memchr3_iter(0x1f, 0x03, 0x01, &raw[lo..end]) {
        let p = lo + i;
        match raw[p] {
            0x1f if p < hi
                && raw.get(p + 1) == Some(&0x8b)
                && raw.get(p + 2) == Some(&8)
                && raw.get(p + 3).is_some_and(|f| f & 0xe0 == 0) =>
            {
                out.push((p, Magic::Gzip))
            }
            0x03 if p >= lo + 2
                && p - 2 < hi
                && &raw[p - 2..p] == b"PK"
                && raw.get(p + 1) == Some(&4) =>
            {
                out.push((p - 2, Magic::Zip))
            }
            0x01 if p > lo && p - 1 < hi && zlib_at(raw, p - 1) => out.push((p - 1, Magic::Zlib)),
            _ => {}
        }
    }
    for i in memchr::memchr3_iter(0x5e, 0x9c, 0xda, &raw[lo..end]) {
        let p = lo + i;
        if p > lo && p - 1 < hi && zlib_at(raw, p - 1) {
            out.push((p - 1, Magic::Zlib));
        }
    }
    out[start..].sort_unstable_by_key(|m| m.0);
}

/// What [`open`] found at a magic.
pub(super) enum Opened<R> {
    /// The deflate data, after the header.
    Stream(DeflateDecoder<R>),
    /// Not a stream this scan decodes (a false start, or a stored zip member).
    Nothing,
    /// A real stream it cannot decode: why.
    Unscannable(String),
}

fn skip(r: &mut impl BufRead, mut n: u64) -> io::Result<bool> {
    while n > 0 {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let k = (buf.len() as u64).min(n) as usize;
        r.consume(k);
        n -= k as u64;
    }
    Ok(true)
}

/// Reads up to a NUL (at most 64 KiB); false when it is not there.
fn skip_cstr(r: &mut impl BufRead) -> io::Result<bool> {
    let mut seen = 0;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() || seen > 64 << 10 {
            return Ok(false);
        }
        if let Some(i) = memchr::memchr(0, buf) {
            r.consume(i + 1);
            return Ok(true);
        }
        let k = buf.len();
        seen += k;
        r.consume(k);
    }
}

/// Reads the header of the stream `magic` says begins `src`, and returns its deflate data.
pub(super) fn open<R: BufRead>(magic: Magic, mut src: R) -> io::Result<Opened<R>> {
    let eof = |e: &io::Error| e.kind() == io::ErrorKind::UnexpectedEof;
    match magic {
        Magic::Gzip => {
            let mut h = [0u8; 10];
            match src.read_exact(&mut h) {
                Err(e) if eof(&e) => return Ok(Opened::Nothing),
                r => r?,
            }
            if h[..3] != [0x1f, 0x8b, 8] || h[3] & 0xe0 != 0 {
                return Ok(Opened::Nothing);
            }
            let flags = h[3];
            if flags & 4 != 0 {
                let mut x = [0u8; 2];
                match src.read_exact(&mut x) {
                    Err(e) if eof(&e) => return Ok(Opened::Nothing),
                    r => r?,
                }
                if !skip(&mut src, u64::from(u16::from_le_bytes(x)))? {
                    return Ok(Opened::Nothing);
                }
            }
            for bit in [8, 16] {
                if flags & bit != 0 && !skip_cstr(&mut src)? {
                    return Ok(Opened::Nothing);
                }
            }
            if flags & 2 != 0 && !skip(&mut src, 2)? {
                return Ok(Opened::Nothing);
            }
            Ok(Opened::Stream(DeflateDecoder::new(src)))
        }
        Magic::Zlib => {
            if !skip(&mut src, 2)? {
                return Ok(Opened::Nothing);
            }
            Ok(Opened::Stream(DeflateDecoder::new(src)))
        }
        Magic::Zip => {
            let mut h = [0u8; 30];
            match src.read_exact(&mut h) {
                Err(e) if eof(&e) => return Ok(Opened::Nothing),
                r => r?,
            }
            let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
            let (version, flags, method) = (u16_at(4) & 0xff, u16_at(6), u16_at(8));
            let (name_len, extra_len) = (usize::from(u16_at(26)), u64::from(u16_at(28)));
            if h[..4] != *b"PK\x03\x04" || version > 63 || name_len > 4096 {
                return Ok(Opened::Nothing);
            }
            let mut name = vec![0u8; name_len];
            match src.read_exact(&mut name) {
                Err(e) if eof(&e) => return Ok(Opened::Nothing),
                r => r?,
            }
            // A real member's name is text; noise rarely is.
            let plausible =
                std::str::from_utf8(&name).is_ok_and(|n| !n.chars().any(char::is_control));
            if !plausible || !skip(&mut src, extra_len)? {
                return Ok(Opened::Nothing);
            }
            if flags & 1 != 0 {
                return Ok(Opened::Unscannable("an encrypted zip member".into()));
            }
            match method {
                0 => Ok(Opened::Nothing),
                8 => Ok(Opened::Stream(DeflateDecoder::new(src))),
                9 | 12 | 14 | 93 | 95 | 98 | 99 => Ok(Opened::Unscannable(format!(
                    "a zip member compressed with method {method}, which this scan does not decode"
                ))),
                _ => Ok(Opened::Nothing),
            }
        }
    }
}

/// Reads a file from an offset, without moving its cursor (`pread`).
pub(super) struct PosReader<'f> {
    file: &'f File,
    pos: u64,
}

impl<'f> PosReader<'f> {
    pub(super) fn new(file: &'f File, pos: u64) -> Self {
        PosReader { file, pos }
    }
}

impl Read for PosReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Counts the bytes used from a [`BufRead`].
pub(super) struct Counted<R> {
    inner: R,
    pub count: u64,
}

impl<R> Counted<R> {
    pub(super) fn new(inner: R) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.count += n as u64;
        self.inner.consume(n);
    }
}

/// Stops after `left` bytes; says whether more were there.
pub(super) struct Capped<R> {
    pub inner: R,
    left: u64,
    /// Output bytes given.
    pub given: u64,
    /// The limit was reached with output left.
    pub cut: bool,
    /// The decoder failed (damaged or not really a stream): treated as its end.
    pub failed: bool,
}

impl<R: Read> Capped<R> {
    pub(super) fn new(inner: R, left: u64) -> Self {
        Capped {
            inner,
            left,
            given: 0,
            cut: false,
            failed: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            if !self.cut && !self.failed {
                let mut probe = [0u8; 1];
                self.cut = matches!(self.inner.read(&mut probe), Ok(n) if n > 0);
            }
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.left) as usize;
        loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(n) => {
                    self.left -= n as u64;
                    self.given += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.failed = true;
                    self.left = 0;
                    return Ok(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_runs_not_digests() {
        use base64::Engine;
        let b64 =
            base64::engine::general_purpose::STANDARD.encode("Zoë Marker-Smith, 1 Long Street");
        let text = format!(
            "{{\"hash\":\"{}\",\"body\":\"{b64}\",\"short\":\"QWxCb2I=\"}}",
            "ab12".repeat(16)
        );
        let raw = text.as_bytes();
        let mut f = Vec::new();
        fragments(raw, 0, raw.len(), &mut f);
        let long: Vec<_> = f.iter().filter(|f| f.alpha >= B64_MIN && !f.hex).collect();
        assert_eq!(long.len(), 1, "{f:?}");
        assert_eq!(&raw[long[0].start..long[0].end], b64.as_bytes());
        // Split over parts, the pieces meet at the boundary.
        for cut in 0..raw.len() {
            let mut f = Vec::new();
            fragments(raw, 0, cut, &mut f);
            fragments(raw, cut, raw.len(), &mut f);
            let start = text.find(&b64).unwrap();
            assert!(f.iter().any(|f| f.start == start), "{cut}");
            assert!(f.iter().any(|f| f.end == start + b64.len()), "{cut}");
        }
    }

    #[test]
    fn base64_decodes_wrapped_padded_and_url_safe() {
        let mut out = Vec::new();
        let input = b"Wm/Dqy\r\nBNYXJrZXItU21pdGg=QUI=\"tail";
        let mut d = Base64::new(&input[..]);
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, "Zoë Marker-SmithAB".as_bytes());
        assert_eq!(d.consumed, (input.len() - 5) as u64);
        let mut out = Vec::new();
        Base64::new(&b"Wm_Dqw"[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, "Zoë".as_bytes());
        // Asked for one or two bytes at a time, it gives them all, then says the end.
        for size in [1, 2, 4] {
            let mut d = Base64::new(&input[..]);
            let (mut out, mut buf) = (Vec::new(), vec![0u8; size]);
            loop {
                let n = d.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, "Zoë Marker-SmithAB".as_bytes(), "{size}");
        }
    }

    #[test]
    fn base64_decodes_long_runs_across_line_breaks_in_any_read_size() {
        use base64::Engine;
        let plain: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&plain);
        // Lines of 76 (groups stay whole), 7 and 30 characters (groups cut by CRLF or LF).
        for (width, brk) in [(76, "\r\n"), (7, "\n"), (30, "\r\n"), (b64.len(), "")] {
            let mut wrapped = Vec::new();
            for line in b64.as_bytes().chunks(width) {
                wrapped.extend_from_slice(line);
                wrapped.extend_from_slice(brk.as_bytes());
            }
            wrapped.extend_from_slice(b"\"}");
            for size in [3, 64, 1 << 20] {
                let mut d = Base64::new(&wrapped[..]);
                let (mut out, mut buf) = (Vec::new(), vec![0u8; size]);
                loop {
                    let n = d.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                assert!(out == plain, "width {width}, reads of {size}");
                assert_eq!(d.consumed as usize, wrapped.len() - 2);
            }
        }
    }

    #[test]
    fn percent_stretches_decode_with_their_escapes_marked() {
        let raw = b"GET /a?n=Zo%C3%AB+Marker&x=1 HTTP/1.1";
        let mut r = Vec::new();
        percent_regions(raw, 0, raw.len(), &mut r);
        assert_eq!(r, vec![(4, 28)]);
        let (mut out, mut from, mut esc) = (Vec::new(), Vec::new(), Vec::new());
        decode_percent(&raw[4..28], &mut out, &mut from, &mut esc);
        assert_eq!(out, "/a?n=Zoë Marker&x=1".as_bytes());
        assert_eq!(esc.iter().filter(|e| **e).count(), 3);
        // Found from a later escape, the stretch is the same.
        let mut r = Vec::new();
        percent_regions(raw, 14, raw.len(), &mut r);
        assert_eq!(r, vec![(4, 28)]);
    }

    #[test]
    fn magics_and_their_headers() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello hello hello").unwrap();
        let gz = gz.finish().unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(b"hello hello hello").unwrap();
        let z = z.finish().unwrap();
        let mut raw = b"xx".to_vec();
        raw.extend_from_slice(&gz);
        raw.extend_from_slice(b"stream\n");
        let zat = raw.len();
        raw.extend_from_slice(&z);
        let mut m = Vec::new();
        magics(&raw, 0, raw.len(), &mut m);
        assert!(
            m.contains(&(2, Magic::Gzip)) && m.contains(&(zat, Magic::Zlib)),
            "{m:?}"
        );
        for (at, magic) in [(2, Magic::Gzip), (zat, Magic::Zlib)] {
            let Opened::Stream(mut d) = open(magic, &raw[at..]).unwrap() else {
                panic!("a stream at {at}");
            };
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"hello hello hello");
        }
        assert!(matches!(
            open(Magic::Gzip, &b"\x1f\x8b\x08"[..]).unwrap(),
            Opened::Nothing
        ));
    }
}
