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
//! * [`discrete_laplace`]: P(Z = z) ∝ exp(-|z|/t) for a rational t > 0: the law
//!   of CKS Alg. 2, drawn by [`Laplace`] with exact comparisons of a few random
//!   bits against integer tables (Alg. 2 itself: [`discrete_laplace_cks`]);
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
    fn wide_bits(&mut self, k: u32) -> u64 {
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
/// (CKS 2020, Alg. 2), exactly: [`Laplace::sample`] for this scale.
///
/// |Z| is saturated at `i64::MAX` (see the note on saturation in the source:
/// it cannot change any released pixel). `scale.num = 0` (no noise) returns 0;
/// `scale.den = 0` is read as 1.
#[inline(always)]
pub fn discrete_laplace(rng: &mut StreamRng, scale: Ratio) -> i64 {
    Laplace::new(scale).sample(rng)
}

/// CKS 2020 Alg. 2 as written there, with whole-word uniforms: the reference
/// the fast sampler is tested against, and the proposal of the discrete Gaussian.
#[inline]
pub fn discrete_laplace_cks<R: Rng + ?Sized>(rng: &mut R, scale: Ratio) -> i64 {
    if scale.num == 0 {
        return 0;
    }
    let (negative, magnitude) = discrete_laplace_parts(rng, scale.num, scale.den_or_one());
    signed_saturating(negative, magnitude)
}

// ---------------------------------------------------------------------------
// Discrete Laplace, bit-thrifty (the sampler dp-pix uses)
// ---------------------------------------------------------------------------
//
// CKS Alg. 2 builds |Z| from X = U + num·V: V ~ Geometric(1 - e^-1) and U the
// truncated geometric on 0..num (uniform U accepted with probability
// e^(-U/num)); then Y = floor(X/den). In other words Y = floor(t·E) with
// E = V + F exponential: V = floor(E), F = frac(E) (density ∝ e^-f on [0, 1),
// independent of V), and U = floor(num·F). Indeed P(floor(tE) >= y) =
// P(E >= y/t) = e^(-y/t): Y is exactly Geometric(1 - e^(-1/t)).
//
// Here E is drawn as a uniform real number revealed a few bits at a time, and
// every decision is an exact comparison of intervals of integers:
//
// * V: one uniform R, V = #{v >= 1 : R < e^-v}, so P(V >= v) = e^-v;
// * F = (I + G)/256 with I = floor(256·F) and G in [0, 1) independent:
//   I (P(I = i) ∝ e^(-i/256), i < 256) by inversion of its CDF c_i with one
//   uniform, G uniform accepted with probability e^(-G/256) (CKS Alg. 1 with
//   γ = G/256 < 1/256: its first trial Bernoulli(γ) fails unless a uniform
//   falls below 1/256, and then the run stops at k = 1, odd: accept);
// * Y = floor(num·(256V + I + G) / (256·den)), with as many bits of G as it
//   takes to fix the floor;
// * the sign and the rejection of (negative, 0) as in Alg. 2.
//
// e^-v and c_i are irrational, so a uniform's first bits decide each
// comparison unless they match the constant's own bits; then more bits are
// drawn and the constant is bounded to more places with exact big-integer
// arithmetic (the slow paths below: none among 10^6 samples at scale 8160).
// The tables are floor(2^64·constant), checked against that exact arithmetic
// by the tests. A sample takes one 64-bit word (rarely more) and no division.

/// floor(2^64 · e^-v) for v = 1..=44 (index v - 1); e^-45 < 2^-64.
#[rustfmt::skip]
const EXP_NEG_WHOLE: [u64; 44] = [
    0x5e2d58d8b3bcdf1a, 0x22a555477f03973f, 0x0cbed86667585764,
    0x04b0556e084f3d1d, 0x01b993fe00d53761, 0x00a2728f889ea6ae,
    0x003bc2d73849531d, 0x0015fc21041027ac, 0x0008167912932a2c,
    0x0002f9af36ac8f93, 0x000118354238f676, 0x0000671530ed0ef2,
    0x000025ec0a77303b, 0x00000df3637ed80b, 0x00000521d72889fb,
    0x000001e355bbaee8, 0x000000b1cf18bad3, 0x00000041698a31a6,
    0x000000181056ff2c, 0x00000008da432af9, 0x0000000341b61a1b,
    0x0000000132b48bf1, 0x0000000070d49f90, 0x0000000029820f1f,
    0x000000000f451bd2, 0x00000000059e14a9, 0x0000000002110a53,
    0x0000000000c29f80, 0x000000000047990a, 0x00000000001a56e0,
    0x000000000009b090, 0x000000000003908c, 0x0000000000014fb5,
    0x0000000000007b80, 0x0000000000002d6e, 0x00000000000010b6,
    0x0000000000000626, 0x0000000000000243, 0x00000000000000d5,
    0x000000000000004e, 0x000000000000001c, 0x000000000000000a,
    0x0000000000000003, 0x0000000000000001,
];

/// floor(2^64 · c_i) for i = 1..=255 (index i - 1), with
/// c_i = P(I < i) = (1 - e^(-i/256)) / (1 - e^-1), the CDF of I = floor(256·F).
#[rustfmt::skip]
const TRUNC_GEOM_CDF: [u64; 255] = [
    0x01943232231f192a, 0x0326d0fbe9e745d5, 0x04b7ddeff343da03,
    0x06475a9f4c4a4ad3, 0x07d5489971cb3baf, 0x0961a96c51e1fb44,
    0x0aec7ea44d8271bc, 0x0c75c9cc3a0581d0, 0x0dfd8c6d62b3de4b,
    0x0f83c80f8a4f5567, 0x11087e38ec9a93ba, 0x128bb06e3fdf6013,
    0x140d6032b67351e9, 0x158d8f08003b03ca, 0x170c3e6e4c2bc366,
    0x18896fe449cbc0a3, 0x1a0524e72ab0bd40, 0x1b7f5ef2a3fd3e90,
    0x1cf81f80efdc42b4, 0x1e6f680acefb7af0, 0x1fe53a078a040c6e,
    0x215996ecf311d90d, 0x22cc802f6729519a, 0x243df741cfabd2f3,
    0x25adfd95a3ca8f87, 0x271c949ae9f806a9, 0x2889bdc039580b1c,
    0x29f57a72bb2e5a59, 0x2b5fcc1e2c4bc5f2, 0x2cc8b42cde79f07e,
    0x2e303407b9e59f82, 0x2f964d163e87a3bf, 0x30fb00be858c5941,
    0x325e506542b9c0b4, 0x33c03d6dc5d4333c, 0x3520c939fc01b263,
    0x367ff52a712bd550, 0x37ddc29e516054da, 0x393a32f36a3037a9,
    0x3a9547862c0d9feb, 0x3bef01b1aba83be0, 0x3d4762cfa3485aa8,
    0x3e9e6c387428a6a5, 0x3ff41f4327ce86d7, 0x41487d457161287b,
    0x429b8793aeff3250, 0x43ed3f80eb1322d0, 0x453da65edda65aba,
    0x468cbd7dedb2d533, 0x47da862d32738ee2, 0x492701ba74b39d41,
    0x4a723172301bf788, 0x4bbc169f947ff26f, 0x4d04b28c8728701f,
    0x4e4c0681a41dc595, 0x4f9213c63f7056c6, 0x50d6dba0667feacc,
    0x521a5f54e141b95f, 0x535ca027338532e5, 0x549d9f599e37845f,
    0x55dd5e2d20a5d870, 0x571bdde179be56c3, 0x58591fb5294fe315,
    0x599524e571489d20, 0x5acfeeae56f322a2, 0x5c097e4aa43294c1,
    0x5d41d4f3e8bd620b, 0x5e78f3e27b56d644, 0x5faedc4d7b077145,
    0x60e38f6ad054061e, 0x62170e6f2e73a3b4, 0x63495a8e14844813,
    0x647a74f9cebe5fa3, 0x65aa5ee377a7117e, 0x66d9197af9415a0d,
    0x6806a5ef0e3df520, 0x6933056d432a18c0, 0x6a5e3921f79d01ce,
    0x6b8842385f6453b9, 0x6cb121da83af4c5e, 0x6dd8d9314438cd58,
    0x6eff696458703bce, 0x7024d39a50a137fc, 0x714918f8971a2d98,
    0x726c3aa37151be3a, 0x738e39be010b06e7, 0x74af176a4578c1f2,
    0x75ced4c91c5f4642, 0x76ed72fa43356530, 0x780af31c58442819,
    0x7927564cdbc56eb9, 0x7a429da831016f81, 0x7b5cca499f6b1af5,
    0x7c75dd4b53bb6337, 0x7d8dd7c6610b68da, 0x7ea4bad2c1ed8e0d,
    0x7fba87875985714a, 0x80cf3ef9f49ed08d, 0x81e2e23f4ac3563b,
    0x82f5726aff4f50bf, 0x8406f08fa28555fd, 0x85175dbeb2a0d3b1,
    0x8626bb089ce78dba, 0x8735097cbeba0b7a, 0x88424a2966a2f550,
    0x894e7e1bd5656334, 0x8a59a6603f0a1d91, 0x8b63c401cbebd168,
    0x8c6cd80a99c238bf, 0x8d74e383bcac386d, 0x8e7be7754038f452,
    0x8f81e4e6286fdafb, 0x9086dcdc72d7a9bd, 0x918ad05d177c6a56,
    0x928dc06c09f46b0b, 0x938fae0c3a643256, 0x94909a3f96816f1f,
    0x959086070a94e68a, 0x968f7262827b604f, 0x978d6050eaa592b4,
    0x988a50d031170f0c, 0x998644dd46642fd4, 0x9a813d741eaf095b,
    0x9b7b3b8fb2a35df9, 0x9c74402a007196d0, 0x9d6c4c3c0cc8c211,
    0x9e6360bde3cf97c1, 0x9f597ea69a1c85f1, 0xa04ea6ec4dacc56d,
    0xa142da8426da77cc, 0xa2361a625951cfdf, 0xa328677a2505456f,
    0xa419c2bdd720d549, 0xa50a2d1ecafc4e78, 0xa5f9a78d6b0cadb7,
    0xa6e832f931d487f5, 0xa7d5d050aad384ee, 0xa8c280817374eabe,
    0xa9ae44783bfd3b62, 0xaa991d20c876e50b, 0xab830b65f19e0642,
    0xac6c1031a5cb46b4, 0xad542c6ce9ddc5a2, 0xae3b60ffda241ecc,
    0xaf21aed1ab4486dd, 0xb00716c8ab24001b, 0xb0eb99ca41cca866,
    0xb1cf38baf2532152, 0xb2b1f47e5bbb1350, 0xb393cdf739daccc3,
    0xb474c607663dfdec, 0xb554dd8fd9079283, 0xb6341570a9d2a9f5,
    0xb7126e891092af0a, 0xb7efe9b766728ff0, 0xb8cc87d926b31776,
    0xb9a849caef886860, 0xba83306882f69bac, 0xbb5d3c8cc7ad82ae,
    0xbc366f11c9e38dc9, 0xbd0ec8d0bc2fd8bf, 0xbde64aa1f8635d58,
    0xbebcf55d00614d44, 0xbf92c9d87ef69411, 0xc067c8ea48b0820b,
    0xc13bf3675cb2a0d7, 0xc20f4a23e58bb2ad, 0xc2e1cdf33a09dcf8,
    0xc3b37fa7de0dff30, 0xc4846013835e36d6, 0xc55470070a779143,
    0xc623b052835eec3a, 0xc6f221c52e7105ff, 0xc7bfc52d7d31bdc3,
    0xc88c9b59131a853b, 0xc958a514c668042a, 0xca23e32ca0e6eead,
    0xcaee566be0c00f1a, 0xcbb7ff9cf943843c, 0xcc80df8993b334b1,
    0xcd48f6fa900c783b, 0xce1046b805d0f7d3, 0xced6cf8944cec53a,
    0xcf9c9234d5e7aad3, 0xd0618f807bd7b49d, 0xd125c83133faf2f9,
    0xd1e93d0b37127819, 0xd2abeed1fa0890d2, 0xd36dde482eb43996,
    0xd42f0c2fc49bd05b, 0xd4ef7949e9b70432, 0xd5af26570b30034e,
    0xd66e1416d623e83f, 0xd72c43483862671f, 0xd7e9b4a9612cbb71,
    0xd8a668f7c1f3d772, 0xd96260f00f15d59c, 0xda1d9d4e409aad10,
    0xdad81ecd92f029b1, 0xdb91e62887a5289f, 0xdc4af418e62419d8,
    0xdd034957bc6cc7af, 0xddbae69d5fcd64dd, 0xde71cca16d9ae1de,
    0xdf27fc1acbe88a56, 0xdfdd75bfaa3eeb33, 0xe0923a4582520243,
    0xe1464a6118b6b7fc, 0xe1f9a6c67d97a41a, 0xe2ac50290d691ddb,
    0xe35e473b719c9886, 0xe40f8cafa1534ce4, 0xe4c02136e2103077,
    0xe5700581c8693b07, 0xe61f3a4038b7fb49, 0xe6cdc02167c97b48,
    0xe77b97d3db8d753c, 0xe828c2056bc4d990, 0xe8d53f6342afa6a9,
    0xe9811099ddba133b, 0xea2c36550e290bc0, 0xead6b13ff9c603cc,
    0xeb8082051b8a1be5, 0xec29a94e44489c8b, 0xecd227c49b58c719,
    0xed79fe109f3efd29, 0xee212cda26553f29, 0xeec7b4c85f7302be,
    0xef6d9681d29461b2, 0xf012d2ac6180a1f5, 0xf0b769ed48701778,
    0xf15b5ce91eb1606f, 0xf1feac43d74dfcb2, 0xf2a158a0c1ae40d0,
    0xf34362a28a3ca587, 0xf3e4caeb3b08743a, 0xf485921c3c67d113,
    0xf525b8d65599235e, 0xf5c53fb9ad63dcde, 0xf6642765cab8a09b,
    0xf70270799550c9e4, 0xf7a01b93564d5413, 0xf83d2950b8d523bb,
    0xf8d99a4ecab2b1e1, 0xf9756f29fcf119cc, 0xfa10a87e24788a22,
    0xfaab46e67aaa19df, 0xfb454afd9dfb01bb, 0xfbdeb55d928f3ab5,
    0xfc77869fc2d3823f, 0xfd0fbf5d0016c4b9, 0xfda7602d8322eeca,
    0xfe3e69a8ecd5263d, 0xfed4dc6646b56ae3, 0xff6ab8fc038da02d,
];

/// floor(256 · e^-v) for v = 1..=5: the top bytes of EXP_NEG_WHOLE (0 from v = 6 on).
const EXP_NEG_WHOLE_TOP: [u64; 5] = [
    EXP_NEG_WHOLE[0] >> 56,
    EXP_NEG_WHOLE[1] >> 56,
    EXP_NEG_WHOLE[2] >> 56,
    EXP_NEG_WHOLE[3] >> 56,
    EXP_NEG_WHOLE[4] >> 56,
];

/// V for each first byte b of R: #{v : (b+1)·2^56 <= floor(2^64·e^-v)}, or
/// UNDECIDED when b is the top byte of some floor(2^64·e^-v) (b = 0 included,
/// for every v >= 6).
static GEOMETRIC_OF_BYTE: [u8; 256] = build_geometric_of_byte();
const UNDECIDED: u8 = u8::MAX;

const fn build_geometric_of_byte() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let mut v = 0usize;
        let mut undecided = b == 0;
        while v < EXP_NEG_WHOLE_TOP.len() {
            let top = EXP_NEG_WHOLE_TOP[v] as usize;
            if b == top {
                undecided = true;
            }
            if b < top {
                table[b] += 1;
            }
            v += 1;
        }
        if undecided {
            table[b] = UNDECIDED;
        }
        b += 1;
    }
    table
}

