//! The integer sums S[i, j, c] of one cell row, for any strides.
//!
//! Rows that are contiguous in memory are added into `u16` column sums in
//! plain loops that auto-vectorise (AVX-512 and AVX2 builds of the same loop
//! are chosen at run time), then each cell's columns are added once (narrow
//! cells by windowed vector adds, `reduce_small_cells`); other layouts
//! (Fortran order, strided views) take the general loop. Sums are exact.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayView3, Axis};

use super::layout::RowLayout;
use super::Geometry;
use crate::samplers::{Key, StreamRng};

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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn column_sums_avx512(acc: &mut [u16], rows: &[&[u8]], first: bool) {
    column_sums_body(acc, rows, first);
}

fn column_sums(acc: &mut [u16], rows: &[&[u8]], first: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has AVX-512F and BW.
        unsafe { column_sums_avx512(acc, rows, first) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { column_sums_avx2(acc, rows, first) };
        return;
    }
    column_sums_body(acc, rows, first);
}

/// Add the column sums `acc` (pixel columns × C channels) of the cells
/// `cols` into the cell sums.
#[inline(always)]
fn reduce_columns<const C: usize>(
    acc: &[u16],
    geo: &Geometry,
    cols: Range<usize>,
    sums: &mut [u64],
) {
    for j in cols {
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

fn reduce_columns_any(acc: &[u16], c: usize, geo: &Geometry, cols: Range<usize>, sums: &mut [u64]) {
    match c {
        1 => reduce_columns::<1>(acc, geo, cols, sums),
        2 => reduce_columns::<2>(acc, geo, cols, sums),
        3 => reduce_columns::<3>(acc, geo, cols, sums),
        4 => reduce_columns::<4>(acc, geo, cols, sums),
        _ => {
            for j in cols {
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

/// The cell sums of the full cells from the column sums `acc`, `c` channels,
/// cells `bw` columns wide, added into `sums`: every window of bw pixels
/// summed at once (32 sums of 16 bits at a time: each at most
/// 255·bh·bw < 2^16 for the layout's cells), then the windows that start a
/// cell picked out by a compress.
///
/// # Safety
/// The CPU must have AVX-512F, BW and VBMI2 (the layout's `sums_vector`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2")]
unsafe fn reduce_small_cells(
    acc: &[u16],
    c: usize,
    bw: usize,
    layout: &RowLayout,
    picked: &mut Vec<u16>,
    sums: &mut [u64],
) {
    use std::arch::x86_64::*;
    let out = layout.full_cols * c;
    picked.resize(out + 32, 0);
    let mut n = 0;
    for (q, &pick) in layout.pick.iter().enumerate() {
        let mut s = _mm512_setzero_si512();
        for p in 0..bw {
            let at = 32 * q + p * c;
            if at >= acc.len() {
                break; // only windows that are not picked reach this far
            }
            let lanes = (acc.len() - at).min(32);
            let mask = (u64::MAX >> (64 - lanes)) as __mmask32;
            // SAFETY: the mask selects the lanes at..at + lanes, inside
            // `acc`; masked-off lanes are not accessed.
            let v = unsafe { _mm512_maskz_loadu_epi16(mask, acc.as_ptr().add(at).cast()) };
            s = _mm512_add_epi16(s, v);
        }
        // SAFETY: n + popcount(pick) <= out, and `picked` has 32 more.
        unsafe {
            _mm512_storeu_si512(
                picked.as_mut_ptr().add(n).cast(),
                _mm512_maskz_compress_epi16(pick, s),
            )
        };
        n += pick.count_ones() as usize;
    }
    debug_assert_eq!(n, out);
    for (s, &p) in sums[..out].iter_mut().zip(&picked[..out]) {
        *s += u64::from(p);
    }
}

/// Reusable buffers of one worker.
#[derive(Default)]
pub struct Scratch {
    acc: Vec<u16>,
    picked: Vec<u16>,
    pub(super) sums: Vec<u64>,
    pub(super) values: Vec<u8>,
    pub(super) noise: Vec<i64>,
    pub(super) line: Vec<u8>,
    pub(super) keys: Vec<Key>,
    pub(super) streams: Vec<StreamRng>,
}

/// The sums S[i, j, c] of cell row `i` of one image `(H, W, C)` into `sums`
/// (length cols·C). Rows that are contiguous in memory are first added into
/// u16 column sums (vectorised), then each cell's columns are added up.
pub fn cell_row_sums(
    img: ArrayView3<u8>,
    geo: &Geometry,
    layout: &RowLayout,
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
        let flush_start = start;
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
        let rows = flush_end - flush_start;
        #[cfg(target_arch = "x86_64")]
        if layout.sums_vector && 255 * rows * geo.bw <= usize::from(u16::MAX) {
            // SAFETY: `vector` says the CPU has the features.
            unsafe {
                reduce_small_cells(&scratch.acc, c, geo.bw, layout, &mut scratch.picked, sums)
            };
            let partial = layout.full_cols..geo.cols();
            reduce_columns_any(&scratch.acc, c, geo, partial, sums);
            continue;
        }
        reduce_columns_any(&scratch.acc, c, geo, 0..geo.cols(), sums);
    }
}
