//! Uniform integers below `n`, exactly unbiased: the ground every exact
//! sampler stands on.
//!
//! `u32` and `u64` words go through Lemire's nearly divisionless method with
//! rejection (2019); `u128` and big-integer ranges by rejection from the
//! smallest power of two that covers them.

use num_bigint::BigUint;
use rand::Rng;

/// One attempt of Lemire's nearly divisionless method ("Fast random integer
/// generation in an interval", 2019) on the uniform word `x`: `Some(v)` with
/// `v` uniform in `0..n`, or `None` to reject `x` and draw again (`n >= 1`).
///
/// `x·n` is split as `hi·2^B + lo`; `hi` is the candidate. Rejecting the
/// `2^B mod n` values of `lo` below that threshold leaves exactly
/// `floor(2^B / n)` words `x` for each `hi`, so the output is unbiased. The
/// threshold (a division) is only computed when `lo < n`, which is rare.
macro_rules! lemire_attempt {
    ($name:ident, $word:ty, $wide:ty) => {
        #[inline(always)]
        fn $name(x: $word, n: $word) -> Option<$word> {
            let m = <$wide>::from(x) * <$wide>::from(n);
            // Truncation intended: the low half of the double-width product.
            let lo = m as $word;
            if lo < n {
                let threshold = n.wrapping_neg() % n; // 2^B mod n
                if lo < threshold {
                    return None;
                }
            }
            // The high half; it is < n.
            Some((m >> <$word>::BITS) as $word)
        }
    };
}

lemire_attempt!(lemire_u32, u32, u64);
lemire_attempt!(lemire_u64, u64, u128);
#[cfg(test)]
lemire_attempt!(lemire_u8, u8, u16);

/// Uniform integer in `0..n`, exactly unbiased (Lemire's method with rejection).
///
/// Draws `u32` words when `n <= 2^32 - 1` and `u64` words otherwise. `n = 0` and
/// `n = 1` return 0 without drawing.
#[inline]
pub fn uniform_below<R: Rng + ?Sized>(rng: &mut R, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    if let Ok(n32) = u32::try_from(n) {
        loop {
            if let Some(v) = lemire_u32(rng.next_u32(), n32) {
                return u64::from(v);
            }
        }
    }
    loop {
        if let Some(v) = lemire_u64(rng.next_u64(), n) {
            return v;
        }
    }
}

/// Uniform integer in `0..n` for `u128` (`n = 0` returns 0).
#[inline]
pub(crate) fn uniform_below_u128<R: Rng + ?Sized>(rng: &mut R, n: u128) -> u128 {
    if let Ok(n64) = u64::try_from(n) {
        return u128::from(uniform_below(rng, n64));
    }
    // n > 2^64: rejection from the smallest power of two covering 0..n
    // (acceptance > 1/2).
    let mask = u128::MAX >> (n - 1).leading_zeros();
    loop {
        let hi = u128::from(rng.next_u64());
        let lo = u128::from(rng.next_u64());
        let x = ((hi << 64) | lo) & mask;
        if x < n {
            return x;
        }
    }
}

