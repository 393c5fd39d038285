//! ca_login core.
pub fn placeholder() {}
