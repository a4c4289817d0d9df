//! Post-processing: from a cell's noisy integer sum T over n pixels to its
//! released value rint(clip(T/n, 0, 255)), ties to even, computed exactly in
//! integers (the exact mechanism's output is a function of T alone); the NOT
//! PRIVATE float baseline's values; and the noise of a cell row, drawn from
//! the cell row's own stream.

use rand::{RngExt, SeedableRng};

use super::{Geometry, Noise};
use crate::samplers::{self, Key, StreamRng};

/// The released value of a cell from its noisy integer sum `t` over `n` pixels:
/// rint(clip(t/n, 0, 255)) with ties to even, computed exactly.
#[inline]
pub fn cell_value(t: i64, n: u64) -> u8 {
    let n = n as i64;
    if t <= 0 {
        return 0;
    }
    if t >= 255 * n {
        return 255;
    }
    let (q, r) = (t / n, t % n);
    let up = 2 * r > n || (2 * r == n && q % 2 == 1);
    (q + up as i64) as u8
}

/// [`cell_value`] for one pixel count, with the division replaced by a
/// multiplication (Lemire, Kaser & Kurz, "Faster remainder by direct
/// computation", 2019: q = floor(M·t / 2^64) with M = ceil(2^64 / n) is exact
/// for every t < 2^32 and 2 <= n < 2^32). Counts too large for that, or 1,
/// fall back to [`cell_value`].
#[derive(Clone, Copy, Debug)]
pub struct CellDivisor {
    n: u64,
    /// ceil(2^64 / n), or 0 when the fast path does not apply.
    m: u64,
}

impl CellDivisor {
    pub fn new(n: u64) -> CellDivisor {
        // t < 255·n must stay below 2^32.
        let m = if (2..=u64::from(u32::MAX) / 255).contains(&n) {
            u64::MAX / n + 1
        } else {
            0
        };
        CellDivisor { n, m }
    }

    #[inline(always)]
    pub fn value(&self, t: i64) -> u8 {
        if self.m == 0 {
            return cell_value(t, self.n);
        }
        if t <= 0 {
            return 0;
        }
        let n = self.n;
        let t = t as u64;
        if t >= 255 * n {
            return 255;
        }
        // t < 255·n < 2^32.
        let q = ((u128::from(self.m) * u128::from(t)) >> 64) as u64;
        let r = t - q * n;
        let up = 2 * r > n || (2 * r == n && q % 2 == 1);
        (q + u64::from(up)) as u8
    }
}

/// The float baseline's value: rint(clip(mean + x, 0, 255)), ties to even.
#[inline]
fn float_cell_value(sum: u64, n: u64, x: f64) -> u8 {
    let v = (sum as f64 / n as f64 + x).clamp(0.0, 255.0);
    v.round_ties_even() as u8
}

/// Post-process one cell row's sums into its values, drawing the noise from
/// the cell row's own stream (key `row_key`).
pub(super) fn row_values(
    sums: &[u64],
    geo: &Geometry,
    channels: usize,
    noise: &Noise,
    (image, i): (usize, usize),
    row_key: Option<&Key>,
    values: &mut [u8],
) {
    let stream = || -> StreamRng {
        StreamRng::from_seed(*row_key.expect("a key for every noise that draws"))
    };
    let cols = geo.cols();
    // Only the last column's count can differ from the others'.
    let inner = CellDivisor::new(geo.count(i, 0));
    let last = CellDivisor::new(geo.count(i, cols - 1));
    let interior = (cols - 1) * channels;
    let div = |k: usize| if k < interior { &inner } else { &last };
    let n_of = |k: usize| geo.count(i, k / channels);
    match noise {
        Noise::None => {
            for (k, v) in values.iter_mut().enumerate() {
                *v = div(k).value(sums[k] as i64);
            }
        }
        Noise::Given(z) => {
            for (k, v) in values.iter_mut().enumerate() {
                let dz = z[[image, i, k / channels, k % channels]];
                *v = div(k).value((sums[k] as i64).saturating_add(dz));
            }
        }
        Noise::Laplace { scale, .. } => {
            let mut rng = stream();
            let laplace = samplers::Laplace::new(*scale);
            for (k, v) in values.iter_mut().enumerate() {
                let dz = laplace.sample(&mut rng);
                *v = div(k).value((sums[k] as i64).saturating_add(dz));
            }
        }
        Noise::Gaussian { sigma2, .. } => {
            let mut rng = stream();
            for (k, v) in values.iter_mut().enumerate() {
                let dz = samplers::discrete_gaussian(&mut rng, *sigma2);
                *v = div(k).value((sums[k] as i64).saturating_add(dz));
            }
        }
        Noise::FloatGaussian { sigma, .. } => {
            let mut rng = stream();
            let normal = rand_distr::Normal::new(0.0, *sigma).expect("sigma validated finite >= 0");
            for (k, v) in values.iter_mut().enumerate() {
                let x: f64 = rng.sample(normal);
                *v = float_cell_value(sums[k], n_of(k), x);
            }
        }
        Noise::FloatLaplace { scale, .. } => {
            let mut rng = stream();
            for (k, v) in values.iter_mut().enumerate() {
                // Inverse CDF of Laplace(0, scale) from u uniform in (-1/2, 1/2).
                let u: f64 = rng.random::<f64>() - 0.5;
                let x = -scale * u.signum() * (1.0 - 2.0 * u.abs()).ln();
                *v = float_cell_value(sums[k], n_of(k), x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_to_even() {
        assert_eq!(cell_value(5, 2), 2); // 2.5 → 2
        assert_eq!(cell_value(7, 2), 4); // 3.5 → 4
        assert_eq!(cell_value(-3, 2), 0);
        assert_eq!(cell_value(255 * 4, 4), 255);
        assert_eq!(cell_value(255 * 4 - 1, 4), 255); // 254.75
        assert_eq!(cell_value(509, 2), 254); // 254.5 → 254
        for t in -10..2000i64 {
            for n in 1..9u64 {
                let want = (t as f64 / n as f64).clamp(0.0, 255.0).round_ties_even() as u8;
                assert_eq!(cell_value(t, n), want, "t={t} n={n}");
            }
        }
    }

    #[test]
    fn cell_divisor_equals_cell_value() {
        let mut counts: Vec<u64> = (1..=300).collect();
        counts.extend([
            1023,
            1024,
            4096,
            65_536,
            1 << 20,
            u64::from(u32::MAX) / 255,
            u64::from(u32::MAX) / 255 + 1,
            1 << 40,
        ]);
        for n in counts {
            let d = CellDivisor::new(n);
            let mut ts: Vec<i64> = vec![i64::MIN, -1, 0, 1, 2, i64::MAX];
            let top = 255 * n as i64;
            for t in [n as i64 / 2, n as i64, top - 1, top, top + 1] {
                ts.extend([t - 1, t, t + 1]);
            }
            if n <= 300 {
                ts.extend(-5..top + 5);
            } else {
                let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for _ in 0..20_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ts.push((x % (top as u64 + 2)) as i64);
                }
                // Every tie and its neighbours: t = q·n + n/2.
                for q in (0..255).step_by(17) {
                    let t = q * n as i64 + n as i64 / 2;
                    ts.extend([t - 1, t, t + 1]);
                }
            }
            for t in ts {
                assert_eq!(d.value(t), cell_value(t, n), "t = {t}, n = {n}");
            }
        }
    }
}
