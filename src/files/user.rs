//! The only `unsafe` code of the crate: the one function every file is opened through ([`open_file`]), and
//! acting for another user ([`run`]) on a dedicated thread whose effective ids are that user's.
//!
//! Acting for a user: a short-lived std thread makes raw per-thread syscalls (glibc's wrappers would change
//! every thread of the process): `setgroups(user's groups)`, `setresgid(0, gid, 0)`, `setresuid(0, uid, 0)`,
//! then clears its effective capabilities. The kernel checks file access against the effective (file-system)
//! ids, so the thread can open, create, lock and rename exactly what the user could. Real and saved ids stay
//! root, so the user cannot signal, prlimit or ptrace the thread (the kernel compares the caller's ids with the
//! target's real and saved ids). The closure runs only after the thread checked its ids, groups and `CapEff`.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The ids root acts with for another user (`--user NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (`os.getgrouplist(name, gid)`).
    pub groups: Vec<u32>,
}

/// How [`open_file`] opens a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Read; links followed (no magic links).
    Read,
    /// Read; a link at the final component is refused (root's own files).
    ReadNoFollow,
    /// A lock file: read-write, created 0600, a link at the final component is refused.
    Lock,
    /// An existing lock file opened read-only (another user's), a link refused.
    LockReadOnly,
    /// A new temporary file (0600, must not exist).
    CreateNew,
    /// A directory, to fsync it.
    Dir,
    /// What is at the path, without opening it for I/O (`O_PATH`); a link at the final component is not followed.
    Inspect,
}

/// Why [`open_file`] did not give a file.
#[derive(Debug)]
pub enum OpenError {
    Io(io::Error),
    /// Something other than a regular file (or a directory for [`Open::Dir`]) is at the path.
    NotRegular(&'static str),
    /// The path leads into `/proc` (a magic link such as `/proc/self/fd/1`).
    Proc,
}

/// The kind of a file as a word for messages.
pub fn kind_name(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

fn flags_of(how: Open) -> (libc::c_int, u32) {
    let base = libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    match how {
        Open::Read => (base | libc::O_RDONLY, 0),
        Open::ReadNoFollow => (base | libc::O_RDONLY | libc::O_NOFOLLOW, 0),
        Open::Lock => (
            base | libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW,
            0o600,
        ),
        Open::LockReadOnly => (base | libc::O_RDONLY | libc::O_NOFOLLOW, 0),
        Open::CreateNew => (
            base | libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        ),
        Open::Dir => (base | libc::O_RDONLY | libc::O_DIRECTORY, 0),
        Open::Inspect => (libc::O_CLOEXEC | libc::O_PATH | libc::O_NOFOLLOW, 0),
    }
}

#[cfg(test)]
thread_local! {
    pub(crate) static FORCE_FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn raw_openat2(c: &CString, flags: libc::c_int, mode: u32) -> io::Result<fs::File> {
    #[cfg(test)]
    if FORCE_FALLBACK.with(|f| f.get()) {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    let how = OpenHow {
        flags: flags as u64,
        mode: if flags & libc::O_CREAT != 0 {
            u64::from(mode)
        } else {
            0
        },
        resolve: RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call; `how` is a properly initialised `open_how`
    // whose size we pass; the kernel only reads both. The result is a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { fs::File::from_raw_fd(fd as libc::c_int) })
}

fn raw_open(c: &CString, flags: libc::c_int, mode: u32) -> io::Result<fs::File> {
    // SAFETY: `c` is a NUL-terminated path that outlives the call; open(2) only reads it.
    let fd = unsafe { libc::open(c.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { fs::File::from_raw_fd(fd) })
}

fn under_proc(p: &Path) -> bool {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = abs.parent().unwrap_or(Path::new("/"));
    let real = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    real.starts_with("/proc") || abs.starts_with("/proc")
}

/// Without openat2 (kernels before 5.6, some seccomp filters): follows the final component's link chain by hand,
/// refuses any hop under `/proc`, then opens the last hop without following a link.
fn fallback_open(
    path: &Path,
    flags: libc::c_int,
    mode: u32,
) -> std::result::Result<fs::File, OpenError> {
    let mut p = path.to_path_buf();
    if flags & libc::O_NOFOLLOW == 0 {
        for _ in 0..40 {
            if under_proc(&p) {
                return Err(OpenError::Proc);
            }
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    let t = fs::read_link(&p).map_err(OpenError::Io)?;
                    p = if t.is_absolute() {
                        t
                    } else {
                        p.parent().map(|d| d.join(&t)).unwrap_or(t)
                    };
                }
                _ => break,
            }
        }
    }
    if under_proc(&p) {
        return Err(OpenError::Proc);
    }
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| OpenError::Io(io::Error::from(io::ErrorKind::InvalidInput)))?;
    raw_open(&c, flags | libc::O_NOFOLLOW, mode).map_err(OpenError::Io)
}

/// Opens `path` as `how` says: openat2 with `RESOLVE_NO_MAGICLINKS` (a link into `/proc/*/fd` is refused),
/// `O_NONBLOCK | O_CLOEXEC` (a FIFO never blocks), then `fstat`: anything but a regular file (a directory for
/// [`Open::Dir`]) is [`OpenError::NotRegular`]. For [`Open::Inspect`] a link is reported as such, not refused.
pub fn open_file(path: &Path, how: Open) -> std::result::Result<fs::File, OpenError> {
    let (flags, mode) = flags_of(how);
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| OpenError::Io(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let file = match raw_openat2(&c, flags, mode) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => fallback_open(path, flags, mode)?,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) && flags & libc::O_NOFOLLOW == 0 => {
            // A chain of plain links longer than the kernel's limit, or a magic link (RESOLVE_NO_MAGICLINKS).
            return Err(if chain_hits_proc(path) {
                OpenError::Proc
            } else {
                OpenError::Io(e)
            });
        }
        Err(e) => return Err(OpenError::Io(e)),
    };
    let ft = file.metadata().map_err(OpenError::Io)?.file_type();
    let ok = match how {
        Open::Dir => ft.is_dir(),
        Open::Inspect => ft.is_file() || ft.is_symlink(),
        _ => ft.is_file(),
    };
    if ok {
        Ok(file)
    } else {
        Err(OpenError::NotRegular(kind_name(&ft)))
    }
}

/// Follows the final component's symbolic links (also dangling ones) lexically, at most 40 hops.
pub fn resolve_chain(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match fs::read_link(&p) {
                Ok(target) if target.is_absolute() => p = target,
                Ok(target) => p = p.parent().map(|d| d.join(&target)).unwrap_or(target),
                Err(_) => return p,
            },
            _ => return p,
        }
    }
    p
}

