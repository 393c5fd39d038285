"""SageMaker set-up (issue 6): `login --user` and `configure` writing a notebook user's files as root, and the
on-start script from `ca-login lifecycle-script`, run as root against the stand-in with a throwaway user.

The script installs a wheel this test session builds (`maturin build`, from the working tree) into fake
conda envs (venvs), and installs the refresh into a fake `crontab` (one file per user).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from ca_login import _sagemaker, cli

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CA_LOGIN = str(VENV_BIN / "ca-login")
SAGEMAKER_PATH = "/sbin:bin:/usr/sbin:/usr/bin"  # what SageMaker gives lifecycle scripts

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="makes a throwaway user: needs root")

FAKE_CRONTAB = r"""#!/bin/bash
# A stand-in for crontab(1): `-u USER -l` prints, `-u USER -` replaces USER's table ($FAKE_CRONTAB_DIR/USER).
# FAKE_CRONTAB_LIST_ERROR=TEXT: `-l` fails with TEXT (a crontab that exists but cannot be read).
user=$(id -un); list=0
while [ $# -gt 0 ]; do
  case $1 in -u) user=$2; shift 2 ;; -l) list=1; shift ;; -) shift ;; *) echo "usage" >&2; exit 2 ;; esac
done
id "$user" >/dev/null 2>&1 || { echo "crontab: user $user unknown" >&2; exit 1; }
f="$FAKE_CRONTAB_DIR/$user"
if [ "$list" = 1 ]; then
  [ -n "${FAKE_CRONTAB_LIST_ERROR:-}" ] && { echo "$FAKE_CRONTAB_LIST_ERROR" >&2; exit 1; }
  [ -f "$f" ] || { echo "no crontab for $user" >&2; exit 1; }
  cat "$f"
else
  cat >"$f"
