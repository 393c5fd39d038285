"""SageMaker set-up (issues 6 and 13): `login --user` and `configure` writing a notebook user's files as root,
and the lifecycle scripts from `ca-login lifecycle-script`: the notebook-instance one run as root against the
stand-in with a throwaway user (planted programs, unsafe CAL_* values, each way to switch users, cron, systemd
or a loop), the Studio one run as that user.

The script installs a wheel this test session builds (`maturin build`, from the working tree) into fake
conda envs (venvs), and installs the refresh into a fake `crontab` (one file per user).
"""

from __future__ import annotations

import base64
import hashlib
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

import ca_login
import pytest
from ca_login import _lifecycle, cli
from conftest import remove_user

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
# A stand-in for `aws s3 cp --only-show-errors s3://B/K -`: prints $FAKE_S3_DIR/B/K; records who ran it.
[ "$1 $2 $3 $5" = "s3 cp --only-show-errors -" ] || exit 2
id -u >"$FAKE_S3_DIR/ran-as"
cat -- "$FAKE_S3_DIR/${4#s3://}"
"""
ANY_SHA = ("--wheel-sha256", "0" * 64)


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
        remove_user(name)


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

    def run(script: str, user, pipes: bool = False, cwd: str = "/", **overrides) -> ScriptRun:
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
                cwd=cwd,
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
            "--tool",
            "pip,uv,poetry,twine",
            "--ipython-extension",
        ],
        ["--tool", "pip,uv,poetry,twine", "--ipython-extension"],
    ],
    ids=["notebook-instance", "studio", "s3-wheel", "every-option-long-values", "tools-and-extension"],
)
def test_generated_script_fits_sagemakers_limit_and_passes_bash_n_and_shellcheck(extra, tmp_path):
    script = _generate(
        "--domain",
        "mydomain",
        "--domain-owner",
        "111122223333",
        "--repository",
        "isolatedsm",
        *ANY_SHA,
        *extra,
    )
    assert len(base64.b64encode(script.encode())) <= 16384, f"{len(script.encode())} bytes"
    assert script.startswith("#!/bin/bash\n")
    p = tmp_path / "on-start.sh"
    p.write_text(script)
    r = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (make system-deps installs it)"
    r = subprocess.run([shellcheck, "--shell=bash", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# The longest values a real set-up has: CodeArtifact's longest domain (50) and repository (100) names, VPC
# endpoint URLs, and a wheel path or S3 URL of 200 characters.
LONGEST = {
    "domain": "d" * 50,
    "domain_owner": "111122223333",
    "repository": "r" * 100,
    "region": "ap-southeast-2",
    "endpoint_url": "https://vpce-0123456789abcdef0-abcdefgh.api.codeartifact.ap-southeast-2.vpce.amazonaws.com",
    "repository_endpoint_url": "vpce-0123456789abcdef0-abcdefgh.d.codeartifact.ap-southeast-2.vpce.amazonaws.com",
    "duration_seconds": 43200,
    "wheel_sha256_hex": "0" * 64,
    "refresh_within": 43200,
    "tools": "pip,uv,poetry,twine",
    "ipython_extension": True,
}
LONG_S3 = "s3://" + "b" * 63 + "/" + "w" * 81 + "/ca_login-0.1.0-cp39-abi3-manylinux2014_x86_64.whl"
LONG_PATH = "/home/ec2-user/SageMaker/" + "w" * 125 + "/ca_login-0.1.0-cp39-abi3-manylinux2014_x86_64.whl"


@pytest.mark.parametrize("target", ["notebook-instance", "studio"])
@pytest.mark.parametrize("wheel", [LONG_S3, LONG_PATH], ids=["s3-url", "path"])
def test_the_largest_realistic_script_has_a_base64_within_sagemakers_16384_and_passes_bash_n_and_shellcheck(
    target, wheel, tmp_path
):
    assert len(wheel) == 200
    script = _lifecycle.lifecycle_script(target=target, wheel=wheel, **LONGEST)
    encoded = base64.b64encode(script.encode())
    assert len(encoded) <= _lifecycle.MAX_CONTENT_BASE64 == 16384, f"{len(encoded)} characters of base64"
    assert _lifecycle.base64_length(len(script.encode())) == len(encoded)
    assert wheel in script and LONGEST["repository"] in script
    p = tmp_path / "on-start.sh"
    p.write_text(script)
    r = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (make system-deps installs it)"
    r = subprocess.run([shellcheck, "--shell=bash", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def _as_bash_reads_it(text: str) -> str:
    """`text` as bash parsed it: the whole script wrapped in a function, which bash prints back in its own
    form (no comments, its own layout), so two texts print the same exactly when bash reads them the same.
    Nothing of the script runs."""
    wrapped = "__script() {\n" + text + "\n}\ndeclare -f __script\n"
    r = subprocess.run(
        ["bash", "-c", wrapped], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0 and not r.stderr, r.stderr
    return r.stdout


@pytest.mark.parametrize("name", ["notebook-instance.sh", "studio.sh"])
def test_the_printed_script_is_the_commented_source_as_bash_reads_it_without_comments_or_indentation(name):
    source = _lifecycle._template(name)
    printed = _lifecycle._compact(source)
    assert _as_bash_reads_it(printed) == _as_bash_reads_it(source)
    body = printed.split("\nset -uo pipefail\n", 1)[1]
    lines = body.splitlines()
    # indented: only a continued line, by one blank (what separated the words around the backslash-newline)
    assert not [
        b for a, b in zip(lines, lines[1:]) if b[:1].isspace() and not (a.endswith("\\") and b[1:2] != " ")
    ]
    assert not [ln for ln in lines if not ln.strip() or ln.startswith("#")]  # no blank or comment line
    assert len(printed) < 0.75 * len(source)
    assert len(printed.split("\nset -uo pipefail\n")[0].splitlines()) <= 5  # the short header
    assert f"; commented: the wheel's ca_login/lifecycle/{name}\n" in printed


def test_the_compaction_keeps_quotes_spanning_lines_here_documents_and_continuations_as_bash_reads_them():
    source = (
        "#!/bin/bash\n# a header\n#\n# more\nf() {\n  # gone\n  x='a\n  # kept: inside quotes\n  b'  # gone\n"
        '  y="$(echo "it\'s #not a comment")"   # gone\n  cat <<EOF\n  # kept: here-document\n    z\nEOF\n'
        "  echo a\\\n    b\\\nc ${#x} $((8#17)) # gone\n  case $x in a) : ;; esac\n}\n"
    )
    printed = _lifecycle._compact(source)
    assert _as_bash_reads_it(printed) == _as_bash_reads_it(source)
    assert "# kept: inside quotes" in printed and "# kept: here-document\n    z\nEOF" in printed
    assert "gone" not in printed and "more" not in printed and printed.startswith("#!/bin/bash\n# a header\n")


def test_a_script_over_sagemakers_base64_limit_is_refused_with_both_sizes_and_what_to_shorten(
    monkeypatch, capsys
):
    script = _lifecycle.lifecycle_script(target="notebook-instance", wheel=LONG_S3, **LONGEST)
    size = len(script.encode())
    monkeypatch.setattr(_lifecycle, "MAX_CONTENT_BASE64", size)  # now the same script is too big
    monkeypatch.setattr(_lifecycle, "MAX_SCRIPT_BYTES", size // 4 * 3)
    with pytest.raises(ca_login.InvalidInput) as e:
        _lifecycle.lifecycle_script(target="notebook-instance", wheel=LONG_S3, **LONGEST)
    text = str(e.value)
    assert f"{size} bytes, {_lifecycle.base64_length(size)} characters in base64" in text
    assert f"at most {size} characters of base64" in text and "hint: shorten the values" in text
    assert e.value.field == "lifecycle_script"
    args = [
        "lifecycle-script",
        "--domain",
        LONGEST["domain"],
        "--repository",
        LONGEST["repository"],
        *ANY_SHA,
    ]
    assert cli.main([*args, "--wheel", LONG_S3]) == cli.EXIT_USAGE  # the CLI prints no script
    out, err = capsys.readouterr()
    assert out == "" and "characters in base64" in err and "hint: shorten the values" in err


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


def test_lifecycle_script_needs_the_wheels_sha256_and_embeds_the_hash_of_wheel_file(tmp_path, capsys):
    base = ["lifecycle-script", "--domain", "mydomain", "--repository", "isolatedsm"]
    assert cli.main(base) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "sha256" in err and "--wheel-file" in err and "hint:" in err
    assert cli.main([*base, "--wheel-sha256", "xyz"]) == cli.EXIT_USAGE
    assert "64 hex digits" in capsys.readouterr().err
    whl = tmp_path / "ca_login-9.9.9-py3-none-any.whl"
    whl.write_bytes(b"wheel bytes")
    sha = hashlib.sha256(b"wheel bytes").hexdigest()
    assert cli.main([*base, "--wheel-file", str(whl)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f': "${{CAL_WHEEL_SHA256:={sha}}}"' in out
    assert f'CAL_WHEEL=/home/ec2-user/SageMaker/ca-login/{whl.name}}}"' in out
    assert cli.main([*base, "--wheel", str(whl)]) == cli.EXIT_OK  # a wheel that exists here: hashed now
    assert f"CAL_WHEEL_SHA256:={sha}}}" in capsys.readouterr().out
    assert cli.main([*base, "--wheel-file", str(whl), "--wheel-sha256", sha]) == cli.EXIT_USAGE
    assert "both" in capsys.readouterr().err
    fifo = tmp_path / "fifo.whl"
    os.mkfifo(fifo)
    assert cli.main([*base, "--wheel-file", str(fifo)]) == cli.EXIT_USAGE  # refused at once, not read
    assert "not a regular file" in capsys.readouterr().err


def test_values_reach_the_script_literally_with_no_shell_expansion(tmp_path):
    url = 'https://vpce-1.api.codeartifact.us-west-2.vpce.amazonaws.com/$(id)`id`$HOME\\x"y'
    script = _lifecycle.lifecycle_script(
        domain="mydomain", repository="isolatedsm", endpoint_url=url, wheel_sha256_hex="0" * 64
    )
    settings = [ln for ln in script.splitlines() if ln.startswith(': "${CAL_ENDPOINT_URL:=')]
    assert len(settings) == 1
    p = tmp_path / "settings.sh"
    p.write_text(settings[0] + '\nprintf "%s" "$CAL_ENDPOINT_URL"\n')
    r = subprocess.run(
        ["bash", str(p)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == url


def test_the_tool_list_and_the_extension_reach_the_script_each_target_has_its_default_and_npm_is_refused(
    capsys,
):
    base = ["lifecycle-script", "--domain", "mydomain", "--repository", "isolatedsm", *ANY_SHA]

    def lines(*extra: str) -> list[str]:
        assert cli.main([*base, *extra]) == cli.EXIT_OK
        out = capsys.readouterr().out
        return [
            ln.split("#")[0].strip()
            for ln in out.splitlines()
            if ln.startswith((': "${CAL_TOOLS', ': "${CAL_IPYTHON_EXTENSION'))
        ]

    assert lines() == [': "${CAL_TOOLS:=}"', ': "${CAL_IPYTHON_EXTENSION=}"']  # notebook instance: left as is
    assert lines("--target", "studio") == [': "${CAL_TOOLS:=}"', ': "${CAL_IPYTHON_EXTENSION=1}"']
    assert lines("--tool", "pip", "--tool", "uv", "--ipython-extension") == [
        ': "${CAL_TOOLS:=pip,uv}"',
        ': "${CAL_IPYTHON_EXTENSION=1}"',
    ]
    assert lines("--target", "studio", "--no-ipython-extension")[1] == ': "${CAL_IPYTHON_EXTENSION=0}"'
    assert cli.main([*base, "--tool", "pip,npm"]) == cli.EXIT_USAGE
    assert '"npm" is not a tool' in capsys.readouterr().err


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
        "--wheel-file",
        str(ca_wheel),
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
def test_script_with_cal_tools_and_the_extension_writes_the_users_config_startup_and_tool_files_as_theirs(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    """CAL_TOOLS=pip,uv and CAL_IPYTHON_EXTENSION=1: the user's configure (run as the user) writes the tool list
    and the IPython startup file, the login then writes pip's, uv's and the netrc file: all the user's, 0600, in
    their home. Outside the home only root's own places change (its work dir and log, the crontab, the envs
    it installs into), and nothing there belongs to the user."""
    _stage_wheel(sandbox, ca_wheel)
    script = _generate(*_standin_args(standin, ca_wheel))
    root_side = (r"home(/.*)?", r"work(/.*)?", r"lifecycle\.log", r"on-start\.sh", r"stderr-\d+\.txt")
    before = _tree(sandbox.base, skip=root_side)
    run = run_script(script, nb_user, CAL_TOOLS="pip,uv", CAL_IPYTHON_EXTENSION="1", **_aws_env(standin))
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), f"background still running:\n{run.log[-3000:]}"
    home, ids = sandbox.home, (nb_user.pw_uid, nb_user.pw_gid)
    cfg = home / ".config" / "ca-login" / "config"
    assert _owner_mode(cfg) == (*ids, 0o600), run.log[-3000:]
    assert "tools = pip,uv\n" in cfg.read_text()
    startup = home / ".ipython" / "profile_default" / "startup" / "50-ca-login.py"
    assert _owner_mode(startup) == (*ids, 0o600), run.log[-3000:]
    assert startup.read_text().startswith("# ca-login: the IPython extension in every kernel")
    for d in (home / ".ipython", home / ".ipython" / "profile_default", startup.parent):
        assert _owner_mode(d)[:2] == ids, d
    conf = home / ".config" / "pip" / "pip.conf"
    for f in (conf, home / ".config" / "uv" / "uv.toml", home / ".netrc"):
        assert _owner_mode(f) == (*ids, 0o600), f"{f}\n{run.log[-3000:]}"
    after = _tree(sandbox.base, skip=root_side)
    assert not [p for p, v in after.items() if v[1] == nb_user.pw_uid], (
        "a file outside the home is the user's"
    )
    changed = {p for p in after.keys() | before.keys() if after.get(p) != before.get(p)}
    unexpected = sorted(
        p
        for p in changed
        if not p.startswith((str(sandbox.conda) + "/", str(sandbox.cron_dir) + "/"))
        and p not in (str(sandbox.conda), str(sandbox.cron_dir))
    )
    assert not unexpected, unexpected
    leaked = _leaks(conf, run.log, run.stderr, run.stdout)
    assert not leaked, "the token leaked into the script's output"


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
        "--wheel-file",
        str(ca_wheel),
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
    s3.chmod(0o777)  # the stand-in notes there who ran it
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
        "--wheel-file",
        str(ca_wheel),
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
    assert (sandbox.work / "wheel" / ca_wheel.name).exists()
    assert (s3 / "ran-as").read_text().strip() == str(nb_user.pw_uid), (
        "the S3 download did not run as the user"
    )
    assert any(ln.endswith("# ca-login") for ln in _cron_lines(sandbox, nb_user))


@needs_root
def test_script_logs_in_an_envs_own_site_pip_conf_too_and_keeps_other_cron_lines(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    site = sandbox.env("python3") / "pip.conf"
    site.write_text("[global]\ntimeout = 30\n")
    _chown_tree(sandbox.env("python3"), nb_user)  # the user's env, as on an instance: logged in as the user
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
        "--wheel-file",
        str(ca_wheel),
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
    body = b"not a wheel: pip (a stand-in) never reads it\n"
    (s3 / "my-bucket" / wheel).write_bytes(body)
    aws = sandbox.bin / "aws"
    aws.write_text(SLOW_AWS if slow == "s3-download" else FAKE_AWS)
    aws.chmod(0o755)
    cli_env = sandbox.env("JupyterSystemEnv")
    if slow == "pip-run-as-the-user":
        cli_env = sandbox.base / "user-env"
        (cli_env / "bin").mkdir(parents=True)
        (cli_env / "bin" / "python").write_text(SLOW_PYTHON)
        (cli_env / "bin" / "python").chmod(0o755)
        for p in (cli_env, cli_env / "bin", cli_env / "bin" / "python"):
            os.chown(p, nb_user.pw_uid, nb_user.pw_gid)
    sha = hashlib.sha256(body).hexdigest()
    script = _generate(
        "--domain",
        "mydomain",
        "--repository",
        "isolatedsm",
        "--wheel",
        f"s3://my-bucket/{wheel}",
        "--wheel-sha256",
        sha,
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
        assert (s3 / f"started-{nb_user.pw_name}").exists(), (
            f"the slow step never ran as the user:\n{run.log}"
        )
        assert "background: started (at most 3s)" in run.log
    finally:
        _kill_job(marker)


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
        "--wheel-file",
        str(ca_wheel),
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


# --- the script as root against what a user (or a mistake) planted ---------------------------------------

MARKER_PROGRAM = """#!/bin/bash
# planted by the user: notes who runs it, then does what ca-login does
echo "$(id -u) $*" >>{marker}
exec "$(dirname "$0")/python" -m ca_login "$@"
"""

MARKER_PY = """import os
with open({marker!r}, "a") as f:
    f.write(f"{{os.getuid()}} {{__name__}}\\n")
