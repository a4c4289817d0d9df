//! Lazy reals: a uniform real number in [0, 1) revealed 64 bits at a time, and
//! exact comparisons of it with constants and with other lazy reals.
//!
//! The bit-thrifty discrete Laplace decides almost everything from the first
//! bits of its uniforms; where those bits tie with a constant (e^-v, a CDF
//! value) or with another uniform, these finish the comparison exactly: more
//! bits are drawn and the constant is bounded to more places with big
//! integers (e^(a/b) from its series rounded down and up). `bernoulli_exp_lazy`
//! is CKS Alg. 1 on such a γ.

use num_bigint::BigUint;
use rand::Rng;

/// A uniform real number in [0, 1) of which the first `bits` bits, `n`, are
/// known: it lies in [n, n + 1) / 2^bits. More bits are drawn on demand.
pub(crate) struct LazyReal {
    pub(crate) n: BigUint,
    pub(crate) bits: u64,
}

impl LazyReal {
    pub(crate) fn new(prefix: u64, bits: u64) -> LazyReal {
        LazyReal {
            n: BigUint::from(prefix),
            bits,
        }
    }

    pub(crate) fn extend<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.n = (&self.n << 64u32) | BigUint::from(rng.next_u64());
        self.bits += 64;
    }
}

/// Integers lo <= 2^w · e^(a/b) <= hi (`b >= 1`): the series with every term
/// rounded down (lo) and up (hi), and the tail bounded by twice its first term
/// once the ratio of terms is at most 1/2.
fn exp_bounds(a: u64, b: u64, w: u64) -> (BigUint, BigUint) {
    let (a, b) = (BigUint::from(a), BigUint::from(b.max(1)));
    let one = BigUint::from(1u8);
    let mut lo_term = &one << w;
    let mut hi_term = lo_term.clone();
    let (mut lo, mut hi) = (BigUint::ZERO, BigUint::ZERO);
    let mut k: u64 = 0;
    loop {
        lo += &lo_term;
        hi += &hi_term;
        k += 1;
        let d = &b * k;
        lo_term = &lo_term * &a / &d;
        hi_term = (&hi_term * &a + &d - &one) / &d;
        // Terms from k on: each at most half the previous once b·(k+1) >= 2a.
        if &b * (k + 1) >= &a * 2u8 && hi_term <= one {
            hi += &hi_term * 2u8;
            return (lo, hi);
        }
    }
}

/// Integers lo <= 2^q · e^(-a/b) <= hi, within a few units.
pub(crate) fn exp_neg_bounds(a: u64, b: u64, q: u64) -> (BigUint, BigUint) {
    let w = q + 32;
    let (lo, hi) = exp_bounds(a, b, w);
    let num = BigUint::from(1u8) << (q + w);
    let lo_neg = &num / &hi;
    let hi_neg = (&num + &lo - 1u8) / &lo;
    (lo_neg, hi_neg)
}

/// Is R < c? `bounds(q)` gives integers lo <= c·2^q <= hi. Draws bits of R
/// until R's interval lies on one side of the bounds.
pub(crate) fn lazy_below<R: Rng + ?Sized>(
    rng: &mut R,
    r: &mut LazyReal,
    bounds: impl Fn(u64) -> (BigUint, BigUint),
) -> bool {
    loop {
        let (lo, hi) = bounds(r.bits + 8);
        let n = &r.n << 8u32;
        if &n + (BigUint::from(1u8) << 8u32) <= lo {
            return true;
        }
        if n >= hi {
            return false;
        }
        r.extend(rng);
    }
}

/// Is m·U < G for a uniform U (of which `u` is known)? Bits of U (and of G)
/// are drawn until the intervals separate.
pub(crate) fn lazy_scaled_below<R: Rng + ?Sized>(
    rng: &mut R,
    m: u64,
    mut u: LazyReal,
    g: &mut LazyReal,
) -> bool {
    let m = BigUint::from(m);
    loop {
        // Common denominator 2^(u.bits + g.bits).
        let u_lo = (&m * &u.n) << g.bits;
        let u_hi = (&m * (&u.n + 1u8)) << g.bits;
        let g_lo = &g.n << u.bits;
        let g_hi = (&g.n + 1u8) << u.bits;
        if u_hi <= g_lo {
            return true;
        }
        if u_lo >= g_hi {
            return false;
        }
        if u.bits <= g.bits {
            u.extend(rng);
        } else {
            g.extend(rng);
        }
    }
}