/// Bits of the first look-up of I.
const GUIDE_BITS: u32 = 12;

/// For each 12-bit prefix s of a uniform R (R in [s, s+1)/4096): the number of
/// CDF values below the slot (#{i : C_i < s·2^52}, in the low 8 bits), and
/// bit 8 set when a CDF value falls inside the slot (then R's next bits decide).
/// The CDF values are more than 1/4096 apart, so a slot holds at most one.
static TRUNC_GEOM_GUIDE: [u16; 1 << GUIDE_BITS] = build_guide();

const fn build_guide() -> [u16; 1 << GUIDE_BITS] {
    let mut guide = [0u16; 1 << GUIDE_BITS];
    let shift = 64 - GUIDE_BITS;
    let mut s = 0usize;
    let mut below = 0usize;
    while s < guide.len() {
        let start = (s as u128) << shift;
        let end = ((s + 1) as u128) << shift;
        while below < TRUNC_GEOM_CDF.len() && (TRUNC_GEOM_CDF[below] as u128) < start {
            below += 1;
        }
        let inside = below < TRUNC_GEOM_CDF.len() && (TRUNC_GEOM_CDF[below] as u128) < end;
        guide[s] = below as u16 | if inside { 256 } else { 0 };
        s += 1;
    }
    guide
}

