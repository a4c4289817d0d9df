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
//!   bits against integer tables, one sample or a batch ([`Laplace::fill`],
//!   the same values) at a time (Alg. 2 itself: [`discrete_laplace_cks`]);
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
//!
//! One file per law or job: `stream` (keys and ChaCha20 streams), `uniform`
//! (uniform integers), `bernoulli`, `bernoulli_exp` (CKS Alg. 1), `laplace`
//! (CKS Alg. 2 and the bit-thrifty sampler, its tables and exact slow paths),
//! `lazy` (uniform reals revealed bit by bit, for those slow paths), `gaussian`
//! (CKS Alg. 3) and `ratio` (the parameters). The statistics that judge the
//! samplers in their tests live in `stats` (tests only).

mod bernoulli;
mod bernoulli_exp;
mod chacha;
mod gaussian;
mod laplace;
mod lazy;
mod ratio;
mod stream;
mod uniform;

#[cfg(test)]
mod stats;
#[cfg(test)]
mod timing;

pub use bernoulli::bernoulli;
pub use bernoulli_exp::bernoulli_exp;
pub use gaussian::discrete_gaussian;
pub use laplace::{discrete_laplace, discrete_laplace_cks, Laplace};
pub use ratio::Ratio;
pub use stream::{os_key, row_keys, row_stream, row_streams, Key, StreamRng};
pub use uniform::uniform_below;

#[cfg(test)]
mod tests {
    //! Edge cases of every sampler: never a panic.

    use super::*;
    use stats::seeded;

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
}