/// Bernoulli(exp(-G/s)) for a lazily known G in [0, 1) and an integer s >= 1
/// (CKS Alg. 1, γ = G/s <= 1): draw A_k ~ Bernoulli(γ/k) = [s·k·U_k < G] for
/// k = k0, k0 + 1, … until A_k = 0; true iff that k is odd (k0 = 1 for the
/// whole test; a larger k0 goes on after A_1..A_(k0-1) = 1). With
/// `first_below` (and k0 = 1), the first trial's uniform is known to lie below
/// 1/s, so s·U_1 is a fresh uniform U and A_1 = [U < G].
pub(crate) fn bernoulli_exp_lazy<R: Rng + ?Sized>(
    rng: &mut R,
    g: &mut LazyReal,
    s: u64,
    k0: u64,
    first_below: bool,
) -> bool {
    let mut k: u64 = k0.max(1);
    loop {
        let m = if k == 1 && first_below {
            1
        } else {
            s.saturating_mul(k)
        };
        if !lazy_scaled_below(rng, m, LazyReal::new(0, 0), g) {
            return k % 2 == 1;
        }
        k = k.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{fits_and_not, seeded, Model, ALPHA};

    #[test]
    fn bernoulli_exp_lazy_fits() {
        let mut rng = seeded(65);
        let n = 20_000;
        // s = 1, G uniform: P(true) = ∫ e^-g dg = 1 - e^-1; the accepted G has
        // density ∝ e^-g (checked on its first 3 bits).
        let mut accepted = Vec::new();
        let mut trues = 0usize;
        for _ in 0..n {
            let mut g = LazyReal::new(0, 0);
            if bernoulli_exp_lazy(&mut rng, &mut g, 1, 1, false) {
                trues += 1;
                while g.bits < 3 {
                    g.extend(&mut rng);
                }
                accepted.push(u64::try_from(&(&g.n >> (g.bits - 3))).unwrap() as i64);
            }
        }
        let p = 1.0 - (-1f64).exp();
        let (_, _, pv) = Model::bernoulli(p).g_test((0..n).map(|i| i64::from(i < trues)));
        assert!(pv > ALPHA, "P(true) = {}", trues as f64 / n as f64);
        let (_, _, pv) =
            Model::bernoulli(1.0 - (-1.1f64).exp()).g_test((0..n).map(|i| i64::from(i < trues)));
        assert!(pv < ALPHA, "no power");
        let bins = |rate: f64| Model {
            starts: (0..8).map(|b| if b == 0 { i64::MIN } else { b }).collect(),
            probs: (0..8)
                .map(|b| (-(b as f64) * rate / 8.0).exp() - (-((b + 1) as f64) * rate / 8.0).exp())
                .collect(),
        };
        fits_and_not("accepted G", &accepted, &bins(1.0), &bins(1.5));
        // s = 4 with the first uniform known to lie below 1/4 (the shortcut the
        // fast path takes with s = 256): overall P(accept) = 3/4 + p/4 must be
        // E[e^(-G/4)] = 4(1 - e^(-1/4)), so p = 16(1 - e^(-1/4)) - 3.
        let p = 16.0 * (1.0 - (-0.25f64).exp()) - 3.0;
        let trues = (0..n)
            .filter(|_| bernoulli_exp_lazy(&mut rng, &mut LazyReal::new(0, 0), 4, 1, true))
            .count();
        let (_, _, pv) = Model::bernoulli(p).g_test((0..n).map(|i| i64::from(i < trues)));
        assert!(
            pv > ALPHA,
            "conditional P(true) = {}, want {p}",
            trues as f64 / n as f64
        );
    }
}
