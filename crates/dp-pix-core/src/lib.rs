//! dp-pix core: exact differentially private pixelization (Fan 2018).
//!
//! Pure Rust: the kernels take `ndarray` views or slices and return
//! [`Result`]; they never see Python, so `cargo test -p dp-pix-core` runs
//! without an interpreter. The PyO3 binding is the `dp-pix-python` crate.
//!
//! * [`samplers`]: exact integer noise (CKS 2020, Alg. 1–3) and the ChaCha20
//!   streams it draws from;
//! * [`grid`]: cell geometry, integer sums, post-processing, the writers and
//!   the batch driver [`grid::pixelate`];
//! * [`calibrate`]: sensitivities and noise parameters, rounded toward more noise.

pub mod calibrate;
pub mod error;
pub mod grid;
pub mod samplers;

#[cfg(test)]
mod digests;

pub use error::{Error, Result};
