//! Bernoulli(`num/den`) for rationals: true iff a uniform integer below `den`
//! is below `num`, with `u64`, `u128` and big-integer parameters (CKS Alg. 1
//! and 3 need the wider ones for their acceptance tests).

use num_bigint::BigUint;
use rand::Rng;

use super::uniform::{uniform_below, uniform_below_big, uniform_below_u128};

/// A fair coin.
#[inline]
pub(crate) fn coin<R: Rng + ?Sized>(rng: &mut R) -> bool {
    rng.next_u32() & 1 == 1
}

/// Bernoulli(`num/den`) for `0 <= num <= den`, `den >= 1`: true iff a uniform
/// integer below `den` is below `num`. Outside the domain it never panics:
/// `num = 0` gives false, `num >= den` (including `den = 0`) gives true.
#[inline]
pub fn bernoulli<R: Rng + ?Sized>(rng: &mut R, num: u64, den: u64) -> bool {
    if num == 0 {
        return false;
    }
    if num >= den {
        return true;
    }
    uniform_below(rng, den) < num
}

/// [`bernoulli`] for `u128`.
#[inline]
pub(crate) fn bernoulli_u128<R: Rng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    if num == 0 {
        return false;
    }
    if num >= den {
        return true;
    }
    uniform_below_u128(rng, den) < num
}

/// [`bernoulli`] for `BigUint`.
pub(crate) fn bernoulli_big<R: Rng + ?Sized>(rng: &mut R, num: &BigUint, den: &BigUint) -> bool {
    if num.bits() == 0 {
        return false;
    }
    if num >= den {
        return true;
    }
    &uniform_below_big(rng, den) < num
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{seeded, Model, ALPHA};

    #[test]
    fn bernoulli_edges_and_law() {
        let mut rng = seeded(3);
        for _ in 0..100 {
            assert!(!bernoulli(&mut rng, 0, 5));
            assert!(!bernoulli(&mut rng, 0, 0));
            assert!(bernoulli(&mut rng, 5, 5));
            assert!(bernoulli(&mut rng, 1, 0));
            assert!(bernoulli(&mut rng, u64::MAX, u64::MAX));
            assert!(!bernoulli_u128(&mut rng, 0, u128::MAX));
            assert!(bernoulli_u128(&mut rng, u128::MAX, u128::MAX));
        }
        for (num, den) in [(1u64, 2u64), (1, 3), (7, 10), (1, 1000)] {
            let model = Model::bernoulli(num as f64 / den as f64);
            let (g, _, p) = model.p_value(50_000, || i64::from(bernoulli(&mut rng, num, den)));
            assert!(p > ALPHA, "Bernoulli({num}/{den}): G = {g}, p = {p:e}");
        }
    }
}