/// Whether `path` or any hop of its final component's link chain lies under `/proc`.
pub fn chain_hits_proc(path: &Path) -> bool {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        if under_proc(&p) {
            return true;
        }
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match fs::read_link(&p) {
                Ok(t) if t.is_absolute() => p = t,
                Ok(t) => p = p.parent().map(|d| d.join(&t)).unwrap_or(t),
                Err(_) => return false,
            },
            _ => return false,
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------------------------
// Acting for a user
// ---------------------------------------------------------------------------------------------------------------

/// Most log records a user thread keeps for the calling thread.
pub const MAX_BUFFERED_RECORDS: usize = 256;

struct Buffered {
    level: log::Level,
    target: String,
    message: String,
}

thread_local! {
    /// Set on a user thread: its log records wait here for the calling thread.
    static BUFFER: RefCell<Option<Vec<Buffered>>> = const { RefCell::new(None) };
    /// The user a thread acts as (only set on the threads [`run`] starts).
    static ACTING: RefCell<Option<AsUser>> = const { RefCell::new(None) };
}

/// Called by a logger (python.rs) before handing a record on: on a user thread the record is buffered (at most
/// [`MAX_BUFFERED_RECORDS`]) and `true` is returned; elsewhere `false`.
pub fn capture(record: &log::Record<'_>) -> bool {
    BUFFER.with(|b| match b.borrow_mut().as_mut() {
        Some(v) => {
            if v.len() < MAX_BUFFERED_RECORDS {
                v.push(Buffered {
                    level: record.level(),
                    target: record.target().to_string(),
                    message: record.args().to_string(),
                });
            }
            true
        }
        None => false,
    })
}

/// Whether this thread buffers its log records (it acts for another user): a logger must not call into Python.
pub fn buffering() -> bool {
    BUFFER.with(|b| b.borrow().is_some())
}

fn replay(records: Vec<Buffered>) {
    for r in records {
        log::logger().log(
            &log::Record::builder()
                .level(r.level)
                .target(&r.target)
                .args(format_args!("{}", r.message))
                .build(),
        );
    }
}

fn fatal(as_user: &AsUser, what: String) -> Error {
    Error::config(
        "/proc/thread-self/status",
        format!("cannot act as uid {} gid {}: {what}", as_user.uid, as_user.gid),
        "run ca-login as root for --user NAME (not in a container without CAP_SETUID/CAP_SETGID), or leave out --user",
    )
}

fn check_syscall(r: libc::c_long, as_user: &AsUser, what: &str) -> Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(fatal(
            as_user,
            format!("{what} failed: {}", io::Error::last_os_error()),
        ))
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

fn clear_effective_caps(as_user: &AsUser) -> Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array (version 3) are valid for writes for the call's duration.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    check_syscall(r, as_user, "capget")?;
    for d in &mut data {
        d.effective = 0;
    }
    // SAFETY: as above; capset only reads header and data, and only changes this thread's capabilities.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    check_syscall(r, as_user, "capset")
}

fn switch(as_user: &AsUser) -> Result<()> {
    let groups: Vec<libc::gid_t> = as_user.groups.clone();
    // SAFETY: raw per-thread syscalls (glibc's wrappers would switch every thread); `groups` outlives the call
    // and its length is passed with it.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    check_syscall(r, as_user, "setgroups")?;
    // SAFETY: plain integer arguments; changes only this thread's ids.
    let r = unsafe {
        libc::syscall(
            libc::SYS_setresgid,
            0 as libc::gid_t,
            as_user.gid,
            0 as libc::gid_t,
        )
    };
    check_syscall(r, as_user, "setresgid")?;
    // SAFETY: plain integer arguments; changes only this thread's ids.
    let r = unsafe {
        libc::syscall(
            libc::SYS_setresuid,
            0 as libc::uid_t,
            as_user.uid,
            0 as libc::uid_t,
        )
    };
    check_syscall(r, as_user, "setresuid")?;
    clear_effective_caps(as_user)?;
    verify(as_user)
}

