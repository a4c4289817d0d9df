//! The streams of randomness: keys and ChaCha20 generators.
//!
//! A 256-bit key (the caller's seed, or fresh bytes from the operating system)
//! is expanded as a PRF into one generator per (image, cell row), so the noise
//! of a cell row never depends on which thread draws it or in which order. The
//! generator also keeps a small reservoir of bits, for the bit-thrifty
//! discrete Laplace (which takes a few bits at a time).

use rand::{Rng, SeedableRng};

use crate::{Error, Result};

/// A 256-bit secret key for [`row_stream`].
pub type Key = [u8; 32];

/// The keyed PRF that derives the stream of each (image, cell row): ChaCha20.
pub type Prf = rand_chacha::ChaCha20Rng;

/// The generator every sampler in dp-pix draws from: ChaCha20 (the words of
/// [`Prf`] for the same key), plus a small reservoir of bits for draws of a
/// few bits at a time (the discrete Laplace takes one 64-bit word a sample
/// and, now and then, a few more bits).
///
/// Words (`next_u32`, `next_u64`, `fill_bytes`) come straight from ChaCha20;
/// [`StreamRng::bits`] takes bits from the reservoir, refilled with a fresh
/// 64-bit word when it runs short (the few bits left over are dropped, never
/// reused). Every bit is used at most once, so all draws stay independent.
#[derive(Clone, Debug)]
pub struct StreamRng {
    chacha: Prf,
    reservoir: u64,
    available: u32,
}

impl StreamRng {
    /// The 32-byte key of the underlying ChaCha20.
    pub fn get_seed(&self) -> Key {
        self.chacha.get_seed()
    }

    /// `k` fresh uniform bits, `1 <= k <= 32`, as the low bits of the result.
    #[inline(always)]
    pub fn bits(&mut self, k: u32) -> u64 {
        debug_assert!((1..=32).contains(&k));
        if self.available < k {
            self.reservoir = self.chacha.next_u64();
            self.available = 64;
        }
        let v = self.reservoir & ((1u64 << k) - 1);
        self.reservoir >>= k;
        self.available -= k;
        v
    }

    /// `k` fresh uniform bits, `1 <= k <= 64`.
    #[inline(always)]
    pub(crate) fn wide_bits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            self.bits(k)
        } else {
            self.bits(32) | (self.bits(k - 32) << 32)
        }
    }
}

impl rand::TryRng for StreamRng {
    type Error = std::convert::Infallible;
    #[inline]
    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        Ok(self.chacha.next_u32())
    }
    #[inline]
    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        Ok(self.chacha.next_u64())
    }
    #[inline]
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        self.chacha.fill_bytes(dst);
        Ok(())
    }
}

impl rand::TryCryptoRng for StreamRng {}

impl SeedableRng for StreamRng {
    type Seed = Key;
    fn from_seed(seed: Key) -> Self {
        StreamRng {
            chacha: Prf::from_seed(seed),
            reservoir: 0,
            available: 0,
        }
    }
}

/// Fresh 32 random bytes from the operating system (getrandom); `Error::Os` on failure.
pub fn os_key() -> Result<Key> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Os(e.to_string()))?;
    Ok(key)
}

/// The generator for image `image`, cell row `row`, derived from `key` as a PRF.
///
/// The 32 bytes at the start of ChaCha20 block number `row` of the keystream
/// keyed by `key` with stream (64-bit nonce) `image` become the key of a fresh
/// [`StreamRng`]. Distinct `(image, row)` pairs read distinct keystream blocks,
/// so their generators are independent (as far as ChaCha20 is a PRF), and the
/// noise of a cell row never depends on which thread computes it or in which
/// order.
pub fn row_stream(key: &Key, image: u64, row: u64) -> StreamRng {
    let mut prf = Prf::from_seed(*key);
    prf.set_stream(image);
    // A ChaCha block is 16 words of 32 bits; the block counter is 64-bit, so
    // every `row` has a block of its own.
    prf.set_word_pos(u128::from(row) * 16);
    let mut derived = [0u8; 32];
    prf.fill_bytes(&mut derived);
    StreamRng::from_seed(derived)
}

