"""Root acting for a notebook user (`--user NAME`), against what that user planted in their home.

Each test runs as root with a throwaway user whose home is in a fresh temp tree; the files a planted link points
at live in `outside/` (root's). After each attack: every file outside the user's home is unchanged (bytes,
owner, mode), nothing appeared outside it, and the command ended within 20 s.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from conftest import assert_no_token, remove_user

CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
BOUND = 20.0
# The user cannot reach the venv under /work: their own processes run the system interpreter.
USER_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add a user")


class World:
    """base/home (the user's), base/outside (root's: what planted links point at)."""

    def __init__(self, base: Path):
        self.base = base
        self.home = base / "home"
        self.outside = base / "outside"
        self.outside.mkdir(mode=0o755)
        self.outside.chmod(0o755)


@pytest.fixture
def world():
    base = Path(tempfile.mkdtemp(prefix="ca-login-asuser-"))
    base.chmod(0o755)
    try:
        yield World(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def user(world):
    name = f"calu{uuid.uuid4().hex[:8]}"
    r = subprocess.run(
        ["useradd", "-m", "-d", str(world.home), "-s", "/bin/sh", "-U", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    try:
        yield pwd.getpwnam(name)
    finally:
        remove_user(name)


def as_user(pw):
    """preexec_fn for a child that runs as the user."""

    def drop():
        os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
        os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
        os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)

    return drop


def plant(pw, path: Path, *, link: str | None = None, text: str | None = None, dir: bool = False):
    """Create `path` in the user's home as the user would (owned by them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    p = path.parent
    while p != Path(pw.pw_dir).parent and str(p).startswith(pw.pw_dir):
        os.chown(p, pw.pw_uid, pw.pw_gid)
        p = p.parent
    if link is not None:
        os.symlink(link, path)
    elif dir:
        path.mkdir()
    elif text is not None:
        path.write_text(text)
    os.lchown(path, pw.pw_uid, pw.pw_gid)


