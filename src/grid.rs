//! Cell geometry, integer cell sums, post-processing and the grid / full writers.
//!
//! Work is split into (image, cell row) tasks: each task sums its cells, draws
//! its noise from its own stream and writes its own rows of the output, so the
//! bytes never depend on how rayon schedules the tasks.

use ndarray::{Array4, ArrayView2, ArrayView3, ArrayView4, Axis};
use rand::RngExt;
use rayon::prelude::*;

use crate::noise::{self, Key, Ratio, StreamRng};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edges {
    /// Divide each cell's sum by its true pixel count (unbiased edge cells).
    Partial,
    /// Divide by bh·bw everywhere: the paper's formula, i.e. zero padding.
    Pad,
    /// Drop the partial cells.
    Crop,
}

impl std::str::FromStr for Edges {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "partial" => Ok(Edges::Partial),
            "pad" => Ok(Edges::Pad),
            "crop" => Ok(Edges::Crop),
            _ => Err(Error::Value(format!(
                "edges must be 'partial', 'pad' or 'crop', got {s:?}"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Every pixel of a cell gets the cell's value.
    Full,
    /// One pixel per cell.
    Grid,
}

impl std::str::FromStr for Output {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "full" => Ok(Output::Full),
            "grid" => Ok(Output::Grid),
            _ => Err(Error::Value(format!(
                "output must be 'full' or 'grid', got {s:?}"
            ))),
        }
    }
}

/// The cells that cover an `h × w` image with `bh × bw` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub h: usize,
    pub w: usize,
    pub bh: usize,
    pub bw: usize,
    pub edges: Edges,
}

impl Geometry {
    pub fn new(h: usize, w: usize, bh: usize, bw: usize, edges: Edges) -> Result<Self> {
        if h == 0 || w == 0 {
            return Err(Error::Value(format!("image is empty ({h}x{w})")));
        }
        if bh == 0 || bw == 0 {
            return Err(Error::Value(format!("block must be >= 1, got {bh}x{bw}")));
        }
        let g = Geometry {
            h,
            w,
            bh,
            bw,
            edges,
        };
        if g.rows() == 0 || g.cols() == 0 {
            return Err(Error::Value(format!(
                "edges='crop' with block {bh}x{bw} leaves nothing of a {h}x{w} image; \
                 use a smaller block or edges='partial'"
            )));
        }
        Ok(g)
    }

    /// Number of cell rows.
    pub fn rows(&self) -> usize {
        match self.edges {
            Edges::Crop => self.h / self.bh,
            _ => self.h.div_ceil(self.bh),
        }
    }

    /// Number of cell columns.
    pub fn cols(&self) -> usize {
        match self.edges {
            Edges::Crop => self.w / self.bw,
            _ => self.w.div_ceil(self.bw),
        }
    }

    /// Pixel rows covered by cell row `i` (clipped to the image).
    pub fn row_span(&self, i: usize) -> std::ops::Range<usize> {
        i * self.bh..((i + 1) * self.bh).min(self.h)
    }

    /// Pixel columns covered by cell column `j` (clipped to the image).
    pub fn col_span(&self, j: usize) -> std::ops::Range<usize> {
        j * self.bw..((j + 1) * self.bw).min(self.w)
    }

    /// The divisor of cell (i, j): its true pixel count, or bh·bw when padding.
    pub fn count(&self, i: usize, j: usize) -> u64 {
        match self.edges {
            Edges::Partial => (self.row_span(i).len() * self.col_span(j).len()) as u64,
            Edges::Pad | Edges::Crop => (self.bh * self.bw) as u64,
        }
    }

    /// Height and width of the output image.
    pub fn out_shape(&self, output: Output) -> (usize, usize) {
        match (output, self.edges) {
            (Output::Grid, _) => (self.rows(), self.cols()),
            (Output::Full, Edges::Crop) => (self.rows() * self.bh, self.cols() * self.bw),
            (Output::Full, _) => (self.h, self.w),
        }
    }
}

/// What is added to each cell. Exact integer noise goes on the sums; the
/// non-private float baseline goes on the means, in grey levels.
#[derive(Clone, Copy, Debug)]
pub enum Noise<'a> {
    /// The plain mosaic.
    None,
    /// Integer noise given per (image, cell row, cell column, channel): tests only.
    Given(ArrayView4<'a, i64>),
    /// Exact discrete Laplace on the sums, scale on the sums.
    Laplace { scale: Ratio, key: Key },
    /// Exact discrete Gaussian on the sums, variance on the sums.
    Gaussian { sigma2: Ratio, key: Key },
    /// NOT PRIVATE: float Gaussian noise of this std on the means.
    FloatGaussian { sigma: f64, key: Key },
    /// NOT PRIVATE: float Laplace noise of this scale on the means.
    FloatLaplace { scale: f64, key: Key },
}

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

