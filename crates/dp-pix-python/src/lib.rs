//! The PyO3 binding of dp-pix: arrays in, GIL released, one entry point,
//! arrays out. The only crate that imports pyo3 and numpy.
//!
//! The public Python API (`dp_pix.params`, `dp_pix.api`) validates every argument before
//! calling here; these wrappers still refuse what would be unsafe or
//! meaningless to compute, as `ValueError` or `TypeError`, never a panic. The
//! contract is `docs/kernel-contract.md`, shared with the pure-Python twin
//! `dp_pix._reference`.

use numpy::{IntoPyArray, PyArray1, PyArray4, PyReadonlyArray4};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use dp_pix_core::calibrate;
use dp_pix_core::grid::{self, Edges, Output, Streams};
use dp_pix_core::samplers;

mod error;
mod pool;
mod spec;

use error::to_py;
use spec::{index, Spec};

/// Pixelize a batch `(N, H, W, C)` of any strides with the noise `noise`
/// (None, or a tuple such as `("laplace", num, den)`); image j of the call
/// draws the streams of image index `image_offset + j`, under the one key of
/// `seed` (32 bytes; None: a fresh key from the OS) or under its own key
/// (`seed` of 32·N bytes).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the kernel contract's argument list, one per parameter
fn pixelate<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
    noise: Option<Bound<'py, PyAny>>,
    seed: Option<Bound<'py, PyBytes>>,
    image_offset: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    let edges: Edges = edges.parse().map_err(to_py)?;
    let output: Output = output.parse().map_err(to_py)?;
    let spec = Spec::parse(noise.as_ref())?;
    let keys = spec::seed_keys(seed.as_ref(), spec.draws())?;
    let image_offset = index(&image_offset, "image_offset")?;
    let noise = spec.noise();
    let streams = Streams {
        keys: &keys,
        offset: image_offset,
    };
    let view = images.as_array();
    let (n, h, w, c) = view.dim();
    // A spare buffer of about the output's size is reused (a bad geometry is
    // refused by the kernel below).
    let len = grid::Geometry::new(h, w, block_h, block_w, edges).map_or(0, |geo| {
        let (oh, ow) = geo.out_shape(output);
        n.saturating_mul(oh).saturating_mul(ow).saturating_mul(c)
    });
    let buf = pool::take(len);
    let out = py
        .detach(|| {
            grid::pixelate_into(view, block_h, block_w, edges, output, &noise, &streams, buf)
        })
        .map_err(to_py)?;
    pool::into_numpy(py, out)
}

/// `n` samples of an exact law (`("laplace", num, den)` or
/// `("gaussian", num, den)`), drawn from the stream `row_stream(key, 0, 0)`.
#[pyfunction]
fn sample<'py>(
    py: Python<'py>,
    noise: Option<Bound<'py, PyAny>>,
    n: Bound<'py, PyAny>,
    seed: Option<Bound<'py, PyBytes>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let law = Spec::parse(noise.as_ref())?.exact_law()?;
    let n = usize::try_from(index(&n, "n")?)
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("n is too large"))?;
    let key = spec::key(spec::seed_bytes(seed.as_ref())?)?;
    let out = py.detach(|| {
        let mut rng = samplers::row_stream(&key, 0, 0);
        let mut out = vec![0i64; n];
        law.fill(&mut rng, &mut out);
        out
    });
    Ok(out.into_pyarray(py))
}

#[pyfunction]
fn l1_sensitivity(m: u64, channels: u64) -> PyResult<u64> {
    calibrate::l1_sensitivity(m, channels).map_err(to_py)
}

#[pyfunction]
fn l2_sensitivity_sq(m: u64, channels: u64, block_h: u64, block_w: u64) -> PyResult<u128> {
    calibrate::l2_sensitivity_sq(m, channels, block_h, block_w).map_err(to_py)
}

#[pyfunction]
fn laplace_scale(epsilon: f64, sensitivity: u64) -> PyResult<(u64, u64)> {
    let r = calibrate::laplace_scale(epsilon, sensitivity).map_err(to_py)?;
    Ok((r.num, r.den))
}

#[pyfunction]
fn gaussian_sigma2(rho: f64, l2_sq: u128) -> PyResult<(u64, u64)> {
    let r = calibrate::gaussian_sigma2(rho, l2_sq).map_err(to_py)?;
    Ok((r.num, r.den))
}

#[pyfunction]
fn delta_for(rho: f64, epsilon: f64) -> f64 {
    calibrate::delta_for(rho, epsilon)
}

#[pyfunction]
fn rho_for(epsilon: f64, delta: f64) -> PyResult<f64> {
    calibrate::rho_for(epsilon, delta).map_err(to_py)
}

#[pyfunction]
fn epsilon_for(rho: f64, delta: f64) -> PyResult<f64> {
    calibrate::epsilon_for(rho, delta).map_err(to_py)
}

#[pymodule(gil_used = false)]
fn _dp_pix(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pixelate, m)?)?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(l1_sensitivity, m)?)?;
    m.add_function(wrap_pyfunction!(l2_sensitivity_sq, m)?)?;
    m.add_function(wrap_pyfunction!(laplace_scale, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_sigma2, m)?)?;
    m.add_function(wrap_pyfunction!(delta_for, m)?)?;
    m.add_function(wrap_pyfunction!(rho_for, m)?)?;
    m.add_function(wrap_pyfunction!(epsilon_for, m)?)?;
    Ok(())
}
