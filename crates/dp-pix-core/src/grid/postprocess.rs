//! Post-processing: from a cell's noisy integer sum T over n pixels to its
//! released value rint(clip(T/n, 0, 255)), ties to even, computed exactly in
//! integers (the exact mechanism's output is a function of T alone); the NOT
//! PRIVATE float baseline's values; and the noise of a cell row, drawn from
//! the cell row's own stream.

use rand::RngExt;

use super::{Geometry, Noise};
use crate::samplers::{self, StreamRng};

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
///
/// [`CellDivisor::release`] does the same from a sum and its noise without
/// a branch, so that a cell row's values compute as a vector loop: for
/// counts up to [`RELEASE_MAX_COUNT`], q = floor(t·M' / 2^32) with
/// M' = ceil(2^32 / n) is exact for 0 <= t <= 255·n (below).
#[derive(Clone, Copy, Debug)]
pub struct CellDivisor {
    n: u64,
    /// ceil(2^64 / n), or 0 when the fast path does not apply.
    m: u64,
    /// ceil(2^32 / n) when n <= RELEASE_MAX_COUNT, else 0.
    m32: u64,
}

/// The largest pixel count [`CellDivisor::release`] divides by a
/// multiplication. With M' = ceil(2^32 / n) = (2^32 + e) / n, 0 <= e < n:
/// t·M' / 2^32 = t/n + t·e / (n·2^32), and the floor is that of t/n when
/// t·e < 2^32 (the fraction of t/n is at most (n - 1)/n); t <= 255·n and
/// e < n make t·e < 255·n², below 2^32 for n <= 4104.
pub const RELEASE_MAX_COUNT: u64 = 4096;

