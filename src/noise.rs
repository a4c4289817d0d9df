//! Exact noise samplers and the streams of randomness they draw from.
//!
//! Every sampler here works on integers only: it consumes uniform words from a
//! generator and does integer (or, rarely, big-integer) arithmetic, so its
//! output distribution is exactly the one documented — no floating point, no
//! rounding, nothing for Mironov's attack on textbook float Laplace to use.
//! The algorithms are those of Canonne, Kamath & Steinke, "The Discrete
//! Gaussian for Differential Privacy" (NeurIPS 2020; "CKS" below):
//!
//! * [`bernoulli_exp`]: Bernoulli(exp(-γ)) for a rational γ ≥ 0 (CKS Alg. 1);
//! * [`discrete_laplace`]: P(Z = z) ∝ exp(-|z|/t) for a rational t > 0 (CKS Alg. 2);
//! * [`discrete_gaussian`]: P(Z = z) ∝ exp(-z²/(2σ²)) for a rational σ² > 0 (CKS Alg. 3).
//!
//! Parameters are given as a [`Ratio`] of two `u64`. Any values are handled
//! exactly and without panic or overflow: intermediate quantities live in
//! `u128` with checked arithmetic, and where even that can overflow (the
//! discrete Gaussian's acceptance exponent for a huge |y| or a huge ratio) the
//! computation falls back to `num_bigint::BigUint`.
//!
//! Randomness: [`os_key`] takes a fresh key from the operating system;
//! [`row_stream`] derives from a key one ChaCha20 generator per (image, cell
//! row), so the noise never depends on how the work is split across threads.

use num_bigint::BigUint;
use rand::{Rng, SeedableRng};

use crate::{Error, Result};

/// A positive rational `num/den` (`den >= 1`). Scales and variances are given this way.
///
/// The samplers never panic on any value: `den = 0` is out of the domain and is
/// read as `den = 1`, and a scale or variance with `num = 0` means "no noise"
/// (the sampler returns 0). Callers that take parameters from users should
/// build ratios with [`Ratio::new`], which rejects both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    /// `num/den`, checked to be a positive rational (`num >= 1`, `den >= 1`).
    pub fn new(num: u64, den: u64) -> Result<Ratio> {
        if den == 0 {
            return Err(Error::Value(format!(
                "ratio {num}/{den} has a zero denominator"
            )));
        }
        if num == 0 {
            return Err(Error::Value(format!("ratio {num}/{den} is not positive")));
        }
        Ok(Ratio { num, den })
    }

    /// The denominator, with the out-of-domain `0` read as `1`.
    #[inline]
    fn den_or_one(self) -> u64 {
        self.den.max(1)
    }
}

/// A 256-bit secret key for [`row_stream`].
pub type Key = [u8; 32];

/// The generator every sampler in dp-pix draws from.
pub type StreamRng = rand_chacha::ChaCha20Rng;

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
    let mut prf = StreamRng::from_seed(*key);
    prf.set_stream(image);
    // A ChaCha block is 16 words of 32 bits; the block counter is 64-bit, so
    // every `row` has a block of its own.
    prf.set_word_pos(u128::from(row) * 16);
    let mut derived = [0u8; 32];
    prf.fill_bytes(&mut derived);
    StreamRng::from_seed(derived)
}

