//! The one home for file I/O: every file is opened through [`user::open_file`] (regular files only, no magic
//! links, never blocking on a FIFO), reads are bounded ([`MAX_FILE_BYTES`]), writes are atomic (0600 temp file in
//! the same directory, fsync, rename, directory fsync), locks are regular 0600 files never reached through a link,
//! and [`user::run`] does all of it with another user's ids. pipconf (INI), state and caconfig call this.

// `Error` is the crate's one (large) error enum; boxing it is the lead's call, for the whole crate.
#![allow(clippy::result_large_err)]

pub mod session;
pub mod user;

// The editors that keep every other byte of a user's file (netrc, .pypirc, TOML) and the block they add.
pub mod block;
pub mod netrc;
pub mod pypirc;
pub mod toml;

#[cfg(test)]
mod tests;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use user::{Open, OpenError};

/// The largest config or state file we read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// How long [`lock`] waits for another process's lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many directory entries are looked at when removing dead processes' temporary files.
const MAX_DIR_SCAN: usize = 4096;

/// `path` as one word of a command a hint tells someone to paste into a POSIX shell: as it is when it holds only
/// letters, digits and `/._-+,:=@%~`, else in single quotes (a `'` as `'\''`). A path can be named by another
/// user (the target of a link in their home that root follows for `--user`): unquoted, `/etc/x;id;#/sub` would
/// run `id` in root's shell.
pub fn shell_word(path: &Path) -> String {
    let s = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:=@%~".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// An I/O error on `path` while `doing`, with a hint that fits the error.
pub fn io_error(path: &Path, doing: &str, e: &io::Error) -> Error {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "this user may not write there: check `ls -ld {}`, or run as the user who owns it",
            shell_word(dir)
        ),
        io::ErrorKind::NotADirectory => {
            format!(
                "a path component of {} is a file, not a directory",
                dir.display()
            )
        }
        io::ErrorKind::IsADirectory => {
            "the path is a directory; name the file inside it".to_string()
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            "free some disk space and retry".to_string()
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "the file system is read-only; choose a file elsewhere".to_string()
        }
        _ if e.raw_os_error() == Some(libc::ELOOP) => format!(
            "{} is a symbolic link (or too many of them); replace it with a regular file",
            path.display()
        ),
        _ => format!("check the file and its directory {}", dir.display()),
    };
    Error::config(path, format!("cannot {doing}: {e}"), hint)
}

fn not_regular(path: &Path, kind: &str) -> Error {
    Error::config(
        path,
        format!("is {kind}, not a regular file: nothing was read or changed"),
        format!(
            "remove it or name a regular file (`ls -l {}`)",
            shell_word(path)
        ),
    )
}

fn into_proc(path: &Path) -> Error {
    Error::config(
        path,
        "leads into /proc (a link such as /proc/self/fd/N): refused, nothing was read or changed",
        format!(
            "make {} a regular file (`ls -l {}`)",
            path.display(),
            shell_word(path)
        ),
    )
}

/// An [`OpenError`] as our error.
pub fn open_error(path: &Path, doing: &str, e: OpenError) -> Error {
    match e {
        OpenError::Io(e) => io_error(path, doing, &e),
        OpenError::NotRegular(kind) => not_regular(path, kind),
        OpenError::Proc => into_proc(path),
    }
}

fn too_big(path: &Path) -> Error {
    Error::config(
        path,
        format!(
            "is larger than {} MiB: not a file ca-login reads",
            MAX_FILE_BYTES >> 20
        ),
        format!("check what {} is (`ls -l`)", path.display()),
    )
}

/// Reads at most [`MAX_FILE_BYTES`] of an open file; more is an error.
fn read_bounded(path: &Path, file: fs::File, doing: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, doing, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(path));
    }
    Ok(bytes)
}

/// A file's bytes (links followed, not into `/proc`); `Ok(None)` if it does not exist.
pub fn read_bytes(path: &Path, doing: &str) -> Result<Option<Vec<u8>>> {
    read_with(path, Open::Read, doing)
}

/// A file's bytes without following a link at its final component (root's own files); `Ok(None)` if missing.
pub fn read_bytes_nofollow(path: &Path, doing: &str) -> Result<Option<Vec<u8>>> {
    read_with(path, Open::ReadNoFollow, doing)
}