impl CellDivisor {
    pub fn new(n: u64) -> CellDivisor {
        // t < 255·n must stay below 2^32.
        let m = if (2..=u64::from(u32::MAX) / 255).contains(&n) {
            u64::MAX / n + 1
        } else {
            0
        };
        let m32 = if (1..=RELEASE_MAX_COUNT).contains(&n) {
            (1u64 << 32).div_ceil(n)
        } else {
            0
        };
        CellDivisor { n, m, m32 }
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

    /// The released value of a cell whose pixels sum to `sum` (at most
    /// 255·n, as every sum of n or fewer pixels) with noise `z`:
    /// `cell_value(sum + z, n)`, the sum saturated — without a branch when
    /// n <= [`RELEASE_MAX_COUNT`].
    #[inline(always)]
    pub fn release(&self, sum: u64, z: i64) -> u8 {
        if self.m32 == 0 {
            return self.value((sum as i64).saturating_add(z));
        }
        let top = 255 * self.n as i64;
        // Noise beyond ±(255·n + 1) gives 0 or 255 whatever the sum; cut
        // there, sum + z cannot overflow.
        let t = (sum as i64 + z.clamp(-top - 1, top + 1)).clamp(0, top) as u64;
        // t <= 255·4096 < 2^20 and M' <= 2^32: the product fits.
        let q = (t * self.m32) >> 32;
        let r = t - q * self.n;
        let up = (2 * r > self.n) | ((2 * r == self.n) & (q & 1 == 1));
        (q + u64::from(up)) as u8
    }
}

/// The values of cells with one divisor: `values[k] = d.release(sums[k], z[k])`.
fn release_cells(d: &CellDivisor, sums: &[u64], z: &[i64], values: &mut [u8]) {
    #[inline(always)]
    fn body(d: &CellDivisor, sums: &[u64], z: &[i64], values: &mut [u8]) {
        for ((v, &s), &z) in values.iter_mut().zip(sums).zip(z) {
            *v = d.release(s, z);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl")]
        fn body_avx512(d: &CellDivisor, sums: &[u64], z: &[i64], values: &mut [u8]) {
            body(d, sums, z, values);
        }
        #[target_feature(enable = "avx2")]
        fn body_avx2(d: &CellDivisor, sums: &[u64], z: &[i64], values: &mut [u8]) {
            body(d, sums, z, values);
        }
        if d.m32 != 0 && values.len() >= 8 {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512dq") && has!("avx512bw") && has!("avx512vl") {
                // SAFETY: the CPU has these features.
                unsafe { body_avx512(d, sums, z, values) };
                return;
            }
            if has!("avx2") {
                // SAFETY: the CPU has AVX2.
                unsafe { body_avx2(d, sums, z, values) };
                return;
            }
        }
    }
    body(d, sums, z, values);
}

/// The float baseline's value: rint(clip(mean + x, 0, 255)), ties to even.
#[inline]
fn float_cell_value(sum: u64, n: u64, x: f64) -> u8 {
    let v = (sum as f64 / n as f64 + x).clamp(0.0, 255.0);
    v.round_ties_even() as u8
}

/// Post-process one cell row's sums into its values, drawing the noise from
/// the cell row's own stream `rng`: first the row's noise, then its values
/// (a vector loop); `drawn` is scratch space.
#[allow(clippy::too_many_arguments)]
pub(super) fn row_values(
    sums: &[u64],
    geo: &Geometry,
    channels: usize,
    noise: &Noise,
    (image, i): (usize, usize),
    rng: Option<&mut StreamRng>,
    drawn: &mut Vec<i64>,
    values: &mut [u8],
) {
    let mut rng = rng;
    let mut stream =
        || -> &mut StreamRng { rng.take().expect("a stream for every noise that draws") };
    let cols = geo.cols();
    let n_of = |k: usize| geo.count(i, k / channels);
    drawn.resize(values.len(), 0);
    match noise {
        Noise::None => drawn.fill(0),
        Noise::Given(z) => {
            for (k, dz) in drawn.iter_mut().enumerate() {
                *dz = z[[image, i, k / channels, k % channels]];
            }
        }
        Noise::Laplace { scale, .. } => {
            // The row's noise in one batch: the same values as one sample
            // at a time.
            samplers::Laplace::new(*scale).fill(stream(), drawn);
        }
        Noise::Gaussian { sigma2, .. } => {
            let rng = stream();
            for dz in drawn.iter_mut() {
                *dz = samplers::discrete_gaussian(rng, *sigma2);
            }
        }
        Noise::FloatGaussian { sigma, .. } => {
            let rng = stream();
            let normal = rand_distr::Normal::new(0.0, *sigma).expect("sigma validated finite >= 0");
            for (k, v) in values.iter_mut().enumerate() {
                let x: f64 = rng.sample(normal);
                *v = float_cell_value(sums[k], n_of(k), x);
            }
            return;
        }
        Noise::FloatLaplace { scale, .. } => {
            let rng = stream();
            for (k, v) in values.iter_mut().enumerate() {
                // Inverse CDF of Laplace(0, scale) from u uniform in (-1/2, 1/2).
                let u: f64 = rng.random::<f64>() - 0.5;
                let x = -scale * u.signum() * (1.0 - 2.0 * u.abs()).ln();
                *v = float_cell_value(sums[k], n_of(k), x);
            }
            return;
        }
    }
    // Only the last column's count can differ from the others'.
    let interior = (cols - 1) * channels;
    let inner = CellDivisor::new(geo.count(i, 0));
    let last = CellDivisor::new(geo.count(i, cols - 1));
    release_cells(
        &inner,
        &sums[..interior],
        &drawn[..interior],
        &mut values[..interior],
    );
    release_cells(
        &last,
        &sums[interior..],
        &drawn[interior..],
        &mut values[interior..],
    );
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

    #[test]
    fn release_equals_cell_value_on_every_path() {
        // Every count up to the fast path's limit and beyond it, sums over
        // 0..=255·n and noise from the extremes to every tie: one cell at a
        // time and as a row (the vector loops), the same values.
        let mut counts: Vec<u64> = (1..=64).collect();
        counts.extend([
            100,
            255,
            256,
            1000,
            4095,
            RELEASE_MAX_COUNT,
            RELEASE_MAX_COUNT + 1,
            5000,
            1 << 20,
            1 << 40,
        ]);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in counts {
            let d = CellDivisor::new(n);
            let top = 255 * n;
            let (mut sums, mut zs) = (Vec::new(), Vec::new());
            for sum in [0, 1, n / 2, n, top / 2, top - 1, top] {
                let t_ties = (0..256).map(|q| (q * n + n / 2) as i64 - sum as i64);
                let extremes = [i64::MIN, i64::MIN + 1, -(top as i64) - 2, -1, 0, 1];
                let more = [top as i64 + 2, i64::MAX - 1, i64::MAX];
                for z in extremes.into_iter().chain(more).chain(t_ties) {
                    for dz in [-1, 0, 1] {
                        sums.push(sum);
                        zs.push(z.saturating_add(dz));
                    }
                }
            }
            for _ in 0..3000 {
                sums.push(next() % (top + 1));
                zs.push((next() % (4 * top + 3)) as i64 - 2 * top as i64 - 1);
            }
            let want: Vec<u8> = sums
                .iter()
                .zip(&zs)
                .map(|(&s, &z)| cell_value((s as i64).saturating_add(z), n))
                .collect();
            let one: Vec<u8> = sums
                .iter()
                .zip(&zs)
                .map(|(&s, &z)| d.release(s, z))
                .collect();
            assert!(one == want, "n = {n}: one at a time");
            // Rows of every length near the vector widths.
            for len in [1usize, 7, 8, 9, 31, 64, 65] {
                for start in (0..sums.len() - len).step_by(97) {
                    let mut row = vec![0u8; len];
                    let r = start..start + len;
                    release_cells(&d, &sums[r.clone()], &zs[r.clone()], &mut row);
                    assert_eq!(row, want[r], "n = {n}, len = {len}");
                }
            }
        }
    }
}