/// V ~ Geometric(1 - e^-1): P(V >= v) = e^-v, from a uniform R whose first
/// 8 bits are `b` (they decide V with probability 250/256); more from `rng`.
#[inline(always)]
fn geometric_exp_one(rng: &mut StreamRng, b: u64) -> u64 {
    // R in [b, b+1)/256 is below e^-v iff (b+1)·2^56 <= floor(2^64·e^-v),
    // above iff b·2^56 > it; undecided iff b is the constant's top byte.
    let decided = GEOMETRIC_OF_BYTE[b as usize];
    if decided != UNDECIDED {
        return u64::from(decided);
    }
    geometric_exp_one_wide(rng, b)
}

/// [`geometric_exp_one`] when the first byte `b` did not decide: 64 bits.
#[cold]
#[inline(never)]
fn geometric_exp_one_wide(rng: &mut StreamRng, b: u64) -> u64 {
    let x = (b << 56) | rng.wide_bits(56);
    // R in [x, x+1)/2^64: below e^-v iff x < L_v, above iff x > L_v.
    let mut v = 0;
    while v < EXP_NEG_WHOLE.len() && x < EXP_NEG_WHOLE[v] {
        v += 1;
    }
    if v == EXP_NEG_WHOLE.len() || x == EXP_NEG_WHOLE[v] {
        return geometric_exp_one_slow(rng, LazyReal::new(x, 64));
    }
    v as u64
}