def snapshot(*roots: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under `roots` (not following links): kind, bytes' hash, owner, mode."""
    out: dict[str, tuple] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            if skip is not None and (d == skip or skip in d.parents):
                dirnames[:] = []
                continue
            for n in [*dirnames, *filenames]:
                p = d / n
                if skip is not None and p == skip:
                    continue
                st = os.lstat(p)
                digest = ""
                if stat.S_ISREG(st.st_mode):
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                elif stat.S_ISLNK(st.st_mode):
                    digest = os.readlink(p)
                out[str(p)] = (
                    stat.S_IFMT(st.st_mode),
                    digest,
                    st.st_uid,
                    st.st_gid,
                    stat.S_IMODE(st.st_mode),
                )
    return out


def cli(args, env, stdout=subprocess.PIPE) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    r = subprocess.run(
        [CA_LOGIN, *args], env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=BOUND
    )
    return r, time.monotonic() - started


def login_args(standin, pw, *extra):
    return [
        "login",
        "--user",
        pw.pw_name,
        "--domain",
        standin.domain,
        "--domain-owner",
        standin.owner,
        "--repository",
        "isolatedsm",
        *extra,
    ]


def token_calls(standin) -> int:
    return sum(1 for c in standin.calls if c.get("operation") == "GetAuthorizationToken")


class Guard:
    """Snapshot of everything outside the user's home (the temp tree and root's HOME) once the attack is planted
    (`start()`), compared at the end of the test."""

    def __init__(self, world, root_home):
        self.roots = (world.base, root_home)
        self.skip = world.home
        self.before = None

    def start(self):
        self.before = snapshot(*self.roots, skip=self.skip)

    def check(self):
        after = snapshot(*self.roots, skip=self.skip)
        changed = {k for k in self.before if self.before[k] != after.get(k)}
        new = set(after) - set(self.before)
        assert not changed, f"files outside the user's home changed: {sorted(changed)}"
        assert not new, f"files appeared outside the user's home: {sorted(new)}"


@pytest.fixture
def guard(world, _clean_env):
    g = Guard(world, _clean_env)
    yield g
    assert g.before is not None, "the test did not start its guard"
    g.check()


def pip_conf(pw) -> Path:
    return Path(pw.pw_dir) / ".config" / "pip" / "pip.conf"


def root_file(world, name="root-only", text="secret root data\n", mode=0o644) -> Path:
    p = world.outside / name
    p.write_text(text)
    p.chmod(mode)
    return p


def assert_refused(r, elapsed, *, code=7):
    assert r.returncode == code, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    assert elapsed < BOUND


def test_pip_conf_linked_to_a_root_file_leaves_the_file_as_it_was(standin, aws_env, user, world, guard):
    target = root_file(world)
    plant(user, pip_conf(user), link=str(target))
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert_refused(r, t)
    assert "hint:" in r.stderr


def test_pip_config_dir_linked_to_a_root_dir_creates_nothing_there(standin, aws_env, user, world, guard):
    plant(user, Path(user.pw_dir) / ".config" / "pip", link=str(world.outside))
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert_refused(r, t)


def test_configure_through_a_dangling_config_link_creates_nothing(user, world, guard, isolated_env):
    cfg = Path(user.pw_dir) / ".config" / "ca-login" / "config"
    plant(user, cfg, link=str(world.outside / "created-by-root"))
    guard.start()
    r, t = cli(["configure", "--user", user.pw_name, "--domain", "mydomain"], isolated_env())
    assert_refused(r, t)
    assert not (world.outside / "created-by-root").exists()


def test_a_dangling_lock_link_is_found_before_any_network_call(standin, aws_env, user, world, guard):
    lock = pip_conf(user).parent / ".pip.conf.ca-login.lock"
    plant(user, lock, link=str(world.outside / "lock-victim"))
    calls = token_calls(standin)
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert_refused(r, t)
    assert "symbolic link" in r.stderr
    assert token_calls(standin) == calls
    assert os.path.islink(lock)


def test_a_state_file_that_is_a_link_makes_status_say_so_and_login_replace_the_link(
    standin, aws_env, user, world, guard
):
    target = root_file(world, "root-state.json", '{"version": 1, "entries": {}}\n', 0o600)
    state = Path(user.pw_dir) / ".local" / "state" / "ca-login" / "state.json"
    plant(user, state, link=str(target))
    guard.start()
    r, t = cli(["status", "--user", user.pw_name], aws_env)
    assert_refused(r, t, code=1)
    text = " ".join(r.stdout.split())
    assert "UNKNOWN" in text and "a symbolic link, not a regular file" in text, text
    r, t = cli(login_args(standin, user), aws_env)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISREG(os.lstat(state).st_mode)
    assert os.lstat(state).st_uid == user.pw_uid


def test_a_fifo_at_pip_conf_is_a_config_error_at_once(standin, aws_env, user, world, guard):
    p = pip_conf(user)
    plant(user, p.parent / "x", text="")
    os.mkfifo(p)
    os.lchown(p, user.pw_uid, user.pw_gid)
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert_refused(r, t)
    assert "FIFO" in r.stderr
    assert stat.S_ISFIFO(os.lstat(p).st_mode)


def test_pip_conf_linked_to_dev_zero_is_a_config_error(standin, aws_env, user, world, guard):
    plant(user, pip_conf(user), link="/dev/zero")
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert_refused(r, t)
    assert "character device" in r.stderr


def test_a_device_node_as_config_file_is_never_replaced(standin, aws_env, user, world, guard):
    dev = world.outside / "null"
    subprocess.run(["mknod", str(dev), "c", "1", "3"], check=True, timeout=10)
    dev.chmod(0o666)
    guard.start()
    r, t = cli(login_args(standin, user, "--config-file", str(dev)), aws_env)
    assert_refused(r, t)
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_pip_conf_linked_to_proc_self_fd_1_never_reaches_roots_file(standin, aws_env, user, world, guard):
    out = world.outside / "root-stdout"
    out.write_text("")
    out.chmod(0o600)
    plant(user, pip_conf(user), link="/proc/self/fd/1")
    guard.start()
    with open(out, "a") as fd1:
        r, t = cli(login_args(standin, user), aws_env, stdout=fd1)
    r.stdout = out.read_text()
    assert_refused(r, t)
    assert "index-url" not in r.stdout


def test_the_users_config_cannot_steer_root_to_their_listener_or_profile(
    standin, aws_env, user, world, guard
):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        cfg = Path(user.pw_dir) / ".config" / "ca-login" / "config"
        plant(user, cfg, text=f"[default]\nendpoint_url = http://127.0.0.1:{port}\nprofile = admin\n")
        guard.start()
        r, t = cli(login_args(standin, user), aws_env)
        assert r.returncode == 0, r.stderr
        assert t < BOUND
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    st = os.stat(pip_conf(user))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, 0o600)


def test_a_directory_at_the_state_path_stops_login_before_the_token_call(
    standin, aws_env, user, world, guard
):
    state = Path(user.pw_dir) / ".local" / "state" / "ca-login" / "state.json"
    plant(user, state, dir=True)
    calls = token_calls(standin)
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert_refused(r, t)
    assert "a directory" in r.stderr
    assert token_calls(standin) == calls
    assert state.is_dir()
    assert not pip_conf(user).exists()


def test_the_users_ordinary_login_writes_their_files_also_through_their_dotfiles_link(
    standin, aws_env, user, world, guard
):
    guard.start()
    r, t = cli(login_args(standin, user), aws_env)
    assert r.returncode == 0, r.stderr
    assert t < BOUND
    conf = pip_conf(user)
    for p in [conf, conf.parent, Path(user.pw_dir) / ".local" / "state" / "ca-login" / "state.json"]:
        st = os.stat(p)
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), p
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    token = re.search(r"aws:([^@]+)@", conf.read_text()).group(1)
    assert_no_token(token, r.stdout, r.stderr, what="CLI output")
    # Their own link to their dotfiles: followed, kept, the file theirs.
    real = Path(user.pw_dir) / "dotfiles" / "pip.conf"
    plant(user, real, text=conf.read_text())
    conf.unlink()
    plant(user, conf, link="../../dotfiles/pip.conf")
    r, _ = cli(login_args(standin, user), aws_env)
    assert r.returncode == 0, r.stderr
    assert conf.is_symlink()
    st = os.stat(real)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, 0o600)
    r, _ = cli(["logout", "--user", user.pw_name], aws_env)
    assert r.returncode == 0, r.stderr
    assert conf.is_symlink() and "index-url" not in real.read_text()