fn read_with(path: &Path, how: Open, doing: &str) -> Result<Option<Vec<u8>>> {
    match user::open_file(path, how) {
        Ok(f) => read_bounded(path, f, doing).map(Some),
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(open_error(path, doing, e)),
    }
}

/// Where a write to `path` lands: the final component's links followed (a user's link to their dotfiles is
/// kept); a chain into `/proc` is refused.
pub fn resolve_target(path: &Path) -> Result<PathBuf> {
    if user::chain_hits_proc(path) {
        return Err(into_proc(path));
    }
    Ok(user::resolve_chain(path))
}

/// Refuses a directory, FIFO, device or socket at `path` (a link there is fine: it is not followed).
pub fn check_not_special(path: &Path, doing: &str) -> Result<()> {
    match user::open_file(path, Open::Inspect) {
        Ok(_) => Ok(()),
        Err(OpenError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(())
        }
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        Err(e) => Err(open_error(path, doing, e)),
    }
}

/// The directory of `path` (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The final component of `path`, or a `Config` error when there is none.
pub fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::config(
                path,
                "not a file path",
                "name a file such as ~/.config/pip/pip.conf",
            )
        })
}

/// Creates `dir` and its missing parents with mode 0700 (owned by whoever runs: the user on a user thread).
pub fn create_dirs(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(m) if !m.file_type().is_symlink() => {
            return Err(not_regular(dir, user::kind_name(&m.file_type())))
        }
        _ => {}
    }
    if dir.is_dir() {
        return Ok(());
    }
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io_error(dir, "create the directory", &e)),
    }
}