fi
"""

FAKE_AWS = r"""#!/bin/bash
# A stand-in for `aws s3 cp [--only-show-errors] s3://B/K DEST`: copies $FAKE_S3_DIR/B/K.
[ "$1 $2" = "s3 cp" ] || exit 2
shift 2
[ "$1" = --only-show-errors ] && shift
src=${1#s3://}
cp "$FAKE_S3_DIR/$src" "$2"
"""


def _clean_run_env(**extra) -> dict[str, str]:
    path = os.pathsep.join([str(VENV_BIN), "/usr/bin", "/bin", "/usr/sbin", "/sbin"])
    env = {"PATH": path, "LANG": "C.UTF-8"}
    env["HOME"] = os.environ["HOME"]
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca_wheel(tmp_path_factory) -> Path:
    """A wheel of the working tree (debug build), as an instance would install it; CA_LOGIN_TEST_WHEEL
    (a path) overrides, e.g. the `make wheel` one."""
    given = os.environ.get("CA_LOGIN_TEST_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("cawheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")])
    for _ in range(3):  # target/ is shared: another build running at the same moment can move files under us
        r = subprocess.run(
            [str(VENV_BIN / "maturin"), "build", "--out", str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if r.returncode == 0:
            break
        time.sleep(5)
    assert r.returncode == 0, f"maturin build failed:\n{r.stderr[-3000:]}"
    wheels = list(out.glob("ca_login-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def _conda_template(tmp_path_factory) -> Path:
    """A fake conda root: envs/JupyterSystemEnv (the CLI's env) and envs/python3 (a kernel): venvs."""
    root = tmp_path_factory.mktemp("conda") / "anaconda3"
    # The notebook user runs these envs' python too: a base interpreter they can reach (not pyenv's in /root).
    base_python = "/usr/bin/python3"
    if not os.access(base_python, os.X_OK):
        base_python = getattr(sys, "_base_executable", sys.executable)
    for name in ("JupyterSystemEnv", "python3"):
        r = subprocess.run(
            [base_python, "-m", "venv", str(root / "envs" / name)],
            env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
    return root


class Sandbox:
    """A world-traversable temp tree (the user must reach their home and the envs): home, conda, work, log."""

    def __init__(self, base: Path, conda_template: Path):
        self.base = base
        self.home = base / "home"
        self.conda = base / "anaconda3"
        shutil.copytree(conda_template, self.conda, symlinks=True)
        self.work = base / "work"
        self.log = base / "lifecycle.log"
        self.cron_dir = base / "crontabs"
        self.cron_dir.mkdir()
        self.bin = base / "bin"
        self.bin.mkdir()
        self.crontab = self.bin / "crontab"
        self.crontab.write_text(FAKE_CRONTAB)
        self.crontab.chmod(0o755)
        self.stage = base / "SageMaker" / "ca-login"
        self.stage.mkdir(parents=True)

    def env(self, name):
        return self.conda / "envs" / name


@pytest.fixture
def sandbox(_conda_template):
    base = Path(tempfile.mkdtemp(prefix="ca-login-lc-"))
    base.chmod(0o755)
    try:
        yield Sandbox(base, _conda_template)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def nb_user(sandbox):
    """A throwaway notebook user with its home in the sandbox; removed afterwards even on failure."""
    if os.geteuid() != 0:
        pytest.skip("needs root to add a user")
    name = f"calt{uuid.uuid4().hex[:8]}"
    r = subprocess.run(
        ["useradd", "-m", "-d", str(sandbox.home), "-s", "/bin/bash", "-U", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


class HangServer:
    """Accepts TCP connections on loopback and never answers (what a dropped endpoint looks like to a client
    that got past connect)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self):
        self._stop = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def hang_server():
    s = HangServer()
    try:
        yield s
    finally:
        s.close()


def _owner_mode(p: Path) -> tuple[int, int, int]:
    st = p.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def _generate(*args: str) -> str:
    r = subprocess.run(
        [CA_LOGIN, "lifecycle-script", *args],
        env=_clean_run_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def _pid_in(pidfile: Path):
    return int(pidfile.read_text()) if pidfile.exists() else None


def _job_processes(marker: str) -> list[str]:
    """The live processes whose environment holds CAL_TEST_JOB=marker (all that a script run started inherit
    it, through runuser and timeout too), as "PID COMMAND LINE"."""
    want = f"CAL_TEST_JOB={marker}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if want not in (d / "environ").read_bytes().split(b"\0"):
                continue
            if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        found.append(f"{d.name} {cmd}")
    return found


class ScriptRun:
    def __init__(self, sb: Sandbox, proc: subprocess.CompletedProcess, stderr_file: Path):
        self.sb = sb
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr_file = stderr_file
        self.bg_pid = _pid_in(sb.work / "background.pid")
        self.refresh_pid = _pid_in(sb.work / "refresh.pid")

    def bg_running(self) -> bool:
        if self.bg_pid is None:
            return False
        try:
            os.kill(self.bg_pid, 0)
        except ProcessLookupError:
            return False
        # a zombie (our child via bash? no: bash exited, it is re-parented) counts as finished
        try:
            with open(f"/proc/{self.bg_pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def wait_background(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not self.bg_running():
                return True
            time.sleep(0.2)
        return False

    def kill_background(self):
        # the background's `timeout` leads its own process group; the refresh loop its own session
        for pid in (self.bg_pid, self.refresh_pid or _pid_in(self.sb.work / "refresh.pid")):
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace")

    @property
    def log(self) -> str:
        return self.sb.log.read_text(errors="replace") if self.sb.log.exists() else ""


@pytest.fixture
def run_script(sandbox, request):
    runs: list[ScriptRun] = []

    def run(script: str, user, pipes: bool = False, **overrides) -> ScriptRun:
        """Run `script` as root; `pipes`: stdout and stderr are pipes, and this returns once both are closed
        (as SageMaker's capture would), else stderr goes to a file (returns when the script exits)."""
        path = sandbox.base / "on-start.sh"
        path.write_text(script)
        env = {
            "PATH": SAGEMAKER_PATH,
            "HOME": os.environ["HOME"],
            "LANG": "C.UTF-8",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
            "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
            "CAL_USER": user.pw_name,
            "CAL_HOME": str(sandbox.home),
            "CAL_CONDA": str(sandbox.conda),
            "CAL_WHEEL": str(sandbox.stage / "ca_login-*.whl"),
            "CAL_WORK": str(sandbox.work),
            "CAL_LOG": str(sandbox.log),
            "CAL_CRONTAB": str(sandbox.crontab),
            "FAKE_CRONTAB_DIR": str(sandbox.cron_dir),
            "CAL_RETRY_SLEEP": "1",
            "CAL_LOGIN_ATTEMPTS": "2",
            "CAL_STEP_TIMEOUT": "60",
            "CAL_BG_TIMEOUT": "150",
        }
        env.update({k: str(v) for k, v in overrides.items()})
        err = sandbox.base / f"stderr-{len(runs)}.txt"
        with open(err, "w") as ef:
            proc = subprocess.run(
                ["bash", str(path)],
                env=env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if pipes else ef,
                text=True,
                timeout=90,
            )
            if pipes:
                ef.write(proc.stderr)
        r = ScriptRun(sandbox, proc, err)
        runs.append(r)
        return r

    yield run
    for r in runs:
        r.kill_background()


def _stage_wheel(sb: Sandbox, wheel: Path) -> Path:
    dest = sb.stage / wheel.name
    shutil.copy2(wheel, dest)
    dest.chmod(0o644)
    return dest


def _aws_env(standin_or_url) -> dict[str, str]:
    from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    url = standin_or_url if isinstance(standin_or_url, str) else standin_or_url.api_url
    return {
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
        "AWS_ENDPOINT_URL_CODEARTIFACT": url,
        "AWS_ENDPOINT_URL_STS": url,
    }


def _masked(conf: Path) -> str:
    """The pip config's text with the token masked: what assertions may look at (and print)."""
    return re.sub(r"aws:[^@\s]*@", "aws:****@", conf.read_text())


def _index_of(standin) -> str:
    """The index URL the stand-in's login writes, token masked."""
    return standin.repository_endpoint().replace("http://", "http://aws:****@") + "simple/"


def _leaks(conf: Path, *texts: str) -> bool:
    """Whether the token in `conf` appears in any of `texts` (a bool, so that a failure never prints it)."""
    token = conf.read_text().split("aws:", 1)[1].split("@", 1)[0]
    return any(token in t for t in texts)


def _cron_lines(sb: Sandbox, user) -> list[str]:
    f = sb.cron_dir / user.pw_name
    return f.read_text().splitlines() if f.exists() else []


# --- the generated script: size, syntax, lint --------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--target", "studio"],
        ["--wheel", "s3://my-bucket/wheels/ca_login-0.1.0-cp39-abi3-manylinux2014_x86_64.whl"],
        [
            "--region",
            "us-west-2",
            "--endpoint-url",
            "https://vpce-0123456789abcdef0-abcdefgh.api.codeartifact.us-west-2.vpce.amazonaws.com",
            "--repository-endpoint-url",
            "vpce-0123456789abcdef0-abcdefgh.d.codeartifact.us-west-2.vpce.amazonaws.com",
            "--duration-seconds",
            "43200",
            "--wheel",
            "/home/ec2-user/SageMaker/" + "w" * 200 + "/ca_login-0.1.0-cp39-abi3-manylinux2014_x86_64.whl",
        ],
    ],
    ids=["notebook-instance", "studio", "s3-wheel", "every-option-long-values"],
)
def test_generated_script_fits_sagemakers_limit_and_passes_bash_n_and_shellcheck(extra, tmp_path):
    script = _generate(
        "--domain", "mydomain", "--domain-owner", "111122223333", "--repository", "isolatedsm", *extra
    )
    assert len(script) <= 16384, f"{len(script)} characters"
    assert script.startswith("#!/bin/bash\n")
    p = tmp_path / "on-start.sh"
    p.write_text(script)
    r = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (make system-deps installs it)"
    r = subprocess.run([shellcheck, "--shell=bash", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_lifecycle_script_refuses_bad_values_with_a_hint(capsys):
    code = cli.main(
        ["lifecycle-script", "--domain", "mydomain", "--repository", "isolatedsm", "--wheel", "rel.whl"]
    )
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "not an absolute path" in err and "hint:" in err
    code = cli.main(["lifecycle-script", "--domain", "My_Domain", "--repository", "isolatedsm"])
    assert code == cli.EXIT_USAGE
    assert "domain" in capsys.readouterr().err
    code = cli.main(["lifecycle-script", "--repository", "isolatedsm"])
    assert code == cli.EXIT_USAGE
    assert "needs --domain" in capsys.readouterr().err


def test_values_reach_the_script_literally_with_no_shell_expansion(tmp_path):
    url = 'https://vpce-1.api.codeartifact.us-west-2.vpce.amazonaws.com/$(id)`id`$HOME\\x"y'
    script = _sagemaker.lifecycle_script(domain="mydomain", repository="isolatedsm", endpoint_url=url)
    settings = [ln for ln in script.splitlines() if ln.startswith(': "${CAL_ENDPOINT_URL:=')]
    assert len(settings) == 1
    p = tmp_path / "settings.sh"
    p.write_text(settings[0] + '\nprintf "%s" "$CAL_ENDPOINT_URL"\n')
    r = subprocess.run(
        ["bash", str(p)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == url


# --- login --user and configure --user ---------------------------------------------------------------------


@needs_root
def test_login_user_as_root_writes_the_users_pip_conf_and_state_owned_by_them_mode_0600(
    standin, aws_env, nb_user, sandbox, _clean_env
):
    home = sandbox.home
    r = subprocess.run(
        [
            CA_LOGIN,
            "login",
            "--user",
            nb_user.pw_name,
            "--domain",
            standin.domain,
            "--domain-owner",
            standin.owner,
            "--repository",
            "isolatedsm",
        ],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    conf = home / ".config" / "pip" / "pip.conf"
    assert conf.exists(), r.stdout
    ids = (nb_user.pw_uid, nb_user.pw_gid)
    assert _owner_mode(conf) == (*ids, 0o600)
    for d in (home / ".config", home / ".config" / "pip", home / ".local" / "state" / "ca-login"):
        assert _owner_mode(d)[:2] == ids, d
    state = home / ".local" / "state" / "ca-login" / "state.json"
    assert _owner_mode(state) == (*ids, 0o600)
    assert _index_of(standin) in _masked(conf)
    # root's own files are untouched
    assert not (_clean_env / ".config" / "pip" / "pip.conf").exists()
    leaked = _leaks(conf, r.stdout, r.stderr)
    assert not leaked, "the token leaked into the CLI output"


def test_login_user_refuses_an_unknown_user_and_a_non_root_caller(capsys, monkeypatch):
    code = cli.main(
        ["login", "--user", "no-such-user-ca-login", "--domain", "mydomain", "--repository", "repo1"]
    )
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "no such user" in err and "hint:" in err
    other = next(p for p in pwd.getpwall() if p.pw_uid != 4242)
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    code = cli.main(["login", "--user", other.pw_name, "--domain", "mydomain", "--repository", "repo1"])
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "not root" in err and "sudo" in err
    code = cli.main(["configure", "--user", other.pw_name, "--domain", "mydomain"])
    assert code == cli.EXIT_USAGE
    assert "not root" in capsys.readouterr().err


def test_configure_then_login_with_no_arguments_uses_the_config(standin, _clean_env, monkeypatch, capsys):
    import ca_login
    from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    code = cli.main(
        [
            "configure",
            "--domain",
            standin.domain,
            "--domain-owner",
            standin.owner,
            "--repository",
            "isolatedsm",
            "--region",
            standin.region,
            "--endpoint-url",
            standin.api_url,
        ]
    )
    assert code == 0, capsys.readouterr().err
    cfg = _clean_env / ".config" / "ca-login" / "config"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert "[default]" in cfg.read_text() and f"endpoint_url = {standin.api_url}" in cfg.read_text()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    site = Path(sys.prefix) / "pip.conf"
    assert not site.exists(), "the test venv has a site pip.conf: login() would edit it"
    result = ca_login.login()
    pip_conf = _clean_env / ".config" / "pip" / "pip.conf"
    assert result.config_file == pip_conf
    assert result.domain == standin.domain and result.repository == "isolatedsm"
    assert result.repository_endpoint == standin.repository_endpoint()
    assert _index_of(standin) in _masked(pip_conf)


def test_configure_keeps_other_lines_replace_removes_unsaid_keys_bad_values_write_nothing(_clean_env, capsys):
    cfg = _clean_env / ".config" / "ca-login" / "config"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("# my notes\n[default]\nregion = eu-west-1\n\n[profile dev]\ndomain = devdomain\n")
    assert cli.main(["configure", "--domain", "mydomain", "--repository", "isolatedsm"]) == 0
    text = cfg.read_text()
    assert text.startswith("# my notes\n[default]\nregion = eu-west-1\n")
    assert "domain = mydomain" in text and "[profile dev]\ndomain = devdomain" in text
    assert cli.main(["configure", "--replace", "--domain", "otherdomain", "--repository", "isolatedsm"]) == 0
    text = cfg.read_text()
    assert "region" not in text.split("[profile dev]")[0] and "domain = otherdomain" in text
    capsys.readouterr()
    assert cli.main(["configure", "--domain-owner", "12345"]) == cli.EXIT_USAGE
    assert "account ID" in capsys.readouterr().err
    assert cfg.read_text() == text
    assert cli.main(["configure"]) == cli.EXIT_USAGE


@needs_root
def test_configure_user_as_root_writes_their_config_owned_by_them(nb_user, sandbox):
    r = subprocess.run(
        [
            CA_LOGIN,
            "configure",
            "--user",
            nb_user.pw_name,
            "--domain",
            "mydomain",
            "--repository",
            "isolatedsm",
        ],
        env=_clean_run_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    cfg = sandbox.home / ".config" / "ca-login" / "config"
    assert _owner_mode(cfg) == (nb_user.pw_uid, nb_user.pw_gid, 0o600)
    assert _owner_mode(cfg.parent)[:2] == (nb_user.pw_uid, nb_user.pw_gid)


# --- the script, run as root -------------------------------------------------------------------------------


@needs_root
def test_script_installs_configures_logs_the_user_in_and_schedules_the_refresh(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    _stage_wheel(sandbox, ca_wheel)
    script = _generate(
        "--domain",
        standin.domain,
        "--domain-owner",
        standin.owner,
        "--repository",
        "isolatedsm",
        "--region",
        standin.region,
        "--endpoint-url",
        standin.api_url,
    )
    run = run_script(script, nb_user, **_aws_env(standin))
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), f"background still running:\n{run.log[-3000:]}"
    home, ids = sandbox.home, (nb_user.pw_uid, nb_user.pw_gid)

    cfg = home / ".config" / "ca-login" / "config"
    assert _owner_mode(cfg) == (*ids, 0o600), run.log
    assert f"endpoint_url = {standin.api_url}" in cfg.read_text()
    conf = home / ".config" / "pip" / "pip.conf"
    assert conf.exists(), run.log[-3000:]
    assert _owner_mode(conf) == (*ids, 0o600)
    assert _index_of(standin) in _masked(conf)
    for d in (
        home / ".config",
        home / ".config" / "pip",
        home / ".config" / "ca-login",
        home / ".local" / "state" / "ca-login",
    ):
        assert _owner_mode(d)[:2] == ids, d
    assert _owner_mode(home / ".local" / "state" / "ca-login" / "state.json") == (*ids, 0o600)

    lines = [ln for ln in _cron_lines(sandbox, nb_user) if ln.endswith("# ca-login")]
    assert len(lines) == 1, _cron_lines(sandbox, nb_user)
    assert lines[0].startswith("*/30 * * * * ")
    cli_path = sandbox.env("JupyterSystemEnv") / "bin" / "ca-login"
    assert f"{cli_path} login --if-expiring-within 7200 --config-file {conf}" in lines[0]

    assert cli_path.exists()
    r = subprocess.run([str(sandbox.env("python3") / "bin" / "python"), "-c", "import ca_login"], timeout=60)
    assert r.returncode == 0, "the kernel env cannot import ca_login"
    # the background's output goes to the log only (CAL_BG_STDERR=0); stderr says where to look
    assert "login done" in run.log and "login done" not in run.stderr
    assert f"log: {sandbox.log}" in run.stderr
    for name, text in (("log", run.log), ("stderr", run.stderr), ("stdout", run.stdout)):
        leaked = _leaks(conf, text)
        assert not leaked, f"the token leaked into the script's {name}"

    # In a notebook of that user: login() with no arguments, then pip through what it wrote.
    user_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        **_aws_env(standin),
    }
    py = str(sandbox.env("python3") / "bin" / "python")
    as_user = [
        "runuser",
        "-u",
        nb_user.pw_name,
        "--",
        "env",
        "-i",
        *[f"{k}={v}" for k, v in user_env.items()],
    ]
    r = subprocess.run(
        [*as_user, py, "-c", "import ca_login; r = ca_login.login(); print(r.config_file)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(conf)
    dl = home / "dl"
    r = subprocess.run(
        [
            *as_user,
            py,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "-d",
            str(dl),
            "ca-demo-pkg",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(dl.glob("ca_demo_pkg-1.0.0-*.whl"))


@needs_root
def test_script_returns_and_closes_its_output_while_the_login_waits_on_an_endpoint_that_never_answers(
    hang_server, nb_user, sandbox, run_script, ca_wheel
):
    """The endpoint accepts connections and never answers (not dropped packets: a client gets past connect;
    traffic stays on loopback). The script returns with its local set-up done and its stdout and stderr closed
    (SageMaker reads them until they close) while the login is still waiting in the background; the
    background then gives up on its own and says what to do."""
    url = f"http://127.0.0.1:{hang_server.port}"
    _stage_wheel(sandbox, ca_wheel)
    script = _generate(
        "--domain",
        "mydomain",
        "--domain-owner",
        "111122223333",
        "--repository",
        "isolatedsm",
        "--region",
        "us-west-2",
        "--endpoint-url",
        url,
    )
    # bounded by run()'s generous 90 s subprocess timeout; no timing assert
    run = run_script(script, nb_user, pipes=True, CAL_STEP_TIMEOUT="20", **_aws_env(url))
    assert run.bg_running(), f"the pipes stayed open until the background ended:\n{run.log[-3000:]}"
    assert run.returncode == 0, run.stderr
    ids = (nb_user.pw_uid, nb_user.pw_gid)
    # the local set-up is done before the script returns; the login is still trying in the background
    assert _owner_mode(sandbox.home / ".config" / "ca-login" / "config") == (*ids, 0o600)
    assert any(ln.endswith("# ca-login") for ln in _cron_lines(sandbox, nb_user))
    assert "continues in the background" in run.stderr
    # the background gives up on its own, within its bounds, and says what to do
    assert run.wait_background(150), f"background still running:\n{run.log[-3000:]}"
    assert "gave up logging in" in run.log and "ca-login diagnose" in run.log, run.log[-3000:]
    assert not (sandbox.home / ".config" / "pip" / "pip.conf").exists()
    assert hang_server.conns, "the login never reached the endpoint"


@needs_root
def test_script_with_an_s3_wheel_downloads_installs_and_configures_in_the_background(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    s3 = sandbox.base / "s3"
    (s3 / "my-bucket" / "w").mkdir(parents=True)
    shutil.copy2(ca_wheel, s3 / "my-bucket" / "w" / ca_wheel.name)
    aws = sandbox.bin / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    script = _generate(
        "--domain",
        standin.domain,
        "--domain-owner",
        standin.owner,
        "--repository",
        "isolatedsm",
        "--region",
        standin.region,
        "--endpoint-url",
        standin.api_url,
        "--wheel",
        f"s3://my-bucket/w/{ca_wheel.name}",
    )
    env = {"CAL_WHEEL": f"s3://my-bucket/w/{ca_wheel.name}", "CAL_AWS": str(aws), "FAKE_S3_DIR": str(s3)}
    run = run_script(script, nb_user, CAL_BG_STDERR=1, **env, **_aws_env(standin))
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), f"background still running:\n{run.log[-3000:]}"
    assert "login done" in run.log and "login done" in run.stderr, (
        "CAL_BG_STDERR=1: background output on stderr"
    )
    conf = sandbox.home / ".config" / "pip" / "pip.conf"
    assert conf.exists(), run.log[-3000:]
    assert _owner_mode(conf) == (nb_user.pw_uid, nb_user.pw_gid, 0o600)
    assert (sandbox.work / ca_wheel.name).exists()
    assert any(ln.endswith("# ca-login") for ln in _cron_lines(sandbox, nb_user))


@needs_root
def test_script_logs_in_an_envs_own_site_pip_conf_too_and_keeps_other_cron_lines(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    site = sandbox.env("python3") / "pip.conf"
    site.write_text("[global]\ntimeout = 30\n")
    (sandbox.cron_dir / nb_user.pw_name).write_text("0 1 * * * /usr/bin/true # mine\n")
    _stage_wheel(sandbox, ca_wheel)
    script = _generate(
        "--domain",
        standin.domain,
        "--domain-owner",
        standin.owner,
        "--repository",
        "isolatedsm",
        "--region",
        standin.region,
        "--endpoint-url",
        standin.api_url,
    )
    run = run_script(script, nb_user, **_aws_env(standin))
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), run.log[-3000:]
    text = _masked(site)
    assert text.startswith("[global]\ntimeout = 30\n"), text
    assert _index_of(standin) in text, run.log[-3000:]
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    lines = _cron_lines(sandbox, nb_user)
    assert "0 1 * * * /usr/bin/true # mine" in lines
    ours = [ln for ln in lines if ln.endswith("# ca-login")]
    assert len(ours) == 2 and any(f"--config-file {site}" in ln for ln in ours), lines
    # running it again (the next start) leaves one set of our lines, not two
    run2 = run_script(script, nb_user, **_aws_env(standin))
    assert run2.returncode == 0
    assert run2.wait_background(150)
    assert len([ln for ln in _cron_lines(sandbox, nb_user) if ln.endswith("# ca-login")]) == 2
    assert re.search(r"^0 1 \* \* \* /usr/bin/true # mine$", "\n".join(_cron_lines(sandbox, nb_user)), re.M)


SLOW_AWS = r"""#!/bin/bash
# `aws s3 cp` that would take a minute (its child `sleep` does the waiting).
echo started >"$FAKE_S3_DIR/started-$(id -un)"
sleep 60
"""

SLOW_PYTHON = r"""#!/bin/bash
# an env's python whose `-m pip install` would take a minute.
echo started >"$FAKE_S3_DIR/started-$(id -un)"
sleep 60
"""


@needs_root
@pytest.mark.parametrize("slow", ["s3-download", "pip-run-as-the-user"])
def test_the_outer_bound_ends_the_background_and_every_process_it_started(slow, nb_user, sandbox, run_script):
    """CAL_BG_TIMEOUT (here 3 s) bounds all the background work, a step under its own longer bound
    (CAL_STEP_TIMEOUT 60 s) included: a step that would take a minute (the S3 download; pip in an env owned by
    the user, so run through runuser) is gone with its children by the outer bound + 5 s to kill + a generous
    grace. Checked by which processes are left (each carries a marker in its environment), not by timing."""
    marker = uuid.uuid4().hex
    s3 = sandbox.base / "s3"
    (s3 / "my-bucket").mkdir(parents=True)
    s3.chmod(0o777)  # the user's step writes its "started" note here
    wheel = "ca_login-0.1.0-cp39-abi3-manylinux2014_x86_64.whl"
    (s3 / "my-bucket" / wheel).write_text("not read: the step never gets that far\n")
    aws = sandbox.bin / "aws"
    aws.write_text(SLOW_AWS if slow == "s3-download" else FAKE_AWS)
    aws.chmod(0o755)
    cli_env = sandbox.env("JupyterSystemEnv")
    expect_user = "root"
    if slow == "pip-run-as-the-user":
        cli_env = sandbox.base / "user-env"
        (cli_env / "bin").mkdir(parents=True)
        (cli_env / "bin" / "python").write_text(SLOW_PYTHON)
        (cli_env / "bin" / "python").chmod(0o755)
        for p in (cli_env, cli_env / "bin", cli_env / "bin" / "python"):
            os.chown(p, nb_user.pw_uid, nb_user.pw_gid)
        expect_user = nb_user.pw_name
    script = _generate(
        "--domain", "mydomain", "--repository", "isolatedsm", "--wheel", f"s3://my-bucket/{wheel}"
    )
    env = {
        "CAL_WHEEL": f"s3://my-bucket/{wheel}",
        "CAL_AWS": str(aws),
        "FAKE_S3_DIR": str(s3),
        "CAL_CLI_ENV": str(cli_env),
        "CAL_BG_TIMEOUT": "3",
        "CAL_STEP_TIMEOUT": "60",
        "CAL_TEST_JOB": marker,
    }
    try:
        run = run_script(script, nb_user, **env)
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 3 + 5 + 20  # still well before the step's minute is up
        left = _job_processes(marker)
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = _job_processes(marker)
        assert not left, "processes of the background outlived its bound:\n" + "\n".join(left)
        assert (s3 / f"started-{expect_user}").exists(), (
            f"the slow step never ran as {expect_user}:\n{run.log}"
        )
        assert "background: started (at most 3s)" in run.log
    finally:
        for line in _job_processes(marker):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass


@needs_root
def test_script_leaves_a_crontab_it_cannot_read_untouched_and_refreshes_from_a_loop(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    table = sandbox.cron_dir / nb_user.pw_name
    table.write_text("0 1 * * * /usr/bin/true # mine\n")
    _stage_wheel(sandbox, ca_wheel)
    script = _generate(
        "--domain",
        standin.domain,
        "--domain-owner",
        standin.owner,
        "--repository",
        "isolatedsm",
        "--region",
        standin.region,
        "--endpoint-url",
        standin.api_url,
    )
    error = "crontab: cannot open /var/spool/cron: Permission denied"
    run = run_script(script, nb_user, FAKE_CRONTAB_LIST_ERROR=error, **_aws_env(standin))
    assert run.returncode == 0, run.stderr
    assert table.read_text() == "0 1 * * * /usr/bin/true # mine\n"
    assert f"cannot read {nb_user.pw_name}'s crontab" in run.stderr and error in run.stderr, run.stderr
    assert "hint:" in run.stderr
    assert run.refresh_pid, "no refresh loop was started"
    os.kill(run.refresh_pid, 0)  # the loop is running (the fixture ends it)
    assert run.wait_background(150), run.log[-3000:]
    assert (sandbox.home / ".config" / "pip" / "pip.conf").exists(), run.log[-3000:]
