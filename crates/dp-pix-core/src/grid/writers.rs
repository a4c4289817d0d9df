//! Writers: one cell row's values into its rows of the output — one pixel per
//! cell ("grid"), or every pixel of the cell ("full": one pixel row built once
//! and copied into the others, with non-temporal stores for large outputs).
//! The output is never zeroed first: every byte is written exactly once.

use std::mem::MaybeUninit;

use super::layout::RowLayout;
use super::{Geometry, Output};

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
/// stores when `streaming`; for small cells on a CPU with AVX-512 VBMI it
/// builds each 64 bytes of that row by one byte permute of the values
/// (`layout`); `line` holds the row.
#[allow(clippy::too_many_arguments)]
pub fn write_cell_row(
    values: &[u8],
    geo: &Geometry,
    layout: &RowLayout,
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
            let stream = streaming && row_len >= STREAM_MIN_ROW;
            line.resize(row_len, 0);
            #[cfg(target_arch = "x86_64")]
            if layout.write_vector {
                // SAFETY: `write_vector` says the CPU has AVX-512F, BW and VBMI.
                unsafe { x86::expand_line(values, layout, line) };
            } else {
                expand_line_any(values, geo, channels, line);
            }
            #[cfg(not(target_arch = "x86_64"))]
            expand_line_any(values, geo, channels, line);
            if stream {
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

/// [`expand_line`] for any channel count.
fn expand_line_any(values: &[u8], geo: &Geometry, channels: usize, line: &mut [u8]) {
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
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::RowLayout;

    /// The full-size pixel row `line`, each 64-byte chunk from one byte
    /// permute of the values it repeats.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, BW and VBMI (the layout's `write_vector`).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) unsafe fn expand_line(values: &[u8], layout: &RowLayout, line: &mut [u8]) {
        let row_len = line.len();
        assert_eq!(layout.perm.len(), 64 * row_len.div_ceil(64));
        for (q, &base) in layout.chunk_base.iter().enumerate() {
            let base = base as usize;
            let have = values.len().saturating_sub(base).min(64);
            // SAFETY: the mask selects values[base..base + have]; masked-off
            // bytes are not accessed.
            let v = unsafe {
                _mm512_maskz_loadu_epi8(
                    (u64::MAX >> (64 - have)) as __mmask64,
                    values.as_ptr().add(base.min(values.len())).cast(),
                )
            };
            // SAFETY: perm holds 64 bytes per chunk.
            let perm = unsafe { _mm512_loadu_si512(layout.perm.as_ptr().add(64 * q).cast()) };
            let chunk = _mm512_permutexvar_epi8(perm, v);
            let bytes = (row_len - 64 * q).min(64);
            // SAFETY: the mask selects line[64q..64q + bytes]; masked-off
            // bytes are not accessed. (A masked store per row of the output
            // measured slower than this line and a copy per row.)
            unsafe {
                _mm512_mask_storeu_epi8(
                    line.as_mut_ptr().add(64 * q).cast(),
                    (u64::MAX >> (64 - bytes)) as __mmask64,
                    chunk,
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Edges;

    #[test]
    fn every_writer_path_writes_the_same_rows() {
        // Widths, block widths and channel counts around the vector widths,
        // partial last cells, cropped rows; the permute path (where the CPU
        // and the cells allow it) against the plain expansion.
        for c in 1..=4usize {
            for bw in [1usize, 2, 3, 4, 5, 8, 13, 16, 17, 64] {
                for w in [1usize, 3, 7, 16, 21, 63, 64, 65, 84, 100, 130] {
                    for edges in [Edges::Partial, Edges::Crop] {
                        let Ok(geo) = Geometry::new(3, w, 3, bw, edges) else {
                            continue;
                        };
                        let values: Vec<u8> =
                            (0..geo.cols() * c).map(|k| (k * 37 + 11) as u8).collect();
                        let row_len = geo.out_shape(Output::Full).1 * c;
                        let mut want = vec![0u8; row_len];
                        expand_line_any(&values, &geo, c, &mut want);
                        let layout = RowLayout::new(&geo, c);
                        let mut line = Vec::new();
                        for streaming in [false, true] {
                            let mut out = vec![MaybeUninit::new(0xAAu8); 3 * row_len];
                            write_cell_row(
                                &values,
                                &geo,
                                &layout,
                                c,
                                Output::Full,
                                streaming,
                                &mut line,
                                &mut out,
                            );
                            store_fence();
                            for row in out.chunks_exact(row_len) {
                                let got: Vec<u8> =
                                    row.iter().map(|b| unsafe { b.assume_init() }).collect();
                                assert_eq!(got, want, "c {c} bw {bw} w {w} {edges:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn streaming_copies_equal_plain_copies() {
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
    }
}