/// What `/proc/thread-self/status` says about this thread's ids, groups and effective capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadIds {
    /// Real, effective, saved, file-system.
    pub uid: [u32; 4],
    pub gid: [u32; 4],
    pub groups: Vec<u32>,
    pub cap_eff: u64,
}

/// Reads this thread's ids from `/proc/thread-self/status` (bounded).
pub fn thread_ids() -> io::Result<ThreadIds> {
    use std::io::Read;
    let mut text = String::new();
    fs::File::open("/proc/thread-self/status")?
        .take(64 * 1024)
        .read_to_string(&mut text)?;
    let field = |name: &str| -> Vec<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|w| w.parse::<u64>().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let four = |v: Vec<u64>| -> io::Result<[u32; 4]> {
        match v.as_slice() {
            [a, b, c, d] => Ok([*a as u32, *b as u32, *c as u32, *d as u32]),
            _ => Err(io::Error::other("unexpected Uid/Gid line")),
        }
    };
    let cap_eff = text
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| io::Error::other("no CapEff line"))?;
    Ok(ThreadIds {
        uid: four(field("Uid:"))?,
        gid: four(field("Gid:"))?,
        groups: field("Groups:").into_iter().map(|g| g as u32).collect(),
        cap_eff,
    })
}

fn verify(as_user: &AsUser) -> Result<()> {
    let ids =
        thread_ids().map_err(|e| fatal(as_user, format!("cannot check the thread's ids: {e}")))?;
    let (u, g) = (as_user.uid, as_user.gid);
    let mut want_groups = as_user.groups.clone();
    want_groups.sort_unstable();
    want_groups.dedup();
    let mut groups = ids.groups.clone();
    groups.sort_unstable();
    groups.dedup();
    if ids.uid != [0, u, 0, u]
        || ids.gid != [0, g, 0, g]
        || groups != want_groups
        || ids.cap_eff != 0
    {
        return Err(fatal(
            as_user,
            format!(
                "the thread has uids {:?}, gids {:?}, {} groups, CapEff {:x} (wanted uids [0, {u}, 0, {u}], gids [0, {g}, 0, {g}], {} groups, CapEff 0)",
                ids.uid,
                ids.gid,
                groups.len(),
                ids.cap_eff,
                want_groups.len()
            ),
        ));
    }
    Ok(())
}

/// Runs `f` with `as_user`'s ids (see the module doc) on a dedicated thread, or on this thread when `as_user` is
/// `None` or this thread already acts as that user. Log records raised on the user thread are replayed here
/// after it ended (it never calls into Python). The outermost `run` of a thread holds the user's session lock
/// (`~/.ca-login.lock`, see [`super::session`]) until `f` returns: one ca-login operation at a time on the
/// user's files, across processes.
pub fn run<T, F>(as_user: Option<&AsUser>, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let Some(user) = as_user else {
        return super::session::scope(super::session::own_home(), f);
    };
    if ACTING.with(|a| a.borrow().as_ref() == Some(user)) {
        return f();
    }
    // Looked up as root before the switch (a read of the user database, none of the user's files).
    let home = home_of(user.uid);
    let (result, records) = std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name(format!("ca-login-uid-{}", user.uid))
            .spawn_scoped(s, move || {
                BUFFER.with(|b| *b.borrow_mut() = Some(Vec::new()));
                let out = match switch(user) {
                    Ok(()) => {
                        ACTING.with(|a| *a.borrow_mut() = Some(user.clone()));
                        // The session lock is opened with the user's ids, like every file of theirs.
                        super::session::scope(home, f)
                    }
                    Err(e) => Err(e),
                };
                let records = BUFFER.with(|b| b.borrow_mut().take()).unwrap_or_default();
                (out, records)
            });
        match handle {
            Ok(h) => h.join().map_err(|_| {
                fatal(
                    user,
                    "the thread acting for the user panicked (a bug)".into(),
                )
            }),
            Err(e) => Err(fatal(user, format!("cannot start a thread: {e}"))),
        }
    })?;
    replay(records);
    result
}

/// The home directory of `uid` in the user database (`getpwuid_r`); `None` if there is none. Never for tests: a
/// unit test's scope takes no session lock (see `session::TEST_HOME`).
fn home_of(uid: u32) -> Option<PathBuf> {
    if cfg!(test) {
        return None;
    }
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill in.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, `buf` outlives the use of the strings it holds.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() || pw.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points into `buf`, NUL-terminated by getpwuid_r.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()));
    dir.is_absolute().then_some(dir)
}

/// The user this thread acts for, if any.
pub fn acting() -> Option<AsUser> {
    ACTING.with(|a| a.borrow().clone())
}
