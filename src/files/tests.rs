#![allow(clippy::unwrap_used)]

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

fn is_root() -> bool {
    fs::metadata("/proc/self").unwrap().uid() == 0
}

#[test]
fn reading_a_fifo_a_directory_or_a_link_to_a_device_is_a_config_error_that_does_not_block() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pip.conf");
    mkfifo(&fifo);
    let started = Instant::now();
    let err = read_bytes(&fifo, "read").unwrap_err().to_string();
    assert!(err.contains("is a FIFO, not a regular file"), "{err}");
    let err = write_atomic(&fifo, "x").unwrap_err().to_string();
    assert!(err.contains("a FIFO"), "{err}");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(started.elapsed() < Duration::from_secs(2));
    let dir = tmp.path().join("d");
    fs::create_dir(&dir).unwrap();
    assert!(read_bytes(&dir, "read")
        .unwrap_err()
        .to_string()
        .contains("a directory"));
    let null = tmp.path().join("null.conf");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let err = read_bytes(&null, "read").unwrap_err().to_string();
    assert!(err.contains("a character device"), "{err}");
    let err = write_atomic(&null, "x").unwrap_err().to_string();
    assert!(err.contains("a character device"), "{err}");
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn a_device_node_as_the_target_is_never_replaced() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("null");
    let st = std::process::Command::new("mknod")
        .args([dev.to_str().unwrap(), "c", "1", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    let err = write_atomic(&dev, "[global]\n").unwrap_err().to_string();
    assert!(err.contains("a character device"), "{err}");
    assert!(fs::symlink_metadata(&dev)
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn reads_stop_at_one_mebibyte() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = tmp.path().join("ok");
    fs::write(&ok, vec![b'a'; MAX_FILE_BYTES as usize]).unwrap();
    assert_eq!(
        read_bytes(&ok, "read").unwrap().unwrap().len() as u64,
        MAX_FILE_BYTES
    );
    let big = tmp.path().join("big");
    fs::write(&big, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
    let err = read_bytes(&big, "read").unwrap_err().to_string();
    assert!(err.contains("larger than 1 MiB"), "{err}");
    let zero = tmp.path().join("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert!(read_bytes(&zero, "read")
        .unwrap_err()
        .to_string()
        .contains("character device"));
}

#[test]
fn a_link_into_proc_fd_is_refused_with_openat2_and_with_the_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("pip.conf");
    std::os::unix::fs::symlink("/proc/self/fd/0", &link).unwrap();
    for fallback in [false, true] {
        user::FORCE_FALLBACK.with(|f| f.set(fallback));
        let res = read_bytes(&link, "read");
        user::FORCE_FALLBACK.with(|f| f.set(false));
        let err = res.unwrap_err().to_string();
        assert!(
            err.contains("leads into /proc"),
            "fallback {fallback}: {err}"
        );
    }
    let err = write_atomic(&link, "x").unwrap_err().to_string();
    assert!(err.contains("leads into /proc"), "{err}");
    // The fallback still follows ordinary links.
    let real = tmp.path().join("real.conf");
    fs::write(&real, "[global]\n").unwrap();
    let ok = tmp.path().join("ok.conf");
    std::os::unix::fs::symlink("real.conf", &ok).unwrap();
    user::FORCE_FALLBACK.with(|f| f.set(true));
    let res = read_bytes(&ok, "read");
    user::FORCE_FALLBACK.with(|f| f.set(false));
    assert_eq!(res.unwrap().unwrap(), b"[global]\n");
}

#[test]
fn temp_files_of_dead_processes_are_removed_at_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    // Above the kernel's largest pid_max (2^22): no such process.
    let dead = tmp
        .path()
        .join(".pip.conf.ca-login.4194999.0123456789abcdef.tmp");
    let alive = tmp.path().join(format!(
        ".pip.conf.ca-login.{}.0123456789abcdef.tmp",
        std::process::id()
    ));
    let other = tmp.path().join(".pip.conf.other.4194999.tmp");
    for p in [&dead, &alive, &other] {
        fs::write(p, "aws:TOKEN").unwrap();
    }
    write_atomic(&tmp.path().join("pip.conf"), "[global]\n").unwrap();
    assert!(!dead.exists());
    assert!(alive.exists() && other.exists());
}

#[test]
fn a_planted_lock_link_fifo_or_directory_is_refused_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("pip.conf");
    let lock_file = lock_path(&path).unwrap();
    let victim = tmp.path().join("victim");
    std::os::unix::fs::symlink(&victim, &lock_file).unwrap();
    assert!(check_lock(&path)
        .unwrap_err()
        .to_string()
        .contains("symbolic link"));
    let err = lock(&path).unwrap_err().to_string();
    assert!(err.contains("lock file"), "{err}");
    assert!(!victim.exists(), "the lock followed a dangling link");
    fs::remove_file(&lock_file).unwrap();
    mkfifo(&lock_file);
    let started = Instant::now();
    assert!(check_lock(&path)
        .unwrap_err()
        .to_string()
        .contains("a FIFO"));
    assert!(lock(&path).unwrap_err().to_string().contains("a FIFO"));
    assert!(started.elapsed() < Duration::from_secs(2));
    fs::remove_file(&lock_file).unwrap();
    fs::create_dir(&lock_file).unwrap();
    assert!(check_lock(&path)
        .unwrap_err()
        .to_string()
        .contains("a directory"));
    assert!(lock(&path).is_err());
    fs::remove_dir(&lock_file).unwrap();
    check_lock(&path).unwrap();
    let held = lock(&path).unwrap();
    assert_eq!(fs::metadata(held.path()).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn nofollow_reads_refuse_a_link_and_nofollow_writes_replace_it_not_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("root-only");
    fs::write(&target, "keep").unwrap();
    let state = tmp.path().join("state.json");
    std::os::unix::fs::symlink(&target, &state).unwrap();
    assert!(read_bytes_nofollow(&state, "read").is_err());
    write_atomic_nofollow(&state, "{}\n").unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
    assert!(fs::symlink_metadata(&state).unwrap().is_file());
    assert_eq!(
        read_bytes_nofollow(&state, "read").unwrap().unwrap(),
        b"{}\n"
    );
}

#[test]
fn restore_removes_only_a_regular_file_we_created_and_puts_text_back() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real.conf");
    let link = tmp.path().join("pip.conf");
    std::os::unix::fs::symlink("real.conf", &link).unwrap();
    let written = write_atomic(&link, "new").unwrap();
    assert_eq!(written, real);
    restore(&written, None).unwrap();
    assert!(!real.exists());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    fs::write(&real, "new").unwrap();
    restore(&real, Some("old")).unwrap();
    assert_eq!(fs::read_to_string(&real).unwrap(), "old");
}

