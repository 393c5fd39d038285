//! Safe file I/O and the editors that keep every other byte of a user's file.

pub mod block;
pub mod netrc;
pub mod pypirc;
pub mod toml;