/// I = floor(256·F): P(I = i) ∝ e^(-i/256) on 0..256, by inversion of a
/// uniform R whose first 12 bits are `s` (they decide with probability 15/16);
/// more from `rng`.
#[inline(always)]
fn trunc_geometric_256(rng: &mut StreamRng, s: u64) -> u64 {
    let entry = TRUNC_GEOM_GUIDE[s as usize];
    let below = u64::from(entry & 0xff);
    if entry & 0x100 == 0 {
        return below;
    }
    trunc_geometric_256_wide(rng, s, below)
}

/// [`trunc_geometric_256`] when the slot `s` holds the CDF value number `below`.
#[inline(never)]
fn trunc_geometric_256_wide(rng: &mut StreamRng, s: u64, below: u64) -> u64 {
    let x = (s << (64 - GUIDE_BITS)) | rng.wide_bits(64 - GUIDE_BITS);
    let c = TRUNC_GEOM_CDF[below as usize];
    if x == c {
        return trunc_geometric_256_slow(rng, LazyReal::new(x, 64));
    }
    below + u64::from(x > c)
}

/// The exact discrete Laplace sampler for one scale (CKS 2020 Alg. 2's law,
/// drawn as described above). Build it once per scale, sample many times.
#[derive(Clone, Copy, Debug)]
pub struct Laplace {
    num: u64,
    den: u64,
    /// Bits of G drawn at first: enough that the floor is fixed but for a
    /// chance of about 2^-12.
    g_bits: u32,
    /// log2(256·den·2^g_bits) when den is a power of two (the floor is a shift).
    shift: Option<u32>,
}

impl Laplace {
    pub fn new(scale: Ratio) -> Laplace {
        let den = scale.den_or_one();
        let num = scale.num;
        let t_bits = i64::from(64 - num.leading_zeros()) - i64::from(64 - den.leading_zeros());
        let g_bits = (t_bits + 12).clamp(8, 48) as u32;
        let shift = den
            .is_power_of_two()
            .then(|| den.trailing_zeros() + 8 + g_bits);
        Laplace {
            num,
            den,
            g_bits,
            shift,
        }
    }

    /// One sample, |Z| saturated at `i64::MAX` (see [`discrete_laplace`]).
    #[inline(always)]
    pub fn sample(&self, rng: &mut StreamRng) -> i64 {
        if self.num == 0 {
            return 0;
        }
        let (negative, magnitude) = self.parts(rng);
        signed_saturating(negative, magnitude)
    }