/// The float baseline's value: rint(clip(mean + x, 0, 255)), ties to even.
#[inline]
fn float_cell_value(sum: u64, n: u64, x: f64) -> u8 {
    let v = (sum as f64 / n as f64 + x).clamp(0.0, 255.0);
    v.round_ties_even() as u8
}

/// Sum of bytes, in u32 lanes where that cannot overflow (it vectorises).
#[inline]
fn sum_bytes(s: &[u8]) -> u64 {
    s.chunks(1 << 24)
        .map(|c| c.iter().map(|&v| v as u32).sum::<u32>() as u64)
        .sum()
}

/// Add the pixels of one image row into the per-cell, per-channel sums.
fn add_row(row: ArrayView2<u8>, geo: &Geometry, sums: &mut [u64]) {
    let c = row.shape()[1];
    let cols = geo.cols();
    match row.as_slice() {
        Some(px) if c == 1 => {
            for (j, s) in sums.iter_mut().enumerate().take(cols) {
                *s += sum_bytes(&px[geo.col_span(j)]);
            }
        }
        Some(px) => {
            for j in 0..cols {
                let span = geo.col_span(j);
                let acc = &mut sums[j * c..(j + 1) * c];
                for pixel in px[span.start * c..span.end * c].chunks_exact(c) {
                    for (a, &v) in acc.iter_mut().zip(pixel) {
                        *a += v as u64;
                    }
                }
            }
        }
        None => {
            for j in 0..cols {
                for x in geo.col_span(j) {
                    for ch in 0..c {
                        sums[j * c + ch] += row[[x, ch]] as u64;
                    }
                }
            }
        }
    }
}

/// Which cell row a task works on: image `image` of the batch, whose noise
/// streams are those of image index `stream_image`, cell row `row`.
#[derive(Clone, Copy)]
struct Task {
    image: usize,
    stream_image: u64,
    row: usize,
}

/// Post-process one cell row's sums into its values, drawing the noise.
fn row_values(
    sums: &[u64],
    geo: &Geometry,
    channels: usize,
    noise: &Noise,
    task: Task,
    values: &mut [u8],
) {
    let Task {
        image,
        stream_image,
        row: i,
    } = task;
    let stream = |key: &Key| -> StreamRng { noise::row_stream(key, stream_image, i as u64) };
    let n_of = |k: usize| geo.count(i, k / channels);
    match noise {
        Noise::None => {
            for (k, v) in values.iter_mut().enumerate() {
                *v = cell_value(sums[k] as i64, n_of(k));
            }
        }
        Noise::Given(z) => {
            for (k, v) in values.iter_mut().enumerate() {
                let dz = z[[image, i, k / channels, k % channels]];
                *v = cell_value((sums[k] as i64).saturating_add(dz), n_of(k));
            }
        }
        Noise::Laplace { scale, key } => {
            let mut rng = stream(key);
            for (k, v) in values.iter_mut().enumerate() {
                let dz = noise::discrete_laplace(&mut rng, *scale);
                *v = cell_value((sums[k] as i64).saturating_add(dz), n_of(k));
            }
        }
        Noise::Gaussian { sigma2, key } => {
            let mut rng = stream(key);
            for (k, v) in values.iter_mut().enumerate() {
                let dz = noise::discrete_gaussian(&mut rng, *sigma2);
                *v = cell_value((sums[k] as i64).saturating_add(dz), n_of(k));
            }
        }
        Noise::FloatGaussian { sigma, key } => {
            let mut rng = stream(key);
            let normal = rand_distr::Normal::new(0.0, *sigma).expect("sigma validated finite >= 0");
            for (k, v) in values.iter_mut().enumerate() {
                let x: f64 = rng.sample(normal);
                *v = float_cell_value(sums[k], n_of(k), x);
            }
        }
        Noise::FloatLaplace { scale, key } => {
            let mut rng = stream(key);
            for (k, v) in values.iter_mut().enumerate() {
                // Inverse CDF of Laplace(0, scale) from u uniform in (-1/2, 1/2).
                let u: f64 = rng.random::<f64>() - 0.5;
                let x = -scale * u.signum() * (1.0 - 2.0 * u.abs()).ln();
                *v = float_cell_value(sums[k], n_of(k), x);
            }
        }
    }
}

/// Write one cell row's values into its output rows.
fn write_rows(values: &[u8], geo: &Geometry, channels: usize, output: Output, out: &mut [u8]) {
    match output {
        Output::Grid => out.copy_from_slice(values),
        Output::Full => {
            let row_len = geo.out_shape(Output::Full).1 * channels;
            let (first, rest) = out.split_at_mut(row_len);
            for j in 0..geo.cols() {
                let span = geo.col_span(j);
                let dst = &mut first[span.start * channels..span.end * channels];
                let v = &values[j * channels..(j + 1) * channels];
                if channels == 1 {
                    dst.fill(v[0]);
                } else {
                    for px in dst.chunks_exact_mut(channels) {
                        px.copy_from_slice(v);
                    }
                }
            }
            for r in rest.chunks_exact_mut(row_len) {
                r.copy_from_slice(first);
            }
        }
    }
}

