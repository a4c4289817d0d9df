//! The discrete Laplace: P(Z = z) ∝ exp(-|z|/t) for a rational scale t > 0
//! (CKS 2020, Alg. 2).
//!
//! Two samplers of one law. [`discrete_laplace_cks`] (`cks.rs`) is Alg. 2 as
//! written there, with whole-word uniforms: the reference the fast sampler is
//! tested against, and the proposal of the discrete Gaussian (Alg. 3).
//! [`Laplace`] is the bit-thrifty sampler dp-pix uses: the same law from about
//! one 64-bit word a sample, by exact comparisons against integer tables
//! (`tables.rs`), finished with big-integer arithmetic on lazy reals where a
//! word's bits do not decide (`slow.rs`); [`Laplace::fill`] draws a batch of
//! them, the same values from the same words, deciding most of them many
//! words at a time (`batch.rs`). How:
//!
//! CKS Alg. 2 builds |Z| from X = U + num·V: V ~ Geometric(1 - e^-1) and U the
//! truncated geometric on 0..num (uniform U accepted with probability
//! e^(-U/num)); then Y = floor(X/den). In other words Y = floor(t·E) with
//! E = V + F exponential: V = floor(E), F = frac(E) (density ∝ e^-f on [0, 1),
//! independent of V), and U = floor(num·F). Indeed P(floor(tE) >= y) =
//! P(E >= y/t) = e^(-y/t): Y is exactly Geometric(1 - e^(-1/t)).
//!
//! Here E is drawn as a uniform real number revealed a few bits at a time, and
//! every decision is an exact comparison of intervals of integers:
//!
//! * V: one uniform R, V = #{v >= 1 : R < e^-v}, so P(V >= v) = e^-v;
//! * F = (I + G)/256 with I = floor(256·F) and G in [0, 1) independent:
//!   I (P(I = i) ∝ e^(-i/256), i < 256) by inversion of its CDF c_i with one
//!   uniform, G uniform accepted with probability e^(-G/256) (CKS Alg. 1 with
//!   γ = G/256 < 1/256: its first trial Bernoulli(γ) fails unless a uniform
//!   falls below 1/256, and then the run stops at k = 1, odd: accept);
//! * Y = floor(num·(256V + I + G) / (256·den)), with as many bits of G as it
//!   takes to fix the floor;
//! * the sign and the rejection of (negative, 0) as in Alg. 2.
//!
//! e^-v and c_i are irrational, so a uniform's first bits decide each
//! comparison unless they match the constant's own bits; then more bits are
//! drawn and the constant is bounded to more places with exact big-integer
//! arithmetic (the slow paths of `slow.rs`: none among 10^6 samples at scale 8160).
//! The tables are floor(2^64·constant), checked against that exact arithmetic
//! by the tests. A sample takes one 64-bit word (rarely more) and no division.

use rand::Rng;

use super::lazy::{bernoulli_exp_lazy, lazy_scaled_below, LazyReal};
use super::{Ratio, StreamRng};

mod batch;
mod cks;
mod slow;
mod tables;
#[cfg(test)]
mod tests;

pub use cks::discrete_laplace_cks;
pub(crate) use cks::discrete_laplace_parts;
use slow::{floor_scaled_slow, geometric_exp_one_slow, trunc_geometric_256_slow};
use tables::{
    EXP_NEG_WHOLE, GEOMETRIC_OF_BYTE, GUIDE_BITS, TRUNC_GEOM_CDF, TRUNC_GEOM_GUIDE, UNDECIDED,
};

/// `±magnitude` as an `i64`, the magnitude saturated at `i64::MAX`.
///
/// Saturation is harmless for dp-pix: a noise value is added to a cell sum
/// (at most 255 × the cell area, far below 2^62), divided by the pixel count
/// and clamped to 0..=255. Any |Z| ≥ 2^63 - 1 already drives the released
/// value to 0 or 255, and so does the saturated value: no released pixel can
/// change. (Callers must add with `saturating_add` or in `i128`.) For the scales
/// dp-pix uses the probability of reaching it is below exp(-2^14) anyway.
#[inline]
pub(crate) fn signed_saturating(negative: bool, magnitude: u128) -> i64 {
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
    /// The constants of [`Laplace::fill`]'s batch path, when it applies.
    batch: Option<batch::Batch>,
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
            batch: batch::Batch::new(num, den, g_bits),
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
        let w = rng.next_u64();
        self.parts_from(w, rng)
    }

    /// [`Laplace::parts`] when its first word `w` is already drawn.
    #[inline(always)]
    fn parts_from(&self, mut w: u64, rng: &mut StreamRng) -> (bool, u128) {
        loop {
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
                w = rng.next_u64();
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