/// The keys of [`row_stream`] for rows `0..rows` of image `image`, in one pass
/// over the PRF's keystream (block `row` for row `row`, as there): one ChaCha
/// block per row instead of a fresh generator and a 4-block refill per row.
pub fn row_keys(key: &Key, image: u64, rows: usize, keys: &mut Vec<Key>) {
    let mut prf = Prf::from_seed(*key);
    prf.set_stream(image);
    keys.clear();
    let mut block = [0u8; 64];
    for _ in 0..rows {
        prf.fill_bytes(&mut block);
        let mut k = [0u8; 32];
        k.copy_from_slice(&block[..32]);
        keys.push(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{seeded, Model, ALPHA};

    fn first_words(mut rng: StreamRng) -> [u64; 4] {
        [
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ]
    }

    #[test]
    fn row_stream_is_deterministic_and_separates_inputs() {
        let k1: Key = [7u8; 32];
        let mut k2 = k1;
        k2[31] ^= 1;
        let base = first_words(row_stream(&k1, 3, 5));
        assert_eq!(base, first_words(row_stream(&k1, 3, 5)));
        assert_ne!(base, first_words(row_stream(&k2, 3, 5)));
        assert_ne!(base, first_words(row_stream(&k1, 4, 5)));
        assert_ne!(base, first_words(row_stream(&k1, 3, 6)));
        assert_ne!(
            first_words(row_stream(&k1, 0, 1)),
            first_words(row_stream(&k1, 1, 0))
        );
        // Distinct pairs give distinct keys over a small grid, extremes included.
        let mut seen = std::collections::HashSet::new();
        for image in [0, 1, 2, 3, u64::MAX] {
            for row in [0, 1, 2, 3, 4, u64::MAX] {
                assert!(seen.insert(row_stream(&k1, image, row).get_seed()));
            }
        }
    }

    #[test]
    fn row_stream_key_is_the_chacha20_block() {
        // The derived key is the first 32 bytes of block `row` of the ChaCha20
        // keystream with key `key` and nonce `image`.
        let key: Key = core::array::from_fn(|i| i as u8);
        for (image, row) in [(0u64, 0u64), (9, 0), (2, 3), (1, 17)] {
            let mut prf = Prf::from_seed(key);
            prf.set_stream(image);
            let mut stream = vec![0u8; 64 * (row as usize + 1)];
            prf.fill_bytes(&mut stream);
            let start = 64 * row as usize;
            let want: Key = stream[start..start + 32].try_into().unwrap();
            assert_eq!(row_stream(&key, image, row).get_seed(), want);
        }
    }

    #[test]
    fn row_keys_are_the_row_stream_keys() {
        let key: Key = core::array::from_fn(|i| (7 * i) as u8);
        let mut keys = Vec::new();
        for image in [0u64, 1, 5, u64::MAX] {
            row_keys(&key, image, 9, &mut keys);
            assert_eq!(keys.len(), 9);
            for (row, k) in keys.iter().enumerate() {
                assert_eq!(*k, row_stream(&key, image, row as u64).get_seed());
            }
        }
    }

    #[test]
    fn reservoir_bits_are_uniform_and_fresh() {
        let mut rng = seeded(70);
        // Every width, bit by bit: each bit position is a fair coin.
        for k in [1u32, 7, 8, 12, 23, 32] {
            let n = 20_000;
            let mut ones = vec![0u32; k as usize];
            for _ in 0..n {
                let v = rng.bits(k);
                assert!(v < 1 << k);
                for (b, o) in ones.iter_mut().enumerate() {
                    *o += ((v >> b) & 1) as u32;
                }
            }
            for o in ones {
                let (_, _, p) = Model::bernoulli(0.5).g_test((0..n).map(|i| i64::from(i < o)));
                assert!(p > ALPHA, "width {k}: {o} ones of {n}");
            }
        }
        // The reservoir holds the low bits of a fresh word, in order.
        let mut a = seeded(71);
        let mut b = seeded(71);
        let w = b.next_u64();
        assert_eq!(a.bits(12), w & 0xfff);
        assert_eq!(a.bits(20), (w >> 12) & 0xf_ffff);
        assert_eq!(a.bits(32), w >> 32);
        assert_eq!(a.bits(5), b.next_u64() & 0x1f);
    }

    #[test]
    fn os_key_gives_fresh_keys() {
        let a = os_key().expect("the OS random source works here");
        let b = os_key().expect("the OS random source works here");
        assert_ne!(a, b);
    }
}
