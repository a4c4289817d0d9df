//! Sensitivities and calibration: from (ε, m, block, channels) to the exact
//! rational noise parameters the samplers take.
//!
//! Every rounding here goes toward more noise: scales and variances are rounded
//! up, ρ and δ budgets are met with a margin. Floats appear only in the (ε, δ) ↔ ρ
//! conversion, which chooses a parameter and is then checked conservatively; the
//! samplers themselves never see a float.

use num_bigint::BigUint;

use crate::samplers::Ratio;
use crate::{Error, Result};

/// Calibrated numerators and denominators stay at or below 2^48 so that the
/// samplers' intermediate products fit comfortably in 128 bits.
pub const RATIO_BITS: u32 = 48;

/// Relative slack on δ when searching for ρ or ε: the float evaluation of the CKS
/// bound must not be trusted to the last ulp, so we ask for δ·(1 − 1e-6).
const DELTA_SLACK: f64 = 1e-6;

/// L1 sensitivity of the vector of cell sums: m pixels, each channel by up to 255.
pub fn l1_sensitivity(m: u64, channels: u64) -> Result<u64> {
    255u64
        .checked_mul(m)
        .and_then(|v| v.checked_mul(channels))
        .ok_or_else(|| Error::Value(format!("m = {m} is too large")))
}

/// Squared L2 sensitivity of the cell sums. The worst case packs the m changed
/// pixels into as few cells as possible (Σ m_k² is convex): m = q·A + r gives
/// Δ2² = 255²·C·(q·A² + r²), with A = bh·bw. This is NOT 255²·m.
pub fn l2_sensitivity_sq(m: u64, channels: u64, block_h: u64, block_w: u64) -> Result<u128> {
    let too_large = || {
        Error::Value(format!(
            "m = {m} with block {block_h}x{block_w} is too large"
        ))
    };
    let area = (block_h as u128)
        .checked_mul(block_w as u128)
        .ok_or_else(too_large)?;
    let (q, r) = ((m as u128) / area, (m as u128) % area);
    let packed = q
        .checked_mul(area)
        .and_then(|v| v.checked_mul(area))
        .and_then(|v| v.checked_add(r * r))
        .ok_or_else(too_large)?;
    packed
        .checked_mul(255 * 255)
        .and_then(|v| v.checked_mul(channels as u128))
        .ok_or_else(too_large)
}

