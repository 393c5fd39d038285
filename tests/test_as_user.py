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


# ---------------------------------------------------------------------------------------------------------------
# A hostile look at what root does for a user beyond pip.conf: the session lock, the tools key of their config,
# uv/Poetry/twine/netrc files, the IPython startup file, a project config in the working directory, the state
# file's records. Root runs each command with its working directory in a tree the user can write.
# ---------------------------------------------------------------------------------------------------------------


def cli_in(args, env, cwd) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    r = subprocess.run([CA_LOGIN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=BOUND)
    return r, time.monotonic() - started


def user_dir(pw, name="work") -> Path:
    d = Path(pw.pw_dir) / name
    if not d.is_dir():
        plant(pw, d, dir=True)
    return d


def test_roots_own_xdg_poetry_netrc_and_ipython_variables_never_redirect_a_users_files(
    standin, aws_env, user, world, guard
):
    env = dict(
        aws_env,
        XDG_CONFIG_HOME=str(world.outside / "xdg"),
        POETRY_CONFIG_DIR=str(world.outside / "poetry"),
        NETRC=str(world.outside / "netrc"),
        IPYTHONDIR=str(world.outside / "ipython"),
        PYPIRC=str(world.outside / "pypirc"),
    )
    guard.start()
    r, t = cli_in(login_args(standin, user, "--tool", "pip,uv,poetry,twine"), env, user_dir(user))
    assert r.returncode == 0, r.stderr
    assert t < BOUND
    r, t = cli_in(["configure", "--user", user.pw_name, "--ipython-extension"], env, user_dir(user))
    assert r.returncode == 0, r.stderr
    home = Path(user.pw_dir)
    for f in (
        home / ".config" / "uv" / "uv.toml",
        home / ".config" / "pypoetry" / "auth.toml",
        home / ".pypirc",
        home / ".netrc",
        home / ".ipython" / "profile_default" / "startup" / "50-ca-login.py",
    ):
        st = os.lstat(f)
        assert (stat.S_ISREG(st.st_mode), st.st_uid, stat.S_IMODE(st.st_mode)) == (
            True,
            user.pw_uid,
            0o600,
        ), f
    r, _ = cli_in(["logout", "--user", user.pw_name, "--tool", "uv,poetry,twine"], env, user_dir(user))
    assert r.returncode == 0, r.stderr


TOOL_FILES = {
    "uv": (".config/uv/uv.toml", "uv", '[[index]]\nname = "rootidx"\nurl = "https://root.example/simple/"\n'),
    "poetry": (
        ".config/pypoetry/auth.toml",
        "poetry",
        '[http-basic.rootidx]\nusername = "r"\npassword = "rootpw"\n',
    ),
    "twine": (".pypirc", "twine", "[distutils]\nindex-servers = rootidx\n[rootidx]\npassword = rootpw\n"),
    "netrc": (".netrc", "uv", "machine root.example login root password rootpw\n"),
}


@pytest.mark.parametrize("mode", [0o644, 0o600])
@pytest.mark.parametrize("kind", sorted(TOOL_FILES))
def test_a_tool_file_linked_to_a_root_file_is_neither_changed_nor_read_into_the_users_files(
    standin, aws_env, user, world, guard, kind, mode
):
    rel, tool, text = TOOL_FILES[kind]
    target = root_file(world, f"root-{kind}", text, mode)
    plant(user, Path(user.pw_dir) / rel, link=str(target))
    guard.start()
    r, t = cli_in(login_args(standin, user, "--tool", tool), aws_env, user_dir(user))
    assert_refused(r, t)
    assert "rootpw" not in r.stdout + r.stderr and "rootidx" not in r.stdout + r.stderr
    for dirpath, _dirs, names in os.walk(user.pw_dir):
        for n in names:
            p = Path(dirpath) / n
            if not p.is_symlink() and p.is_file():
                assert b"rootpw" not in p.read_bytes(), p


def _plant_config(pw, world, how: str) -> Path:
    cfg = Path(pw.pw_dir) / ".config" / "ca-login" / "config"
    if how == "fifo":
        plant(pw, cfg.parent / "x", text="")
        os.mkfifo(cfg)
        os.lchown(cfg, pw.pw_uid, pw.pw_gid)
    elif how == "dev-zero":
        plant(pw, cfg, link="/dev/zero")
    elif how == "huge":
        plant(pw, cfg, text="[default]\ntools = pip\n" + "#" * (2 << 20) + "\n")
    elif how == "root-file":
        plant(pw, cfg, link=str(root_file(world, "root-config", "[default]\ntools = uv\n", 0o600)))
    elif how == "odd-bytes":
        plant(pw, cfg, text="[default]\ntools = pip,\x1b]0;owned\x07\x1b[2J\x7fuv\u202e\n")
    elif how == "many-tools":
        plant(pw, cfg, text="[default]\ntools = " + ",".join(["pip"] * 50000) + "\n")
    return cfg


@pytest.mark.parametrize("how", ["fifo", "dev-zero", "huge", "root-file", "odd-bytes", "many-tools"])
def test_the_tools_key_of_a_hostile_user_config_makes_root_do_nothing_outside_and_ends_in_time(
    standin, aws_env, user, world, guard, how
):
    _plant_config(user, world, how)
    calls = token_calls(standin)
    guard.start()
    r, t = cli_in(login_args(standin, user), aws_env, user_dir(user))
    assert "Traceback" not in r.stderr, r.stderr
    assert t < BOUND
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    if how == "many-tools":
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 7, f"exit {r.returncode}\n{r.stderr}"
        assert "hint:" in r.stderr
        assert token_calls(standin) == calls
    assert "uv" not in {p.name for p in (Path(user.pw_dir) / ".config").iterdir()}


def test_ipython_startup_links_at_every_level_lead_nowhere_roots_and_a_linked_file_is_never_removed(
    user, world, guard, isolated_env
):
    home = Path(user.pw_dir)
    ipy = home / ".ipython"
    root_dirs = {name: world.outside / name for name in ("ipy", "profile", "startup")}
    for d in root_dirs.values():
        d.mkdir(mode=0o755)
        d.chmod(0o755)
    # Root's own startup file (root ran configure for itself): the text is ours, the file root's.
    r, _ = cli_in(
        ["configure", "--ipython-extension"], isolated_env(IPYTHONDIR=str(world.outside / "own")), world.base
    )
    assert r.returncode == 0, r.stderr
    ours = world.outside / "own" / "profile_default" / "startup" / "50-ca-login.py"
    for d in (ours, *ours.parents):
        d.chmod(0o755 if d.is_dir() else 0o644)
        if d == world.outside:
            break
    text = ours.read_text()
    env = isolated_env(IPYTHONDIR=str(world.outside / "ipy"))
    cases = [
        (ipy, root_dirs["ipy"]),
        (ipy / "profile_default", root_dirs["profile"]),
        (ipy / "profile_default" / "startup", root_dirs["startup"]),
        (ipy / "profile_default" / "startup" / "50-ca-login.py", ours),
    ]
    guard.start()
    for link, target in cases:
        plant(user, link, link=str(target))
        for flag in ("--ipython-extension", "--no-ipython-extension"):
            r, t = cli_in(["configure", "--user", user.pw_name, flag], env, user_dir(user))
            assert "Traceback" not in r.stderr, r.stderr
            assert t < BOUND
            if link.name == "50-ca-login.py" and flag == "--ipython-extension":
                assert r.returncode == 0, r.stderr  # the file there is ours already: unchanged
            elif flag == "--ipython-extension":
                assert r.returncode == 7, f"{link}: exit {r.returncode}\n{r.stderr}"
        link.unlink()
        if link != ipy:
            shutil.rmtree(ipy)
    assert ours.read_text() == text


@pytest.mark.parametrize(
    "planted", ["uv.toml-fifo", "pyproject-fifo", "uv.toml-dev-zero", "uv.toml-root-file"]
)
def test_a_project_config_planted_in_roots_working_directory_neither_hangs_nor_leaks_a_root_file(
    standin, aws_env, user, world, guard, planted
):
    cwd = user_dir(user, "project")
    r, _ = cli_in(login_args(standin, user, "--tool", "uv"), aws_env, cwd)
    assert r.returncode == 0, r.stderr
    name, how = planted.split("-", 1)
    p = cwd / ("pyproject.toml" if name == "pyproject" else "uv.toml")
    if how == "fifo":
        os.mkfifo(p)
        os.lchown(p, user.pw_uid, user.pw_gid)
    elif how == "dev-zero":
        plant(user, p, link="/dev/zero")
    else:
        secret = '[[index]]\nname = "rootidx"\nurl = "https://root:rootpw@root.example/simple/"\n'
        plant(user, p, link=str(root_file(world, "root-uv.toml", secret, 0o600)))
    deeper = cwd / "a" / "b"
    plant(user, deeper, dir=True)
    guard.start()
    for args in (
        ["status", "--user", user.pw_name],
        ["status", "--user", user.pw_name, "--tool", "uv"],
        login_args(standin, user, "--tool", "uv"),
        ["logout", "--user", user.pw_name, "--tool", "uv"],
    ):
        r, t = cli_in(args, aws_env, deeper)
        assert "Traceback" not in r.stderr, r.stderr
        assert t < BOUND, args
        assert r.returncode in (0, 1), f"{args}: exit {r.returncode}\n{r.stderr}"
        assert "rootidx" not in r.stdout + r.stderr and "root.example" not in r.stdout + r.stderr


def test_state_records_naming_files_outside_the_home_make_root_change_none_of_them(
    standin, aws_env, user, world, guard
):
    import json

    home = Path(user.pw_dir)
    r, _ = cli_in(login_args(standin, user, "--tool", "pip,uv,poetry,twine"), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr
    state_file = home / ".local" / "state" / "ca-login" / "state.json"
    state = json.loads(state_file.read_text())
    entries = state["entries"]
    # Every recorded file copied (ours, token and all) into root's directory, the records pointing there.
    for i, (_key, e) in enumerate(sorted(entries.items())):
        src = Path(e["config_file"])
        copy = world.outside / f"copy-{i}-{src.name}"
        copy.write_bytes(src.read_bytes())
        copy.chmod(0o644)
        e["config_file"] = str(copy)
    state_file.write_text(json.dumps(state))
    guard.start()
    for args in (
        ["status", "--user", user.pw_name],
        ["logout", "--user", user.pw_name, "--tool", "uv,poetry,twine,netrc"],
        ["logout", "--user", user.pw_name],
        login_args(standin, user, "--tool", "pip,uv,poetry,twine"),
        ["logout", "--user", user.pw_name, "--tool", "uv,poetry,twine,netrc"],
    ):
        r, t = cli_in(args, aws_env, user_dir(user))
        assert "Traceback" not in r.stderr, r.stderr
        assert t < BOUND, args


def test_a_user_holding_their_session_lock_delays_root_at_most_the_lock_bound(
    standin, aws_env, user, world, guard
):
    lock = Path(user.pw_dir) / ".ca-login.lock"
    holder_code = (
        "import fcntl, os, time\n"
        f"f = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    calls = token_calls(standin)
    guard.start()
    holder = subprocess.Popen(
        [USER_PYTHON, "-c", holder_code], preexec_fn=as_user(user), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (login_args(standin, user, "--tool", "pip,uv"), ["status", "--user", user.pw_name]):
            r, t = cli_in(args, aws_env, user_dir(user))
            assert_refused(r, t)
            assert "another process has held this lock" in r.stderr
        assert token_calls(standin) == calls
    finally:
        holder.kill()
        holder.wait(timeout=10)
    r, _ = cli_in(login_args(standin, user), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kind", ["root-file", "dangling", "fifo"])
def test_a_session_lock_planted_as_a_link_or_fifo_stops_root_with_nothing_changed(
    standin, aws_env, user, world, guard, kind
):
    lock = Path(user.pw_dir) / ".ca-login.lock"
    if kind == "root-file":
        plant(user, lock, link=str(root_file(world, "root-lock", "", 0o666)))
    elif kind == "dangling":
        plant(user, lock, link=str(world.outside / "made-by-root"))
    else:
        os.mkfifo(lock)
        os.lchown(lock, user.pw_uid, user.pw_gid)
    calls = token_calls(standin)
    guard.start()
    for args in (
        login_args(standin, user),
        ["status", "--user", user.pw_name],
        ["logout", "--user", user.pw_name],
    ):
        r, t = cli_in(args, aws_env, user_dir(user))
        assert_refused(r, t)
    assert token_calls(standin) == calls


def test_extra_index_mode_through_a_link_to_a_root_file_changes_nothing(standin, aws_env, user, world, guard):
    target = root_file(
        world, "root-pip.conf", "[global]\nextra-index-url = https://root.example/simple/\n", 0o644
    )
    plant(user, pip_conf(user), link=str(target))
    guard.start()
    r, t = cli_in(login_args(standin, user, "--extra-index-url"), aws_env, user_dir(user))
    assert_refused(r, t)


FORGED = {
    "escapes": {
        "domain": "mydomain\x1b]0;owned\x07\x1b[2J\n[fake] all is well",
        "region": "us-west-2\x1b[1A",
    },
    "far-future": {"expires_at": 2**63 - 1, "issued_at": -(2**63)},
    "far-past": {"expires_at": -(2**63), "issued_at": 2**63 - 1},
    "path-escapes": {"config_file": "/tmp/\x1b]0;owned\x07pip.conf"},
    "dev-zero": {"config_file": "/dev/zero", "created": True},
    "proc-fd": {"config_file": "/proc/self/fd/1", "created": True},
}


@pytest.mark.parametrize("forged", sorted(FORGED))
def test_a_forged_state_record_makes_root_print_no_control_bytes_and_end_cleanly(
    standin, aws_env, user, world, guard, forged
):
    import json

    r, _ = cli_in(login_args(standin, user, "--tool", "pip,uv"), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr
    state_file = Path(user.pw_dir) / ".local" / "state" / "ca-login" / "state.json"
    state = json.loads(state_file.read_text())
    for e in state["entries"].values():
        e.update(FORGED[forged])
    state_file.write_text(json.dumps(state))
    guard.start()
    r, _ = cli_in(["status", "--user", user.pw_name], aws_env, user_dir(user))
    assert r.returncode == 1, r.stdout + r.stderr
    if forged in ("escapes", "far-future", "far-past", "path-escapes"):
        assert "unexpected content" in " ".join(r.stdout.split()), r.stdout
    for args in (
        ["status", "--user", user.pw_name],
        ["status", "--user", user.pw_name, "--json"],
        login_args(standin, user, "--tool", "pip,uv", "--if-expiring-within", "60"),
        ["logout", "--user", user.pw_name, "--tool", "uv"],
        ["logout", "--user", user.pw_name],
    ):
        r, t = cli_in(args, aws_env, user_dir(user))
        out = r.stdout + r.stderr
        assert "Traceback" not in out and "panicked" not in out, f"{args}\n{out}"
        assert t < BOUND, args
        assert "\x1b" not in out and "\x07" not in out, f"{args}: {out!r}"
        assert "\n[fake]" not in out, f"{args}: {out!r}"
    assert stat.S_ISCHR(os.lstat("/dev/zero").st_mode)


ESC = "\x1b]0;owned\x07\x1b[2J"


@pytest.mark.parametrize(
    "where",
    [
        "pip.conf-value",
        "pip.conf-unparsable",
        "project-index-name",
        "project-index-toml-escapes",
        "home-uv-toml-escapes",
        "uv.toml-unparsable",
        "link-target-dir",
    ],
)
def test_control_bytes_in_a_users_files_never_reach_roots_output_raw(
    standin, aws_env, user, world, guard, where
):
    home = Path(user.pw_dir)
    cwd = user_dir(user, "project")
    if where == "pip.conf-value":
        plant(
            user, pip_conf(user), text=f"[global]\ntimeout = 5{ESC}\n[install]\nindex-url = https://x/{ESC}\n"
        )
    elif where == "pip.conf-unparsable":
        plant(user, pip_conf(user), text=f"[global\nindex-url = {ESC}\n")
    elif where == "project-index-name":
        plant(user, cwd / "uv.toml", text=f'[[index]]\nname = "n{ESC}"\nurl = "https://x/{ESC}/simple/"\n')
    elif where == "project-index-toml-escapes":
        esc = "\\u001b]0;owned\\u0007\\u001b[2J"
        plant(user, cwd / "uv.toml", text=f'[[index]]\nname = "n{esc}"\nurl = "https://x/{esc}/simple/"\n')
    elif where == "home-uv-toml-escapes":
        esc = "\\u001b]0;owned\\u0007\\u001b[2J"
        text = f'[[index]]\nname = "n{esc}"\nurl = "https://u:p@x/{esc}/simple/"\ndefault = true\n'
        plant(user, home / ".config" / "uv" / "uv.toml", text=text)
    elif where == "uv.toml-unparsable":
        plant(user, home / ".config" / "uv" / "uv.toml", text=f"[[index]\nname = {ESC}\n")
    else:
        real = home / f"dot{ESC}files" / "uv.toml"
        plant(user, real, text="# mine\n")
        plant(user, home / ".config" / "uv" / "uv.toml", link=str(real))
    guard.start()
    for args in (
        login_args(standin, user, "--tool", "pip,uv", "--dry-run"),
        login_args(standin, user, "--tool", "pip,uv"),
        ["status", "--user", user.pw_name, "--tool", "pip,uv"],
        ["logout", "--user", user.pw_name, "--tool", "uv"],
    ):
        r, t = cli_in(args, aws_env, cwd)
        out = r.stdout + r.stderr
        assert "Traceback" not in out, out
        assert t < BOUND
        assert "\x1b" not in out and "\x07" not in out, f"{args}: {out!r}"
        if where == "home-uv-toml-escapes" and args[0] == "login":
            assert r.returncode == 7 and "default [[index]] of its own" in r.stderr, out
        if where == "project-index-toml-escapes" and args[0] == "status":
            assert "\\u{1b}" in out, f"{args}: the planted index is not reported: {out!r}"


def test_sixty_four_levels_of_one_mib_pyproject_files_above_roots_cwd_cost_root_little(
    standin, aws_env, user, world, guard
):
    r, _ = cli_in(login_args(standin, user, "--tool", "uv"), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr
    d = user_dir(user, "deep")
    # Just under the 1 MiB read bound: each one is read and parsed as TOML.
    body = "[project]\n" + "".join(f'k{i:04} = "{"v" * 900}"\n' for i in range(1150))
    assert (1 << 20) - 8192 < len(body) <= 1 << 20
    for i in range(64):
        plant(user, d / "pyproject.toml", text=body)
        d = d / f"l{i}"
        plant(user, d, dir=True)
    guard.start()
    for args in (
        ["status", "--user", user.pw_name, "--tool", "uv"],
        login_args(standin, user, "--tool", "uv"),
    ):
        r, t = cli_in(args, aws_env, d)
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode in (0, 7), r.stderr
        assert t < BOUND, f"{args}: {t:.1f} s"


def test_a_user_who_lets_go_of_their_session_lock_just_in_time_still_cannot_hold_root_long(
    standin, aws_env, user, world, guard
):
    # Each scope waits at most LOCK_TIMEOUT (10 s) for the session lock; a login has two scopes with the network
    # between them (status's run back to back), so a holder that lets root in just before each timeout delays a
    # login by at most about 2 x 10 s.
    r, _ = cli_in(login_args(standin, user, "--tool", "pip,uv,poetry,twine"), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr
    lock = Path(user.pw_dir) / ".ca-login.lock"
    holder_code = (
        "import fcntl, os, time\n"
        f"f = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "print('ready', flush=True)\n"
        "end = time.monotonic() + 90\n"
        "while time.monotonic() < end:\n"
        "    fcntl.flock(f, fcntl.LOCK_EX)\n"
        "    time.sleep(8)\n"
        "    fcntl.flock(f, fcntl.LOCK_UN)\n"
        "    time.sleep(0.03)\n"
    )
    guard.start()
    holder = subprocess.Popen(
        [USER_PYTHON, "-c", holder_code], preexec_fn=as_user(user), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        for args in (
            ["status", "--user", user.pw_name],
            login_args(standin, user, "--if-expiring-within", "99999"),
        ):
            started = time.monotonic()
            r = subprocess.run(
                [CA_LOGIN, *args],
                env=aws_env,
                cwd=user_dir(user),
                capture_output=True,
                text=True,
                timeout=120,
            )
            t = time.monotonic() - started
            assert "Traceback" not in r.stderr, r.stderr
            # The design's bound here: each step that takes the session lock waits at most 10 s, and status and
            # login take it at most four times (seen: status 31.7 s, login 24.2 s with a holder letting go just
            # in time), plus the work itself on a loaded 2-core machine.
            assert t < 4 * 10 + 8, f"{args[0]}: {t:.1f} s (exit {r.returncode})"
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_users_own_index_url_with_control_bytes_is_put_back_byte_for_byte_and_never_printed_raw(
    standin, aws_env, user, world, guard
):
    original = f"[global]\nindex-url = https://mirror.example/{ESC}/simple/\n"
    plant(user, pip_conf(user), text=original)
    guard.start()
    for args in (
        ["status", "--user", user.pw_name],
        login_args(standin, user),
        ["status", "--user", user.pw_name],
        ["logout", "--user", user.pw_name],
    ):
        r, t = cli_in(args, aws_env, user_dir(user))
        out = r.stdout + r.stderr
        assert "Traceback" not in out, out
        assert t < BOUND
        assert "\x1b" not in out and "\x07" not in out, f"{args}: {out!r}"
        if args[0] == "login":
            assert r.returncode == 0, r.stderr
    assert pip_conf(user).read_text() == original


def test_a_forged_endpoint_in_the_users_state_never_reaches_a_command_root_is_told_to_paste(
    standin, aws_env, user, world, guard
):
    import json

    r, _ = cli_in(login_args(standin, user, "--tool", "poetry"), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr
    state_file = Path(user.pw_dir) / ".local" / "state" / "ca-login" / "state.json"
    state = json.loads(state_file.read_text())
    for e in state["entries"].values():
        e["repository_endpoint"] = e["repository_endpoint"] + ";touch${IFS}/tmp/pwned;#"
    state_file.write_text(json.dumps(state))
    guard.start()
    r, t = cli_in(
        login_args(standin, user, "--tool", "poetry", "--if-expiring-within", "60"), aws_env, user_dir(user)
    )
    assert "Traceback" not in r.stderr, r.stderr
    assert t < BOUND
    assert r.returncode == 0, r.stderr
    assert "touch" not in r.stdout + r.stderr, r.stdout
    r, _ = cli_in(["status", "--user", user.pw_name, "--tool", "poetry"], aws_env, user_dir(user))
    assert "touch" not in r.stdout + r.stderr, r.stdout


def _pasted_commands(text: str) -> list[list[str]]:
    """Each `command` a message tells root to paste, as a POSIX shell would split it (`;`, `|`, `&` apart)."""
    import shlex

    out = []
    for snippet in re.findall(r"`([^`]+)`", text):
        lexer = shlex.shlex(snippet, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        out.append(list(lexer))
    return out


@pytest.mark.parametrize("kind", ["fifo", "dir", "dangling-into-roots-dir", "dangling-into-a-file"])
def test_a_link_target_named_like_a_command_is_quoted_in_every_hint_root_is_told_to_paste(
    standin, aws_env, user, world, guard, kind
):
    evil = Path(user.pw_dir) / "q;touch${IFS}pwned;#"
    if kind == "dangling-into-roots-dir":
        evil = world.outside / "q;touch${IFS}pwned;#" / "sub" / "pip.conf"
    elif kind == "dangling-into-a-file":
        plant(user, evil, text="")
        evil = evil / "pip.conf"
    elif kind == "fifo":
        os.mkfifo(evil)
        os.lchown(evil, user.pw_uid, user.pw_gid)
    else:
        plant(user, evil, dir=True)
    plant(user, pip_conf(user), link=str(evil))
    guard.start()
    r, t = cli_in(login_args(standin, user), aws_env, user_dir(user))
    assert_refused(r, t)
    commands = _pasted_commands(r.stderr)
    assert commands or kind == "dangling-into-a-file", r.stderr
    for words in commands:
        assert not {";", "|", "&", "&&", "||"} & set(words), f"{words} in\n{r.stderr}"


def _just_under_a_mib(unit: str, head: str = "") -> str:
    n = ((1 << 20) - 4096 - len(head)) // len(unit)
    return head + unit * n


BIG_FILES = {
    "pip.conf-sections": (".config/pip/pip.conf", "pip", lambda: _just_under_a_mib("[s]\n", "[global]\n")),
    "pip.conf-keys": (".config/pip/pip.conf", "pip", lambda: _just_under_a_mib("k = v\n", "[global]\n")),
    "pip.conf-continuations": (
        ".config/pip/pip.conf",
        "pip",
        lambda: _just_under_a_mib("  https://x/simple/\n", "[global]\nextra-index-url =\n"),
    ),
    "pip.conf-index-url-repeated": (
        ".config/pip/pip.conf",
        "pip",
        lambda: _just_under_a_mib("index-url = https://x/simple/\nindex_url = https://y/\n", "[global]\n"),
    ),
    "pip.conf-global-repeated": (
        ".config/pip/pip.conf",
        "pip",
        lambda: _just_under_a_mib("[global]\nindex-url = https://x/simple/\nextra-index-url = https://y/\n"),
    ),
    "netrc-machines": (".netrc", "uv", lambda: _just_under_a_mib("machine h login l password p\n")),
    "pypirc-servers": (
        ".pypirc",
        "twine",
        lambda: _just_under_a_mib(" s\n", "[distutils]\nindex-servers =\n"),
    ),
    "uv-indexes": (
        ".config/uv/uv.toml",
        "uv",
        lambda: _just_under_a_mib('[[index]]\nname = "n"\nurl = "https://x/"\n'),
    ),
    "auth-sources": (
        ".config/pypoetry/auth.toml",
        "poetry",
        lambda: "".join(f'[http-basic.s{i}]\nusername = "u"\n' for i in range(30000)),
    ),
}


@pytest.mark.parametrize("kind", sorted(BIG_FILES))
def test_a_users_file_of_almost_a_mib_in_a_worst_shape_costs_root_under_the_bound(
    standin, aws_env, user, world, guard, kind
):
    rel, tool, make = BIG_FILES[kind]
    text = make()
    assert len(text) <= 1 << 20
    plant(user, Path(user.pw_dir) / rel, text=text)
    guard.start()
    for args in (
        login_args(standin, user, "--tool", tool),
        ["status", "--user", user.pw_name, "--tool", tool],
        ["logout", "--user", user.pw_name, "--tool", tool],
        login_args(standin, user, "--tool", tool, "--extra-index-url"),
        ["status", "--user", user.pw_name, "--tool", tool],
        ["logout", "--user", user.pw_name, "--tool", tool],
    ):
        r, t = cli_in(args, aws_env, user_dir(user))
        assert "Traceback" not in r.stderr, r.stderr
        assert t < BOUND, f"{args[0]}: {t:.1f} s"


REFRESH_FOR_USER = """
import json, sys
from ca_login import _core
home, uid, gid, domain, owner = sys.argv[1:6]
info = _core.start_refresh(domain, "isolatedsm", domain_owner=owner, user_home=home, tool="pip",
                           as_user=(int(uid), int(gid), [int(gid)]))
_core.stop_refresh()
print(json.dumps(info["tools"]))
"""


def test_a_refresher_for_a_user_reads_their_state_as_them_never_roots_through_their_link(
    standin, aws_env, user, world, guard
):
    import json

    r, _ = cli_in(login_args(standin, user, "--tool", "pip,twine"), aws_env, user_dir(user))
    assert r.returncode == 0, r.stderr
    state_dir = Path(user.pw_dir) / ".local" / "state" / "ca-login"
    state = json.loads((state_dir / "state.json").read_text())
    roots = world.outside / "root-state"
    roots.mkdir(mode=0o700)
    for e in state["entries"].values():
        e["config_file"] = str(world.outside / Path(e["config_file"]).name)
    (roots / "state.json").write_text(json.dumps(state))
    (roots / "state.json").chmod(0o600)
    shutil.rmtree(state_dir)
    plant(user, state_dir, link=str(roots))
    guard.start()
    started = time.monotonic()
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            REFRESH_FOR_USER,
            user.pw_dir,
            str(user.pw_uid),
            str(user.pw_gid),
            standin.domain,
            standin.owner,
        ],
        env=aws_env,
        cwd=user_dir(user),
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < BOUND
    # Root's own records (twine's) stay unread: the refresher renews only what the user's own state names.
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ["pip"], r.stdout


def test_roots_ca_login_config_variable_never_names_the_users_config(user, world, guard, isolated_env):
    """Root's CA_LOGIN_CONFIG names root's file: `configure --user` writes the user's own config, and the file the
    variable names is neither created nor changed."""
    roots = world.outside / "roots-ca-login-config"
    env = {**isolated_env(), "CA_LOGIN_CONFIG": str(roots)}
    guard.start()
    r, t = cli(["configure", "--user", user.pw_name, "--domain", "mydomain", "--tool", "pip,uv"], env)
    assert r.returncode == 0, r.stderr
    assert t < 20
    assert not roots.exists()
    cfg = Path(user.pw_dir) / ".config" / "ca-login" / "config"
    st = cfg.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (user.pw_uid, 0o600)
    assert cfg.read_text() == "[default]\ndomain = mydomain\ntools = pip,uv\n"