#[test]
fn a_user_thread_has_the_users_effective_ids_root_real_and_saved_ids_and_no_capabilities() {
    let nobody = user::AsUser {
        uid: 65534,
        gid: 65534,
        groups: vec![65534, 65533],
    };
    let before = user::thread_ids().unwrap();
    let mut ran = false;
    let res = user::run(Some(&nobody), || {
        ran = true;
        let ids = user::thread_ids().map_err(|e| io_error(Path::new("/proc"), "read", &e))?;
        let record = log::Record::builder()
            .level(log::Level::Info)
            .args(format_args!("from the user thread"))
            .build();
        Ok((ids, user::capture(&record), user::acting()))
    });
    if !is_root() {
        let err = res.unwrap_err().to_string();
        assert!(err.contains("cannot act as uid 65534"), "{err}");
        assert!(!ran, "the closure ran without the user's ids");
        return;
    }
    let (ids, captured, acting) = res.unwrap();
    assert!(ran);
    assert_eq!(ids.uid, [0, 65534, 0, 65534]);
    assert_eq!(ids.gid, [0, 65534, 0, 65534]);
    assert_eq!(ids.groups, vec![65533, 65534]);
    assert_eq!(ids.cap_eff, 0);
    assert!(captured, "a record on the user thread was not buffered");
    assert_eq!(acting, Some(nobody));
    // The calling thread is untouched.
    assert_eq!(user::thread_ids().unwrap(), before);
    let record = log::Record::builder().args(format_args!("x")).build();
    assert!(!user::capture(&record));
}

#[test]
fn a_user_thread_cannot_write_where_the_user_cannot() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = user::AsUser {
        uid: 65534,
        gid: 65534,
        groups: vec![65534],
    };
    let path = tmp.path().join("pip.conf");
    let err = user::run(Some(&nobody), || write_atomic(&path, "x").map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Permission denied") || err.contains("permission"),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn write_atomic_creates_parents_0700_and_the_file_0600_with_no_temp_left() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a/b/pip.conf");
    write_atomic(&path, "[global]\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "[global]\n");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(tmp.path().join("a"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert_eq!(
        fs::metadata(tmp.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // Replacing a world-readable file tightens it to 0600.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    write_atomic(&path, "[install]\n").unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(leftovers(&tmp.path().join("a/b")).is_empty());
}

#[test]
fn write_atomic_follows_a_symlink_and_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("dotfiles/pip.conf");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, "old").unwrap();
    let link = tmp.path().join("pip.conf");
    std::os::unix::fs::symlink("dotfiles/pip.conf", &link).unwrap();
    write_atomic(&link, "new").unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&real).unwrap(), "new");
}