fn check_noise_shape(noise: &Noise, n: usize, geo: &Geometry, c: usize) -> Result<()> {
    if let Noise::Given(z) = noise {
        let want = [n, geo.rows(), geo.cols(), c];
        if z.shape() != want {
            return Err(Error::Value(format!(
                "noise must have shape {want:?}, got {:?}",
                z.shape()
            )));
        }
    }
    Ok(())
}

/// Pixelize a batch `(N, H, W, C)` of any strides; image `k` of the batch draws
/// its noise from the streams of image index `image_offset + k`.
pub fn pixelate(
    images: ArrayView4<u8>,
    block_h: usize,
    block_w: usize,
    edges: Edges,
    output: Output,
    noise: &Noise,
    image_offset: u64,
) -> Result<Array4<u8>> {
    let (n, h, w, c) = images.dim();
    if n == 0 || c == 0 {
        return Err(Error::Value(format!(
            "images must be non-empty, got shape {:?}",
            images.shape()
        )));
    }
    let geo = Geometry::new(h, w, block_h, block_w, edges)?;
    check_noise_shape(noise, n, &geo, c)?;
    let (oh, ow) = geo.out_shape(output);
    let mut out = Array4::<u8>::zeros((n, oh, ow, c));
    let image_len = oh * ow * c;
    let rows_per_task = match output {
        Output::Grid => 1,
        Output::Full => geo.bh,
    };
    let task_len = rows_per_task * ow * c;
    let cells = geo.cols() * c;
    let slice = out.as_slice_mut().expect("a fresh array is contiguous");
    slice
        .par_chunks_mut(image_len)
        .enumerate()
        .for_each(|(k, image_out)| {
            let img: ArrayView3<u8> = images.index_axis(Axis(0), k);
            image_out
                .par_chunks_mut(task_len)
                .enumerate()
                .for_each_init(
                    || (vec![0u64; cells], vec![0u8; cells]),
                    |(sums, values), (i, rows_out)| {
                        sums.fill(0);
                        for y in geo.row_span(i) {
                            add_row(img.index_axis(Axis(0), y), &geo, sums);
                        }
                        let task = Task {
                            image: k,
                            stream_image: image_offset + k as u64,
                            row: i,
                        };
                        row_values(sums, &geo, c, noise, task, values);
                        write_rows(values, &geo, c, output, rows_out);
                    },
                );
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array4, ShapeBuilder};

    fn naive_mosaic(img: &Array4<u8>, bh: usize, bw: usize, edges: Edges) -> Array4<u8> {
        let (n, h, w, c) = img.dim();
        let geo = Geometry::new(h, w, bh, bw, edges).unwrap();
        let (oh, ow) = geo.out_shape(Output::Full);
        let mut out = Array4::<u8>::zeros((n, oh, ow, c));
        for k in 0..n {
            for y in 0..oh {
                for x in 0..ow {
                    let (i, j) = (y / bh, x / bw);
                    for ch in 0..c {
                        let mut s = 0i64;
                        for yy in geo.row_span(i) {
                            for xx in geo.col_span(j) {
                                s += img[[k, yy, xx, ch]] as i64;
                            }
                        }
                        out[[k, y, x, ch]] = cell_value(s, geo.count(i, j));
                    }
                }
            }
        }
        out
    }

    fn test_image(n: usize, h: usize, w: usize, c: usize) -> Array4<u8> {
        Array4::from_shape_fn((n, h, w, c), |(k, y, x, ch)| {
            ((k * 131 + y * 31 + x * 17 + ch * 7 + y * x) % 256) as u8
        })
    }

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
    fn geometry_of_edge_modes() {
        let g = Geometry::new(7, 5, 3, 2, Edges::Partial).unwrap();
        assert_eq!((g.rows(), g.cols()), (3, 3));
        assert_eq!(g.count(2, 2), 1);
        assert_eq!(g.count(0, 0), 6);
        let g = Geometry::new(7, 5, 3, 2, Edges::Pad).unwrap();
        assert_eq!(g.count(2, 2), 6);
        let g = Geometry::new(7, 5, 3, 2, Edges::Crop).unwrap();
        assert_eq!((g.rows(), g.cols()), (2, 2));
        assert_eq!(g.out_shape(Output::Full), (6, 4));
        assert!(Geometry::new(2, 5, 3, 2, Edges::Crop).is_err());
        assert!(Geometry::new(0, 5, 3, 2, Edges::Partial).is_err());
        assert!(Geometry::new(2, 5, 0, 2, Edges::Partial).is_err());
    }

    #[test]
    fn mosaic_matches_naive_for_layouts() {
        for &(n, h, w, c, bh, bw) in &[
            (1, 1, 1, 1, 1, 1),
            (2, 7, 5, 1, 3, 2),
            (1, 13, 11, 3, 4, 4),
            (3, 5, 5, 4, 8, 8),
            (1, 17, 19, 2, 5, 3),
        ] {
            let img = test_image(n, h, w, c);
            // C order, Fortran order and a strided slice of a larger array.
            let mut f = Array4::<u8>::zeros((n, h, w, c).f());
            f.assign(&img);
            let big = test_image(n, 2 * h, 2 * w, c);
            let strided = big.slice(s![.., ..;2, ..;2, ..]);
            for edges in [Edges::Partial, Edges::Pad, Edges::Crop] {
                if Geometry::new(h, w, bh, bw, edges).is_err() {
                    continue;
                }
                let want = naive_mosaic(&img, bh, bw, edges);
                for view in [img.view(), f.view()] {
                    let got = pixelate(view, bh, bw, edges, Output::Full, &Noise::None, 0).unwrap();
                    assert_eq!(got, want, "{:?} {edges:?}", (n, h, w, c, bh, bw));
                }
                let got = pixelate(strided, bh, bw, edges, Output::Full, &Noise::None, 0).unwrap();
                assert_eq!(got, naive_mosaic(&strided.to_owned(), bh, bw, edges));
                // The grid is the full output sampled at each cell's first pixel.
                let grid =
                    pixelate(img.view(), bh, bw, edges, Output::Grid, &Noise::None, 0).unwrap();
                let sampled = want.slice(s![.., ..;bh, ..;bw, ..]);
                assert_eq!(grid, sampled);
            }
        }
    }

    #[test]
    fn given_noise_lands_on_the_sums() {
        let img = Array4::<u8>::from_elem((1, 4, 4, 1), 100);
        let mut z = Array4::<i64>::zeros((1, 2, 2, 1));
        z[[0, 0, 1, 0]] = 2; // (400 + 2)/4 = 100.5 → 100 (even)
        z[[0, 1, 0, 0]] = 6; // 406/4 = 101.5 → 102
        z[[0, 1, 1, 0]] = -1000;
        let out = pixelate(
            img.view(),
            2,
            2,
            Edges::Partial,
            Output::Grid,
            &Noise::Given(z.view()),
            0,
        )
        .unwrap();
        assert_eq!(out.as_slice().unwrap(), &[100, 100, 102, 0]);
        let bad = Array4::<i64>::zeros((1, 3, 2, 1));
        assert!(pixelate(
            img.view(),
            2,
            2,
            Edges::Partial,
            Output::Grid,
            &Noise::Given(bad.view()),
            0
        )
        .is_err());
    }

    #[test]
    fn seeded_noise_is_reproducible_and_split_independent() {
        let img = test_image(3, 20, 30, 3);
        let noise = Noise::Laplace {
            scale: Ratio { num: 100, den: 1 },
            key: [7; 32],
        };
        let all = pixelate(img.view(), 4, 4, Edges::Partial, Output::Grid, &noise, 0).unwrap();
        // Image 2 alone, with offset 2, gets the same bytes as inside the batch.
        let one = pixelate(
            img.slice(s![2..3, .., .., ..]),
            4,
            4,
            Edges::Partial,
            Output::Grid,
            &noise,
            2,
        )
        .unwrap();
        assert_eq!(all.slice(s![2..3, .., .., ..]), one);
        let again = pixelate(img.view(), 4, 4, Edges::Partial, Output::Grid, &noise, 0).unwrap();
        assert_eq!(all, again);
        let other = Noise::Laplace {
            scale: Ratio { num: 100, den: 1 },
            key: [8; 32],
        };
        let diff = pixelate(img.view(), 4, 4, Edges::Partial, Output::Grid, &other, 0).unwrap();
        assert_ne!(all, diff);
    }

    #[test]
    fn full_output_repeats_the_grid() {
        let img = test_image(2, 11, 9, 3);
        let noise = Noise::Gaussian {
            sigma2: Ratio { num: 400, den: 1 },
            key: [1; 32],
        };
        for edges in [Edges::Partial, Edges::Pad, Edges::Crop] {
            let grid = pixelate(img.view(), 3, 4, edges, Output::Grid, &noise, 0).unwrap();
            let full = pixelate(img.view(), 3, 4, edges, Output::Full, &noise, 0).unwrap();
            let (_, oh, ow, _) = full.dim();
            for y in 0..oh {
                for x in 0..ow {
                    assert_eq!(
                        full.slice(s![.., y, x, ..]),
                        grid.slice(s![.., y / 3, x / 4, ..])
                    );
                }
            }
        }
    }
}
