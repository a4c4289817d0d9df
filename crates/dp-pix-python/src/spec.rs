//! The noise spec of the one entry point, read from Python: `None` or a tuple
//! naming the law and its parameters. A malformed spec is a `ValueError`
//! naming what is wrong (unknown law, wrong arity, a zero ratio, a negative
//! or non-finite sigma, a given array of the wrong shape); an argument of the
//! wrong type a `TypeError`.

use numpy::{PyArrayDescrMethods, PyReadonlyArray4, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString, PyTuple};

use dp_pix_core::grid::Noise;
use dp_pix_core::samplers::{self, Key, Ratio, StreamRng};

use crate::error::to_py;

/// What to add to the cells, as the caller spelled it.
pub(crate) enum Spec<'py> {
    None,
    Laplace(Ratio),
    Gaussian(Ratio),
    FloatGaussian(f64),
    FloatLaplace(f64),
    Given(PyReadonlyArray4<'py, i64>),
}

/// An exact law to sample from (`sample`).
#[derive(Clone, Copy)]
pub(crate) enum Law {
    Laplace(samplers::Laplace),
    Gaussian(Ratio),
}

impl Law {
    /// `out.len()` draws in a row, exactly as the kernels draw a cell row's
    /// noise (the Laplace in one batch: the same values as one at a time).
    pub(crate) fn fill(&self, rng: &mut StreamRng, out: &mut [i64]) {
        match self {
            Law::Laplace(laplace) => laplace.fill(rng, out),
            Law::Gaussian(sigma2) => {
                for z in out {
                    *z = samplers::discrete_gaussian(rng, *sigma2);
                }
            }
        }
    }
}

const LAWS: &str = "'laplace', 'gaussian', 'float-gaussian', 'float-laplace' or 'given'";

impl<'py> Spec<'py> {
    pub(crate) fn parse(noise: Option<&Bound<'py, PyAny>>) -> PyResult<Spec<'py>> {
        let Some(noise) = noise else {
            return Ok(Spec::None);
        };
        let spec = noise.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!(
                "noise must be None or a tuple such as ('laplace', num, den), got {}",
                type_name(noise)
            ))
        })?;
        if spec.is_empty() {
            return Err(PyValueError::new_err(format!(
                "noise must start with the name of its law ({LAWS}), got ()"
            )));
        }
        let head = spec.get_item(0)?;
        let name = head.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "noise[0] must be a str naming the law ({LAWS}), got {}",
                type_name(&head)
            ))
        })?;
        let name = name.to_str()?;
        let arity = |form: &str, want: usize| -> PyResult<()> {
            if spec.len() == want {
                return Ok(());
            }
            Err(PyValueError::new_err(format!(
                "noise {form} takes {want} items, got {}",
                spec.len()
            )))
        };
        Ok(match name {
            "laplace" => {
                arity("('laplace', num, den)", 3)?;
                Spec::Laplace(ratio(spec, "laplace scale")?)
            }
            "gaussian" => {
                arity("('gaussian', num, den)", 3)?;
                Spec::Gaussian(ratio(spec, "gaussian variance")?)
            }
            "float-gaussian" => {
                arity("('float-gaussian', sigma)", 2)?;
                Spec::FloatGaussian(non_negative(&spec.get_item(1)?, "float-gaussian sigma")?)
            }
            "float-laplace" => {
                arity("('float-laplace', scale)", 2)?;
                Spec::FloatLaplace(non_negative(&spec.get_item(1)?, "float-laplace scale")?)
            }
            "given" => {
                arity("('given', z)", 2)?;
                Spec::Given(given(&spec.get_item(1)?)?)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown noise '{other}': expected {LAWS}"
                )))
            }
        })
    }

    /// The kernel's noise.
    pub(crate) fn noise(&self) -> Noise<'_> {
        match self {
            Spec::None => Noise::None,
            Spec::Given(z) => Noise::Given(z.as_array()),
            Spec::Laplace(scale) => Noise::Laplace { scale: *scale },
            Spec::Gaussian(sigma2) => Noise::Gaussian { sigma2: *sigma2 },
            Spec::FloatGaussian(sigma) => Noise::FloatGaussian { sigma: *sigma },
            Spec::FloatLaplace(scale) => Noise::FloatLaplace { scale: *scale },
        }
    }

    /// Whether the noise draws from the streams (and needs keys).
    pub(crate) fn draws(&self) -> bool {
        !matches!(self, Spec::None | Spec::Given(_))
    }

    /// The law `sample` draws from: only the exact laws have samples.
    pub(crate) fn exact_law(&self) -> PyResult<Law> {
        let got = match self {
            Spec::Laplace(scale) => return Ok(Law::Laplace(samplers::Laplace::new(*scale))),
            Spec::Gaussian(sigma2) => return Ok(Law::Gaussian(*sigma2)),
            Spec::None => "None",
            Spec::FloatGaussian(_) => "'float-gaussian'",
            Spec::FloatLaplace(_) => "'float-laplace'",
            Spec::Given(_) => "'given'",
        };
        Err(PyValueError::new_err(format!(
            "sample draws from an exact law: noise must be ('laplace', num, den) or \
             ('gaussian', num, den), got {got}"
        )))
    }
}