#[test]
fn write_atomic_fails_cleanly_when_the_parent_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notadir"), "keep").unwrap();
    let err = write_atomic(&tmp.path().join("notadir/pip.conf"), "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        fs::read_to_string(tmp.path().join("notadir")).unwrap(),
        "keep"
    );
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn write_atomic_onto_a_directory_fails_and_leaves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("pip.conf");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("inside"), "keep").unwrap();
    assert!(write_atomic(&d, "x").is_err());
    assert_eq!(fs::read_to_string(d.join("inside")).unwrap(), "keep");
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn write_atomic_failing_before_the_rename_leaves_the_original_and_no_temp() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("pip.conf");
    fs::write(&path, "original").unwrap();
    FAIL_BEFORE_RENAME.with(|f| f.set(true));
    let res = write_atomic(&path, "replacement");
    FAIL_BEFORE_RENAME.with(|f| f.set(false));
    assert!(res.is_err());
    assert_eq!(fs::read_to_string(&path).unwrap(), "original");
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn lock_is_an_exclusive_flock_on_the_sibling_lock_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("pip.conf");
    let held = lock(&path).unwrap();
    assert_eq!(held.path(), tmp.path().join(".pip.conf.ca-login.lock"));
    // A second descriptor on the same file conflicts (flock is per open file description).
    let other = fs::File::open(held.path()).unwrap();
    assert!(matches!(
        other.try_lock(),
        Err(fs::TryLockError::WouldBlock)
    ));
    drop(held);
    assert!(other.try_lock().is_ok());
}

#[test]
fn a_lock_the_user_may_not_create_reports_permission_denied_not_a_missing_file() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = user::AsUser {
        uid: 65534,
        gid: 65534,
        groups: vec![65534],
    };
    let path = tmp.path().join("pip.conf");
    let err = user::run(Some(&nobody), || lock(&path).map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Permission denied"), "{err}");
    assert!(!err.contains("No such file"), "{err}");
    assert!(!lock_path(&path).unwrap().exists());
}

/// Runs `f` in a `user::run` scope whose session lock is in `home` (unit tests name it per thread).
fn in_session<T: Send>(home: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    session::TEST_HOME.with(|h| *h.borrow_mut() = Some(home.to_path_buf()));
    let out = user::run(None, f);
    session::TEST_HOME.with(|h| *h.borrow_mut() = None);
    out
}

#[test]
fn run_scopes_on_one_home_never_overlap_across_threads_and_a_nested_run_does_not_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().to_path_buf();
    let log = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for i in 0..4 {
            let (home, log) = (&home, &log);
            s.spawn(move || {
                in_session(home, || {
                    log.lock().unwrap().push(format!("start {i}"));
                    // Nested: already inside this thread's scope, so no second wait on the session lock.
                    user::run(None, || Ok(()))?;
                    write_atomic(&home.join("f"), &format!("{i}\n"))?;
                    std::thread::sleep(Duration::from_millis(50));
                    log.lock().unwrap().push(format!("end {i}"));
                    Ok(())
                })
                .unwrap()
            });
        }
    });
    let log = log.into_inner().unwrap();
    for pair in log.chunks(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(a.replace("start", "end"), *b, "scopes interleaved: {log:?}");
    }
    let lock = home.join(session::SESSION_LOCK);
    let mode = fs::metadata(&lock).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_fifo_link_or_directory_at_the_session_lock_stops_the_scope_before_its_work_and_no_home_means_no_lock(
) {
    let victim = tempfile::NamedTempFile::new().unwrap();
    for kind in ["fifo", "link", "dir"] {
        let tmp = tempfile::tempdir().unwrap();
        let at = tmp.path().join(session::SESSION_LOCK);
        match kind {
            "fifo" => mkfifo(&at),
            "link" => std::os::unix::fs::symlink(victim.path(), &at).unwrap(),
            _ => fs::create_dir(&at).unwrap(),
        }
        let ran = std::sync::atomic::AtomicBool::new(false);
        let err = in_session(tmp.path(), || {
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst)
                && err.contains(".ca-login.lock")
                && err.contains("hint:"),
            "{kind}: {err}"
        );
    }
    assert_eq!(
        fs::read(victim.path()).unwrap(),
        b"",
        "the link's target untouched"
    );
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-home");
    in_session(&missing, || Ok(())).unwrap();
    assert!(!missing.exists(), "a missing home is never created");
}

#[test]
fn paths_in_hints_to_paste_are_one_shell_word_whatever_they_hold() {
    assert_eq!(
        shell_word(Path::new("/home/u/.config/pip/pip.conf")),
        "/home/u/.config/pip/pip.conf"
    );
    assert_eq!(
        shell_word(Path::new("/etc/q;touch${IFS}pwned;#")),
        "'/etc/q;touch${IFS}pwned;#'"
    );
    assert_eq!(shell_word(Path::new("/tmp/it's")), "'/tmp/it'\\''s'");
    assert_eq!(shell_word(Path::new("")), "''");
    // The hint of a directory we may not create names its parent, quoted.
    let e = io_error(
        Path::new("/etc/q;id;#/sub"),
        "create the directory",
        &io::Error::from(io::ErrorKind::PermissionDenied),
    );
    assert!(e.to_string().contains("`ls -ld '/etc/q;id;#'`"), "{e}");
}
