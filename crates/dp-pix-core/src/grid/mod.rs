//! Cell geometry, integer cell sums, post-processing and the grid / full writers.
//!
//! Work is split into (image, cell row) tasks: each task sums its cells, draws
//! its noise from its own stream and writes its own rows of the output, so the
//! bytes never depend on how rayon schedules the tasks.
//!
//! One file per job: `geometry` (which pixels a cell covers, its divisor, the
//! output's shape), `layout` (a pixel row of cells as the vector paths read
//! it), `sums` (integer cell sums, vectorised where rows are contiguous),
//! `postprocess` (the noise of a cell row and the released values, in
//! integers) and `writers` (the grid or the full-size image). This file holds
//! the kinds of noise and the batch driver.

use std::mem::MaybeUninit;

use ndarray::{Array4, ArrayView3, ArrayView4, Axis};
use rand::SeedableRng;
use rayon::prelude::*;

use crate::samplers::{self, Key, Ratio, StreamRng};
use crate::{Error, Result};

mod geometry;
mod layout;
mod postprocess;
mod sums;
#[cfg(test)]
mod tests;
mod writers;

pub use geometry::{Edges, Geometry, Output};
pub use layout::RowLayout;
use postprocess::row_values;
pub use postprocess::{cell_value, CellDivisor};
pub use sums::{cell_row_sums, Scratch};
pub use writers::{write_cell_row, STREAM_MIN_OUTPUT, STREAM_MIN_ROW};

/// What is added to each cell. Exact integer noise goes on the sums; the
/// non-private float baseline goes on the means, in grey levels.
#[derive(Clone, Copy, Debug)]
pub enum Noise<'a> {
    /// The plain mosaic.
    None,
    /// Integer noise given per (image, cell row, cell column, channel): tests only.
    Given(ArrayView4<'a, i64>),
    /// Exact discrete Laplace on the sums, scale on the sums.
    Laplace { scale: Ratio },
    /// Exact discrete Gaussian on the sums, variance on the sums.
    Gaussian { sigma2: Ratio },
    /// NOT PRIVATE: float Gaussian noise of this std on the means.
    FloatGaussian { sigma: f64 },
    /// NOT PRIVATE: float Laplace noise of this scale on the means.
    FloatLaplace { scale: f64 },
}

