//! The leak scan's normal form: text and values alike lose every NUL and ASCII whitespace byte
//! (tab, line feed, vertical tab, form feed, carriage return, space) before they are compared.
//!
//! **Why.** One comparison then finds a value however a copy spaced it: broken over two lines
//! (LF or CRLF, in the middle of a word or at a space), with spaces or tabs added or taken away,
//! and saved as UTF-16LE or UTF-16BE (with or without a BOM, at any alignment), since text of
//! Latin-1 characters in UTF-16 is its Latin-1 bytes with a NUL before or after each (the
//! Latin-1 and UTF-16 forms of a value are added as their own patterns, see
//! [`super::ScannerBuilder`]). Dropping bytes can only join text, never split a value, so
//! nothing found before is lost; a value can now also be found across a line break or a
//! binary field's NULs, which is the point.
//!
//! **Finding the raw bytes again.** A [`Normal`] remembers, every [`STEP`] raw bytes, how many
//! bytes it had kept and how many line feeds it had passed; a match in the normal form is
//! mapped back to its raw offset and line by walking at most one step of raw bytes. Matches are
//! rare, so this costs nothing measurable.
//!
//! **Speed.** Most text has few bytes to drop: sixteen bytes at a time are tested at once (does
//! any byte fall below `0x21`?) and copied whole when none does. UTF-16 text of Latin-1
//! characters drops every other byte: eight bytes whose other bytes are all NUL give their
//! four at once.

/// Raw bytes between two marks.
pub(super) const STEP: usize = 4096;

/// 1 where the normal form keeps the byte.
static KEEP: [u8; 256] = {
    let mut t = [1u8; 256];
    t[0] = 0;
    t[b'\t' as usize] = 0;
    t[b'\n' as usize] = 0;
    t[0x0b] = 0;
    t[0x0c] = 0;
    t[b'\r' as usize] = 0;
    t[b' ' as usize] = 0;
    t
};

/// Whether the normal form keeps `b`.
#[inline(always)]
pub(super) fn kept(b: u8) -> bool {
    KEEP[b as usize] != 0
}

/// `p` in normal form.
pub(super) fn normal(p: &[u8]) -> Vec<u8> {
    p.iter().copied().filter(|&b| kept(b)).collect()
}

