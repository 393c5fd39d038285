//! ca_login core: log pip in to AWS CodeArtifact through private endpoints, and say why it can't.
//!
//! Compiles and tests without Python; `src/python.rs` (feature `python`) is the only pyo3 code.

pub mod aws;
pub mod caconfig;
pub mod diagnose;
pub mod error;
pub mod files;
pub mod http;
pub mod lifetime;
pub mod login;
pub mod pipconf;
pub mod refresh;
pub mod remedy;
pub mod runtime;
pub mod secret;
pub mod settings;
pub mod state;
pub mod tools;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