    /// (negative, |Z|) as in CKS Alg. 2: Y geometric, a fair sign, and
    /// (negative, 0) rejected so that 0 is not counted twice.
    ///
    /// One 64-bit word holds the first bits of every part: 8 for V, 12 for I,
    /// 8 for G's acceptance, 1 for the sign and the top 35 for G (g_bits of
    /// them). Only rare cases draw more, from the reservoir.
    #[inline(always)]
    fn parts(&self, rng: &mut StreamRng) -> (bool, u128) {
        loop {
            let w = rng.next_u64();
            let v = geometric_exp_one(rng, w & 0xff);
            let i = trunc_geometric_256(rng, (w >> 8) & ((1 << GUIDE_BITS) - 1));
            let accept_bits = (w >> 20) & 0xff;
            let negative = (w >> 28) & 1 == 1;
            let g = if self.g_bits <= 35 {
                w >> (64 - self.g_bits)
            } else {
                ((w >> 29) << (self.g_bits - 35)) | rng.wide_bits(self.g_bits - 35)
            };
            let k = v.saturating_mul(256).saturating_add(i); // floor(256·E)
            let y = self.floor_scaled(rng, k, g, accept_bits);
            if negative && y == 0 {
                continue;
            }
            return (negative, y);
        }
    }

    /// The acceptance test of G (g_bits bits known: `g`) when its first
    /// uniform fell below 1/256: [`Laplace::accept_rest`], continued with the
    /// same draws to more bits where 64 did not decide.
    #[cold]
    #[inline(never)]
    fn accept_after_small_uniform(&self, rng: &mut StreamRng, g: u64) -> Accept {
        match self.accept_rest(rng, g) {
            AcceptStep::Decided(true) => Accept::Fast,
            AcceptStep::Decided(false) => Accept::Reject,
            AcceptStep::Undecided { k: step, u } => {
                let mut lazy = LazyReal::new(g, u64::from(self.g_bits));
                let m = if step == 1 { 1 } else { 256 * step };
                let a = lazy_scaled_below(rng, m, LazyReal::new(u, 64), &mut lazy);
                let accept = if a {
                    bernoulli_exp_lazy(rng, &mut lazy, 256, step + 1, false)
                } else {
                    step % 2 == 1
                };
                if accept {
                    Accept::Lazy(lazy)
                } else {
                    Accept::Reject
                }
            }
        }
    }

    /// CKS Alg. 1 for γ = G/256 after a first uniform below 1/256, with
    /// 64-bit uniforms: A_k = [m·U_k < G] (m = 1 for k = 1, the known-small
    /// uniform rescaled, else 256·k) until some A_k = 0; accept iff k is odd.
    /// Where U_k's 64 bits and G's g_bits do not decide A_k, it says so, and
    /// the caller goes on with the same draws to more bits.
    #[inline(always)]
    fn accept_rest(&self, rng: &mut StreamRng, g: u64) -> AcceptStep {
        let b = self.g_bits;
        // G in [g, g + 1) / 2^b; in units of 2^-(64 + b): [g·2^64, (g + 1)·2^64).
        let g_lo = u128::from(g) << 64;
        let g_hi = u128::from(g + 1) << 64;
        let mut k: u64 = 1;
        loop {
            let m = if k == 1 { 1 } else { 256 * k };
            let u = rng.next_u64();
            if k > 64 {
                return AcceptStep::Undecided { k, u };
            }
            // m·U_k in [m·u, m·(u + 1)) / 2^64; m <= 2^14 and b <= 48: no overflow.
            let u_lo = (u128::from(u) * u128::from(m)) << b;
            let u_hi = ((u128::from(u) + 1) * u128::from(m)) << b;
            if u_hi <= g_lo {
                k += 1; // A_k = 1
            } else if u_lo >= g_hi {
                return AcceptStep::Decided(k % 2 == 1); // A_k = 0
            } else {
                return AcceptStep::Undecided { k, u };
            }
        }
    }

    /// Y = floor(num·(k + G) / (256·den)) for G uniform on [0, 1) accepted
    /// with probability e^(-G/256): the first candidate's g_bits bits are `g`,
    /// the first 8 bits of its acceptance uniform are `accept_bits`.
    #[inline(always)]
    fn floor_scaled(&self, rng: &mut StreamRng, k: u64, mut g: u64, mut accept_bits: u64) -> u128 {
        while accept_bits == 0 {
            // The acceptance uniform is below 1/256: run CKS Alg. 1 exactly.
            match self.accept_after_small_uniform(rng, g) {
                Accept::Fast => break,
                Accept::Lazy(mut lazy) => {
                    return floor_scaled_slow(rng, self.num, self.den, k, &mut lazy)
                }
                Accept::Reject => {}
            }
            g = rng.wide_bits(self.g_bits);
            accept_bits = rng.bits(8);
        }
        // Else the uniform is >= 1/256 > γ: the first trial fails, k = 1 is odd: accept.
        // k < 2^14 and g < 2^48, so num·(k·2^g_bits + g) < 2^126.
        if k < 1 << 14 {
            let num = u128::from(self.num);
            let lo = num * ((u128::from(k) << self.g_bits) | u128::from(g));
            // num·(k + G)·2^g_bits lies in [lo, lo + num); the floor is fixed
            // when lo and lo + num - 1 have the same quotient.
            match self.shift {
                Some(s) => {
                    let mask = (1u128 << s) - 1;
                    if (lo & mask) + (num - 1) <= mask {
                        return lo >> s;
                    }
                }
                None => {
                    let d = u128::from(self.den) << (8 + self.g_bits);
                    let (q, r) = (lo / d, lo % d);
                    if r + (num - 1) < d {
                        return q;
                    }
                }
            }
        }
        let mut lazy = LazyReal::new(g, u64::from(self.g_bits));
        floor_scaled_slow(rng, self.num, self.den, k, &mut lazy)
    }
}