/// The 32-byte key of a seed, checked (`None` stays `None`).
pub(crate) fn seed_bytes(seed: Option<&Bound<'_, PyBytes>>) -> PyResult<Option<Key>> {
    seed.map(|b| {
        b.as_bytes().try_into().map_err(|_| {
            PyValueError::new_err(format!(
                "seed must be exactly 32 bytes, got {}",
                b.as_bytes().len()
            ))
        })
    })
    .transpose()
}

/// The keys of `pixelate`'s seed: 32 bytes (one key for the call) or 32·N
/// (one per image), checked; with no seed, one fresh key from the operating
/// system when the noise draws, else none.
pub(crate) fn seed_keys(seed: Option<&Bound<'_, PyBytes>>, draws: bool) -> PyResult<Vec<Key>> {
    let Some(seed) = seed else {
        return Ok(if draws { vec![key(None)?] } else { Vec::new() });
    };
    let bytes = seed.as_bytes();
    if bytes.is_empty() || bytes.len() % 32 != 0 {
        return Err(PyValueError::new_err(format!(
            "seed must be 32 bytes (one key), or 32 bytes per image, got {}",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunks"))
        .collect())
}

/// The generator key: the caller's seed, or fresh bytes from the OS.
pub(crate) fn key(seed: Option<Key>) -> PyResult<Key> {
    match seed {
        Some(key) => Ok(key),
        None => samplers::os_key().map_err(to_py),
    }
}

/// A whole number in `0..2**64` (a Python int or anything with `__index__`;
/// not a bool).
pub(crate) fn index(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, got bool"
        )));
    }
    value.extract::<u64>().map_err(|err| {
        if err.is_instance_of::<PyOverflowError>(value.py()) {
            PyValueError::new_err(format!("{what} must be an int in 0..2**64, got {value}"))
        } else {
            PyTypeError::new_err(format!("{what} must be an int, got {}", type_name(value)))
        }
    })
}

/// `num/den` from items 1 and 2 of the spec, both at least 1.
fn ratio(spec: &Bound<'_, PyTuple>, what: &str) -> PyResult<Ratio> {
    let num = index(&spec.get_item(1)?, &format!("{what} num"))?;
    let den = index(&spec.get_item(2)?, &format!("{what} den"))?;
    if num == 0 || den == 0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a positive ratio num/den with num, den >= 1, got {num}/{den}"
        )));
    }
    Ok(Ratio { num, den })
}

/// A finite real number >= 0 (not a bool).
fn non_negative(value: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a real number, got bool"
        )));
    }
    let x = value.extract::<f64>().map_err(|err| {
        if err.is_instance_of::<PyOverflowError>(value.py()) {
            PyValueError::new_err(format!("{what} must be a finite number >= 0, got {value}"))
        } else {
            PyTypeError::new_err(format!(
                "{what} must be a real number, got {}",
                type_name(value)
            ))
        }
    })?;
    if !(x.is_finite() && x >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "{what} must be a finite number >= 0, got {x}"
        )));
    }
    Ok(x)
}

/// The caller's integer noise: a numpy int64 array of 4 dimensions. Its
/// shape is checked against the grid by the kernel.
fn given<'py>(z: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArray4<'py, i64>> {
    let array = z.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "given noise must be a numpy int64 array, got {}",
            type_name(z)
        ))
    })?;
    let dtype = array.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<i64>(z.py())) {
        return Err(PyTypeError::new_err(format!(
            "given noise must have dtype int64, got {dtype}"
        )));
    }
    if array.ndim() != 4 {
        return Err(PyValueError::new_err(format!(
            "given noise must have 4 dimensions (N, gh, gw, C), got shape {:?}",
            array.shape()
        )));
    }
    z.extract()
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an object".to_string(), |n| n.to_string())
}