"""


def _chown_tree(top: Path, user) -> None:
    os.lchown(top, user.pw_uid, user.pw_gid)
    for dirpath, dirs, files in os.walk(top):
        for n in dirs + files:
            os.lchown(os.path.join(dirpath, n), user.pw_uid, user.pw_gid)


def _tree(top: Path, skip=()) -> dict[str, tuple]:
    """Every path under `top` (links not followed): type, owner, mode, size, mtime; `skip`: names to leave out."""
    out = {}
    for dirpath, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            if any(re.fullmatch(k, os.path.relpath(p, top)) for k in skip):
                continue
            st = os.lstat(p)
            out[p] = (stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid, st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _markers(d: Path) -> list[str]:
    return [ln for f in sorted(d.glob("*")) for ln in f.read_text().splitlines()]


def _as_user_run(user, env: dict[str, str], *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    kv = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(
        ["runuser", "-u", user.pw_name, "--", "env", "-i", *kv, *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )


def _user_env(home: Path, **extra) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        **extra,
    }


def _standin_args(standin, ca_wheel) -> tuple[str, ...]:
    return (
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
        "--wheel-file",
        str(ca_wheel),
    )


def _wait_for(check, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@needs_root
def test_al2023_layout_planted_programs_run_only_as_the_user_no_root_file_changes_and_the_loop_renews(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    """notebook-al2023-v1 as simulated here: the user owns the conda tree, no crontab command, no systemd. The
    user replaced the CLI env's bin/ca-login, planted an env whose pip.conf links to a root-only file, and a
    root-owned env inside their tree (root must not run its python: the user can swap it)."""
    marks = sandbox.base / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    staged = _stage_wheel(sandbox, ca_wheel)
    cli_env = sandbox.env("JupyterSystemEnv")
    _chown_tree(sandbox.conda, nb_user)
    r = _as_user_run(
        nb_user,
        _user_env(sandbox.home),
        str(cli_env / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--no-cache-dir",
        "--quiet",
        str(staged),
    )
    assert r.returncode == 0, r.stderr
    (cli_env / "bin" / "ca-login").write_text(MARKER_PROGRAM.format(marker=marks / "cli"))
    root_file = sandbox.base / "root-only.conf"
    root_file.write_text("[global]\nindex-url = https://root.example/simple/\n")
    root_file.chmod(0o600)
    before = _owner_mode(root_file), root_file.read_bytes()
    evil = sandbox.env("evil")
    (evil / "bin").mkdir(parents=True)
    (evil / "pip.conf").symlink_to(root_file)
    _chown_tree(evil, nb_user)
    rootenv = sandbox.env("rootenv")
    (rootenv / "bin").mkdir(parents=True)
    (rootenv / "bin" / "python").write_text(f'#!/bin/bash\necho "$(id -u) rootenv" >>{marks / "rootenv"}\n')
    (rootenv / "bin" / "python").chmod(0o755)

    script = _generate(*_standin_args(standin, ca_wheel))
    run = run_script(
        script,
        nb_user,
        CAL_CRONTAB=str(sandbox.base / "no-crontab"),
        CAL_SYSTEMD=str(sandbox.base / "no-systemd"),
        CAL_LOOP_SECONDS="2",
        CAL_REFRESH_WITHIN="43200",
        **_aws_env(standin),
    )
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), run.log[-3000:]
    conf = sandbox.home / ".config" / "pip" / "pip.conf"
    assert conf.exists(), run.log[-3000:]
    assert _owner_mode(conf) == (nb_user.pw_uid, nb_user.pw_gid, 0o600)
    assert _index_of(standin) in _masked(conf)
    assert (_owner_mode(root_file), root_file.read_bytes()) == before
    assert not (marks / "rootenv").exists(), "root ran the python of an env in the user's tree"
    assert f"not installing into {rootenv}" in run.log
    assert "no crontab command" in run.log and "a background loop" in run.log, run.log[-3000:]
    first = conf.stat().st_mtime_ns
    assert _wait_for(lambda: conf.stat().st_mtime_ns != first, 60), "the loop did not renew the token"
    lines = _markers(marks)
    assert any(" configure " in f" {ln} " for ln in lines), lines
    assert any("--if-expiring-within 43200" in ln for ln in lines), lines
    assert all(ln.split()[0] == str(nb_user.pw_uid) for ln in lines), lines
    leaked = _leaks(conf, run.log, run.stderr)
    assert not leaked, "the token leaked into the script's output"


@needs_root
def test_root_runs_python_isolated_so_a_pip_planted_in_its_working_directory_or_pythonpath_never_runs(
    standin, nb_user, sandbox, run_script, ca_wheel
):
    """The reviewer's attack: root started from a directory of the user's (and with PYTHON* variables naming
    it) runs `python -m pip` of a root-owned env; the user's pip/, sitecustomize.py and usercustomize.py
    there must not run as root."""
    marks = sandbox.base / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    planted = sandbox.home / "work"
    (planted / "pip").mkdir(parents=True)
    for rel in ("pip/__init__.py", "pip/__main__.py", "sitecustomize.py", "usercustomize.py"):
        (planted / rel).write_text(MARKER_PY.format(marker=str(marks / "py")))
    (planted / "startup.py").write_text(MARKER_PY.format(marker=str(marks / "py")))
    _chown_tree(planted, nb_user)
    _stage_wheel(sandbox, ca_wheel)
    script = _generate(*_standin_args(standin, ca_wheel))
    run = run_script(
        script,
        nb_user,
        cwd=str(planted),
        PYTHONPATH=str(planted),
        PYTHONSTARTUP=str(planted / "startup.py"),
        PYTHONUSERBASE=str(planted),
        **_aws_env(standin),
    )
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), run.log[-3000:]
    lines = _markers(marks)
    assert not [ln for ln in lines if ln.split()[0] == "0"], f"planted code ran as root: {lines}"
    assert f"installed ca_login into {sandbox.env('JupyterSystemEnv')} (as root)" in run.log, run.log[-3000:]
    assert (sandbox.env("JupyterSystemEnv") / "bin" / "ca-login").exists()


@needs_root
@pytest.mark.parametrize("source", ["local", "s3"])
def test_a_wheel_whose_sha256_differs_is_refused_with_both_hashes_and_nothing_is_installed(
    source, nb_user, sandbox, run_script, ca_wheel
):
    wrong = "ab" * 32
    actual = hashlib.sha256(ca_wheel.read_bytes()).hexdigest()
    env = {"CAL_BG_STDERR": "1"}
    extra: tuple[str, ...] = ()
    if source == "local":
        _stage_wheel(sandbox, ca_wheel)
    else:
        s3 = sandbox.base / "s3"
        (s3 / "my-bucket").mkdir(parents=True)
        s3.chmod(0o777)
        shutil.copy2(ca_wheel, s3 / "my-bucket" / ca_wheel.name)
        aws = sandbox.bin / "aws"
        aws.write_text(FAKE_AWS)
        aws.chmod(0o755)
        extra = ("--wheel", f"s3://my-bucket/{ca_wheel.name}")
        env.update(CAL_WHEEL=extra[1], CAL_AWS=str(aws), FAKE_S3_DIR=str(s3))
    script = _generate("--domain", "mydomain", "--repository", "isolatedsm", "--wheel-sha256", wrong, *extra)
    run = run_script(script, nb_user, **env)
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150), run.log[-3000:]
    assert f"its sha256 is {actual}, the script expects {wrong}; nothing installed" in run.log, run.log[
        -3000:
    ]
    assert not (sandbox.env("JupyterSystemEnv") / "bin" / "ca-login").exists()
    assert not list((sandbox.work / "wheel").glob("*"))
    assert not (sandbox.home / ".config" / "ca-login" / "config").exists()


@needs_root
@pytest.mark.parametrize(
    "var,kind",
    [
        ("CAL_WORK", "empty"),
        ("CAL_WORK", "relative"),
        ("CAL_WORK", "link"),
        ("CAL_WORK", "through-link"),
        ("CAL_WORK", "dot-dot"),
        ("CAL_WORK", "users"),
        ("CAL_LOG", "empty"),
        ("CAL_LOG", "relative"),
        ("CAL_LOG", "link"),
        ("CAL_UNIT_DIR", "relative"),
        ("CAL_CONDA", "empty"),
        ("CAL_HOME", "relative"),
        ("CAL_WHEEL", "relative"),
    ],
)
def test_script_as_root_with_an_empty_relative_or_linked_path_stops_and_changes_nothing(
    var, kind, nb_user, sandbox, run_script, ca_wheel
):
    """Every other path points into the sandbox; the one under test is empty, relative (to / and to the
    directory it is started from), a link, through a link, with .., or a directory the user owns. The script
    stops before writing anything: nothing in the sandbox or in / changes."""
    _stage_wheel(sandbox, ca_wheel)
    victim = sandbox.base / "victim"
    (victim / "wheel").mkdir(parents=True)
    (victim / "wheel" / "keep.whl").write_text("root's\n")
    (victim / "root.log").write_text("root's\n")
    userwork = sandbox.base / "userwork"
    (userwork / "wheel").mkdir(parents=True)
    _chown_tree(userwork, nb_user)
    (sandbox.base / "link").symlink_to(victim)
    cwd = sandbox.base / "cwd"
    cwd.mkdir()
    rel = f"ca-login-rel-{uuid.uuid4().hex[:8]}"
    values = {
        "empty": "",
        "relative": rel,
        "link": str(sandbox.base / "link"),
        "through-link": str(sandbox.base / "link" / "wheel"),
        "dot-dot": f"{sandbox.base}/work/../victim",
        "users": str(userwork),
    }
    value = values[kind]
    if var == "CAL_LOG" and kind == "link":
        value = str(sandbox.base / "link" / "root.log")
        (sandbox.base / "log-link").symlink_to(victim / "root.log")
        value = str(sandbox.base / "log-link")
    if var == "CAL_WHEEL":
        value = f"{rel}/ca_login-*.whl"
    script = _generate("--domain", "mydomain", "--repository", "isolatedsm", "--wheel-file", str(ca_wheel))
    skip = (r"on-start\.sh", r"stderr-\d+\.txt")
    (sandbox.base / "on-start.sh").write_text(script)
    top_before, tree_before = sorted(os.listdir("/")), _tree(sandbox.base, skip)
    paths = {"CAL_UNIT_DIR": str(sandbox.base / "units"), "CAL_SYSTEMD": str(sandbox.base / "no-systemd")}
    run = run_script(script, nb_user, cwd=str(cwd), **{**paths, var: value})
    assert run.returncode == 0, run.stderr
    assert "stopped" in run.stderr, run.stderr
    assert run.bg_pid is None
    assert _tree(sandbox.base, skip) == tree_before
    assert sorted(os.listdir("/")) == top_before
    assert not os.path.lexists(f"/{rel}") and not os.path.lexists(cwd / rel)


@needs_root
@pytest.mark.parametrize("switch", ["runuser", "setpriv", "su", "none"])
def test_root_becomes_the_user_with_runuser_setpriv_or_su_and_without_any_does_nothing_as_root(
    switch, nb_user, sandbox, run_script, ca_wheel
):
    """The staged wheel is readable by the user only (root reads it through the user) and the CLI env is the
    user's: with each way of switching, the wheel is copied, installed and configured as the user; with none,
    those steps are skipped and logged, and nothing runs as root in their place."""
    staged = _stage_wheel(sandbox, ca_wheel)
    staged.chmod(0o600)
    _chown_tree(sandbox.stage, nb_user)
    _chown_tree(sandbox.env("JupyterSystemEnv"), nb_user)
    script = _generate("--domain", "mydomain", "--repository", "isolatedsm", "--wheel-file", str(ca_wheel))
    run = run_script(script, nb_user, CAL_SWITCH="no-such-switch" if switch == "none" else switch)
    assert run.returncode == 0, run.stderr
    assert run.wait_background(150) or run.bg_pid is None, run.log[-3000:]
    cfg = sandbox.home / ".config" / "ca-login" / "config"
    cli_path = sandbox.env("JupyterSystemEnv") / "bin" / "ca-login"
    if switch == "none":
        assert "skipped (never as root)" in run.stderr, run.stderr
        assert not cfg.exists() and not cli_path.exists()
        return
    assert f"installed ca_login into {sandbox.env('JupyterSystemEnv')} (as {nb_user.pw_name})" in run.log
    assert _owner_mode(cfg) == (nb_user.pw_uid, nb_user.pw_gid, 0o600), run.log[-3000:]
    assert _owner_mode(cli_path)[0] == nb_user.pw_uid


FAKE_SYSTEMCTL = """#!/bin/bash
echo "$*" >>{log}
"""


@needs_root
def test_without_crontab_where_systemd_runs_root_writes_a_timer_whose_service_runs_as_the_user(
    nb_user, sandbox, run_script, ca_wheel
):
    units = sandbox.base / "units"
    units.mkdir()
    running = sandbox.base / "systemd-running"
    running.mkdir()
    calls = sandbox.base / "systemctl.calls"
    sctl = sandbox.bin / "systemctl"
    sctl.write_text(FAKE_SYSTEMCTL.format(log=calls))
    sctl.chmod(0o755)
    _stage_wheel(sandbox, ca_wheel)
    script = _generate("--domain", "mydomain", "--repository", "isolatedsm", "--wheel-file", str(ca_wheel))
    run = run_script(
        script,
        nb_user,
        CAL_CRONTAB=str(sandbox.base / "no-crontab"),
        CAL_SYSTEMD=str(running),
        CAL_SYSTEMCTL=str(sctl),
        CAL_UNIT_DIR=str(units),
        CAL_BG_TIMEOUT="5",
    )
    assert run.returncode == 0, run.stderr
    service = (units / "ca-login-refresh.service").read_text()
    cli_path = sandbox.env("JupyterSystemEnv") / "bin" / "ca-login"
    conf = sandbox.home / ".config" / "pip" / "pip.conf"
    assert f"\nUser={nb_user.pw_name}\n" in service
    assert f'ExecStart=-"{cli_path}" login --if-expiring-within 7200 --config-file "{conf}"' in service
    assert "OnUnitActiveSec=1800" in (units / "ca-login-refresh.timer").read_text()
    assert calls.read_text().splitlines() == ["daemon-reload", "enable --now ca-login-refresh.timer"]
    assert run.refresh_pid is None
    assert not list(units.glob("*.tmp"))


@needs_root
@pytest.mark.parametrize("base_env", ["the-users", "read-only"])
def test_studio_script_as_the_user_installs_logs_in_sets_up_the_refresh_and_hands_over_credentials(
    base_env, standin, nb_user, sandbox, ca_wheel
):
    """A simulated Studio space: the script runs as the user (no root, no sudo), with /opt/conda's base env
    either the user's or one they cannot write (then `pip install --user`)."""
    base = sandbox.base / "opt-conda"
    args = ["--system-site-packages"] if base_env == "read-only" else []
    r = subprocess.run(
        ["/usr/bin/python3", "-m", "venv", *args, str(base)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    if base_env == "the-users":
        _chown_tree(base, nb_user)
    home = sandbox.home
    (home / "ca-login").mkdir()
    shutil.copy2(ca_wheel, home / "ca-login" / ca_wheel.name)
    _chown_tree(home / "ca-login", nb_user)
    script = sandbox.base / "studio.sh"
    script.write_text(_generate("--target", "studio", *_standin_args(standin, ca_wheel)))
    secret = f"container-secret-{uuid.uuid4().hex}"
    env = _user_env(
        home,
        **_aws_env(standin),
        CAL_USER=nb_user.pw_name,
        CAL_HOME=home,
        CAL_CONDA=base,
        CAL_LOOP_SECONDS="2",
        CAL_REFRESH_WITHIN="43200",
        CAL_RETRY_SLEEP="1",
        CAL_TOOLS="pip,uv",
        AWS_CONTAINER_AUTHORIZATION_TOKEN=secret,
        AWS_REGION=standin.region,
    )
    work = home / ".local" / "state" / "ca-login-lifecycle"
    try:
        r = _as_user_run(nb_user, env, "bash", str(script))
        assert r.returncode == 0, r.stderr
        bg = _pid_in(work / "background.pid")
        assert bg and _wait_for(lambda: not Path(f"/proc/{bg}").exists(), 150), r.stderr
        log = (work / "lifecycle.log").read_text()
        conf = home / ".config" / "pip" / "pip.conf"
        assert conf.exists(), log[-3000:]
        assert _owner_mode(conf) == (nb_user.pw_uid, nb_user.pw_gid, 0o600)
        assert _index_of(standin) in _masked(conf)
        assert ("(--user)" in log) == (base_env == "read-only"), log[-3000:]
        creds = home / ".config" / "ca-login" / "container-env"
        assert _owner_mode(creds) == (nb_user.pw_uid, nb_user.pw_gid, 0o600)
        assert f"AWS_CONTAINER_AUTHORIZATION_TOKEN={secret}\n" in creds.read_text()
        assert secret not in log and secret not in r.stderr and secret not in r.stdout
        leaked = _leaks(conf, log, r.stderr, r.stdout)
        assert not leaked, "the token leaked into the script's output"
        startup = home / ".ipython" / "profile_default" / "startup" / "50-ca-login.py"
        # the startup file `ca-login configure --ipython-extension` writes (CAL_IPYTHON_EXTENSION=1, Studio's
        # default), and the configured tools: the login wrote uv's files too
        assert _owner_mode(startup) == (nb_user.pw_uid, nb_user.pw_gid, 0o600)
        assert startup.read_text().startswith("# ca-login: the IPython extension in every kernel")
        assert "tools = pip,uv\n" in (home / ".config" / "ca-login" / "config").read_text()
        for f in (home / ".config" / "uv" / "uv.toml", home / ".netrc"):
            assert _owner_mode(f) == (nb_user.pw_uid, nb_user.pw_gid, 0o600), f
        k = _as_user_run(
            nb_user, _user_env(home, **_aws_env(standin)), str(base / "bin" / "python"), str(startup)
        )
        assert k.returncode == 0 and k.stdout == "", k.stdout + k.stderr
        first = conf.stat().st_mtime_ns
        assert _wait_for(lambda: conf.stat().st_mtime_ns != first, 60), "the loop did not renew the token"
    finally:
        for pidfile in ("refresh.pid", "background.pid"):
            pid = _pid_in(work / pidfile)
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@needs_root
@pytest.mark.parametrize("kind", ["fifo", "link-to-a-root-only-file"])
def test_a_staged_wheel_that_is_a_fifo_or_a_link_to_a_root_only_file_is_not_read_by_root(
    kind, nb_user, sandbox, run_script, ca_wheel
):
    """The user reads the staged wheel for root: a FIFO ends with the step's bound, a link to a file only root
    can read fails; either way nothing is installed and the root file is unchanged."""
    root_file = sandbox.base / "root-only.whl"
    shutil.copy2(ca_wheel, root_file)
    root_file.chmod(0o600)
    before = _owner_mode(root_file), root_file.read_bytes()
    staged = sandbox.stage / ca_wheel.name
    if kind == "fifo":
        os.mkfifo(staged)
    else:
        staged.symlink_to(root_file)
    _chown_tree(sandbox.stage, nb_user)
    script = _generate("--domain", "mydomain", "--repository", "isolatedsm", "--wheel-file", str(ca_wheel))
    run = run_script(script, nb_user, CAL_STEP_TIMEOUT="3")
    assert run.returncode == 0, run.stderr
    assert f"cannot read {staged} as {nb_user.pw_name}" in run.stderr, run.stderr
    assert not (sandbox.env("JupyterSystemEnv") / "bin" / "ca-login").exists()
    assert not list((sandbox.work / "wheel").glob("*.whl"))
    assert (_owner_mode(root_file), root_file.read_bytes()) == before


@needs_root
@pytest.mark.parametrize("kind", ["empty", "relative", "link"])
def test_studio_script_with_an_empty_relative_or_linked_work_dir_stops_and_changes_nothing(
    kind, nb_user, sandbox
):
    victim = sandbox.home / "victim"
    (victim / "wheel").mkdir(parents=True)
    (victim / "wheel" / "keep.whl").write_text("the user's\n")
    (sandbox.home / "link").symlink_to(victim)
    _chown_tree(sandbox.home, nb_user)
    rel = f"ca-login-rel-{uuid.uuid4().hex[:8]}"
    value = {"empty": "", "relative": rel, "link": str(sandbox.home / "link")}[kind]
    script = sandbox.base / "studio.sh"
    script.write_text(
        _generate("--target", "studio", "--domain", "mydomain", "--repository", "isolatedsm", *ANY_SHA)
    )
    env = _user_env(sandbox.home, CAL_USER=nb_user.pw_name, CAL_HOME=sandbox.home, CAL_CONDA=sandbox.conda)
    env.update(CAL_WORK=value, CAL_LOG=str(sandbox.home / "lifecycle.log"))
    before = _tree(sandbox.base, (r"studio\.sh",))
    r = _as_user_run(nb_user, env, "bash", str(script))
    assert r.returncode == 0, r.stderr
    assert "stopped" in r.stderr, r.stderr
    assert _tree(sandbox.base, (r"studio\.sh",)) == before
    assert not os.path.lexists(f"/{rel}")


# --- user steps: bounded by root, no fd of root's, no terminal (hostile review H2) ---------------------------


def _user_cli_env(sb: Sandbox, user, ca_login: str) -> tuple[Path, Path]:
    """A CLI env and a conda base that are the user's: bin/python is a no-op `pip`, bin/ca-login is
    `ca_login` (bash); the conda base has no python (no kernel env installs). Returns (cli env, conda)."""
    env = sb.base / "user-env"
    conda = sb.base / "user-conda"
    (env / "bin").mkdir(parents=True)
    (conda / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("#!/bin/bash\nexit 0\n")
    (env / "bin" / "ca-login").write_text("#!/bin/bash\n" + ca_login)
    for p in (env / "bin" / "python", env / "bin" / "ca-login"):
        p.chmod(0o755)
    _chown_tree(env, user)
    _chown_tree(conda, user)
    return env, conda


def _kill_job(marker: str) -> None:
    for line in _job_processes(marker):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _local_script(ca_wheel) -> str:
    return _generate("--domain", "mydomain", "--repository", "isolatedsm", "--wheel-file", str(ca_wheel))


@needs_root
def test_a_timeout_and_head_the_user_planted_in_their_conda_bin_cannot_lift_a_steps_time_bound(
    nb_user, sandbox, run_script, ca_wheel
):
    _stage_wheel(sandbox, ca_wheel)
    env, conda = _user_cli_env(sandbox, nb_user, "exec /usr/bin/sleep 300\n")
    for name in ("timeout", "head"):
        (conda / "bin" / name).write_text("#!/bin/bash\nexec /usr/bin/sleep 100000\n")
        (conda / "bin" / name).chmod(0o755)
    _chown_tree(conda, nb_user)
    start = time.monotonic()
    run = run_script(
        _local_script(ca_wheel),
        nb_user,
        CAL_CLI_ENV=env,
        CAL_CONDA=conda,
        CAL_STEP_TIMEOUT="3",
        CAL_BG_TIMEOUT="5",
    )
    took = time.monotonic() - start
    assert run.returncode == 0, run.stderr
    assert took < 60, f"the script took {took:.0f}s"
    assert f"installed ca_login into {env} (as {nb_user.pw_name})" in run.stderr, run.stderr
    assert "could not write the ca-login config" in run.stderr, run.stderr


FD_NOTE = """
for n in 0 1 2; do echo "$1 $n $(readlink /proc/$$/fd/$n)" >>{marks}; done
/usr/bin/setsid /usr/bin/sleep 80 </dev/null >/dev/null &
exit 0
"""


@needs_root
def test_user_steps_and_the_loop_hold_no_fd_of_roots_log_or_output_so_the_scripts_pipes_close_at_its_exit(
    nb_user, sandbox, run_script, ca_wheel
):
    """Each run of the user's ca-login (configure, login, the loop's refresh) notes where its fds 0-2 point
    and leaves a process holding them: the script's stdout/stderr still close by its exit, and no user
    process gets the root log (the loop logs to the user's own file)."""
    marker = uuid.uuid4().hex
    marks = sandbox.base / "fds"
    marks.touch()
    marks.chmod(0o666)
    _stage_wheel(sandbox, ca_wheel)
    env, conda = _user_cli_env(sandbox, nb_user, FD_NOTE.format(marks=marks))
    start = time.monotonic()
    run = run_script(
        _local_script(ca_wheel),
        nb_user,
        pipes=True,
        CAL_CLI_ENV=env,
        CAL_CONDA=conda,
        CAL_STEP_TIMEOUT="5",
        CAL_CRONTAB=str(sandbox.base / "no-crontab"),
        CAL_SYSTEMD=str(sandbox.base / "no-systemd"),
        CAL_LOOP_SECONDS="1",
        CAL_TEST_JOB=marker,
    )
    took = time.monotonic() - start
    try:
        assert run.returncode == 0, run.stderr
        assert took < 60, f"the script's output stayed open {took:.0f}s (a user process held it)"
        assert run.wait_background(60), run.log[-3000:]
        user_log = sandbox.home / ".ca-login-refresh.log"
        assert _wait_for(lambda: "login" in marks.read_text() and user_log.exists(), 30), marks.read_text()
        lines = marks.read_text().splitlines()
        assert {ln.split()[0] for ln in lines} >= {"configure", "login"}, lines
        for ln in lines:
            target = ln.split(" ", 2)[2]
            assert target in ("/dev/null", str(user_log)) or target.startswith("pipe:"), ln
            assert target != str(sandbox.log), ln
        assert _owner_mode(user_log)[0] == nb_user.pw_uid
    finally:
        _kill_job(marker)


TIOCSTI_NOTE = """
/usr/bin/python3 -I - "$1" <<'PY' >>{marks} 2>&1
import fcntl, os, sys, termios
out = [sys.argv[1], "fd0-tty" if os.isatty(0) else "fd0-not-tty"]
try:
    fd = os.open("/dev/tty", os.O_RDWR)
except OSError as e:
    out.append(f"no-ctty:{{e.errno}}")
else:
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"#")
        out.append("TIOCSTI-pushed")
    except OSError as e:
        out.append(f"TIOCSTI-refused:{{e.errno}}")
print(" ".join(out))
PY
"""


@needs_root
def test_a_user_step_has_no_controlling_terminal_so_tiocsti_cannot_push_keys_into_roots(
    nb_user, sandbox, ca_wheel
):
    """The script runs on a pty that is its controlling terminal (as when run by hand); the user's
    configure step finds no terminal to push keystrokes into."""
    import fcntl
    import termios

    marker = uuid.uuid4().hex
    marks = sandbox.base / "tty"
    marks.touch()
    marks.chmod(0o666)
    _stage_wheel(sandbox, ca_wheel)
    env, conda = _user_cli_env(sandbox, nb_user, TIOCSTI_NOTE.format(marks=marks))
    path = sandbox.base / "on-start.sh"
    path.write_text(_local_script(ca_wheel))
    run_env = {
        "PATH": SAGEMAKER_PATH,
        "LANG": "C.UTF-8",
        "HOME": str(sandbox.base),
        "CAL_USER": nb_user.pw_name,
        "CAL_HOME": str(sandbox.home),
        "CAL_CONDA": str(conda),
        "CAL_CLI_ENV": str(env),
        "CAL_WHEEL": str(sandbox.stage / "ca_login-*.whl"),
        "CAL_WORK": str(sandbox.work),
        "CAL_LOG": str(sandbox.log),
        "CAL_CRONTAB": str(sandbox.crontab),
        "FAKE_CRONTAB_DIR": str(sandbox.cron_dir),
        "CAL_BG_TIMEOUT": "20",
        "CAL_TEST_JOB": marker,
    }
    master, slave = os.openpty()

    def take_tty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(
            ["bash", str(path)],
            env=run_env,
            cwd=str(sandbox.base),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=take_tty,
        )
        os.close(slave)
        out = b""
        deadline = time.monotonic() + 60
        os.set_blocking(master, False)
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                out += os.read(master, 65536)[:65536]
            except BlockingIOError:
                time.sleep(0.1)
            except OSError:
                break
        assert proc.wait(timeout=max(1, deadline - time.monotonic())) == 0, out[-3000:]
        assert _wait_for(lambda: "login" in marks.read_text(), 30), marks.read_text()
        lines = marks.read_text().splitlines()
        assert any(ln.startswith("configure ") for ln in lines), lines
        for ln in lines:
            assert "TIOCSTI-pushed" not in ln and "fd0-not-tty" in ln and "no-ctty:6" in ln, ln
    finally:
        os.close(master)
        _kill_job(marker)


@needs_root
def test_at_most_64_env_pip_files_are_logged_in_and_scheduled_the_rest_logged_as_skipped(
    nb_user, sandbox, run_script, ca_wheel
):
    _stage_wheel(sandbox, ca_wheel)
    env, conda = _user_cli_env(sandbox, nb_user, "exit 0\n")
    for i in range(70):
        (conda / "envs" / f"e{i:02}").mkdir(parents=True)
        (conda / "envs" / f"e{i:02}" / "pip.conf").write_text("[global]\n")
    _chown_tree(conda, nb_user)
    run = run_script(_local_script(ca_wheel), nb_user, CAL_CLI_ENV=env, CAL_CONDA=conda)
    assert run.returncode == 0, run.stderr
    assert run.wait_background(60), run.log[-3000:]
    lines = _cron_lines(sandbox, nb_user)
    assert len(lines) == 1 + 64, lines
    assert "e63/pip.conf" in "".join(lines) and "e64/pip.conf" not in "".join(lines)
    assert f"skipped {conda}/envs/e69/pip.conf: more than 64 env pip files" in run.log, run.log[-3000:]


@needs_root
def test_the_loop_ends_after_cal_loop_max_with_its_sleep(nb_user, sandbox, run_script, ca_wheel):
    marker = uuid.uuid4().hex
    _stage_wheel(sandbox, ca_wheel)
    env, conda = _user_cli_env(sandbox, nb_user, "exit 0\n")
    run = run_script(
        _local_script(ca_wheel),
        nb_user,
        CAL_CLI_ENV=env,
        CAL_CONDA=conda,
        CAL_CRONTAB=str(sandbox.base / "no-crontab"),
        CAL_SYSTEMD=str(sandbox.base / "no-systemd"),
        CAL_LOOP_SECONDS="100",
        CAL_LOOP_MAX="3",
        CAL_TEST_JOB=marker,
    )
    try:
        assert run.returncode == 0, run.stderr
        assert "a background loop" in run.stderr, run.stderr
        assert _wait_for(lambda: not _job_processes(marker), 3 + 5 + 20), _job_processes(marker)
    finally:
        _kill_job(marker)