/// The outcome of G's acceptance test: G's bits as drawn (`Fast`), or more of them.
enum Accept {
    Fast,
    Lazy(LazyReal),
    Reject,
}

/// Where the 64-bit acceptance test of G stopped.
enum AcceptStep {
    Decided(bool),
    /// A_k was not decided by U_k's first 64 bits, `u`.
    Undecided {
        k: u64,
        u: u64,
    },
}

// Slow paths: exact, big-integer, taken rarely (or always, in the tests).

/// A uniform real number in [0, 1) of which the first `bits` bits, `n`, are
/// known: it lies in [n, n + 1) / 2^bits. More bits are drawn on demand.
struct LazyReal {
    n: BigUint,
    bits: u64,
}

impl LazyReal {
    fn new(prefix: u64, bits: u64) -> LazyReal {
        LazyReal {
            n: BigUint::from(prefix),
            bits,
        }
    }

    fn extend<R: Rng + ?Sized>(&mut self, rng: &mut R) {
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
fn exp_neg_bounds(a: u64, b: u64, q: u64) -> (BigUint, BigUint) {
    let w = q + 32;
    let (lo, hi) = exp_bounds(a, b, w);
    let num = BigUint::from(1u8) << (q + w);
    let lo_neg = &num / &hi;
    let hi_neg = (&num + &lo - 1u8) / &lo;
    (lo_neg, hi_neg)
}

/// Integers lo <= 2^q · c_i <= hi, c_i = (1 - e^(-i/256)) / (1 - e^-1).
fn trunc_geometric_cdf_bounds(i: u64, q: u64) -> (BigUint, BigUint) {
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

/// Is R < c? `bounds(q)` gives integers lo <= c·2^q <= hi. Draws bits of R
/// until R's interval lies on one side of the bounds.
fn lazy_below<R: Rng + ?Sized>(
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
fn lazy_scaled_below<R: Rng + ?Sized>(
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
fn bernoulli_exp_lazy<R: Rng + ?Sized>(
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

/// V = #{v >= 1 : R < e^-v} for a lazily known R.
#[cold]
#[inline(never)]
fn geometric_exp_one_slow<R: Rng + ?Sized>(rng: &mut R, mut r: LazyReal) -> u64 {
    let mut v: u64 = 1;
    while lazy_below(rng, &mut r, |q| exp_neg_bounds(v, 1, q)) {
        v += 1;
    }
    v - 1
}

/// I = #{i in 1..=255 : R >= c_i} for a lazily known R, by bisection.
#[cold]
#[inline(never)]
fn trunc_geometric_256_slow<R: Rng + ?Sized>(rng: &mut R, mut r: LazyReal) -> u64 {
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
fn floor_scaled_slow<R: Rng + ?Sized>(
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

    #[test]
    fn discrete_laplace_fits_scale_24480() {
        laplace_fits(Ratio { num: 24480, den: 1 }, 47);
    }

    #[test]
    fn discrete_laplace_fits_a_calibrated_scale_near_2_to_the_48() {
        // laplace_scale(0.3, 4080): the numerator fills 48 bits.
        laplace_fits(
            Ratio {
                num: 233_646_220_902_401,
                den: 1 << 34,
            },
            48,
        );
    }

    #[test]
    fn discrete_laplace_fits_a_huge_scale() {
        // G needs more bits than the fast path draws: the exact floor path.
        let scale = Ratio {
            num: 1 << 52,
            den: 3,
        };
        // Scale 2^52/3: too large for a binned pmf; check the mean of |Z|
        // (t·(1 + O(1/t))) and the sign.
        let mut rng = seeded(49);
        let n = 1500;
        let mut pos = 0u32;
        let mut sum_abs = 0f64;
        for _ in 0..n {
            let z = discrete_laplace(&mut rng, scale);
            pos += u32::from(z > 0);
            sum_abs += (z as f64).abs();
        }
        let t = (1u64 << 52) as f64 / 3.0;
        let mean = sum_abs / f64::from(n);
        assert!((mean / t - 1.0).abs() < 0.1, "mean |Z| / t = {}", mean / t);
        assert!((f64::from(pos) / f64::from(n) - 0.5).abs() < 0.05);
    }

    /// The law of a sampler of 0..: its fit to `model`, and (power) its misfit to `wrong`.
    fn fits_and_not(what: &str, samples: &[i64], model: &Model, wrong: &Model) {
        let (g, df, p) = model.g_test(samples.iter().copied());
        assert!(
            p > ALPHA,
            "{what}: rejected: G = {g:.1}, df = {df}, p = {p:.3e}"
        );
        let (g, df, p) = wrong.g_test(samples.iter().copied());
        assert!(
            p < ALPHA,
            "{what}: no power: G = {g:.1}, df = {df}, p = {p:.3e}"
        );
    }

    fn geometric_model(ratio: f64) -> Model {
        Model::from_weights(0, 60, |v| ratio.powi(v as i32), 8)
    }

    #[test]
    fn geometric_exp_one_fits_fast_and_slow() {
        let e = (-1f64).exp();
        let wrong = geometric_model((-1.1f64).exp());
        let mut rng = seeded(61);
        let fast: Vec<i64> = (0..N_LAPLACE)
            .map(|_| {
                let b = rng.bits(8);
                geometric_exp_one(&mut rng, b) as i64
            })
            .collect();
        fits_and_not("geometric_exp_one", &fast, &geometric_model(e), &wrong);
        // Every comparison through the big-integer path, from no known bits.
        let slow: Vec<i64> = (0..4000)
            .map(|_| geometric_exp_one_slow(&mut rng, LazyReal::new(0, 0)) as i64)
            .collect();
        let wrong = geometric_model((-1.3f64).exp());
        fits_and_not("geometric_exp_one_slow", &slow, &geometric_model(e), &wrong);
    }

    fn trunc_geometric_model(gamma: f64) -> Model {
        Model::from_weights(0, 255, |i| (-(i as f64) * gamma / 256.0).exp(), 16)
    }

    #[test]
    fn trunc_geometric_256_fits_fast_and_slow() {
        // Power: the same test rejects the law with e^(-1.5·i/256).
        let wrong = trunc_geometric_model(1.5);
        let mut rng = seeded(62);
        let fast: Vec<i64> = (0..N_LAPLACE)
            .map(|_| {
                let s = rng.bits(GUIDE_BITS);
                trunc_geometric_256(&mut rng, s) as i64
            })
            .collect();
        fits_and_not(
            "trunc_geometric_256",
            &fast,
            &trunc_geometric_model(1.0),
            &wrong,
        );
        let slow: Vec<i64> = (0..2000)
            .map(|_| trunc_geometric_256_slow(&mut rng, LazyReal::new(0, 0)) as i64)
            .collect();
        let wrong = trunc_geometric_model(2.0);
        fits_and_not(
            "trunc_geometric_256_slow",
            &slow,
            &trunc_geometric_model(1.0),
            &wrong,
        );
    }

    #[test]
    fn fast_decisions_agree_with_the_exact_ones() {
        // Prefixes at and around every table entry, and random ones: where
        // the 64 bits decide, the slow path (from the same 64 bits) agrees.
        let mut rng = seeded(63);
        let mut prefixes: Vec<u64> = (0..200).map(|_| rng.next_u64()).collect();
        for &c in EXP_NEG_WHOLE.iter().chain(TRUNC_GEOM_CDF.iter()) {
            prefixes.extend([c.wrapping_sub(1), c.wrapping_add(1)]);
        }
        for x in prefixes {
            let v_fast = EXP_NEG_WHOLE.iter().take_while(|&&l| x < l).count() as u64;
            if v_fast < 44 && x != EXP_NEG_WHOLE[v_fast as usize] {
                assert_eq!(
                    geometric_exp_one_slow(&mut rng, LazyReal::new(x, 64)),
                    v_fast
                );
            }
            let i_fast = TRUNC_GEOM_CDF.iter().filter(|&&c| c < x).count() as u64;
            if !TRUNC_GEOM_CDF.contains(&x) {
                assert_eq!(
                    trunc_geometric_256_slow(&mut rng, LazyReal::new(x, 64)),
                    i_fast
                );
            }
        }
        // At a tie the exact answer is one of the two neighbours.
        for (j, &l) in EXP_NEG_WHOLE.iter().enumerate() {
            let v = geometric_exp_one_slow(&mut rng, LazyReal::new(l, 64));
            assert!(v == j as u64 || v == j as u64 + 1, "v = {v}, j = {j}");
        }
        for (i, &c) in TRUNC_GEOM_CDF.iter().enumerate() {
            let got = trunc_geometric_256_slow(&mut rng, LazyReal::new(c, 64));
            assert!(got == i as u64 || got == i as u64 + 1);
        }
    }

    #[test]
    fn floor_scaled_fast_agrees_with_exact() {
        let mut rng = seeded(64);
        for scale in [
            Ratio { num: 1, den: 2 },
            Ratio { num: 3, den: 2 },
            Ratio { num: 8160, den: 1 },
            Ratio { num: 8160, den: 7 },
            Ratio {
                num: 233_646_220_902_401,
                den: 1 << 34,
            },
            Ratio {
                num: u64::MAX,
                den: 1,
            },
        ] {
            let lap = Laplace::new(scale);
            for _ in 0..3000 {
                let k = rng.next_u64() % (1 << 14);
                let g = rng.next_u64() >> (64 - lap.g_bits);
                let lo = u128::from(scale.num) * ((u128::from(k) << lap.g_bits) | u128::from(g));
                let d = u128::from(scale.den) << (8 + lap.g_bits);
                let exact = floor_scaled_slow(
                    &mut rng,
                    scale.num,
                    scale.den,
                    k,
                    &mut LazyReal::new(g, u64::from(lap.g_bits)),
                );
                // When lo and lo + num - 1 share their quotient, that is the answer.
                if lo / d == (lo + u128::from(scale.num) - 1) / d {
                    assert_eq!(exact, lo / d, "{scale:?} k = {k} g = {g}");
                } else {
                    assert!(exact >= lo / d && exact <= (lo + u128::from(scale.num) - 1) / d);
                }
            }
        }
    }

    #[test]
    fn bernoulli_exp_lazy_fits() {
        let mut rng = seeded(65);
        let n = N_LAPLACE;
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

    #[test]
    fn acceptance_after_a_small_uniform_fits() {
        // With 8 bits of G, A_1 is undecided by 64 bits of U_1 in 1 of 256
        // tests, so the exact continuation is exercised too. Given a first
        // uniform below 1/s, the acceptance probability is
        // s²(1 - e^(-1/s)) - (s - 1) (see bernoulli_exp_lazy_fits).
        let lap = Laplace::new(Ratio {
            num: 1,
            den: 1 << 20,
        });
        assert_eq!(lap.g_bits, 8);
        let mut rng = seeded(66);
        let n = 200_000;
        let mut accepted = 0usize;
        let mut lazy = 0usize;
        for _ in 0..n {
            let g = rng.bits(8);
            match lap.accept_after_small_uniform(&mut rng, g) {
                Accept::Fast => accepted += 1,
                Accept::Lazy(_) => {
                    accepted += 1;
                    lazy += 1;
                }
                Accept::Reject => {}
            }
        }
        let s = 256f64;
        let p = s * s * (1.0 - (-1.0 / s).exp()) - (s - 1.0);
        let (_, _, pv) = Model::bernoulli(p).g_test((0..n).map(|i| i64::from(i < accepted)));
        assert!(
            pv > ALPHA,
            "P(accept) = {}, want {p}",
            accepted as f64 / n as f64
        );
        assert!(lazy > 100, "the continuation ran {lazy} times");
    }

    #[test]
    fn tables_are_the_exact_floors() {
        fn floor_2_64(bounds: impl Fn(u64) -> (BigUint, BigUint)) -> u64 {
            let mut q = 64;
            loop {
                let (lo, hi) = bounds(q);
                assert!(lo <= hi);
                let (a, b) = (&lo >> (q - 64), &hi >> (q - 64));
                if a == b {
                    return u64::try_from(&a).expect("below 2^64");
                }
                q += 64;
            }
        }
        for v in 1..=44u64 {
            let want = floor_2_64(|q| exp_neg_bounds(v, 1, q));
            assert_eq!(EXP_NEG_WHOLE[v as usize - 1], want, "e^-{v}");
        }
        assert_eq!(floor_2_64(|q| exp_neg_bounds(45, 1, q)), 0);
        for i in 1..=255u64 {
            let want = floor_2_64(|q| trunc_geometric_cdf_bounds(i, q));
            assert_eq!(TRUNC_GEOM_CDF[i as usize - 1], want, "c_{i}");
        }
        // Strictly decreasing / increasing, and the CDF values more than one
        // guide slot apart (a slot holds at most one).
        assert!(EXP_NEG_WHOLE.windows(2).all(|w| w[0] > w[1]));
        assert!(TRUNC_GEOM_CDF
            .windows(2)
            .all(|w| w[1] - w[0] > 1 << (64 - GUIDE_BITS)));
        assert!(TRUNC_GEOM_CDF[0] > 1 << (64 - GUIDE_BITS));
        assert!(TRUNC_GEOM_CDF[254] < u64::MAX - (1 << (64 - GUIDE_BITS)));
        assert_eq!(EXP_NEG_WHOLE[5] >> 56, 0);
        // The bounds are tight: a few units apart.
        for (a, b) in [(0u64, 1u64), (1, 1), (1, 256), (255, 256), (44, 1), (7, 3)] {
            for q in [8u64, 64, 200] {
                let (lo, hi) = exp_neg_bounds(a, b, q);
                assert!(
                    lo <= hi && &hi - &lo <= BigUint::from(4u8),
                    "{a}/{b} at {q}"
                );
            }
        }
        let (lo, hi) = exp_neg_bounds(0, 1, 10);
        assert!(lo <= BigUint::from(1024u32) && BigUint::from(1024u32) <= hi);
    }

    #[test]
    fn geometric_byte_table_matches_the_64_bit_table() {
        for b in 0..256u64 {
            let undecided = EXP_NEG_WHOLE.iter().any(|&l| l >> 56 == b) || b == 0;
            let e = GEOMETRIC_OF_BYTE[b as usize];
            assert_eq!(e == UNDECIDED, undecided, "byte {b}");
            if !undecided {
                let v = EXP_NEG_WHOLE
                    .iter()
                    .filter(|&&l| u128::from(b + 1) << 56 <= u128::from(l))
                    .count();
                assert_eq!(usize::from(e), v, "byte {b}");
            }
        }
    }

    #[test]
    fn guide_matches_the_cdf() {
        for s in 0..(1u64 << GUIDE_BITS) {
            let e = TRUNC_GEOM_GUIDE[s as usize];
            let shift = 64 - GUIDE_BITS;
            let below = TRUNC_GEOM_CDF.iter().filter(|&&c| c < s << shift).count();
            assert_eq!(usize::from(e & 0xff), below, "slot {s}");
            let inside = TRUNC_GEOM_CDF.iter().any(|&c| c >> shift == s);
            assert_eq!(e & 0x100 != 0, inside, "slot {s}");
        }
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
            time(
                &format!("laplace CKS {}/{}", scale.num, scale.den),
                &mut |r| discrete_laplace_cks(r, black_box(scale)),
            );
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
