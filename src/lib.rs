//! ca_login core: log pip in to AWS CodeArtifact through private endpoints, and say why it can't.
//!
//! Compiles and tests without Python; `src/python.rs` (feature `python`) is the only pyo3 code.

pub mod error;
pub mod secret;

pub use error::{Error, Result};
