//! The leak scan's prefilter: sampled, hashed q-grams of every value's first bytes, so that the
//! exact matcher runs only where a value may start.
//!
//! **Why it finds every value.** Every value in a [`Group`] is at least `min` bytes long. The
//! filter reads the text's q-gram (case-folded, below) only at positions that are multiples of
//! `step = min - q + 1`. Any occurrence starting at `p` covers `p .. p + min`, and exactly one
//! multiple of `step`, `t = p + j` with `j < step`, lies in `p .. p + step`; the gram at `t` is
//! then inside the value's first `min` bytes, at offset `j`. A Bloom filter holds every such
//! gram of every value; a sample found there makes `t - j` (for every `j < step`) a candidate
//! if a second Bloom filter, of the values' first `min` bytes (at most 8), holds the bytes at
//! `t - j`. Bloom filters have false positives, never false negatives: the filter can propose
//! a start that holds no value (the exact matcher then rejects it) but never misses one. Keys
//! are folded (bit 5 of every byte set), so bytes equal up to ASCII case give equal keys.
//!
//! **Groups.** Long values (12 bytes and more: the PDF hex forms, most e-mail and address
//! lines) are filtered on 6-byte grams every `shortest - 5` bytes (7 for 12-byte values),
//! short ones on 4-byte grams every `shortest - 3` bytes; when no value is under 8 bytes, all
//! share one group on 6-byte grams (see `LONG` in the parent module). The cost is one table
//! read per sample, so a wider step is faster, but a shorter
//! gram is less selective: 4- and 5-byte grams of the hex forms cover most hex digits, and
//! logs are full of hex digests. Measured with 100,000 values (`benches/retention.rs`),
//! 6-byte grams were the best of 4 to 8 on both repetitive and hex-heavy logs.
//!
//! **Memory.** The gram table is at most 1 MiB, so that it stays in a core's cache while
//! text streams by (2 MiB measured slower); the prefix table at most 256 KiB (faster than
//! 512 KiB on hex-heavy logs).

/// One class of values by length: which grams their first bytes hold, and which prefixes.
pub(super) struct Group {
    /// Gram length in bytes (1 to 8).
    q: usize,
    /// Distance between samples: `min - q + 1`.
    step: usize,
    /// Prefix length checked at a candidate start (`min`, at most 8).
    key: usize,
    /// Every gram at offsets `0 .. step` of every value.
    grams: Bloom,
    /// Every value's first `key` bytes.
    prefixes: Bloom,
}

/// A one-word-per-probe Bloom filter of hashed keys (two bits in the same `u64`).
struct Bloom {
    /// `64 - log2(words.len())`.
    shift: u32,
    words: Vec<u64>,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Bloom {
    /// Sized for `n` keys at about `bits_per_key`, at most `max_bytes`.
    fn new(n: usize, bits_per_key: usize, max_bytes: usize) -> Bloom {
        let words = (n * bits_per_key / 64)
            .next_power_of_two()
            .clamp(64, max_bytes / 8);
        Bloom {
            shift: 64 - words.trailing_zeros(),
            words: vec![0; words],
        }
    }

    /// (word, two bits) for a folded key.
    #[inline(always)]
    fn probe(&self, key: u64) -> (usize, u64) {
        let h = (key ^ (key >> 31)).wrapping_mul(K);
        let w = (h >> self.shift) as usize;
        (w, (1 << ((h >> 14) & 63)) | (1 << ((h >> 20) & 63)))
    }

    fn insert(&mut self, key: u64) {
        let (w, m) = self.probe(key);
        self.words[w] |= m;
    }

    #[inline(always)]
    fn has(&self, key: u64) -> bool {
        let (w, m) = self.probe(key);
        self.words[w] & m == m
    }
}

/// The `n` bytes at `t` (zero-padded to 8, little-endian), folded with [`fold`];
/// `t + n <= h.len()`.
#[inline(always)]
fn load(h: &[u8], t: usize, n: usize) -> u64 {
    let mask = if n >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    };
    let x = match h.get(t..t + 8) {
        Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        None => {
            let mut b = [0u8; 8];
            let n = (h.len() - t).min(8);
            b[..n].copy_from_slice(&h[t..t + n]);
            u64::from_le_bytes(b)
        }
    };
    fold(x) & mask
}

/// Sets bit 5 of every byte: bytes equal up to ASCII case stay equal (so no value is missed),
/// and a few others meet (`@` and `` ` ``, control characters and digits, ...), which only
/// adds candidates. One instruction, where lowercasing takes eight.
#[inline(always)]
fn fold(x: u64) -> u64 {
    x | 0x2020_2020_2020_2020
}

/// Largest gram table: 1 MiB, so it stays in a core's L2 cache while text streams by.
const GRAMS_MAX: usize = 1 << 20;

impl Group {
    /// A group for values of at least `min` bytes, filtered on `q`-byte grams (`q <= min`,
    /// `q <= 8`), sized for about `values` values.
    pub(super) fn new(min: usize, q: usize, values: usize) -> Group {
        let q = q.min(min).clamp(1, 8);
        let step = min - q + 1;
        Group {
            q,
            step,
            key: min.min(8),
            grams: Bloom::new(values * step, 16, GRAMS_MAX),
            prefixes: Bloom::new(values, 16, GRAMS_MAX / 4),
        }
    }

    /// Adds one value (at least `min` bytes long).
    pub(super) fn add(&mut self, value: &[u8]) {
        for j in 0..self.step {
            self.grams.insert(load(value, j, self.q));
        }
        self.prefixes.insert(load(value, 0, self.key));
    }

    /// Calls `f(p)` for every candidate start `p` in `lo .. hi` (each at most once, in
    /// increasing order); every start in that range where a value of this group occurs in `h`
    /// is among them.
    #[inline(always)]
    pub(super) fn candidates(&self, h: &[u8], lo: usize, hi: usize, mut f: impl FnMut(usize)) {
        let (q, step, key) = (self.q, self.step, self.key);
        if h.len() < key || lo >= hi {
            return;
        }
        // Samples t in lo ..= hi + step - 2 (a start p < hi has its sample below p + step),
        // with the whole gram inside h.
        let last = (hi + step - 2).min(h.len() - q);
        let mut t = lo.div_ceil(step) * step;
        while t <= last {
            if self.grams.has(load(h, t, q)) {
                for p in t.saturating_sub(step - 1).max(lo)..=t.min(hi - 1) {
                    if p + key <= h.len() && self.prefixes.has(load(h, p, key)) {
                        f(p);
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
    fn folding_keeps_ascii_case_pairs_together() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                if a.eq_ignore_ascii_case(&b) {
                    assert_eq!(fold(u64::from(a)), fold(u64::from(b)));
                }
            }
        }
    }

    #[test]
    fn every_start_of_a_value_is_a_candidate() {
        let mut g = Group::new(6, 4, 2);
        g.add(b"uvwxyz");
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