// ---------------------------------------------------------------------------
// Uniform integers
// ---------------------------------------------------------------------------

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
fn uniform_below_u128<R: Rng + ?Sized>(rng: &mut R, n: u128) -> u128 {
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
fn uniform_below_big<R: Rng + ?Sized>(rng: &mut R, n: &BigUint) -> BigUint {
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

// ---------------------------------------------------------------------------
// Bernoulli
// ---------------------------------------------------------------------------

/// A fair coin.
#[inline]
fn coin<R: Rng + ?Sized>(rng: &mut R) -> bool {
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
fn bernoulli_u128<R: Rng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    if num == 0 {
        return false;
    }
    if num >= den {
        return true;
    }
    uniform_below_u128(rng, den) < num
}

/// [`bernoulli`] for `BigUint`.
fn bernoulli_big<R: Rng + ?Sized>(rng: &mut R, num: &BigUint, den: &BigUint) -> bool {
    if num.bits() == 0 {
        return false;
    }
    if num >= den {
        return true;
    }
    &uniform_below_big(rng, den) < num
}

/// Bernoulli(exp(-1)): CKS Alg. 1 with γ = 1. Its first trial,
/// Bernoulli(γ/1), always succeeds, so the loop starts at k = 2.
#[inline]
fn bernoulli_exp_one<R: Rng + ?Sized>(rng: &mut R) -> bool {
    let mut k: u64 = 2;
    // Bernoulli(1/k) succeeds iff a uniform integer below k is 0. Reaching
    // k = 2^64 needs probability 1/(2^64)! of luck; saturating only keeps the
    // arithmetic panic-free.
    while uniform_below(rng, k) == 0 {
        k = k.saturating_add(1);
    }
    k % 2 == 1
}

/// Bernoulli(exp(-q)) for an integer q: q independent Bernoulli(exp(-1))
/// trials, stopping at the first failure (CKS Alg. 1, γ > 1 branch).
#[inline]
fn bernoulli_exp_whole<R: Rng + ?Sized>(rng: &mut R, q: u128) -> bool {
    let mut i: u128 = 0;
    while i < q {
        if !bernoulli_exp_one(rng) {
            return false;
        }
        i += 1;
    }
    true
}

/// Bernoulli(exp(-r/d)) for `0 <= r < d` (CKS Alg. 1, γ ∈ [0, 1] branch):
/// with k = 1, 2, …, draw A ~ Bernoulli(γ/k) until A = 0; true iff that k is
/// odd. P(stop at k) = γ^(k-1)/(k-1)! · (1 - γ/k), whose odd-k sum is exp(-γ).
///
/// Bernoulli(r/(d·k)) is one uniform below d·k when that product fits in
/// `u128`, else Bernoulli(r/d) AND Bernoulli(1/k) (independent, same law).
#[inline]
fn bernoulli_exp_fraction<R: Rng + ?Sized>(rng: &mut R, r: u128, d: u128) -> bool {
    if r == 0 {
        return true;
    }
    let mut k: u64 = 1;
    loop {
        let a = match d.checked_mul(u128::from(k)) {
            Some(dk) => bernoulli_u128(rng, r, dk),
            None => bernoulli_u128(rng, r, d) && bernoulli(rng, 1, k),
        };
        if !a {
            return k % 2 == 1;
        }
        // See bernoulli_exp_one: k never gets near 2^64.
        k = k.saturating_add(1);
    }
}

/// Bernoulli(exp(-n/d)), `d >= 1`, in `u128` (CKS Alg. 1).
#[inline]
fn bernoulli_exp_u128<R: Rng + ?Sized>(rng: &mut R, n: u128, d: u128) -> bool {
    let d = d.max(1);
    bernoulli_exp_whole(rng, n / d) && bernoulli_exp_fraction(rng, n % d, d)
}

/// Bernoulli(exp(-n/d)), `d >= 1`, in `BigUint` (CKS Alg. 1): the exact
/// fallback of the discrete Gaussian.
fn bernoulli_exp_big<R: Rng + ?Sized>(rng: &mut R, n: &BigUint, d: &BigUint) -> bool {
    if d.bits() == 0 {
        // Out of domain; never reached from this module. Read d = 0 as 1.
        return bernoulli_exp_big(rng, n, &BigUint::from(1u8));
    }
    let mut q = n / d;
    let r = n - &q * d; // n mod d, without a second division
                        // Whole part, in chunks of u128::MAX trials: exp(-(a+b)) = exp(-a)·exp(-b).
    let chunk = BigUint::from(u128::MAX);
    while q > chunk {
        if !bernoulli_exp_whole(rng, u128::MAX) {
            return false;
        }
        q -= &chunk;
    }
    // Now q <= u128::MAX, so the conversion cannot fail.
    if !bernoulli_exp_whole(rng, u128::try_from(&q).unwrap_or(u128::MAX)) {
        return false;
    }
    // Fractional part r/d ∈ [0, 1): Bernoulli(r/(d·k)) as
    // Bernoulli(r/d) AND Bernoulli(1/k).
    if r.bits() == 0 {
        return true;
    }
    let mut k: u64 = 1;
    loop {
        let a = bernoulli_big(rng, &r, d) && bernoulli(rng, 1, k);
        if !a {
            return k % 2 == 1;
        }
        k = k.saturating_add(1);
    }
}

/// Bernoulli(exp(-γ)) for a rational `γ = gamma.num / gamma.den >= 0`
/// (CKS 2020, Alg. 1), exactly, from uniform integers only.
///
/// For γ > 1 it runs floor(γ) Bernoulli(exp(-1)) trials, stopping at the first
/// failure, then Bernoulli(exp(-frac(γ))); expected cost O(1) whatever γ.
/// `γ = 0` is always true; `gamma.den = 0` is read as 1.
pub fn bernoulli_exp<R: Rng + ?Sized>(rng: &mut R, gamma: Ratio) -> bool {
    let den = gamma.den_or_one();
    bernoulli_exp_whole(rng, u128::from(gamma.num / den))
        && bernoulli_exp_fraction(rng, u128::from(gamma.num % den), u128::from(den))
}

// ---------------------------------------------------------------------------
// Discrete Laplace
// ---------------------------------------------------------------------------

/// CKS Alg. 2 for scale `num/den` (`num, den >= 1`): returns (negative, |Z|),
/// without any saturation.
///
/// X = U + num·V, with U uniform below num accepted with probability
/// exp(-U/num) and V ~ Geometric(1 - exp(-1)), is Geometric(1 - exp(-1/num));
/// Y = floor(X/den) is then Geometric(1 - exp(-den/num)). A fair sign B is
/// drawn, and (B = negative, Y = 0) is rejected so that 0 is not counted twice.
#[inline]
fn discrete_laplace_parts<R: Rng + ?Sized>(rng: &mut R, num: u64, den: u64) -> (bool, u128) {
    loop {
        let u = uniform_below(rng, num);
        if !bernoulli_exp_fraction(rng, u128::from(u), u128::from(num)) {
            continue;
        }
        let mut v: u64 = 0;
        while bernoulli_exp_one(rng) {
            // v = 2^64 - 1 would take 2^64 successes in a row (probability
            // exp(-2^64), and longer than the age of the universe).
            v = v.saturating_add(1);
        }
        // u < num < 2^64 and v < 2^64, so x <= num·(v + 1) - 1 < 2^128.
        let x = u128::from(u) + u128::from(num) * u128::from(v);
        let y = if den == 1 {
            x
        } else if let Ok(x64) = u64::try_from(x) {
            u128::from(x64 / den)
        } else {
            x / u128::from(den)
        };
        let negative = coin(rng);
        if negative && y == 0 {
            continue;
        }
        return (negative, y);
    }
}

/// `±magnitude` as an `i64`, the magnitude saturated at `i64::MAX`.
///
/// Saturation is harmless for dp-pix: a noise value is added to a cell sum
/// (at most 255 × the cell area, far below 2^62), divided by the pixel count
/// and clamped to 0..=255. Any |Z| ≥ 2^63 - 1 already drives the released
/// value to 0 or 255, and so does the saturated value: no released pixel can
/// change. (Callers must add with `saturating_add` or in `i128`.) For the scales
/// dp-pix uses the probability of reaching it is below exp(-2^14) anyway.
#[inline]
fn signed_saturating(negative: bool, magnitude: u128) -> i64 {
    let m = i64::try_from(magnitude).unwrap_or(i64::MAX);
    if negative {
        -m
    } else {
        m
    }
}

/// Discrete Laplace: P(Z = z) ∝ exp(-|z|/scale), `scale = num/den > 0`
/// (CKS 2020, Alg. 2), exactly.
///
/// |Z| is saturated at `i64::MAX` (see the note on saturation in the source:
/// it cannot change any released pixel). `scale.num = 0` (no noise) returns 0;
/// `scale.den = 0` is read as 1.
#[inline]
pub fn discrete_laplace<R: Rng + ?Sized>(rng: &mut R, scale: Ratio) -> i64 {
    if scale.num == 0 {
        return 0;
    }
    let (negative, magnitude) = discrete_laplace_parts(rng, scale.num, scale.den_or_one());
    signed_saturating(negative, magnitude)
}

// ---------------------------------------------------------------------------
// Discrete Gaussian
// ---------------------------------------------------------------------------

/// The acceptance exponent of CKS Alg. 3 for σ² = s/d, t = floor(σ) + 1 and a
/// candidate |Y| = y:
///
/// (y − σ²/t)² / (2σ²) = (y·d·t − s)² / (2·s·d·t²),
///
/// as (numerator, denominator) in `u128`, or `None` if an intermediate product
/// overflows (then [`gaussian_exponent_big`] is used).
#[inline]
fn gaussian_exponent_u128(y: u128, s: u64, d: u64, t: u64) -> Option<(u128, u128)> {
    // d < 2^64 and t <= 2^32, so d·t < 2^96 and 2·s < 2^65: no overflow here.
    let dt = u128::from(d) * u128::from(t);
    let s = u128::from(s);
    let x = y.checked_mul(dt)?.abs_diff(s);
    let num = x.checked_mul(x)?;
    let den = (2 * s).checked_mul(dt)?.checked_mul(u128::from(t))?;
    Some((num, den))
}

/// [`gaussian_exponent_u128`] in exact big-integer arithmetic.
fn gaussian_exponent_big(y: u128, s: u64, d: u64, t: u64) -> (BigUint, BigUint) {
    let s = BigUint::from(s);
    let dt = BigUint::from(d) * BigUint::from(t);
    let a = BigUint::from(y) * &dt;
    let x = if a >= s { a - &s } else { &s - a };
    let num = &x * &x;
    let den = (s << 1u8) * dt * BigUint::from(t);
    (num, den)
}

/// t = floor(σ) + 1 for σ² = s/d (`d >= 1`). floor(sqrt(s/d)) equals
/// isqrt(floor(s/d)), an integer square root (no floating point), so
/// t <= isqrt(2^64 - 1) + 1 = 2^32.
#[inline]
fn gaussian_t(s: u64, d: u64) -> u64 {
    (s / d).isqrt() + 1
}

/// CKS Alg. 3 for σ² = s/d (`s, d >= 1`): returns (negative, |Z|).
///
/// Y ~ DLap(t) with t = floor(σ) + 1, accepted with probability
/// exp(-(|Y| − σ²/t)²/(2σ²)). `force_big` takes the big-integer path for every
/// candidate (tests only: it must give the same law as the fast path).
#[inline]
fn discrete_gaussian_parts<R: Rng + ?Sized>(
    rng: &mut R,
    s: u64,
    d: u64,
    force_big: bool,
) -> (bool, u128) {
    let t = gaussian_t(s, d);
    loop {
        let (negative, y) = discrete_laplace_parts(rng, t, 1);
        let fast = if force_big {
            None
        } else {
            gaussian_exponent_u128(y, s, d, t)
        };
        let accept = match fast {
            Some((num, den)) => bernoulli_exp_u128(rng, num, den),
            None => {
                let (num, den) = gaussian_exponent_big(y, s, d, t);
                bernoulli_exp_big(rng, &num, &den)
            }
        };
        if accept {
            return (negative, y);
        }
    }
}

/// Discrete Gaussian N_Z(0, σ²): P(Z = z) ∝ exp(-z²/(2σ²)), `σ² = num/den > 0`
/// (CKS 2020, Alg. 3), exactly.
///
/// |Z| is saturated at `i64::MAX` as in [`discrete_laplace`] (unreachable in
/// practice: it needs ~2^31 standard deviations). `sigma2.num = 0` (no noise)
/// returns 0; `sigma2.den = 0` is read as 1.
#[inline]
pub fn discrete_gaussian<R: Rng + ?Sized>(rng: &mut R, sigma2: Ratio) -> i64 {
    if sigma2.num == 0 {
        return 0;
    }
    let (negative, magnitude) =
        discrete_gaussian_parts(rng, sigma2.num, sigma2.den_or_one(), false);
    signed_saturating(negative, magnitude)
}

#[cfg(test)]
mod tests {
    //! Tests may use floating point: the exact pmfs below are evaluated in
    //! `f64` only to judge the samplers, never to sample.

    use super::*;
    use std::convert::Infallible;

    // -----------------------------------------------------------------------
    // Statistics: chi-square survival function and a binned G-test.
    // -----------------------------------------------------------------------

    /// Rejection threshold of every goodness-of-fit test.
    const ALPHA: f64 = 1e-4;

    /// ln Γ(x), Lanczos (g = 7, 9 terms), |error| < 1e-13 for x > 0.
    fn ln_gamma(x: f64) -> f64 {
        const C: [f64; 9] = [
            0.999_999_999_999_809_9,
            676.520_368_121_885_1,
            -1_259.139_216_722_402_8,
            771.323_428_777_653_1,
            -176.615_029_162_140_6,
            12.507_343_278_686_905,
            -0.138_571_095_265_720_12,
            9.984_369_578_019_572e-6,
            1.505_632_735_149_311_6e-7,
        ];
        if x < 0.5 {
            let pi = std::f64::consts::PI;
            return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
        }
        let x = x - 1.0;
        let mut a = C[0];
        for (i, c) in C.iter().enumerate().skip(1) {
            a += c / (x + i as f64);
        }
        let t = x + 7.5;
        0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
    }

    /// Regularized upper incomplete gamma Q(a, x) (series / Lentz continued fraction).
    fn gamma_q(a: f64, x: f64) -> f64 {
        if x <= 0.0 {
            return 1.0;
        }
        let log_prefactor = -x + a * x.ln() - ln_gamma(a);
        if x < a + 1.0 {
            let (mut ap, mut del, mut sum) = (a, 1.0 / a, 1.0 / a);
            for _ in 0..10_000 {
                ap += 1.0;
                del *= x / ap;
                sum += del;
                if del.abs() < sum.abs() * 1e-16 {
                    break;
                }
            }
            1.0 - sum * log_prefactor.exp()
        } else {
            let tiny = 1e-300;
            let mut b = x + 1.0 - a;
            let mut c = 1.0 / tiny;
            let mut d = 1.0 / b;
            let mut h = d;
            for i in 1..10_000 {
                let an = -(i as f64) * (i as f64 - a);
                b += 2.0;
                d = an * d + b;
                if d.abs() < tiny {
                    d = tiny;
                }
                c = b + an / c;
                if c.abs() < tiny {
                    c = tiny;
                }
                d = 1.0 / d;
                let del = d * c;
                h *= del;
                if (del - 1.0).abs() < 1e-16 {
                    break;
                }
            }
            log_prefactor.exp() * h
        }
    }

    /// P(χ²_df > x).
    fn chi2_sf(x: f64, df: usize) -> f64 {
        gamma_q(df as f64 / 2.0, x / 2.0)
    }

    /// A pmf on the integers, merged into bins: bin i is `starts[i]..starts[i+1]`
    /// (the first starts at -inf, the last ends at +inf), with probability `probs[i]`.
    struct Model {
        starts: Vec<i64>,
        probs: Vec<f64>,
    }

    impl Model {
        /// Bins of (at least) equal mass 1/`bins` from weights on `lo..=hi`,
        /// built greedily from the left; the leftover right tail is merged into
        /// the last bin. Mass outside `lo..=hi` must be negligible.
        fn from_weights(lo: i64, hi: i64, weight: impl Fn(i64) -> f64, bins: usize) -> Model {
            let weights: Vec<f64> = (lo..=hi).map(weight).collect();
            let total: f64 = weights.iter().sum();
            let target = 1.0 / bins as f64;
            let mut starts = vec![i64::MIN];
            let mut probs = Vec::new();
            let mut acc = 0.0;
            for (i, w) in weights.iter().enumerate() {
                acc += w / total;
                if acc >= target {
                    probs.push(acc);
                    acc = 0.0;
                    starts.push(lo + i as i64 + 1);
                }
            }
            // The last start opened a bin holding only the leftover `acc`.
            starts.pop();
            *probs.last_mut().expect("at least one bin") += acc;
            Model { starts, probs }
        }

        /// Discrete Laplace, P(z) ∝ exp(-|z|·den/num).
        fn laplace(scale: Ratio, bins: usize) -> Model {
            let t = scale.num as f64 / scale.den as f64;
            let r = (45.0 * t).ceil() as i64 + 5;
            Model::from_weights(-r, r, |z| (-(z.abs() as f64) / t).exp(), bins)
        }

        /// Discrete Gaussian, P(z) ∝ exp(-z²·den/(2·num)).
        fn gaussian(sigma2: Ratio, bins: usize) -> Model {
            let s2 = sigma2.num as f64 / sigma2.den as f64;
            let r = (13.0 * s2.sqrt()).ceil() as i64 + 5;
            Model::from_weights(-r, r, |z| (-((z * z) as f64) / (2.0 * s2)).exp(), bins)
        }

        /// Two outcomes: 0 (false) and 1 (true) with P(1) = p.
        fn bernoulli(p: f64) -> Model {
            Model {
                starts: vec![i64::MIN, 1],
                probs: vec![1.0 - p, p],
            }
        }

        /// Uniform on 0..k.
        fn uniform(k: i64) -> Model {
            Model::from_weights(0, k - 1, |_| 1.0, k as usize)
        }

        fn bin(&self, x: i64) -> usize {
            self.starts.partition_point(|&s| s <= x) - 1
        }

        /// G-test of the samples against the model: (G, degrees of freedom, p-value).
        fn g_test(&self, samples: impl IntoIterator<Item = i64>) -> (f64, usize, f64) {
            let mut counts = vec![0u64; self.probs.len()];
            let mut n = 0u64;
            for x in samples {
                counts[self.bin(x)] += 1;
                n += 1;
            }
            let total: f64 = self.probs.iter().sum();
            let mut g = 0.0;
            for (&o, &p) in counts.iter().zip(&self.probs) {
                let e = n as f64 * p / total;
                assert!(e >= 5.0, "a bin expects {e} < 5 samples: merge bins");
                if o > 0 {
                    g += 2.0 * o as f64 * (o as f64 / e).ln();
                }
            }
            let df = self.probs.len() - 1;
            (g, df, chi2_sf(g, df))
        }

        /// p-value of `n` draws of `sample`.
        fn p_value(&self, n: usize, mut sample: impl FnMut() -> i64) -> (f64, usize, f64) {
            self.g_test((0..n).map(|_| sample()))
        }
    }

    fn seeded(seed: u64) -> StreamRng {
        StreamRng::seed_from_u64(seed)
    }

    /// `r·a/b`, exactly when it fits, else with the numerator rounded down.
    fn scaled(r: Ratio, a: u64, b: u64) -> Ratio {
        match (r.num.checked_mul(a), r.den.checked_mul(b)) {
            (Some(num), Some(den)) => Ratio { num, den },
            _ => Ratio {
                num: u64::try_from(u128::from(r.num) * u128::from(a) / u128::from(b))
                    .expect("test ratio fits"),
                den: r.den,
            },
        }
    }

    /// The sampler at the nominal parameter must pass the G-test against the
    /// model; at the "too large" and "too small" parameters it must fail.
    fn assert_fits_with_power<P: Copy + std::fmt::Debug>(
        what: &str,
        model: &Model,
        n: usize,
        seed: u64,
        nominal: P,
        wrong: [P; 2],
        sample: impl Fn(&mut StreamRng, P) -> i64,
    ) {
        let mut rng = seeded(seed);
        let (g, df, p) = model.p_value(n, || sample(&mut rng, nominal));
        eprintln!("{what}: nominal G = {g:.1}, df = {df}, p = {p:.3e}");
        assert!(
            p > ALPHA,
            "{what}: sampler at {nominal:?} rejected: G = {g:.1}, df = {df}, p = {p:.3e}"
        );
        for w in wrong {
            let mut rng = seeded(seed ^ 0x5eed);
            let (g, df, p) = model.p_value(n, || sample(&mut rng, w));
            eprintln!("{what}: at {w:?} G = {g:.1}, df = {df}, p = {p:.3e}");
            assert!(
                p < ALPHA,
                "{what}: the test has no power against {w:?}: G = {g:.1}, df = {df}, p = {p:.3e}"
            );
        }
    }

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

    // -----------------------------------------------------------------------
    // The statistics helpers themselves.
    // -----------------------------------------------------------------------

    #[test]
    fn chi2_sf_matches_reference_values() {
        // Reference values from scipy.stats.chi2.sf.
        let cases = [
            (3.841_458_820_694_124, 1, 0.05),
            (100.0, 50, 3.454_931_382_984_871e-5),
            (10.0, 2, 0.006_737_946_999_085_468),
            (94.596_721_988_268_48, 49, 1e-4),
            (1e4, 9000, 3.031_801_838_549_065e-13),
        ];
        for (x, df, want) in cases {
            let got = chi2_sf(x, df);
            assert!(
                (got - want).abs() <= 1e-7 * want,
                "chi2_sf({x}, {df}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn equal_mass_bins_cover_the_pmf() {
        let m = Model::laplace(Ratio { num: 8160, den: 1 }, 50);
        assert!(
            m.probs.len() >= 45 && m.probs.len() <= 50,
            "{}",
            m.probs.len()
        );
        assert!((m.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(m.probs.iter().all(|&p| p >= 0.02 - 1e-12));
        assert_eq!(m.bin(i64::MIN), 0);
        assert_eq!(m.bin(i64::MAX), m.probs.len() - 1);
    }

    // -----------------------------------------------------------------------
    // Uniform integers
    // -----------------------------------------------------------------------

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

    // -----------------------------------------------------------------------
    // Bernoulli and Bernoulli(exp(-γ))
    // -----------------------------------------------------------------------

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

    #[test]
    fn bernoulli_exp_of_zero_is_always_true() {
        let mut rng = seeded(4);
        for den in [1u64, 2, 7, u64::MAX, 0] {
            for _ in 0..1000 {
                assert!(bernoulli_exp(&mut rng, Ratio { num: 0, den }));
            }
        }
        for _ in 0..1000 {
            assert!(bernoulli_exp_fraction(&mut rng, 0, 1));
            assert!(bernoulli_exp_u128(&mut rng, 0, u128::MAX));
            assert!(bernoulli_exp_big(
                &mut rng,
                &BigUint::ZERO,
                &BigUint::from(3u8)
            ));
        }
    }

    #[test]
    fn bernoulli_exp_fits_exp_minus_gamma() {
        let n = 40_000;
        for (i, gamma) in [
            Ratio { num: 1, den: 3 },
            Ratio { num: 1, den: 1 },
            Ratio { num: 5, den: 2 },
        ]
        .into_iter()
        .enumerate()
        {
            let model = Model::bernoulli((-(gamma.num as f64) / gamma.den as f64).exp());
            assert_fits_with_power(
                &format!("bernoulli_exp({gamma:?})"),
                &model,
                n,
                10 + i as u64,
                gamma,
                [scaled(gamma, 11, 10), scaled(gamma, 9, 10)],
                |rng, g| i64::from(bernoulli_exp(rng, g)),
            );
        }
    }

    #[test]
    fn bernoulli_exp_paths_agree_with_exp_minus_gamma() {
        // The u128 path with a denominator beyond 2^64 (uniforms by wide
        // rejection), and the BigUint path with denominators beyond u128.
        // Parameters: γ·10/10 (nominal), γ·11/10 and γ·9/10 (power).
        let n = 30_000;
        let factors = [(10u128, 10u128), (11, 10), (9, 10)];
        for (i, (a, b)) in [(1u128, 3u128), (5, 2)].into_iter().enumerate() {
            let model = Model::bernoulli((-(a as f64) / b as f64).exp());
            let wide: Vec<(u128, u128)> = factors
                .iter()
                .map(|&(x, y)| ((a * x) << 100, (b * y) << 100))
                .collect();
            assert_fits_with_power(
                &format!("bernoulli_exp_u128({a}/{b} scaled by 2^100)"),
                &model,
                n,
                20 + i as u64,
                0,
                [1, 2],
                |rng, j: usize| i64::from(bernoulli_exp_u128(rng, wide[j].0, wide[j].1)),
            );
            let big: Vec<(BigUint, BigUint)> = factors
                .iter()
                .map(|&(x, y)| (BigUint::from(a * x) << 200u8, BigUint::from(b * y) << 200u8))
                .collect();
            assert_fits_with_power(
                &format!("bernoulli_exp_big({a}/{b} scaled by 2^200)"),
                &model,
                n,
                30 + i as u64,
                0,
                [1, 2],
                |rng, j: usize| i64::from(bernoulli_exp_big(rng, &big[j].0, &big[j].1)),
            );
        }
    }

    #[test]
    fn bernoulli_exp_overflowing_d_times_k_splits() {
        // d = u128::MAX: d·k overflows from k = 2, so the split
        // Bernoulli(r/d) AND Bernoulli(1/k) is taken; r/d = 1/2 up to 2^-128.
        let mut rng = seeded(5);
        let model = Model::bernoulli((-0.5f64).exp());
        let (g, _, p) = model.p_value(60_000, || {
            i64::from(bernoulli_exp_fraction(&mut rng, u128::MAX / 2, u128::MAX))
        });
        assert!(p > ALPHA, "G = {g}, p = {p:e}");
    }

    // -----------------------------------------------------------------------
    // Edge cases: never a panic.
    // -----------------------------------------------------------------------

    #[test]
    fn ratio_new_checks_the_domain() {
        assert_eq!(Ratio::new(3, 2), Ok(Ratio { num: 3, den: 2 }));
        assert!(matches!(Ratio::new(0, 2), Err(Error::Value(_))));
        assert!(matches!(Ratio::new(3, 0), Err(Error::Value(_))));
    }

    #[test]
    fn extreme_ratios_do_not_panic() {
        let mut rng = seeded(6);
        let m = u64::MAX;
        let ratios = [
            Ratio { num: 1, den: 1 },
            Ratio { num: m, den: 1 },
            Ratio { num: 1, den: m },
            Ratio { num: m, den: m },
            Ratio { num: m, den: m - 1 },
            Ratio { num: m - 1, den: m },
            Ratio {
                num: 1 << 63,
                den: 3,
            },
            Ratio { num: 0, den: 1 },
            Ratio { num: 0, den: 0 },
            Ratio { num: 5, den: 0 },
            Ratio { num: m, den: 0 },
        ];
        for r in ratios {
            for _ in 0..200 {
                let z = discrete_laplace(&mut rng, r);
                assert!(z > i64::MIN, "{r:?}");
                let z = discrete_gaussian(&mut rng, r);
                assert!(z > i64::MIN, "{r:?}");
                let _ = bernoulli_exp(&mut rng, r);
                let _ = bernoulli(&mut rng, r.num, r.den);
                let _ = uniform_below(&mut rng, r.num);
            }
        }
        for _ in 0..200 {
            assert_eq!(discrete_laplace(&mut rng, Ratio { num: 0, den: 7 }), 0);
            assert_eq!(discrete_gaussian(&mut rng, Ratio { num: 0, den: 7 }), 0);
            assert!(!bernoulli_exp(&mut rng, Ratio { num: m, den: 1 }));
            // A vanishing scale gives 0.
            assert_eq!(discrete_laplace(&mut rng, Ratio { num: 1, den: m }), 0);
            assert_eq!(discrete_gaussian(&mut rng, Ratio { num: 1, den: m }), 0);
        }
    }

    #[test]
    fn laplace_saturates_at_i64_max() {
        assert_eq!(signed_saturating(false, u128::MAX), i64::MAX);
        assert_eq!(signed_saturating(true, u128::MAX), -i64::MAX);
        assert_eq!(signed_saturating(true, 5), -5);
        assert_eq!(signed_saturating(false, 0), 0);
        // Scale 2^64 - 1: |Z| > 2^63 with probability ≈ e^-0.5, so both
        // saturated values show up, and nothing panics.
        let mut rng = seeded(7);
        let zs: Vec<i64> = (0..400)
            .map(|_| {
                discrete_laplace(
                    &mut rng,
                    Ratio {
                        num: u64::MAX,
                        den: 1,
                    },
                )
            })
            .collect();
        assert!(zs.contains(&i64::MAX));
        assert!(zs.contains(&-i64::MAX));
        assert!(!zs.contains(&i64::MIN));
    }

    // -----------------------------------------------------------------------
    // Streams
    // -----------------------------------------------------------------------

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
            let mut prf = StreamRng::from_seed(key);
            prf.set_stream(image);
            let mut stream = vec![0u8; 64 * (row as usize + 1)];
            prf.fill_bytes(&mut stream);
            let start = 64 * row as usize;
            let want: Key = stream[start..start + 32].try_into().unwrap();
            assert_eq!(row_stream(&key, image, row).get_seed(), want);
        }
    }

    #[test]
    fn os_key_gives_fresh_keys() {
        let a = os_key().expect("the OS random source works here");
        let b = os_key().expect("the OS random source works here");
        assert_ne!(a, b);
    }

    // -----------------------------------------------------------------------
    // Discrete Laplace
    // -----------------------------------------------------------------------

    const N_LAPLACE: usize = 20_000;

    fn laplace_fits(scale: Ratio, seed: u64) {
        let model = Model::laplace(scale, 50);
        assert_fits_with_power(
            &format!("discrete_laplace({scale:?})"),
            &model,
            N_LAPLACE,
            seed,
            scale,
            [scaled(scale, 11, 10), scaled(scale, 9, 10)],
            discrete_laplace,
        );
    }

    #[test]
    fn discrete_laplace_fits_scale_0_5() {
        laplace_fits(Ratio { num: 1, den: 2 }, 40);
    }

    #[test]
    fn discrete_laplace_fits_scale_1_5() {
        laplace_fits(Ratio { num: 3, den: 2 }, 41);
    }

    #[test]
    fn discrete_laplace_fits_scale_40() {
        laplace_fits(Ratio { num: 40, den: 1 }, 42);
    }

    #[test]
    fn discrete_laplace_fits_scale_8160() {
        laplace_fits(Ratio { num: 8160, den: 1 }, 43);
    }

    #[test]
    fn discrete_laplace_fits_scale_8160_over_7() {
        laplace_fits(Ratio { num: 8160, den: 7 }, 44);
    }

    #[test]
    fn discrete_laplace_fits_a_2_to_the_40_denominator() {
        // As calibration produces them: den a power of two, num up to 2^48.
        laplace_fits(
            Ratio {
                num: (31 << 40) + 12345,
                den: 1 << 40,
            },
            45,
        );
    }

    /// CKS Alg. 2 without the rejection of (B = 1, Y = 0): 0 comes out twice as often.
    fn laplace_without_negative_zero_rejection(rng: &mut StreamRng, scale: Ratio) -> i64 {
        loop {
            let u = uniform_below(rng, scale.num);
            if !bernoulli_exp_fraction(rng, u128::from(u), u128::from(scale.num)) {
                continue;
            }
            let mut v: u64 = 0;
            while bernoulli_exp_one(rng) {
                v += 1;
            }
            let y = ((u + scale.num * v) / scale.den) as i64;
            return if coin(rng) { -y } else { y };
        }
    }

    #[test]
    fn laplace_without_negative_zero_rejection_is_caught() {
        let scale = Ratio { num: 3, den: 2 };
        let model = Model::laplace(scale, 50);
        let mut rng = seeded(46);
        let (g, df, p) = model.p_value(N_LAPLACE, || {
            laplace_without_negative_zero_rejection(&mut rng, scale)
        });
        assert!(p < ALPHA, "not caught: G = {g:.1}, df = {df}, p = {p:e}");
    }

    // -----------------------------------------------------------------------
    // Discrete Gaussian
    // -----------------------------------------------------------------------

    const N_GAUSS: usize = 20_000;
    /// Fewer samples where every acceptance step uses BigUint (slow in debug builds).
    const N_GAUSS_BIG: usize = 12_000;

    /// σ 10 % too large and too small: σ² times 1.21 and 0.81.
    fn sigma_off(sigma2: Ratio) -> [Ratio; 2] {
        [scaled(sigma2, 121, 100), scaled(sigma2, 81, 100)]
    }

    fn gaussian_fits(sigma2: Ratio, seed: u64, n: usize) {
        let model = Model::gaussian(sigma2, 50);
        assert_fits_with_power(
            &format!("discrete_gaussian({sigma2:?})"),
            &model,
            n,
            seed,
            sigma2,
            sigma_off(sigma2),
            discrete_gaussian,
        );
    }

    #[test]
    fn discrete_gaussian_fits_sigma_0_8() {
        gaussian_fits(Ratio { num: 16, den: 25 }, 50, N_GAUSS);
    }

    #[test]
    fn discrete_gaussian_fits_sigma_3() {
        gaussian_fits(Ratio { num: 9, den: 1 }, 51, N_GAUSS);
    }

    #[test]
    fn discrete_gaussian_fits_sigma_200() {
        gaussian_fits(
            Ratio {
                num: 40_000,
                den: 1,
            },
            52,
            N_GAUSS,
        );
    }

    #[test]
    fn discrete_gaussian_fits_a_non_integer_variance() {
        gaussian_fits(
            Ratio {
                num: 123_456_789,
                den: 1000,
            },
            53,
            N_GAUSS,
        );
    }

    #[test]
    fn discrete_gaussian_exact_fallback_fits_when_forced() {
        // Every acceptance step through BigUint, on small values.
        for (i, sigma2) in [Ratio { num: 16, den: 25 }, Ratio { num: 9, den: 1 }]
            .into_iter()
            .enumerate()
        {
            let model = Model::gaussian(sigma2, 50);
            assert_fits_with_power(
                &format!("discrete_gaussian_parts(force_big, {sigma2:?})"),
                &model,
                N_GAUSS_BIG,
                54 + i as u64,
                sigma2,
                sigma_off(sigma2),
                |rng, s| {
                    let (neg, y) = discrete_gaussian_parts(rng, s.num, s.den, true);
                    signed_saturating(neg, y)
                },
            );
        }
    }

    #[test]
    fn discrete_gaussian_fits_a_ratio_that_overflows_u128() {
        // σ² = (9·2^60 + 1)/2^60: 2·s·d·t² > 2^128, so every acceptance
        // exponent takes the BigUint path.
        let sigma2 = Ratio {
            num: (9 << 60) + 1,
            den: 1 << 60,
        };
        assert!(gaussian_exponent_u128(0, sigma2.num, sigma2.den, 4).is_none());
        gaussian_fits(sigma2, 56, N_GAUSS_BIG);
    }

    #[test]
    fn gaussian_exponent_fast_path_equals_the_exact_one() {
        let cases = [
            (9u64, 1u64),
            (16, 25),
            (40_000, 1),
            (123_456_789, 1000),
            ((31 << 40) + 5, 1 << 40),
            (u64::MAX, 1),
            (1, u64::MAX),
            (9 << 58, 1 << 58),
        ];
        for (s, d) in cases {
            let t = gaussian_t(s, d);
            for y in [
                0u128,
                1,
                2,
                3,
                17,
                1000,
                1 << 20,
                1 << 40,
                1 << 70,
                u128::MAX,
            ] {
                let (bn, bd) = gaussian_exponent_big(y, s, d, t);
                match gaussian_exponent_u128(y, s, d, t) {
                    Some((n, dd)) => {
                        assert_eq!(
                            (BigUint::from(n), BigUint::from(dd)),
                            (bn, bd),
                            "{s}/{d}, y = {y}"
                        );
                    }
                    None => assert!(
                        bn.bits() > 128
                            || bd.bits() > 128
                            || BigUint::from(y) * BigUint::from(d) * BigUint::from(t)
                                > BigUint::from(u128::MAX),
                        "needless fallback at {s}/{d}, y = {y}"
                    ),
                }
            }
        }
        // A huge candidate must be rejected (exp(-γ) with γ ~ 2^250), not panic.
        let mut rng = seeded(57);
        let (n, d) = gaussian_exponent_big(u128::MAX, 9, 1, 4);
        assert!(!bernoulli_exp_big(&mut rng, &n, &d));
    }

    #[test]
    fn gaussian_t_is_floor_sigma_plus_one() {
        for (s, d) in [
            (9u64, 1u64),
            (8, 1),
            (10, 1),
            (16, 25),
            (1, 1),
            (1, 2),
            (u64::MAX, 1),
            (u64::MAX, 3),
            (1, u64::MAX),
        ] {
            let t = u128::from(gaussian_t(s, d));
            // (t-1)² <= s/d < t²
            assert!(
                (t - 1) * (t - 1) * u128::from(d) <= u128::from(s),
                "{s}/{d}: t = {t}"
            );
            assert!(u128::from(s) < t * t * u128::from(d), "{s}/{d}: t = {t}");
        }
    }

    // -----------------------------------------------------------------------
    // Timing: cargo test --release --lib noise::tests::timing -- --ignored --nocapture
    // -----------------------------------------------------------------------

    #[test]
    #[ignore = "timing; run in release"]
    fn timing() {
        use std::hint::black_box;
        use std::time::Instant;
        let n = 2_000_000u32;
        let mut rng = seeded(99);
        let mut time = |label: &str, f: &mut dyn FnMut(&mut StreamRng) -> i64| {
            let start = Instant::now();
            let mut acc = 0i64;
            for _ in 0..n {
                acc = acc.wrapping_add(f(&mut rng));
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
            black_box(acc);
            println!("{label:32} {ns:8.1} ns/sample");
        };
        for scale in [
            Ratio { num: 1, den: 2 },
            Ratio { num: 40, den: 1 },
            Ratio { num: 8160, den: 1 },
            Ratio {
                num: 8160 << 20,
                den: 7 << 20,
            },
        ] {
            time(&format!("laplace {}/{}", scale.num, scale.den), &mut |r| {
                discrete_laplace(r, black_box(scale))
            });
        }
        for sigma2 in [
            Ratio { num: 9, den: 1 },
            Ratio {
                num: 40_000,
                den: 1,
            },
            Ratio {
                num: (31 << 40) + 5,
                den: 1 << 40,
            },
        ] {
            time(
                &format!("gaussian {}/{}", sigma2.num, sigma2.den),
                &mut |r| discrete_gaussian(r, black_box(sigma2)),
            );
        }
        let huge = Ratio {
            num: (9 << 60) + 1,
            den: 1 << 60,
        };
        time("gaussian 9+2^-60 (BigUint path)", &mut |r| {
            discrete_gaussian(r, black_box(huge))
        });
        time("bernoulli_exp 5/2", &mut |r| {
            i64::from(bernoulli_exp(r, black_box(Ratio { num: 5, den: 2 })))
        });
        time("next_u32 (reference)", &mut |r| i64::from(r.next_u32()));
        let key = [3u8; 32];
        let mut row = 0u64;
        time("row_stream + 1 word", &mut |_| {
            row += 1;
            row_stream(&key, 1, row).next_u32() as i64
        });
    }
}