/// Uniform `BigUint` in `0..n` (`n >= 1`; `n = 0` returns 0): random 32-bit
/// limbs covering the bit length of `n`, top limb masked, rejected until below
/// `n` (acceptance >= 1/2).
pub(crate) fn uniform_below_big<R: Rng + ?Sized>(rng: &mut R, n: &BigUint) -> BigUint {
    let bits = n.bits();
    if bits == 0 {
        return BigUint::ZERO;
    }
    let limbs = bits.div_ceil(32);
    let top_bits = bits - 32 * (limbs - 1); // 1..=32
    let mask = u32::MAX >> (32 - top_bits);
    loop {
        let mut digits: Vec<u32> = (0..limbs).map(|_| rng.next_u32()).collect();
        if let Some(top) = digits.last_mut() {
            *top &= mask;
        }
        let x = BigUint::new(digits);
        if &x < n {
            return x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{seeded, Model, ALPHA};
    use std::convert::Infallible;

    /// A generator that replays fixed words (then panics).
    struct Replay {
        words: Vec<u64>,
        used: usize,
    }

    impl Replay {
        fn new(words: &[u64]) -> Replay {
            Replay {
                words: words.to_vec(),
                used: 0,
            }
        }
        fn word(&mut self) -> u64 {
            let w = self.words[self.used];
            self.used += 1;
            w
        }
    }

    impl rand::TryRng for Replay {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> std::result::Result<u32, Infallible> {
            Ok(self.word() as u32)
        }
        fn try_next_u64(&mut self) -> std::result::Result<u64, Infallible> {
            Ok(self.word())
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Infallible> {
            for b in dst {
                *b = self.word() as u8;
            }
            Ok(())
        }
    }

    #[test]
    fn lemire_is_exactly_unbiased_over_every_8_bit_word() {
        // The same code as the u32/u64 attempts, at 8 bits: every word, every n.
        for n in 1..=255u8 {
            let mut counts = vec![0u32; usize::from(n)];
            let mut rejected = 0u32;
            for x in 0..=255u8 {
                match lemire_u8(x, n) {
                    Some(v) => counts[usize::from(v)] += 1,
                    None => rejected += 1,
                }
            }
            let each = 256 / u32::from(n);
            assert!(counts.iter().all(|&c| c == each), "n = {n}: {counts:?}");
            assert_eq!(rejected, 256 % u32::from(n), "n = {n}");
        }
    }

    #[test]
    fn uniform_below_rejects_the_biased_words() {
        // n = 3 on u32 words: 2^32 mod 3 = 1, so the word 0 (low half 0 < 1) is
        // rejected and u32::MAX (3·(2^32-1) = 2·2^32 + (2^32-3)) gives 2.
        let mut rng = Replay::new(&[0, u64::from(u32::MAX)]);
        assert_eq!(uniform_below(&mut rng, 3), 2);
        assert_eq!(rng.used, 2);
        // Powers of two never reject: the top bits of the word.
        let mut rng = Replay::new(&[0xC000_0000]);
        assert_eq!(uniform_below(&mut rng, 4), 3);
        assert_eq!(rng.used, 1);
        // u64 path: n = 3·2^62, 2^64 mod n = 2^62; the word 0 is rejected.
        let n = 3u64 << 62;
        let mut rng = Replay::new(&[0, u64::MAX]);
        assert_eq!(uniform_below(&mut rng, n), n - 1);
        assert_eq!(rng.used, 2);
        // n = 0 and n = 1 draw nothing.
        let mut rng = Replay::new(&[]);
        assert_eq!(uniform_below(&mut rng, 0), 0);
        assert_eq!(uniform_below(&mut rng, 1), 0);
    }

    #[test]
    fn uniform_below_fits_the_uniform_law() {
        let mut rng = seeded(1);
        for n in [2u64, 3, 5, 7, 10, 100, 1000] {
            let model = Model::uniform(n as i64);
            let (g, df, p) = model.p_value(20 * n.max(500) as usize, || {
                uniform_below(&mut rng, n) as i64
            });
            assert!(p > ALPHA, "n = {n}: G = {g}, df = {df}, p = {p:e}");
        }
        // Large n, in both word sizes: 3 bins by thirds.
        for n in [(1u64 << 32) - 1, (1 << 32) + 1, 3 << 62, u64::MAX] {
            let third = n / 3;
            let model = Model::uniform(3);
            let (g, df, p) = model.p_value(30_000, || {
                let v = uniform_below(&mut rng, n);
                assert!(v < n);
                (v / third).min(2) as i64
            });
            assert!(p > ALPHA, "n = {n}: G = {g}, df = {df}, p = {p:e}");
        }
        // Power: plain `word % n` is biased for n = 3·2^62 (0..2^62 twice as
        // likely), and the same test rejects it.
        let n = 3u64 << 62;
        let (_, _, p) = Model::uniform(3).p_value(30_000, || (rng.next_u64() % n / (n / 3)) as i64);
        assert!(p < ALPHA, "modulo bias not detected: p = {p:e}");
    }

    #[test]
    fn wide_uniforms_fit_the_uniform_law() {
        let mut rng = seeded(2);
        // u128 beyond 2^64, and BigUint, both by thirds of n = 3·2^100.
        let n = 3u128 << 100;
        let (g, _, p) =
            Model::uniform(3).p_value(30_000, || (uniform_below_u128(&mut rng, n) >> 100) as i64);
        assert!(p > ALPHA, "u128: G = {g}, p = {p:e}");
        let nb = BigUint::from(n);
        let (g, _, p) = Model::uniform(3).p_value(30_000, || {
            let v = uniform_below_big(&mut rng, &nb);
            assert!(v < nb);
            u128::try_from(&(v >> 100u8)).unwrap() as i64
        });
        assert!(p > ALPHA, "BigUint: G = {g}, p = {p:e}");
        // Small n through the BigUint path, value by value.
        for k in [1u32, 2, 10, 37] {
            let nb = BigUint::from(k);
            let (g, _, p) = if k == 1 {
                assert_eq!(uniform_below_big(&mut rng, &nb), BigUint::ZERO);
                continue;
            } else {
                Model::uniform(i64::from(k)).p_value(20_000, || {
                    u128::try_from(&uniform_below_big(&mut rng, &nb)).unwrap() as i64
                })
            };
            assert!(p > ALPHA, "BigUint n = {k}: G = {g}, p = {p:e}");
        }
        // u128 for n below 2^64 delegates to the u64 path.
        let (g, _, p) =
            Model::uniform(7).p_value(20_000, || uniform_below_u128(&mut rng, 7) as i64);
        assert!(p > ALPHA, "u128 n = 7: G = {g}, p = {p:e}");
    }
}