/// Our temporary file names: `.<name>.ca-login.<pid>.<16 hex>.tmp`.
fn temp_name(name: &str) -> String {
    format!(
        ".{name}.ca-login.{}.{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    )
}

/// The pid in one of our temporary file names, if it is one.
fn temp_pid(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (rest, rand) = rest.rsplit_once('.')?;
    if rand.len() != 16 || !rand.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (rest, pid) = rest.rsplit_once('.')?;
    rest.strip_suffix(".ca-login")?;
    pid.parse().ok()
}

/// Removes our temporary files in `dir` whose process no longer exists (a SIGKILL during a write leaves one,
/// and it may hold a token). Bounded: at most [`MAX_DIR_SCAN`] entries.
pub fn remove_dead_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.take(MAX_DIR_SCAN).flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_pid(&name.to_string_lossy()) else {
            continue;
        };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::info!(
                    "removed {} left by a process that died",
                    entry.path().display()
                ),
                Err(e) => log::debug!("cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}

/// Removes the temporary file unless the rename happened.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
thread_local! {
    pub(crate) static FAIL_BEFORE_RENAME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes `contents` to `path` atomically with mode 0600: a link at `path` is followed (the link stays; a chain
/// into `/proc` is refused), missing parent directories are created (0700), a directory, FIFO, device or socket
/// at the target is refused with nothing changed, the text goes to a temporary file in the same directory, is
/// fsynced and renamed over the target, and the directory is fsynced. Dead processes' temporary files in that
/// directory are removed first. On any error the original is untouched and no temporary file remains.
/// Returns the path written (the link's target).
pub fn write_atomic(path: &Path, contents: &str) -> Result<PathBuf> {
    let target = resolve_target(path)?;
    write_at(&target, contents)?;
    Ok(target)
}

/// [`write_atomic`] without following a link at `path` (root's own state file): a link there is replaced.
pub fn write_atomic_nofollow(path: &Path, contents: &str) -> Result<()> {
    write_at(path, contents)
}

fn write_at(target: &Path, contents: &str) -> Result<()> {
    let doing = "write the file";
    let dir = parent_dir(target);
    let name = file_name(target)?;
    check_not_special(target, doing)?;
    create_dirs(&dir)?;
    remove_dead_temps(&dir);
    let mut guard = TempGuard(None);
    let mut file = None;
    for _ in 0..16 {
        let tmp = dir.join(temp_name(&name));
        match user::open_file(&tmp, Open::CreateNew) {
            Ok(f) => {
                guard.0 = Some(tmp);
                file = Some(f);
                break;
            }
            Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(open_error(target, "create a temporary file next to", e)),
        }
    }
    let (Some(mut file), Some(tmp)) = (file, guard.0.clone()) else {
        return Err(Error::config(
            target,
            "cannot find a free temporary file name",
            "retry",
        ));
    };
    let werr = |e: io::Error| io_error(target, doing, &e);
    file.write_all(contents.as_bytes()).map_err(werr)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(werr)?;
    file.sync_all().map_err(werr)?;
    drop(file);
    #[cfg(test)]
    if FAIL_BEFORE_RENAME.with(|f| f.get()) {
        return Err(werr(io::Error::other("injected failure before rename")));
    }
    // Checked again right before the rename: a directory or device swapped in meanwhile is never replaced.
    check_not_special(target, doing)?;
    fs::rename(&tmp, target).map_err(werr)?;
    guard.0 = None;
    if let Ok(d) = user::open_file(&dir, Open::Dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Puts a file back after a failed login: `Some(text)` is written back atomically, `None` removes the regular file
/// we created at `target` (the resolved path [`write_atomic`] returned; never a link).
pub fn restore(target: &Path, previous: Option<&str>) -> Result<()> {
    match previous {
        Some(text) => write_at(target, text),
        None => match fs::symlink_metadata(target) {
            Ok(m) if m.is_file() => {
                fs::remove_file(target).map_err(|e| io_error(target, "remove the file", &e))
            }
            _ => Ok(()),
        },
    }
}

/// An exclusive `flock` on a sibling lock file; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    _file: fs::File,
    path: PathBuf,
}

impl FileLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file guarding `path`: `.<name>.ca-login.lock` in the same directory.
pub fn lock_path(path: &Path) -> Result<PathBuf> {
    Ok(parent_dir(path).join(format!(".{}.ca-login.lock", file_name(path)?)))
}

/// Before any network call: the lock file guarding `path` is missing or a regular file (not a link, FIFO,
/// directory or device someone planted).
pub fn check_lock(path: &Path) -> Result<()> {
    let lock = lock_path(path)?;
    match user::open_file(&lock, Open::Inspect) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.file_type().is_symlink() => Err(not_regular(&lock, "a symbolic link")),
            _ => Ok(()),
        },
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotADirectory => Ok(()),
        Err(e) => Err(open_error(&lock, "open the lock file", e)),
    }
}

/// Takes the exclusive lock guarding `path` (see [`lock_path`]), waiting at most [`LOCK_TIMEOUT`]. The lock file
/// is opened `O_NOFOLLOW | O_NONBLOCK | O_CREAT`, 0600, and must be a regular file.
pub fn lock(path: &Path) -> Result<FileLock> {
    let lock = lock_path(path)?;
    create_dirs(&parent_dir(&lock))?;
    let file = open_lock(&lock).map_err(|e| open_error(&lock, "open the lock file", e))?;
    wait_for_lock(file, lock)
}

/// Opens (creating it 0600) the lock file `lock` itself: `O_NOFOLLOW | O_NONBLOCK`, a regular file only.
fn open_lock(lock: &Path) -> std::result::Result<fs::File, OpenError> {
    match user::open_file(lock, Open::Lock) {
        Ok(f) => Ok(f),
        // A lock file another user (root) created: flock works on a read-only descriptor too.
        Err(OpenError::Io(first)) if first.kind() == io::ErrorKind::PermissionDenied => {
            match user::open_file(lock, Open::LockReadOnly) {
                Ok(f) => Ok(f),
                Err(OpenError::Io(_)) => Err(OpenError::Io(first)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Waits at most [`LOCK_TIMEOUT`] for the exclusive `flock` on an open lock file.
fn wait_for_lock(file: fs::File, lock: PathBuf) -> Result<FileLock> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(FileLock {
                    _file: file,
                    path: lock,
                })
            }
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5 + fastrand::u64(..20)));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::config(
                    &lock,
                    format!(
                        "another process has held this lock for more than {} s",
                        LOCK_TIMEOUT.as_secs()
                    ),
                    "wait for the other ca-login process to finish, then retry",
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error(&lock, "lock", &e)),
        }
    }
}
