//! The PyO3 binding of dp-pix: arrays in, GIL released, arrays out. The only
//! crate that imports pyo3 and numpy.
//!
//! The public Python API (`dp_pix._api`) validates every argument before calling
//! here; these wrappers still refuse what would be unsafe to compute, with the
//! core's messages.

use numpy::{IntoPyArray, PyArray1, PyArray4, PyReadonlyArray4};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use dp_pix_core::calibrate as mechanism;
use dp_pix_core::grid::{self, Edges, Noise, Output};
use dp_pix_core::samplers::{self as noise, Key, Ratio};

mod error;

use error::to_py;

/// The generator key: the caller's 32-byte seed, or fresh bytes from the OS.
fn key_from(seed: Option<&Bound<'_, PyBytes>>) -> PyResult<Key> {
    match seed {
        None => noise::os_key().map_err(to_py),
        Some(b) => b
            .as_bytes()
            .try_into()
            .map_err(|_| PyValueError::new_err("seed must be exactly 32 bytes")),
    }
}

fn ratio(num: u64, den: u64, what: &str) -> PyResult<Ratio> {
    if num == 0 || den == 0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a positive ratio, got {num}/{den}"
        )));
    }
    Ok(Ratio { num, den })
}

fn parse_modes(edges: &str, output: &str) -> PyResult<(Edges, Output)> {
    Ok((
        edges.parse().map_err(to_py)?,
        output.parse().map_err(to_py)?,
    ))
}

#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
    noise: Noise,
    image_offset: u64,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    let (edges, output) = parse_modes(edges, output)?;
    let view = images.as_array();
    let out = py
        .detach(|| grid::pixelate(view, block_h, block_w, edges, output, &noise, image_offset))
        .map_err(to_py)?;
    Ok(out.into_pyarray(py))
}

/// The non-private mosaic: every cell replaced by its mean.
#[pyfunction]
fn pixelate<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    run(py, images, block_h, block_w, edges, output, Noise::None, 0)
}

/// Post-processing with caller-given integer noise on the sums (for tests).
#[pyfunction]
fn pixelate_with_noise<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
    noise: PyReadonlyArray4<'py, i64>,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    let z = noise.as_array();
    run(
        py,
        images,
        block_h,
        block_w,
        edges,
        output,
        Noise::Given(z),
        0,
    )
}

/// DP-Pix with exact discrete Laplace noise of scale num/den on the cell sums.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn dp_pixelate_laplace<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
    scale_num: u64,
    scale_den: u64,
    seed: Option<Bound<'py, PyBytes>>,
    image_offset: u64,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    let scale = ratio(scale_num, scale_den, "scale")?;
    let key = key_from(seed.as_ref())?;
    let noise = Noise::Laplace { scale, key };
    run(
        py,
        images,
        block_h,
        block_w,
        edges,
        output,
        noise,
        image_offset,
    )
}

/// DP-Pix with exact discrete Gaussian noise of variance num/den on the cell sums.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn dp_pixelate_gaussian<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
    sigma2_num: u64,
    sigma2_den: u64,
    seed: Option<Bound<'py, PyBytes>>,
    image_offset: u64,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    let sigma2 = ratio(sigma2_num, sigma2_den, "sigma2")?;
    let key = key_from(seed.as_ref())?;
    let noise = Noise::Gaussian { sigma2, key };
    run(
        py,
        images,
        block_h,
        block_w,
        edges,
        output,
        noise,
        image_offset,
    )
}

/// NOT PRIVATE: the mosaic plus float noise in grey levels.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn noisy_pixelate<'py>(
    py: Python<'py>,
    images: PyReadonlyArray4<'py, u8>,
    block_h: usize,
    block_w: usize,
    edges: &str,
    output: &str,
    sigma: f64,
    noise: &str,
    seed: Option<Bound<'py, PyBytes>>,
    image_offset: u64,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "sigma must be a finite number >= 0, got {sigma}"
        )));
    }
    let key = key_from(seed.as_ref())?;
    let noise = match noise {
        "gaussian" => Noise::FloatGaussian { sigma, key },
        "laplace" => Noise::FloatLaplace { scale: sigma, key },
        other => {
            return Err(PyValueError::new_err(format!(
                "noise must be 'gaussian' or 'laplace', got {other:?}"
            )))
        }
    };
    run(
        py,
        images,
        block_h,
        block_w,
        edges,
        output,
        noise,
        image_offset,
    )
}