const LOW: u64 = 0x2121_2121_2121_2121;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `x` is below `0x21` (may say yes for a few bytes just above; never no
/// for one below).
#[inline(always)]
fn has_low(x: u64) -> bool {
    x.wrapping_sub(LOW) & !x & HIGH != 0
}

/// When every other byte of `z` is NUL (UTF-16 of Latin-1 text, either byte order, either
/// alignment), the other four bytes, in order.
#[inline(always)]
fn utf16_low_bytes(z: u64) -> Option<u32> {
    let w = if z & 0xff00_ff00_ff00_ff00 == 0 {
        z
    } else if z & 0x00ff_00ff_00ff_00ff == 0 {
        z >> 8
    } else {
        return None;
    };
    let w = (w | (w >> 8)) & 0x0000_ffff_0000_ffff;
    Some((w | (w >> 16)) as u32)
}

/// One stretch of raw bytes in normal form.
#[derive(Default)]
pub(super) struct Normal {
    /// The normal form, in `buf[..len]` (the buffer is kept between uses).
    buf: Vec<u8>,
    len: usize,
    /// Kept bytes of `lo .. hi` (the rest, up to `len`, is look-ahead past `hi`).
    pub own: usize,
    /// Line feeds in `lo .. hi`.
    pub own_lines: usize,
    /// First raw byte.
    lo: usize,
    /// Per [`STEP`] raw bytes from `lo`: (kept bytes before, line feeds before).
    marks: Vec<(usize, usize)>,
}

impl Normal {
    /// The normal form of `raw[lo .. hi]`, then of the bytes after `hi` until `ext` more bytes
    /// are kept or `raw` ends.
    pub(super) fn fill(&mut self, raw: &[u8], lo: usize, hi: usize, ext: usize) {
        let need = hi - lo + ext + 16;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.marks.clear();
        self.lo = lo;
        let out = &mut self.buf[..];
        let (mut j, mut lines) = (0usize, 0usize);
        for block in raw[lo..hi].chunks(STEP) {
            self.marks.push((j, lines));
            // Clean stretches (no byte below 0x21) are found sixteen bytes at a time and
            // copied at once.
            let (mut i, mut clean) = (0, 0);
            while i + 16 <= block.len() {
                let w = &block[i..i + 16];
                let x = u64::from_le_bytes(w[..8].try_into().expect("8 bytes"));
                let y = u64::from_le_bytes(w[8..].try_into().expect("8 bytes"));
                if has_low(x) || has_low(y) {
                    out[j..j + (i - clean)].copy_from_slice(&block[clean..i]);
                    j += i - clean;
                    for (z, half) in [(x, &w[..8]), (y, &w[8..])] {
                        // UTF-16 of Latin-1 text: the NUL half of each unit goes at once.
                        let bytes = match utf16_low_bytes(z) {
                            Some(p) if !has_low(u64::from(p) | 0x2121_2121_0000_0000) => {
                                out[j..j + 4].copy_from_slice(&p.to_le_bytes());
                                j += 4;
                                continue;
                            }
                            Some(p) => &p.to_le_bytes()[..],
                            None => half,
                        };
                        for &b in bytes {
                            out[j] = b;
                            j += KEEP[b as usize] as usize;
                            lines += usize::from(b == b'\n');
                        }
                    }
                    clean = i + 16;
                }
                i += 16;
            }
            out[j..j + (i - clean)].copy_from_slice(&block[clean..i]);
            j += i - clean;
            for &b in &block[i..] {
                out[j] = b;
                j += KEEP[b as usize] as usize;
                lines += usize::from(b == b'\n');
            }
        }
        self.own = j;
        self.own_lines = lines;
        // Look-ahead: one byte at a time, marks going on at the same raw spacing.
        let mut p = hi;
        while j < self.own + ext && p < raw.len() {
            if (p - lo).is_multiple_of(STEP) {
                self.marks.push((j, lines));
            }
            let b = raw[p];
            out[j] = b;
            j += KEEP[b as usize] as usize;
            lines += usize::from(b == b'\n');
            p += 1;
        }
        self.len = j;
    }

    /// The normal form.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The raw offset of kept byte `k` (`k < len`) and the line feeds in `lo ..` that offset.
    /// `raw` is the slice given to [`Normal::fill`].
    pub(super) fn locate(&self, raw: &[u8], k: usize) -> (usize, usize) {
        let m = self.marks.partition_point(|m| m.0 <= k) - 1;
        let (mut seen, mut lines) = self.marks[m];
        let mut p = self.lo + m * STEP;
        loop {
            let b = raw[p];
            if kept(b) {
                if seen == k {
                    return (p, lines);
                }
                seen += 1;
            } else if b == b'\n' {
                lines += 1;
            }
            p += 1;
        }
    }
}

/// Line feeds in `b`.
pub(super) fn count_lines(b: &[u8]) -> usize {
    // Per 255 bytes a u8 sum cannot overflow, and the compiler vectorizes it.
    b.chunks(255)
        .map(|c| c.iter().map(|&x| u8::from(x == b'\n')).sum::<u8>() as usize)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_nul_and_whitespace_only() {
        assert_eq!(
            normal(b"Zo\xc3\xab Mar\r\nker\t-\0S"),
            b"Zo\xc3\xabMarker-S"
        );
        for b in 0..=255u8 {
            assert_eq!(kept(b), !matches!(b, 0 | 9..=13 | b' '), "{b:#x}");
        }
    }

    #[test]
    fn utf16_halves_are_packed_in_either_order() {
        let le = u64::from_le_bytes(*b"a\0b\0c\0d\0");
        let be = u64::from_le_bytes(*b"\0a\0b\0c\0d");
        assert_eq!(utf16_low_bytes(le), Some(u32::from_le_bytes(*b"abcd")));
        assert_eq!(utf16_low_bytes(be), Some(u32::from_le_bytes(*b"abcd")));
        assert_eq!(utf16_low_bytes(u64::from_le_bytes(*b"ab\0\0c\0d\0")), None);
        let mut n = Normal::default();
        let raw: Vec<u8> = "\u{feff}Zo\u{eb} M\nX y\r\nz\u{4e2d}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        n.fill(&raw, 0, raw.len(), 0);
        assert_eq!(n.bytes(), normal(&raw).as_slice());
        assert_eq!(n.own_lines, 2);
    }

    #[test]
    fn maps_every_kept_byte_back_with_its_line() {
        let mut raw = Vec::new();
        for i in 0..3000u32 {
            raw.extend_from_slice(match i % 7 {
                0 => b"abc defgh\n".as_slice(),
                1 => b"\0x\0y\0".as_slice(),
                2 => b"          ".as_slice(),
                3 => b"0123456789abcdef".as_slice(),
                4 => b"\r\n".as_slice(),
                _ => b"q".as_slice(),
            });
        }
        for (lo, hi) in [(0, raw.len()), (5, 9000), (4096, 8193), (777, 777)] {
            let mut n = Normal::default();
            n.fill(&raw, lo, hi, 40);
            let want: Vec<usize> = (lo..raw.len()).filter(|&p| kept(raw[p])).collect();
            assert_eq!(n.own, want.iter().filter(|&&p| p < hi).count());
            assert_eq!(n.bytes().len(), (n.own + 40).min(want.len()));
            assert_eq!(n.own_lines, count_lines(&raw[lo..hi]));
            for (k, &p) in want.iter().take(n.bytes().len()).enumerate() {
                assert_eq!(n.bytes()[k], raw[p]);
                assert_eq!(
                    n.locate(&raw, k),
                    (p, count_lines(&raw[lo..p])),
                    "{lo}..{hi} {k}"
                );
            }
        }
    }
}
