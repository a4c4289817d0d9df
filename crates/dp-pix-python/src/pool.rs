//! Output arrays whose memory is reused by the next call: one spare buffer.
//!
//! Fresh memory costs a page fault per page on first touch (each a kernel
//! entry, and on a virtual machine an exit from the guest): for a 25 MB
//! output that took longer than the whole computation. So a large output is
//! returned to Python owned by an [`Output`] object; when NumPy frees the
//! array, its buffer becomes the spare, and the next call of about the same
//! size writes into it (every byte overwritten; none read). At most one
//! spare is kept, so a program holds at most one freed output's memory more
//! than it otherwise would; outputs it keeps are never touched.

use std::sync::Mutex;

use numpy::ndarray::Array4;
use numpy::{IntoPyArray, PyArray4};
use pyo3::prelude::*;

/// Outputs smaller than this are plain NumPy arrays (their page faults are few).
const MIN_BYTES: usize = 1 << 20;

/// The buffer of the last large output NumPy freed.
static SPARE: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Memory for an output of `len` bytes: the spare when it fits (holding at
/// most a quarter more), else nothing (the kernel allocates).
pub(crate) fn take(len: usize) -> Vec<u8> {
    if len < MIN_BYTES {
        return Vec::new();
    }
    let mut spare = SPARE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match spare.take() {
        Some(buf) if buf.capacity() >= len && buf.capacity() - len <= len / 4 => buf,
        other => {
            *spare = other; // keep it for a call of its size
            Vec::new()
        }
    }
}

/// The owner of a large output's memory, the base of its NumPy array.
#[pyclass(frozen, module = "dp_pix._dp_pix")]
pub(crate) struct Output {
    array: Array4<u8>,
}

impl Drop for Output {
    fn drop(&mut self) {
        // NumPy freed the array: its memory becomes the spare.
        let (buf, _) = std::mem::take(&mut self.array).into_raw_vec_and_offset();
        if buf.capacity() >= MIN_BYTES {
            let mut spare = SPARE
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *spare = Some(buf);
        }
    }
}

/// `array` as a NumPy array: owned by an [`Output`] when large.
pub(crate) fn into_numpy(py: Python<'_>, array: Array4<u8>) -> PyResult<Bound<'_, PyArray4<u8>>> {
    if array.len() < MIN_BYTES {
        return Ok(array.into_pyarray(py));
    }
    let owner = Bound::new(py, Output { array })?;
    let array = &owner.get().array;
    // SAFETY: the array's memory belongs to `owner`, the base object of the
    // NumPy array, which keeps it alive as long as the array; a frozen
    // `Output` never changes or moves its array before it is dropped.
    Ok(unsafe { PyArray4::borrow_from_array(array, owner.clone().into_any()) })
}