fn samples<'py>(
    py: Python<'py>,
    n: usize,
    seed: Option<Bound<'py, PyBytes>>,
    draw: impl Fn(&mut noise::StreamRng) -> i64 + Send + Sync,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let key = key_from(seed.as_ref())?;
    let out = py.detach(|| {
        let mut rng = noise::row_stream(&key, 0, 0);
        (0..n).map(|_| draw(&mut rng)).collect::<Vec<i64>>()
    });
    Ok(out.into_pyarray(py))
}

/// `n` exact discrete Laplace samples of scale num/den (for statistical tests).
#[pyfunction]
fn sample_discrete_laplace<'py>(
    py: Python<'py>,
    scale_num: u64,
    scale_den: u64,
    n: usize,
    seed: Option<Bound<'py, PyBytes>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let scale = ratio(scale_num, scale_den, "scale")?;
    samples(py, n, seed, move |rng| noise::discrete_laplace(rng, scale))
}

/// `n` exact discrete Gaussian samples of variance num/den (for statistical tests).
#[pyfunction]
fn sample_discrete_gaussian<'py>(
    py: Python<'py>,
    sigma2_num: u64,
    sigma2_den: u64,
    n: usize,
    seed: Option<Bound<'py, PyBytes>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let sigma2 = ratio(sigma2_num, sigma2_den, "sigma2")?;
    samples(py, n, seed, move |rng| {
        noise::discrete_gaussian(rng, sigma2)
    })
}

#[pyfunction]
fn l1_sensitivity(m: u64, channels: u64) -> PyResult<u64> {
    mechanism::l1_sensitivity(m, channels).map_err(to_py)
}

#[pyfunction]
fn l2_sensitivity_sq(m: u64, channels: u64, block_h: u64, block_w: u64) -> PyResult<u128> {
    mechanism::l2_sensitivity_sq(m, channels, block_h, block_w).map_err(to_py)
}

#[pyfunction]
fn laplace_scale(epsilon: f64, sensitivity: u64) -> PyResult<(u64, u64)> {
    let r = mechanism::laplace_scale(epsilon, sensitivity).map_err(to_py)?;
    Ok((r.num, r.den))
}

#[pyfunction]
fn gaussian_sigma2(rho: f64, l2_sq: u128) -> PyResult<(u64, u64)> {
    let r = mechanism::gaussian_sigma2(rho, l2_sq).map_err(to_py)?;
    Ok((r.num, r.den))
}

#[pyfunction]
fn delta_for(rho: f64, epsilon: f64) -> f64 {
    mechanism::delta_for(rho, epsilon)
}

#[pyfunction]
fn rho_for(epsilon: f64, delta: f64) -> PyResult<f64> {
    mechanism::rho_for(epsilon, delta).map_err(to_py)
}

#[pyfunction]
fn epsilon_for(rho: f64, delta: f64) -> PyResult<f64> {
    mechanism::epsilon_for(rho, delta).map_err(to_py)
}

#[pymodule(gil_used = false)]
fn _dp_pix(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pixelate, m)?)?;
    m.add_function(wrap_pyfunction!(pixelate_with_noise, m)?)?;
    m.add_function(wrap_pyfunction!(dp_pixelate_laplace, m)?)?;
    m.add_function(wrap_pyfunction!(dp_pixelate_gaussian, m)?)?;
    m.add_function(wrap_pyfunction!(noisy_pixelate, m)?)?;
    m.add_function(wrap_pyfunction!(sample_discrete_laplace, m)?)?;
    m.add_function(wrap_pyfunction!(sample_discrete_gaussian, m)?)?;
    m.add_function(wrap_pyfunction!(l1_sensitivity, m)?)?;
    m.add_function(wrap_pyfunction!(l2_sensitivity_sq, m)?)?;
    m.add_function(wrap_pyfunction!(laplace_scale, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_sigma2, m)?)?;
    m.add_function(wrap_pyfunction!(delta_for, m)?)?;
    m.add_function(wrap_pyfunction!(rho_for, m)?)?;
    m.add_function(wrap_pyfunction!(epsilon_for, m)?)?;
    Ok(())
}
