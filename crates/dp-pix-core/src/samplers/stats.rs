//! Test-only statistics that judge the samplers: the chi-square survival
//! function, pmfs merged into bins of equal mass, a G-test, and the check that
//! a test accepts the sampler at its parameter and rejects it 10 % off (its
//! power), so that no statistical test can pass vacuously.
//!
//! Floating point is fine here: the exact pmfs are evaluated in `f64` only to
//! judge the samplers, never to sample.

use rand::SeedableRng;

use super::{Ratio, StreamRng};

/// Rejection threshold of every goodness-of-fit test.
pub(crate) const ALPHA: f64 = 1e-4;

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
pub(crate) struct Model {
    pub(crate) starts: Vec<i64>,
    pub(crate) probs: Vec<f64>,
}

impl Model {
    /// Bins of (at least) equal mass 1/`bins` from weights on `lo..=hi`,
    /// built greedily from the left; the leftover right tail is merged into
    /// the last bin. Mass outside `lo..=hi` must be negligible.
    pub(crate) fn from_weights(
        lo: i64,
        hi: i64,
        weight: impl Fn(i64) -> f64,
        bins: usize,
    ) -> Model {
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
    pub(crate) fn laplace(scale: Ratio, bins: usize) -> Model {
        let t = scale.num as f64 / scale.den as f64;
        let r = (45.0 * t).ceil() as i64 + 5;
        Model::from_weights(-r, r, |z| (-(z.abs() as f64) / t).exp(), bins)
    }

    /// Discrete Gaussian, P(z) ∝ exp(-z²·den/(2·num)).
    pub(crate) fn gaussian(sigma2: Ratio, bins: usize) -> Model {
        let s2 = sigma2.num as f64 / sigma2.den as f64;
        let r = (13.0 * s2.sqrt()).ceil() as i64 + 5;
        Model::from_weights(-r, r, |z| (-((z * z) as f64) / (2.0 * s2)).exp(), bins)
    }

    /// Two outcomes: 0 (false) and 1 (true) with P(1) = p.
    pub(crate) fn bernoulli(p: f64) -> Model {
        Model {
            starts: vec![i64::MIN, 1],
            probs: vec![1.0 - p, p],
        }
    }

    /// Uniform on 0..k.
    pub(crate) fn uniform(k: i64) -> Model {
        Model::from_weights(0, k - 1, |_| 1.0, k as usize)
    }

    fn bin(&self, x: i64) -> usize {
        self.starts.partition_point(|&s| s <= x) - 1
    }

    /// G-test of the samples against the model: (G, degrees of freedom, p-value).
    pub(crate) fn g_test(&self, samples: impl IntoIterator<Item = i64>) -> (f64, usize, f64) {
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

    /// G-test of homogeneity of two samples over the bins of the model (do
    /// `a` and `b` come from one law?): (G, degrees of freedom, p-value).
    pub(crate) fn g_test_two(&self, a: &[i64], b: &[i64]) -> (f64, usize, f64) {
        let count = |xs: &[i64]| {
            let mut c = vec![0u64; self.probs.len()];
            for &x in xs {
                c[self.bin(x)] += 1;
            }
            c
        };
        let (ca, cb) = (count(a), count(b));
        let (na, nb) = (a.len() as f64, b.len() as f64);
        let mut g = 0.0;
        for (&oa, &ob) in ca.iter().zip(&cb) {
            let pooled = (oa + ob) as f64 / (na + nb);
            for (o, n) in [(oa, na), (ob, nb)] {
                let e = n * pooled;
                assert!(e >= 5.0, "a bin expects {e} < 5 samples: merge bins");
                if o > 0 {
                    g += 2.0 * o as f64 * (o as f64 / e).ln();
                }
            }
        }
        let df = self.probs.len() - 1;
        (g, df, chi2_sf(g, df))
    }

    /// p-value of `n` draws of `sample`.
    pub(crate) fn p_value(&self, n: usize, mut sample: impl FnMut() -> i64) -> (f64, usize, f64) {
        self.g_test((0..n).map(|_| sample()))
    }
}

pub(crate) fn seeded(seed: u64) -> StreamRng {
    StreamRng::seed_from_u64(seed)
}

/// `r·a/b`, exactly when it fits, else with the numerator rounded down.
pub(crate) fn scaled(r: Ratio, a: u64, b: u64) -> Ratio {
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
pub(crate) fn assert_fits_with_power<P: Copy + std::fmt::Debug>(
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

/// The law of a sampler of 0..: its fit to `model`, and (power) its misfit to `wrong`.
pub(crate) fn fits_and_not(what: &str, samples: &[i64], model: &Model, wrong: &Model) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
