//! Cell geometry, integer cell sums, post-processing and the grid / full writers.
//!
//! Work is split into (image, cell row) tasks: each task sums its cells, draws
//! its noise from its own stream and writes its own rows of the output, so the
//! bytes never depend on how rayon schedules the tasks.

use std::mem::MaybeUninit;

use ndarray::{Array4, ArrayView2, ArrayView3, ArrayView4, Axis};
use rand::{RngExt, SeedableRng};
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

/// Add the pixels of one image row into the per-cell, per-channel sums, for
/// any strides (the general path).
fn add_row(row: ArrayView2<u8>, geo: &Geometry, sums: &mut [u64]) {
    let c = row.shape()[1];
    for j in 0..geo.cols() {
        for x in geo.col_span(j) {
            for ch in 0..c {
                sums[j * c + ch] += u64::from(row[[x, ch]]);
            }
        }
    }
}

/// Rows summed into the u16 column sums before they are added into the cell
/// sums: 256·255 < 2^16.
const ROWS_PER_FLUSH: usize = 256;
/// Rows handed to one call of the column-sum loop.
const ROWS_PER_CALL: usize = 16;

/// acc[x] (+)= Σ rows[r][x] for the (at most 257) rows given, four at a time;
/// `first` assigns instead of adding. Plain loops that auto-vectorise.
#[inline(always)]
fn column_sums_body(acc: &mut [u16], rows: &[&[u8]], mut first: bool) {
    let len = acc.len();
    let mut groups = rows.chunks(4);
    for group in &mut groups {
        match *group {
            [a, b, c, d] => {
                let (a, b, c, d) = (&a[..len], &b[..len], &c[..len], &d[..len]);
                let it = acc.iter_mut().zip(a).zip(b).zip(c).zip(d);
                if first {
                    for ((((s, &a), &b), &c), &d) in it {
                        *s = u16::from(a) + u16::from(b) + u16::from(c) + u16::from(d);
                    }
                } else {
                    for ((((s, &a), &b), &c), &d) in it {
                        *s += u16::from(a) + u16::from(b) + u16::from(c) + u16::from(d);
                    }
                }
            }
            [a, b, c] => {
                let (a, b, c) = (&a[..len], &b[..len], &c[..len]);
                let it = acc.iter_mut().zip(a).zip(b).zip(c);
                if first {
                    for (((s, &a), &b), &c) in it {
                        *s = u16::from(a) + u16::from(b) + u16::from(c);
                    }
                } else {
                    for (((s, &a), &b), &c) in it {
                        *s += u16::from(a) + u16::from(b) + u16::from(c);
                    }
                }
            }
            [a, b] => {
                let (a, b) = (&a[..len], &b[..len]);
                let it = acc.iter_mut().zip(a).zip(b);
                if first {
                    for ((s, &a), &b) in it {
                        *s = u16::from(a) + u16::from(b);
                    }
                } else {
                    for ((s, &a), &b) in it {
                        *s += u16::from(a) + u16::from(b);
                    }
                }
            }
            [a] => {
                let a = &a[..len];
                if first {
                    for (s, &a) in acc.iter_mut().zip(a) {
                        *s = u16::from(a);
                    }
                } else {
                    for (s, &a) in acc.iter_mut().zip(a) {
                        *s += u16::from(a);
                    }
                }
            }
            _ => unreachable!("chunks(4) yields 1 to 4 rows"),
        }
        first = false;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn column_sums_avx2(acc: &mut [u16], rows: &[&[u8]], first: bool) {
    column_sums_body(acc, rows, first);
}

fn column_sums(acc: &mut [u16], rows: &[&[u8]], first: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { column_sums_avx2(acc, rows, first) };
        return;
    }
    column_sums_body(acc, rows, first);
}

/// Add the column sums `acc` (pixel columns × C channels) into the cell sums.
#[inline(always)]
fn reduce_columns<const C: usize>(acc: &[u16], geo: &Geometry, sums: &mut [u64]) {
    for j in 0..geo.cols() {
        let span = geo.col_span(j);
        let cell = &acc[span.start * C..span.end * C];
        let mut total = [0u64; C];
        for px in cell.chunks_exact(C) {
            for ch in 0..C {
                total[ch] += u64::from(px[ch]);
            }
        }
        for ch in 0..C {
            sums[j * C + ch] += total[ch];
        }
    }
}

fn reduce_columns_any(acc: &[u16], c: usize, geo: &Geometry, sums: &mut [u64]) {
    match c {
        1 => reduce_columns::<1>(acc, geo, sums),
        2 => reduce_columns::<2>(acc, geo, sums),
        3 => reduce_columns::<3>(acc, geo, sums),
        4 => reduce_columns::<4>(acc, geo, sums),
        _ => {
            for j in 0..geo.cols() {
                let span = geo.col_span(j);
                for px in acc[span.start * c..span.end * c].chunks_exact(c) {
                    for (s, &v) in sums[j * c..(j + 1) * c].iter_mut().zip(px) {
                        *s += u64::from(v);
                    }
                }
            }
        }
    }
}

/// Reusable buffers of one worker.
#[derive(Default)]
pub struct Scratch {
    acc: Vec<u16>,
    sums: Vec<u64>,
    values: Vec<u8>,
    line: Vec<u8>,
    keys: Vec<Key>,
}

/// The sums S[i, j, c] of cell row `i` of one image `(H, W, C)` into `sums`
/// (length cols·C). Rows that are contiguous in memory are first added into
/// u16 column sums (vectorised), then each cell's columns are added up.
pub fn cell_row_sums(
    img: ArrayView3<u8>,
    geo: &Geometry,
    i: usize,
    scratch: &mut Scratch,
    sums: &mut [u64],
) {
    let c = img.shape()[2];
    sums.fill(0);
    let span = geo.row_span(i);
    let width = geo.col_span(geo.cols() - 1).end * c;
    let row_slice = |y: usize| img.index_axis(Axis(0), y).to_slice();
    if row_slice(span.start).is_none() {
        for y in span {
            add_row(img.index_axis(Axis(0), y), geo, sums);
        }
        return;
    }
    scratch.acc.resize(width, 0);
    let mut start = span.start;
    while start < span.end {
        let flush_end = (start + ROWS_PER_FLUSH).min(span.end);
        let mut first = true;
        while start < flush_end {
            let end = (start + ROWS_PER_CALL).min(flush_end);
            // Every row of a view has the same strides: all are contiguous.
            let mut rows: [&[u8]; ROWS_PER_CALL] = [&[]; ROWS_PER_CALL];
            for (slot, y) in rows.iter_mut().zip(start..end) {
                *slot = &row_slice(y).expect("rows share their strides")[..width];
            }
            column_sums(&mut scratch.acc, &rows[..end - start], first);
            first = false;
            start = end;
        }
        reduce_columns_any(&scratch.acc, c, geo, sums);
    }
}

/// Copy `src` into the not yet initialised `dst` (same length).
#[inline]
fn copy_into(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    // SAFETY: same length; `src` is initialised and cannot overlap `dst`
    // (a `&mut` borrow); MaybeUninit<u8> has the layout of u8.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len()) }
}

/// Expand one cell row's values into one output pixel row (`line`).
#[inline(always)]
fn expand_line<const C: usize>(values: &[u8], geo: &Geometry, line: &mut [u8]) {
    for j in 0..geo.cols() {
        let span = geo.col_span(j);
        let v: [u8; C] = values[j * C..(j + 1) * C].try_into().expect("C values");
        let dst = &mut line[span.start * C..span.end * C];
        if C == 1 {
            dst.fill(v[0]);
        } else {
            for px in dst.chunks_exact_mut(C) {
                px.copy_from_slice(&v);
            }
        }
    }
}

/// Outputs at least this large are written with non-temporal stores (rows of
/// at least [`STREAM_MIN_ROW`] bytes): they do not fit in the caches anyway, and
/// streaming stores save reading every destination line before writing it.
pub const STREAM_MIN_OUTPUT: usize = 16 << 20;
pub const STREAM_MIN_ROW: usize = 1024;

/// [`copy_into`] with non-temporal stores for the 16-byte-aligned middle
/// (x86_64; elsewhere a plain copy). The caller issues [`store_fence`] after
/// its last streaming copy.
#[inline]
fn copy_into_streaming(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let n = src.len();
        let d = dst.as_mut_ptr().cast::<u8>();
        let head = d.align_offset(16).min(n);
        // SAFETY: all accesses are within the `n` bytes of `src` and `dst`
        // (same length, disjoint); the stores at d + i are 16-byte aligned
        // (i >= head, (i - head) a multiple of 16); SSE2 is part of x86_64.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), d, head);
            let mut i = head;
            while i + 16 <= n {
                let v = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
                _mm_stream_si128(d.add(i).cast::<__m128i>(), v);
                i += 16;
            }
            std::ptr::copy_nonoverlapping(src.as_ptr().add(i), d.add(i), n - i);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    copy_into(dst, src);
}

/// Order the streaming stores before whatever follows (another thread may
/// read the output once this task is done).
#[inline]
fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// Write one cell row's values into its rows of the output (`out`: 1 row for
/// the grid, the cell row's pixel rows for the full image). The full output
/// builds one pixel row and copies it into the others, with non-temporal
/// stores when `streaming`.
pub fn write_cell_row(
    values: &[u8],
    geo: &Geometry,
    channels: usize,
    output: Output,
    streaming: bool,
    line: &mut Vec<u8>,
    out: &mut [MaybeUninit<u8>],
) {
    match output {
        Output::Grid => copy_into(out, values),
        Output::Full => {
            let row_len = geo.out_shape(Output::Full).1 * channels;
            line.resize(row_len, 0);
            match channels {
                1 => expand_line::<1>(values, geo, line),
                2 => expand_line::<2>(values, geo, line),
                3 => expand_line::<3>(values, geo, line),
                4 => expand_line::<4>(values, geo, line),
                c => {
                    for j in 0..geo.cols() {
                        let span = geo.col_span(j);
                        let v = &values[j * c..(j + 1) * c];
                        for px in line[span.start * c..span.end * c].chunks_exact_mut(c) {
                            px.copy_from_slice(v);
                        }
                    }
                }
            }
            if streaming && row_len >= STREAM_MIN_ROW {
                for r in out.chunks_exact_mut(row_len) {
                    copy_into_streaming(r, line);
                }
                store_fence();
            } else {
                for r in out.chunks_exact_mut(row_len) {
                    copy_into(r, line);
                }
            }
        }
    }
}

/// Post-process one cell row's sums into its values, drawing the noise from
/// the cell row's own stream (key `row_key`).
fn row_values(
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
            let laplace = noise::Laplace::new(*scale);
            for (k, v) in values.iter_mut().enumerate() {
                let dz = laplace.sample(&mut rng);
                *v = div(k).value((sums[k] as i64).saturating_add(dz));
            }
        }
        Noise::Gaussian { sigma2, .. } => {
            let mut rng = stream();
            for (k, v) in values.iter_mut().enumerate() {
                let dz = noise::discrete_gaussian(&mut rng, *sigma2);
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

impl Noise<'_> {
    /// The key of the noise streams, for the noises that draw.
    fn key(&self) -> Option<&Key> {
        match self {
            Noise::None | Noise::Given(_) => None,
            Noise::Laplace { key, .. }
            | Noise::Gaussian { key, .. }
            | Noise::FloatGaussian { key, .. }
            | Noise::FloatLaplace { key, .. } => Some(key),
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

/// Inputs below this many bytes are processed on the calling thread.
const PARALLEL_MIN_BYTES: usize = 1 << 18;

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
    let image_len = oh * ow * c;
    let len = n * image_len;
    let rows_per_task = match output {
        Output::Grid => 1,
        Output::Full => geo.bh,
    };
    let task_len = rows_per_task * ow * c;
    let cells = geo.cols() * c;
    // Every byte is written below, so the output is not zeroed first (that
    // would cost a pass over it, or page faults, for nothing).
    let streaming = len >= STREAM_MIN_OUTPUT;
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let spare = &mut buf.spare_capacity_mut()[..len];

    // One cell row: sums, values (with its stream's noise), output rows.
    let cell_row = |img: ArrayView3<u8>,
                    k: usize,
                    keys: &[Key],
                    scratch: &mut Scratch,
                    (i, rows_out): (usize, &mut [MaybeUninit<u8>])| {
        let mut sums = std::mem::take(&mut scratch.sums);
        let mut values = std::mem::take(&mut scratch.values);
        sums.resize(cells, 0);
        values.resize(cells, 0);
        cell_row_sums(img, &geo, i, scratch, &mut sums);
        row_values(&sums, &geo, c, noise, (k, i), keys.get(i), &mut values);
        write_cell_row(
            &values,
            &geo,
            c,
            output,
            streaming,
            &mut scratch.line,
            rows_out,
        );
        scratch.sums = sums;
        scratch.values = values;
    };
    // Many images: one task per image, its cell rows in order. Few images:
    // one task per cell row. Small work stays on the calling thread: waking
    // an idle pool costs more than it saves. The noise of a cell row comes
    // from its own stream either way, so the bytes are the same.
    let parallel = images.len() >= PARALLEL_MIN_BYTES;
    let rows_in_parallel = parallel && n < 2 * rayon::current_num_threads();
    let per_image = |scratch: &mut Scratch, (k, image_out): (usize, &mut [MaybeUninit<u8>])| {
        let img: ArrayView3<u8> = images.index_axis(Axis(0), k);
        let mut keys = std::mem::take(&mut scratch.keys);
        match noise.key() {
            Some(key) => noise::row_keys(key, image_offset + k as u64, geo.rows(), &mut keys),
            None => keys.clear(),
        }
        if rows_in_parallel {
            image_out
                .par_chunks_mut(task_len)
                .enumerate()
                .for_each_init(Scratch::default, |s, task| cell_row(img, k, &keys, s, task));
        } else {
            for task in image_out.chunks_mut(task_len).enumerate() {
                cell_row(img, k, &keys, scratch, task);
            }
        }
        scratch.keys = keys;
    };
    if parallel {
        spare
            .par_chunks_mut(image_len)
            .enumerate()
            .for_each_init(Scratch::default, per_image);
    } else {
        let mut scratch = Scratch::default();
        for task in spare.chunks_mut(image_len).enumerate() {
            per_image(&mut scratch, task);
        }
    }
    // SAFETY: the chunks above cover all `len` bytes and every task wrote all
    // of its rows (write_cell_row fills each row of its chunk).
    unsafe { buf.set_len(len) };
    Ok(Array4::from_shape_vec((n, oh, ow, c), buf).expect("the shape matches the length"))
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
    fn streaming_rows_equal_plain_rows() {
        // Every alignment of the destination and lengths around 16.
        let src: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for offset in 0..20 {
            for n in [0usize, 1, 15, 16, 17, 31, 33, 100, 180] {
                let mut buf = vec![MaybeUninit::<u8>::new(0); 240];
                copy_into_streaming(&mut buf[offset..offset + n], &src[..n]);
                store_fence();
                let got: Vec<u8> = buf.iter().map(|b| unsafe { b.assume_init() }).collect();
                assert_eq!(&got[offset..offset + n], &src[..n]);
                assert!(got[..offset]
                    .iter()
                    .chain(&got[offset + n..])
                    .all(|&b| b == 0));
            }
        }
        // A large full output (streamed) equals the naive mosaic.
        let img = test_image(1, 1400, 4001, 3);
        let got = pixelate(
            img.view(),
            16,
            16,
            Edges::Partial,
            Output::Full,
            &Noise::None,
            0,
        )
        .unwrap();
        assert!(got.len() >= STREAM_MIN_OUTPUT);
        let grid = pixelate(
            img.view(),
            16,
            16,
            Edges::Partial,
            Output::Grid,
            &Noise::None,
            0,
        )
        .unwrap();
        for y in (0..1400).step_by(37) {
            for x in (0..4001).step_by(41) {
                assert_eq!(
                    got.slice(s![0, y, x, ..]),
                    grid.slice(s![0, y / 16, x / 16, ..])
                );
            }
        }
    }

    #[test]
    fn long_cells_flush_the_column_sums() {
        // 600 rows in one cell: more than one flush of the u16 sums.
        let img = Array4::<u8>::from_elem((1, 600, 5, 2), 255);
        let got = pixelate(
            img.view(),
            600,
            2,
            Edges::Partial,
            Output::Grid,
            &Noise::None,
            0,
        )
        .unwrap();
        assert!(got.iter().all(|&v| v == 255));
        let img = test_image(1, 600, 7, 3);
        let want = naive_mosaic(&img, 599, 3, Edges::Partial);
        let got = pixelate(
            img.view(),
            599,
            3,
            Edges::Partial,
            Output::Full,
            &Noise::None,
            0,
        )
        .unwrap();
        assert_eq!(got, want);
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
