//! The one error type of the core; the binding (`dp-pix-python`) maps it to
//! Python exceptions in one place.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A parameter is out of its domain (maps to `ValueError`).
    #[error("{0}")]
    Value(String),
    /// The operating system could not provide random bytes (maps to `OSError`).
    #[error("the operating system's random source failed: {0}")]
    Os(String),
}

pub type Result<T> = std::result::Result<T, Error>;