/// The exact value of a finite positive float as numerator / denominator.
fn exact_ratio(x: f64, what: &str) -> Result<(BigUint, BigUint)> {
    if !(x.is_finite() && x > 0.0) {
        return Err(Error::Value(format!(
            "{what} must be a finite number > 0, got {x}"
        )));
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    // Normal: (2^52 + frac)·2^(e − 1075); subnormal: frac·2^(−1074).
    let (mantissa, exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    let mantissa = BigUint::from(mantissa);
    Ok(if exp >= 0 {
        (mantissa << (exp as u64), BigUint::from(1u8))
    } else {
        (mantissa, BigUint::from(1u8) << ((-exp) as u64))
    })
}

fn ceil_div(n: &BigUint, d: &BigUint) -> BigUint {
    (n + d - 1u8) / d
}

/// Round the positive rational n/d UP to num/den with den = 2^k and num ≤ 2^48,
/// k as large as that allows (at most 48): the relative excess is below 2^-47
/// once the value is ≥ 1. Common factors of two are then removed.
pub fn round_up_ratio(n: &BigUint, d: &BigUint) -> Result<Ratio> {
    let limit = BigUint::from(1u64 << RATIO_BITS);
    if ceil_div(n, d) > limit {
        return Err(Error::Value(
            "noise scale too large: epsilon (or rho) is too small for these m and block"
                .to_string(),
        ));
    }
    let mut best = (ceil_div(n, d), 0u32);
    for k in (1..=RATIO_BITS).rev() {
        let num = ceil_div(&(n << k), d);
        if num <= limit {
            best = (num, k);
            break;
        }
    }
    let (num, mut k) = best;
    let mut num: u64 = u64::try_from(num).expect("num is at most 2^48 by construction");
    while k > 0 && num.is_multiple_of(2) {
        num /= 2;
        k -= 1;
    }
    Ok(Ratio {
        num,
        den: 1u64 << k,
    })
}

/// Discrete Laplace scale on the sums, t = Δ1/ε, rounded up (more noise).
pub fn laplace_scale(epsilon: f64, sensitivity: u64) -> Result<Ratio> {
    let (en, ed) = exact_ratio(epsilon, "epsilon")?;
    round_up_ratio(&(BigUint::from(sensitivity) * ed), &en)
}

/// Discrete Gaussian variance on the sums for ρ-zCDP, σ² = Δ2²/(2ρ) rounded up
/// (CKS 2020, Thm. 4: N_Z(0, σ²) with L2 sensitivity Δ2 is Δ2²/(2σ²)-zCDP).
pub fn gaussian_sigma2(rho: f64, l2_sq: u128) -> Result<Ratio> {
    let (rn, rd) = exact_ratio(rho, "rho")?;
    round_up_ratio(&(BigUint::from(l2_sq) * rd), &(rn * 2u8))
}

/// ln δ(α) for ρ-zCDP at ε (CKS 2020, Cor. 13) at α = 1 + u, written to be
/// stable for small u: (α−1)(αρ−ε) − ln(α−1) + α·ln(1 − 1/α)
/// = u((u+1)ρ − ε) − u·ln(1 + 1/u) − ln(1 + u). Any α > 1 gives a valid bound.
fn log_delta_at(u: f64, rho: f64, epsilon: f64) -> f64 {
    u * ((u + 1.0) * rho - epsilon) - u * (1.0 / u).ln_1p() - u.ln_1p()
}

/// δ such that ρ-zCDP implies (ε, δ)-DP: the CKS 2020 Cor. 13 bound at its
/// minimising α. The exponent is convex in α (second derivative
/// 2ρ + 1/(α(α−1)) > 0), so the minimum is the root of its increasing
/// derivative (2α−1)ρ − ε + ln(1 − 1/α), found by bisection on β = ln(α−1)
/// over the whole range of floats: no bracket to miss (a bracket around
/// (ε+ρ)/(2ρ) + 1 missed the minimiser, near 1/√(2ρ), when ε ≲ ρ). An inexact
/// root only overstates δ.
pub fn delta_for(rho: f64, epsilon: f64) -> f64 {
    if rho <= 0.0 {
        return 0.0;
    }
    let slope = |beta: f64| {
        let u = beta.exp();
        (2.0 * u + 1.0) * rho - epsilon + beta - u.ln_1p()
    };
    let (mut lo, mut hi) = (-700.0f64, 700.0f64);
    if slope(lo) >= 0.0 {
        return 1.0; // the minimum is at α → 1, where the bound is δ = 1
    }
    if slope(hi) <= 0.0 {
        // ρ below ~1e-300: the minimum lies beyond α = e^700
        return log_delta_at(hi.exp(), rho, epsilon).exp().min(1.0);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid == lo || mid == hi {
            break;
        }
        if slope(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let best = log_delta_at(lo.exp(), rho, epsilon).min(log_delta_at(hi.exp(), rho, epsilon));
    best.min(0.0).exp()
}

fn meets(rho: f64, epsilon: f64, delta: f64) -> bool {
    delta_for(rho, epsilon) <= delta * (1.0 - DELTA_SLACK)
}

fn check_delta(delta: f64) -> Result<()> {
    if delta.is_finite() && delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(Error::Value(format!(
            "delta must lie in (0, 1), got {delta}"
        )))
    }
}

/// The largest ρ whose zCDP guarantee converts to (ε, δ)-DP (with slack).
pub fn rho_for(epsilon: f64, delta: f64) -> Result<f64> {
    exact_ratio(epsilon, "epsilon")?;
    check_delta(delta)?;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while meets(hi, epsilon, delta) {
        lo = hi;
        hi *= 2.0;
        if hi > 1e300 {
            return Ok(lo);
        }
    }
    for _ in 0..200 {
        let mid = if lo == 0.0 {
            hi / 2.0
        } else {
            (lo * hi).sqrt()
        };
        if meets(mid, epsilon, delta) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo == 0.0 {
        return Err(Error::Value(format!(
            "no rho > 0 reaches (epsilon={epsilon}, delta={delta})"
        )));
    }
    Ok(lo)
}

/// The smallest ε such that ρ-zCDP implies (ε, δ)-DP (with slack).
pub fn epsilon_for(rho: f64, delta: f64) -> Result<f64> {
    exact_ratio(rho, "rho")?;
    check_delta(delta)?;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while !meets(rho, hi, delta) {
        lo = hi;
        hi *= 2.0;
        if hi > 1e300 {
            return Err(Error::Value(format!("rho = {rho} is too large")));
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if meets(rho, mid, delta) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(x: u64) -> BigUint {
        BigUint::from(x)
    }

    #[test]
    fn l1_matches_design_example() {
        // b = 16, m = 16, ε = 0.5, grey: 255·16/(256·0.5) = 31.875 grey levels.
        let t = laplace_scale(0.5, l1_sensitivity(16, 1).unwrap()).unwrap();
        assert_eq!(t, Ratio { num: 8160, den: 1 });
    }

    #[test]
    fn l2_packs_pixels_into_cells() {
        // m ≤ A: Δ2 = 255·m·√C.
        assert_eq!(
            l2_sensitivity_sq(16, 3, 16, 16).unwrap(),
            255 * 255 * 3 * 16 * 16
        );
        // m = 11 = 2·A + 3 with A = 4: 255²·(2·16 + 9).
        assert_eq!(l2_sensitivity_sq(11, 1, 2, 2).unwrap(), 255 * 255 * 41);
        assert!(l2_sensitivity_sq(u64::MAX, u64::MAX, 1, 1).is_err());
    }

    #[test]
    fn exact_ratio_is_exact() {
        let (n, d) = exact_ratio(0.1, "x").unwrap();
        // 0.1 = 3602879701896397 / 2^55 exactly.
        assert_eq!(n * (BigUint::from(1u8) << 55u32), big(3602879701896397) * d);
        let (n, d) = exact_ratio(f64::MIN_POSITIVE / 4.0, "x").unwrap();
        assert_eq!((n, d), (big(1u64 << 50), BigUint::from(1u8) << 1074u32));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(exact_ratio(bad, "x").is_err());
        }
    }

    #[test]
    fn round_up_never_rounds_down() {
        for (n, d) in [
            (1u64, 3u64),
            (8160, 7),
            (10, 1),
            (1, 1 << 40),
            (123456789, 1000),
        ] {
            let r = round_up_ratio(&big(n), &big(d)).unwrap();
            // r.num/r.den ≥ n/d  ⇔  r.num·d ≥ n·r.den
            assert!(
                r.num as u128 * d as u128 >= n as u128 * r.den as u128,
                "{n}/{d}"
            );
            assert!(r.num <= 1 << RATIO_BITS);
            assert!(r.den == 1 || r.num % 2 == 1, "not reduced: {r:?}");
            // Close: the excess is below one unit of 1/den.
            assert!((r.num as u128 * d as u128) - (n as u128 * r.den as u128) < d as u128);
        }
        assert_eq!(
            round_up_ratio(&big(1), &big(2)).unwrap(),
            Ratio { num: 1, den: 2 }
        );
        assert!(round_up_ratio(&(big(1) << 49u32), &big(1)).is_err());
    }

    #[test]
    fn epsilon_rounding_adds_noise() {
        // 1/0.1 in floats: the exact value of the float 0.1 is a hair above 0.1,
        // so t = 4080/0.1 is just below 40800 and must round up, not down.
        let t = laplace_scale(0.1, 4080).unwrap();
        let exact = 4080.0 / 0.1;
        assert!(t.num as f64 / t.den as f64 >= exact * (1.0 - 1e-15));
        assert!(laplace_scale(1e-30, 4080).is_err());
    }

    #[test]
    fn cks_conversion_is_monotone_and_inverts() {
        assert!(delta_for(0.1, 1.0) < delta_for(0.2, 1.0));
        assert!(delta_for(0.1, 1.0) > delta_for(0.1, 2.0));
        // Looser than the classical ρ + 2√(ρ ln 1/δ) bound never is: CKS is at least as tight.
        let rho = 0.05;
        let eps = epsilon_for(rho, 1e-6).unwrap();
        assert!(eps <= rho + 2.0 * (rho * (1e6f64).ln()).sqrt());
        let back = rho_for(eps, 1e-6).unwrap();
        assert!(
            back <= rho * (1.0 + 1e-9) && back > rho * 0.999,
            "{back} vs {rho}"
        );
        assert!(delta_for(rho_for(1.0, 1e-5).unwrap(), 1.0) <= 1e-5);
        assert!(rho_for(1.0, 1.5).is_err());
        assert!(rho_for(-1.0, 1e-5).is_err());
    }

    #[test]
    fn gaussian_variance_rounds_up() {
        let l2 = l2_sensitivity_sq(16, 1, 16, 16).unwrap();
        let s2 = gaussian_sigma2(0.5, l2).unwrap();
        // σ² = Δ2²/(2ρ) = Δ2² exactly when ρ = 0.5.
        assert_eq!(
            s2,
            Ratio {
                num: l2 as u64,
                den: 1
            }
        );
        let s2 = gaussian_sigma2(0.3, l2).unwrap();
        assert!(s2.num as f64 / s2.den as f64 >= l2 as f64 / 0.6 * (1.0 - 1e-15));
    }
}
