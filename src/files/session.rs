//! One ca-login operation at a time on a user's files. Every login, logout, refresh and status does its file
//! work inside one [`super::user::run`] call; that call holds the user's session lock, `~/.ca-login.lock`, from
//! start to end, so that the read-modify-write of every file of one login (pip.conf, uv.toml, auth.toml,
//! .pypirc, .netrc) and of its state records is never interleaved with another login's or a logout's, across
//! processes and threads: every file holds the token of one login, the state matches the files, and the
//! index-url before our first login is read and recorded by the same login. The per-file locks stay (they are
//! what older versions and callers outside `run` take); the session lock is always taken first and a scope
//! waits for it holding no other lock, so the two never deadlock.

#![allow(clippy::result_large_err)]

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};

use super::user::OpenError;
use super::{open_error, open_lock, wait_for_lock, FileLock};
use crate::error::Result;

/// The session lock's name in the user's home.
pub const SESSION_LOCK: &str = ".ca-login.lock";

thread_local! {
    /// How many `run` scopes this thread is in: only the outermost takes the lock.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

#[cfg(test)]
thread_local! {
    /// Unit tests run with the machine's HOME: a scope takes no session lock unless a test names a home here.
    pub(crate) static TEST_HOME: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// The running user's home (`$HOME`).
#[cfg(not(test))]
pub fn own_home() -> Option<PathBuf> {
    dirs::home_dir()
}

/// Unit tests: the home a test named in [`TEST_HOME`], else none (no session lock).
#[cfg(test)]
pub fn own_home() -> Option<PathBuf> {
    TEST_HOME.with(|h| h.borrow().clone())
}

struct Depth;

impl Depth {
    fn enter() -> Depth {
        DEPTH.with(|d| d.set(d.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// The session lock of `home`: none when the home is not a directory (nothing of the user's to guard) or the user
/// may not create files in it (a read-only home: logged, the per-file locks still hold); a link, FIFO or
/// directory planted at its path, or another process holding it for more than [`super::LOCK_TIMEOUT`], is an
/// error.
fn take(home: &Path) -> Result<Option<FileLock>> {
    if !home.is_dir() {
        return Ok(None);
    }
    let path = home.join(SESSION_LOCK);
    match open_lock(&path) {
        Ok(file) => wait_for_lock(file, path).map(Some),
        Err(OpenError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            log::debug!(
                "no session lock {}: {e}; per-file locks only",
                path.display()
            );
            Ok(None)
        }
        Err(e) => Err(open_error(&path, "open the session lock file", e)),
    }
}

/// Runs `f` holding the session lock of `home` (see the module), unless this thread already is inside a scope.
pub fn scope<T>(home: Option<PathBuf>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if DEPTH.with(Cell::get) > 0 {
        return f();
    }
    let _lock = match home {
        Some(h) => take(&h)?,
        None => None,
    };
    let _depth = Depth::enter();
    f()
}
