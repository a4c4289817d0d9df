//! The parameters of the samplers: exact positive rationals `num/den`.
//!
//! Calibration (`calibrate`) rounds every scale and variance up to such a
//! ratio (a power-of-two denominator, a numerator of at most 48 bits), and the
//! samplers take it as it is: no float ever reaches them.

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
    pub(crate) fn den_or_one(self) -> u64 {
        self.den.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_new_checks_the_domain() {
        assert_eq!(Ratio::new(3, 2), Ok(Ratio { num: 3, den: 2 }));
        assert!(matches!(Ratio::new(0, 2), Err(Error::Value(_))));
        assert!(matches!(Ratio::new(3, 0), Err(Error::Value(_))));
    }
}
