//! Which pixels each cell covers, what its sum is divided by, and the shape
//! of the output, for the three edge modes.

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

/// The largest cell, in pixels: 255·2^48 < 2^63.
pub const MAX_CELL_PIXELS: u128 = 1 << 48;

impl Geometry {
    pub fn new(h: usize, w: usize, bh: usize, bw: usize, edges: Edges) -> Result<Self> {
        if h == 0 || w == 0 {
            return Err(Error::Value(format!("image is empty ({h}x{w})")));
        }
        if bh == 0 || bw == 0 {
            return Err(Error::Value(format!("block must be >= 1, got {bh}x{bw}")));
        }
        // The last line of defence (the Python layer bounds blocks far lower):
        // 255 x a cell's pixel count must stay an i64, and the end of the last
        // cell, rows·bh, a usize.
        let area = (bh as u128) * (bw as u128);
        if area > MAX_CELL_PIXELS || h.checked_add(bh).is_none() || w.checked_add(bw).is_none() {
            return Err(Error::Value(format!(
                "block {bh}x{bw} is too large: a cell may hold at most 2**48 pixels"
            )));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
