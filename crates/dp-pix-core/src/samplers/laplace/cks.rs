//! CKS 2020, Alg. 2 as written there: the discrete Laplace from a uniform
//! below the scale's numerator accepted with probability exp(-U/num), a
//! Geometric(1 - exp(-1)), one division and a fair sign.

use rand::Rng;

use super::signed_saturating;
use crate::samplers::bernoulli::coin;
use crate::samplers::bernoulli_exp::{bernoulli_exp_fraction, bernoulli_exp_one};
use crate::samplers::uniform::uniform_below;
use crate::samplers::Ratio;

/// CKS Alg. 2 for scale `num/den` (`num, den >= 1`): returns (negative, |Z|),
/// without any saturation.
///
/// X = U + num·V, with U uniform below num accepted with probability
/// exp(-U/num) and V ~ Geometric(1 - exp(-1)), is Geometric(1 - exp(-1/num));
/// Y = floor(X/den) is then Geometric(1 - exp(-den/num)). A fair sign B is
/// drawn, and (B = negative, Y = 0) is rejected so that 0 is not counted twice.
#[inline]
pub(crate) fn discrete_laplace_parts<R: Rng + ?Sized>(
    rng: &mut R,
    num: u64,
    den: u64,
) -> (bool, u128) {
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
