//! The exact slow paths of the bit-thrifty discrete Laplace, taken where a
//! word's bits do not decide a comparison (rarely; always, in the tests): more
//! bits of the uniform are drawn and the constant is bounded to more places
//! with big integers, on the lazy reals of `samplers::lazy`.

use num_bigint::BigUint;
use rand::Rng;

use crate::samplers::lazy::{exp_neg_bounds, lazy_below, LazyReal};

/// Integers lo <= 2^q · c_i <= hi, c_i = (1 - e^(-i/256)) / (1 - e^-1).
pub(super) fn trunc_geometric_cdf_bounds(i: u64, q: u64) -> (BigUint, BigUint) {
    let p = q + 32;
    let full = BigUint::from(1u8) << p;
    let (l1, h1) = exp_neg_bounds(i, 256, p);
    let (l2, h2) = exp_neg_bounds(1, 1, p);
    let lo = ((&full - &h1.min(full.clone())) << q) / (&full - &l2);
    let hi_num = (&full - &l1) << q;
    let hi_den = &full - &h2;
    let hi = (&hi_num + &hi_den - 1u8) / &hi_den;
    (lo, hi)
}

/// V = #{v >= 1 : R < e^-v} for a lazily known R.
#[cold]
#[inline(never)]
pub(super) fn geometric_exp_one_slow<R: Rng + ?Sized>(rng: &mut R, mut r: LazyReal) -> u64 {
    let mut v: u64 = 1;
    while lazy_below(rng, &mut r, |q| exp_neg_bounds(v, 1, q)) {
        v += 1;
    }
    v - 1
}

/// I = #{i in 1..=255 : R >= c_i} for a lazily known R, by bisection.
#[cold]
#[inline(never)]
pub(super) fn trunc_geometric_256_slow<R: Rng + ?Sized>(rng: &mut R, mut r: LazyReal) -> u64 {
    // Invariant: c_lo <= R < c_hi (c_0 = 0, c_256 = 1).
    let (mut lo, mut hi) = (0u64, 256u64);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if lazy_below(rng, &mut r, |q| trunc_geometric_cdf_bounds(mid, q)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    lo
}

/// floor(num·(k + G) / (256·den)), drawing bits of G until the floor is fixed.
#[cold]
#[inline(never)]
pub(super) fn floor_scaled_slow<R: Rng + ?Sized>(
    rng: &mut R,
    num: u64,
    den: u64,
    k: u64,
    g: &mut LazyReal,
) -> u128 {
    let num_big = BigUint::from(num);
    loop {
        let lo = &num_big * ((BigUint::from(k) << g.bits) + &g.n);
        let hi = &lo + &num_big - 1u8;
        let d = BigUint::from(den) << (8 + g.bits);
        let (y_lo, y_hi) = (&lo / &d, &hi / &d);
        if y_lo == y_hi {
            return u128::try_from(&y_lo).unwrap_or(u128::MAX);
        }
        g.extend(rng);
    }
}