def test_the_user_cannot_signal_or_prlimit_roots_thread_acting_for_them(standin, aws_env, user, world, guard):
    conf = pip_conf(user)
    plant(user, conf, text="[global]\n")
    lock = conf.parent / ".pip.conf.ca-login.lock"
    holder_code = (
        "import fcntl, os, sys, time\n"
        f"f = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(15)\n"
    )
    guard.start()
    holder = subprocess.Popen(
        [USER_PYTHON, "-c", holder_code], preexec_fn=as_user(user), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        root = subprocess.Popen(
            [CA_LOGIN, *login_args(standin, user)],
            env=aws_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            tid = None
            deadline = time.monotonic() + 10
            while tid is None and time.monotonic() < deadline:
                for task in Path(f"/proc/{root.pid}/task").glob("*"):
                    try:
                        if task.joinpath("comm").read_text().startswith("ca-login-uid-"):
                            tid = int(task.name)
                    except OSError:
                        pass
                time.sleep(0.05)
            assert tid is not None, "no thread acting for the user appeared"
            probe = (
                "import os, resource, signal, sys\n"
                "tid = int(sys.argv[1])\n"
                "res = []\n"
                "try:\n    os.kill(tid, signal.SIGKILL); res.append('killed')\n"
                "except PermissionError:\n    res.append('kill EPERM')\n"
                "try:\n    resource.prlimit(tid, resource.RLIMIT_NOFILE, (0, 0)); res.append('prlimited')\n"
                "except PermissionError:\n    res.append('prlimit EPERM')\n"
                "print(' '.join(res))\n"
            )
            p = subprocess.run(
                [USER_PYTHON, "-c", probe, str(tid)],
                preexec_fn=as_user(user),
                capture_output=True,
                text=True,
                timeout=10,
            )
            assert p.stdout.split() == ["kill", "EPERM", "prlimit", "EPERM"], p.stdout + p.stderr
        finally:
            holder.kill()
            _, err = root.communicate(timeout=BOUND)
        assert root.returncode == 0, err
    finally:
        holder.kill()
        holder.wait(timeout=10)


SWAPPER = """
import os, sys, time
conf, target, stop = sys.argv[1:4]
tmp = conf + ".swap"
end = time.monotonic() + 60
while time.monotonic() < end and not os.path.exists(stop):
    try:
        os.symlink(target, tmp)
        os.rename(tmp, conf)
    except OSError:
        pass
    try:
        os.unlink(tmp)
    except OSError:
        pass
"""


def test_swapping_pip_conf_for_a_link_during_20_logins_never_reaches_the_root_file(
    standin, aws_env, user, world, guard
):
    target = root_file(world)
    conf = pip_conf(user)
    plant(user, conf, text="[global]\n")
    stop = Path(user.pw_dir) / "stop-swapping"
    guard.start()
    swapper = subprocess.Popen(
        [USER_PYTHON, "-c", SWAPPER, str(conf), str(target), str(stop)], preexec_fn=as_user(user)
    )
    try:
        for _ in range(20):
            r, t = cli(login_args(standin, user), aws_env)
            assert r.returncode in (0, 7), r.stderr
            assert "Traceback" not in r.stderr
            assert t < BOUND
    finally:
        stop.write_text("")
        swapper.wait(timeout=BOUND)
    assert target.read_text() == "secret root data\n"


LOG_FROM_USER_THREAD = """
import logging, sys
from ca_login import _core
home, log_path, uid, gid, domain, owner = sys.argv[1:7]
handler = logging.FileHandler(log_path, delay=True)
logger = logging.getLogger("ca_login")
logger.setLevel(logging.DEBUG)
logger.addHandler(handler)
r = _core.login(domain, "isolatedsm", domain_owner=owner, user_home=home,
                as_user=(int(uid), int(gid), [int(gid)]))
handler.flush()
print("ok")
"""


def test_records_logged_on_the_user_thread_reach_a_delayed_file_handler_as_root(
    standin, aws_env, user, world, guard
):
    logs = Path(user.pw_dir) / "shared-logs"
    logs.mkdir()
    logs.chmod(0o1777)
    log_path = logs / "ca-login.log"
    guard.start()
    started = time.monotonic()
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            LOG_FROM_USER_THREAD,
            user.pw_dir,
            str(log_path),
            str(user.pw_uid),
            str(user.pw_gid),
            standin.domain,
            standin.owner,
        ],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert time.monotonic() - started < BOUND
    st = os.lstat(log_path)
    assert st.st_uid == 0, "the log file was created by the user thread"
    assert "pip config and state written" in log_path.read_text()
    assert os.stat(pip_conf(user)).st_uid == user.pw_uid
