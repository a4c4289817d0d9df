//! mechanism
