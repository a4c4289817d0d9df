//! The one place where the core's errors become Python exceptions: a value
//! out of its domain is a `ValueError`, a failing OS random source an `OSError`.

use dp_pix_core::Error;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::PyErr;

pub(crate) fn to_py(err: Error) -> PyErr {
    match err {
        Error::Value(msg) => PyValueError::new_err(msg),
        Error::Os(msg) => PyOSError::new_err(msg),
    }
}
