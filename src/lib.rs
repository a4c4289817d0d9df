//! dp-pix core: exact differentially private pixelization (Fan 2018).
//!
//! The kernels here never see Python; `py` is the only binding layer.

pub mod error;
pub mod grid;
pub mod mechanism;
pub mod noise;
mod py;

#[cfg(test)]
mod digests;

pub use error::{Error, Result};
