//! The leak scan's prefilter: sampled, hashed q-grams of every value's first bytes, so that the
//! exact matcher runs only where a value may start.
//!
//! **Why it finds every value.** Every value in a [`Group`] is at least `min` bytes long. The
//! filter reads the text's q-gram (ASCII-lowercased) only at positions that are multiples of
//! `step = min - q + 1`. Any occurrence starting at `p` covers `p .. p + min`, and exactly one
//! multiple of `step`, `t = p + j` with `j < step`, lies in `p .. p + step`; the gram at `t` is
//! then inside the value's first `min` bytes, at offset `j`. The table holds, for the hash of
//! every such gram of every value, a bit for each offset `j` it was seen at; a sample whose
//! bit `j` is set makes `t - j` a candidate. Hash collisions only add candidates, so the filter
//! can report a start that holds no value (the exact matcher then rejects it) but never misses
//! one.
//!
//! **Groups.** Long values (the PDF hex forms, most e-mail and address lines) are filtered on
//! 8-byte grams every 5 bytes, short ones on 4-byte grams every 3 bytes: a longer gram is far
//! more selective in logs full of hex digests, and a wider step reads fewer samples.

/// One class of values by length: their grams' offset bits, by hash.
pub(super) struct Group {
    /// Gram length in bytes (1 to 8).
    q: usize,
    /// Distance between samples: `min - q + 1`.
    step: usize,
    /// `64 - log2(table.len())`.
    shift: u32,
    /// Bit `j` of `table[h]`: some value has a gram with hash `h` at offset `j`.
    table: Vec<u8>,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// ASCII-lowercases the eight bytes of `x` at once (the bytes >= 0x80 are left alone).
#[inline(always)]
fn lower(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let heptets = x & (0x7f * ONES);
    let ge_a = heptets.wrapping_add((0x80 - b'A' as u64) * ONES);
    let gt_z = heptets.wrapping_add((0x7f - b'Z' as u64) * ONES);
    let upper = ge_a & !gt_z & !x & (0x80 * ONES);
    x | (upper >> 2)
}

/// The `q` bytes at `t` (zero-padded to 8 bytes, little-endian); `t + q <= h.len()`.
#[inline(always)]
fn load(h: &[u8], t: usize, mask: u64) -> u64 {
    match h.get(t..t + 8) {
        Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) & mask,
        None => {
            let mut b = [0u8; 8];
            let n = (h.len() - t).min(8);
            b[..n].copy_from_slice(&h[t..t + n]);
            u64::from_le_bytes(b) & mask
        }
    }
}

impl Group {
    /// A group for values of at least `min` bytes, filtered on `q`-byte grams (`q <= min`,
    /// `q <= 8`), sized for about `values` values.
    pub(super) fn new(min: usize, q: usize, values: usize) -> Group {
        let q = q.min(min).clamp(1, 8);
        let step = (min - q + 1).min(8);
        // About 16 slots per gram keeps random collisions near 1 in 16 per occupied offset.
        let bits = (values * step * 16)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(12, 23);
        Group {
            q,
            step,
            shift: 64 - bits,
            table: vec![0; 1 << bits],
        }
    }

    fn mask(&self) -> u64 {
        if self.q == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.q)) - 1
        }
    }

    #[inline(always)]
    fn slot(&self, gram: u64) -> usize {
        (lower(gram).wrapping_mul(K) >> self.shift) as usize
    }

    /// Adds one value (at least `min` bytes long).
    pub(super) fn add(&mut self, value: &[u8]) {
        let mask = self.mask();
        for j in 0..self.step {
            let s = self.slot(load(value, j, mask));
            self.table[s] |= 1 << j;
        }
    }

    /// Calls `f(p)` for every candidate start `p` in `lo .. hi` (each at most once, in
    /// roughly increasing order); every start in that range where a value of this group
    /// occurs in `h` is among them.
    #[inline(always)]
    pub(super) fn candidates(&self, h: &[u8], lo: usize, hi: usize, mut f: impl FnMut(usize)) {
        let (q, step, mask) = (self.q, self.step, self.mask());
        if h.len() < q || lo >= hi {
            return;
        }
        // Samples t in lo ..= hi + step - 2 (a start p < hi has its sample below p + step),
        // with the whole gram inside h.
        let last = (hi + step - 2).min(h.len() - q);
        let mut t = lo.div_ceil(step) * step;
        let table = &self.table[..];
        while t <= last {
            let bits = table[self.slot(load(h, t, mask))];
            if bits != 0 {
                for j in 0..step {
                    if bits & (1 << j) != 0 && t >= lo + j && t - j < hi {
                        f(t - j);
                    }
                }
            }
            t += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_ascii_only() {
        let all: Vec<u8> = (0..=255u8).collect();
        for c in all.chunks(8) {
            let x = u64::from_le_bytes(c.try_into().unwrap());
            let want: Vec<u8> = c.iter().map(|b| b.to_ascii_lowercase()).collect();
            assert_eq!(lower(x).to_le_bytes().to_vec(), want);
        }
    }

    #[test]
    fn every_start_of_a_value_is_a_candidate() {
        let mut g = Group::new(6, 4, 1);
        g.add(b"abcdef");
        let text = b"xxABCDEFyabcdefzzzabcdef";
        for lo in 0..text.len() {
            for hi in lo..=text.len() {
                let mut got = Vec::new();
                g.candidates(text, lo, hi, |p| got.push(p));
                for p in [2, 9, 18] {
                    assert_eq!(got.contains(&p), (lo..hi).contains(&p), "{lo}..{hi}: {p}");
                }
                assert!(got.iter().all(|p| (lo..hi).contains(p)));
            }
        }
    }
}
