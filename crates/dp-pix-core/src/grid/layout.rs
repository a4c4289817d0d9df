//! The layout of a cell row's pixel row as the vector paths read it: which
//! column sums start a cell (for the cell sums), and which value each byte of
//! a full-size output row repeats (for the writer). Built once per call and
//! shared by its tasks, for cells small enough that a few vector instructions
//! handle many of them: AVX-512 with VBMI and VBMI2 (byte permutes, word
//! compresses).

use super::Geometry;

/// Cells whose sums fit the vector path's 16-bit lanes: 255 · pixels <= 2^16 - 1.
const MAX_CELL_PIXELS: usize = 257;
/// Cells at most this many columns wide take the windowed sums
/// (`sums::reduce_small_cells`): they add every window of bw columns (bw
/// additions a sum), which pays for narrow cells only (measured: faster at 4
/// and 8 columns, slower at 16).
const SMALL_CELL_COLUMNS: usize = 8;
/// Bytes of a cell's pixel row the writer's permutes handle (one vector).
const MAX_CELL_BYTES: usize = 64;

/// The layout of one pixel row of cells (`geo`, `c` channels).
#[derive(Debug, Default)]
pub struct RowLayout {
    /// Whether the windowed cell sums apply (CPU and cell size).
    pub(super) sums_vector: bool,
    /// Whether the permuting writer applies (CPU and cell size).
    pub(super) write_vector: bool,
    /// Cells of the row that are `bw` pixels wide (all but a partial last one).
    pub(super) full_cols: usize,
    /// For the column sums of the full cells, 32 at a time: bit t of
    /// `pick[q]` is set when sum 32q + t is the first pixel of a cell, one per
    /// channel (k mod bw·C < C).
    pub(super) pick: Vec<u32>,
    /// For each 64-byte chunk q of an output pixel row: the index of the value
    /// its first byte repeats, and in `perm[64q..64q + 64]` each byte's value
    /// index less that (below 64: a chunk spans fewer than 64 values).
    pub(super) chunk_base: Vec<u32>,
    pub(super) perm: Vec<u8>,
}

impl RowLayout {
    /// The layout for `geo` and `c` channels.
    pub fn new(geo: &Geometry, c: usize) -> RowLayout {
        let cols = geo.cols();
        let bw = geo.bw;
        let full_cols = (0..cols).filter(|&j| geo.col_span(j).len() == bw).count();
        let vector = cpu_has_vector_paths()
            && geo.bh * bw <= MAX_CELL_PIXELS
            && bw * c <= MAX_CELL_BYTES
            && c >= 1;
        let mut layout = RowLayout {
            sums_vector: vector && bw <= SMALL_CELL_COLUMNS,
            write_vector: vector,
            full_cols,
            ..RowLayout::default()
        };
        if !vector {
            return layout;
        }
        let period = bw * c;
        let covered = full_cols * period;
        if layout.sums_vector {
            layout.pick = (0..covered.div_ceil(32))
                .map(|q| {
                    (0..32)
                        .filter(|t| {
                            let k = 32 * q + t;
                            k < covered && k % period < c
                        })
                        .fold(0u32, |m, t| m | 1 << t)
                })
                .collect();
        }
        // Output byte x·C + ch repeats value j·C + ch, j the cell of column x;
        // a chunk's values start at the first value of the cell of its first byte.
        let row_len = geo.col_span(cols - 1).end * c;
        let value_of = |k: usize| (k / c / bw) * c + k % c;
        for q in 0..row_len.div_ceil(64) {
            let base = (64 * q / c / bw) * c;
            layout.chunk_base.push(base as u32);
            for k in 64 * q..64 * q + 64 {
                let rel = if k < row_len { value_of(k) - base } else { 0 };
                if rel >= 64 {
                    // (Narrow cells of several channels: a chunk may span more
                    // than 64 values.)
                    layout.write_vector = false;
                    layout.perm.clear();
                    layout.chunk_base.clear();
                    return layout;
                }
                layout.perm.push(rel as u8);
            }
        }
        layout
    }
}

/// Whether the CPU runs the vector paths of this layout.
fn cpu_has_vector_paths() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("avx512f") && has!("avx512bw") && has!("avx512vbmi") && has!("avx512vbmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Edges;

    #[test]
    fn layout_picks_cell_starts_and_maps_bytes_to_values() {
        for (w, bw, c) in [
            (84, 4, 3),
            (92, 8, 1),
            (17, 4, 3),
            (7, 2, 4),
            (64, 16, 4),
            (5, 9, 1),
        ] {
            let geo = Geometry::new(8, w, 2, bw, Edges::Partial).unwrap();
            let layout = RowLayout::new(&geo, c);
            if !layout.write_vector {
                continue; // a CPU without the vector paths, or cells too wide
            }
            if layout.sums_vector {
                let picked: Vec<usize> = (0..32 * layout.pick.len())
                    .filter(|&k| layout.pick[k / 32] >> (k % 32) & 1 == 1)
                    .collect();
                let want: Vec<usize> = (0..layout.full_cols)
                    .flat_map(|j| (0..c).map(move |ch| j * bw * c + ch))
                    .collect();
                assert_eq!(picked, want, "w {w} bw {bw} c {c}");
            }
            for k in 0..w * c {
                let q = k / 64;
                let got = layout.chunk_base[q] as usize + usize::from(layout.perm[k]);
                assert_eq!(
                    got,
                    (k / c / bw) * c + k % c,
                    "w {w} bw {bw} c {c} byte {k}"
                );
            }
        }
    }
}