impl Noise<'_> {
    /// Whether the noise draws from the streams.
    fn draws(&self) -> bool {
        !matches!(self, Noise::None | Noise::Given(_))
    }

    /// Keystream blocks a cell row of `cells` cells and channels likely
    /// reads, to compute ahead with the other rows' (0: none ahead). The
    /// discrete Laplace reads about 1.09 words of 64 bits a cell (one, and
    /// one or two more for 1 in 12): the mean, 2.5 standard deviations and
    /// a word, 8 words a block.
    fn blocks_per_row(&self, cells: usize) -> usize {
        match self {
            Noise::Laplace { .. } => {
                let words = cells + cells / 10 + 1 + 4 * cells.isqrt() / 5;
                words.div_ceil(8)
            }
            _ => 0,
        }
    }

    /// Refuse what cannot be drawn: a given array of the wrong shape, a float
    /// scale that is negative or not finite.
    fn check(&self, n: usize, geo: &Geometry, c: usize) -> Result<()> {
        match self {
            Noise::Given(z) => {
                let want = [n, geo.rows(), geo.cols(), c];
                if z.shape() != want {
                    return Err(Error::Value(format!(
                        "noise must have shape {want:?}, got {:?}",
                        z.shape()
                    )));
                }
            }
            Noise::FloatGaussian { sigma: x } | Noise::FloatLaplace { scale: x }
                if !(x.is_finite() && *x >= 0.0) =>
            {
                return Err(Error::Value(format!(
                    "the float baseline's scale must be finite and >= 0, got {x}"
                )));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where each image's noise comes from: image `k` of a batch draws the
/// streams of image index `offset + k` under `keys[k]` — or under `keys[0]`
/// when one key serves the whole batch. One key per image lets a caller bind
/// each image's streams to whatever it likes (dp-pix binds a seeded image's
/// key to its content); one key with distinct offsets numbers the images.
#[derive(Clone, Copy, Debug)]
pub struct Streams<'a> {
    pub keys: &'a [Key],
    pub offset: u64,
}

impl<'a> Streams<'a> {
    /// One key for the batch, image `k` at index `offset + k`.
    pub fn one(key: &'a Key, offset: u64) -> Streams<'a> {
        Streams {
            keys: std::slice::from_ref(key),
            offset,
        }
    }

    /// No streams: for the noises that do not draw.
    pub fn none() -> Streams<'static> {
        Streams {
            keys: &[],
            offset: 0,
        }
    }

    fn check(&self, n: usize) -> Result<()> {
        if !(self.keys.len() == 1 || self.keys.len() == n) {
            return Err(Error::Value(format!(
                "a noise that draws needs one key, or one key per image ({n}), got {}",
                self.keys.len()
            )));
        }
        // Image k draws the streams of index offset + k: all must exist.
        if self.offset.checked_add(n as u64 - 1).is_none() {
            return Err(Error::Value(format!(
                "image_offset {} + {n} images pass the last stream index 2**64 - 1",
                self.offset
            )));
        }
        Ok(())
    }

    fn key(&self, k: usize) -> &Key {
        &self.keys[if self.keys.len() == 1 { 0 } else { k }]
    }
}

/// Outputs at least this large ask the kernel for transparent huge pages.
const HUGE_PAGES_MIN_BYTES: usize = 4 << 20;

/// Ask Linux to back a large output with transparent huge pages (where it
/// is enabled for `madvise`): a fresh output is faulted in 2 MiB at a time
/// instead of 4 KiB, some 500 times fewer page faults (each one a kernel entry,
/// and an exit from a virtual machine's guest) for the same zeroing. Advice
/// only: nothing changes where it is not taken, or memory already in use.
fn advise_huge_pages(buf: &mut Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        const MADV_HUGEPAGE: i32 = 14;
        unsafe extern "C" {
            fn madvise(addr: *mut core::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        let cap = buf.capacity();
        if cap < HUGE_PAGES_MIN_BYTES {
            return;
        }
        let start = buf.as_mut_ptr() as usize;
        let first = start.next_multiple_of(HUGE);
        let end = (start + cap) / HUGE * HUGE;
        if end > first {
            // SAFETY: [first, end) lies inside the allocation of `buf`,
            // page-aligned; MADV_HUGEPAGE is advice about how to back those
            // pages and changes no byte of them (its result is ignored: on a
            // kernel without it nothing changes).
            unsafe { madvise(first as *mut core::ffi::c_void, end - first, MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Inputs below this many bytes are processed on the calling thread.
const PARALLEL_MIN_BYTES: usize = 1 << 18;

/// Pixelize a batch `(N, H, W, C)` of any strides; image `k` of the batch draws
/// its noise from its streams (see [`Streams`]; unused by noises that do not draw).
#[allow(clippy::too_many_arguments)] // one per parameter of the kernel contract
pub fn pixelate(
    images: ArrayView4<u8>,
    block_h: usize,
    block_w: usize,
    edges: Edges,
    output: Output,
    noise: &Noise,
    streams: &Streams,
) -> Result<Array4<u8>> {
    pixelate_into(
        images,
        block_h,
        block_w,
        edges,
        output,
        noise,
        streams,
        Vec::new(),
    )
}

/// [`pixelate`] into the memory of `buf` when it holds enough (its bytes
/// are all overwritten; none is read), else into a new allocation: a
/// caller that keeps a buffer from call to call avoids the page faults of
/// fresh memory.
#[allow(clippy::too_many_arguments)] // pixelate's, and the buffer
pub fn pixelate_into(
    images: ArrayView4<u8>,
    block_h: usize,
    block_w: usize,
    edges: Edges,
    output: Output,
    noise: &Noise,
    streams: &Streams,
    buf: Vec<u8>,
) -> Result<Array4<u8>> {
    let (n, h, w, c) = images.dim();
    if n == 0 || c == 0 {
        return Err(Error::Value(format!(
            "images must be non-empty, got shape {:?}",
            images.shape()
        )));
    }
    if noise.draws() {
        streams.check(n)?;
    }
    let geo = Geometry::new(h, w, block_h, block_w, edges)?;
    noise.check(n, &geo, c)?;
    let (oh, ow) = geo.out_shape(output);
    let image_len = oh * ow * c;
    let len = n * image_len;
    let rows_per_task = match output {
        Output::Grid => 1,
        Output::Full => geo.bh,
    };
    let task_len = rows_per_task * ow * c;
    let cells = geo.cols() * c;
    // Read by every task.
    let layout = RowLayout::new(&geo, c);
    // Every byte is written below, so the output is not zeroed first (that
    // would cost a pass over it, or page faults, for nothing).
    let streaming = len >= STREAM_MIN_OUTPUT;
    let mut buf = buf;
    buf.clear();
    if buf.capacity() < len {
        buf = Vec::with_capacity(len);
        advise_huge_pages(&mut buf);
    }
    let spare = &mut buf.spare_capacity_mut()[..len];

    // One cell row: sums, values (with its stream's noise), output rows.
    let cell_row = |img: ArrayView3<u8>,
                    k: usize,
                    rng: Option<&mut StreamRng>,
                    scratch: &mut Scratch,
                    (i, rows_out): (usize, &mut [MaybeUninit<u8>])| {
        let mut sums = std::mem::take(&mut scratch.sums);
        let mut values = std::mem::take(&mut scratch.values);
        sums.resize(cells, 0);
        values.resize(cells, 0);
        cell_row_sums(img, &geo, &layout, i, scratch, &mut sums);
        row_values(
            &sums,
            &geo,
            c,
            noise,
            (k, i),
            rng,
            &mut scratch.noise,
            &mut values,
        );
        write_cell_row(
            &values,
            &geo,
            &layout,
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
        let index = streams.offset + k as u64;
        if rows_in_parallel {
            // Each cell row's task makes its own generator.
            if noise.draws() {
                samplers::row_keys(streams.key(k), index, geo.rows(), &mut keys);
            }
            image_out
                .par_chunks_mut(task_len)
                .enumerate()
                .for_each_init(Scratch::default, |s, task| {
                    let mut rng = noise.draws().then(|| StreamRng::from_seed(keys[task.0]));
                    cell_row(img, k, rng.as_mut(), s, task)
                });
        } else {
            // The image's generators at once, their first blocks computed
            // together (as many as the cell row's noise likely needs).
            let mut rngs = std::mem::take(&mut scratch.streams);
            if noise.draws() {
                let blocks = noise.blocks_per_row(cells);
                samplers::row_streams(
                    streams.key(k),
                    index,
                    geo.rows(),
                    blocks,
                    &mut keys,
                    &mut rngs,
                );
            }
            for task in image_out.chunks_mut(task_len).enumerate() {
                let rng = rngs.get_mut(task.0);
                cell_row(img, k, rng, scratch, task);
            }
            scratch.streams = rngs;
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
