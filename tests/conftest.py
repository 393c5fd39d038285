"""Shared pytest fixtures: a clean environment for every test, the CodeArtifact stand-in, wheels, a pip venv.

Fixtures
  _clean_env (autouse)  scrubs PIP_*, SSL_CERT_*, AWS_*, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, proxies,
                        XDG_CONFIG_HOME;
                        sets HOME, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE to tmp,
                        AWS_EC2_METADATA_DISABLED=true
  wheelhouse  (session) Path of a directory with ca-demo-pkg 1.0.0 and ca-demo-app 1.0.0 wheels
  standin               a started StandIn on 127.0.0.1 (http) serving the wheelhouse; stopped afterwards
  standin_https         the same over HTTPS; its test CA is standin_https.certs.ca_pem
  aws_env               dict: a minimal environment for subprocesses (aws, pip) pointed at `standin`
  boto_client           factory: boto_client(service, standin=..., **kw) -> boto3 client, no retries
  pip_venv              PipVenv (session base venv; demo packages and site pip.conf removed after each test)
  isolated_env          factory: isolated_env(**extra) -> minimal env dict (PATH, HOME, LANG) for subprocesses

Token-safe assertions (import them: `from conftest import assert_no_token, ...`)
  pytest prints both operands of `assert tok not in text` and `assert a == b` (and the repr of a CompletedProcess,
  args and output included) when they fail, even with a message, and the arguments of every helper frame in the
  traceback. These helpers compute a bool first and hide their frame (__tracebackhide__), so a failure names what
  failed and never shows a token:
  assert_no_token(token, *texts, what=)   no text holds the token; the failure says which one (by position)
  assert_same_secret(a, b, what=)          two secret strings (URLs with a token) are equal; shows masked forms, hashes
  assert_exit(proc, code, *tokens, what=)  exit status is `code`; else shows its output, URL passwords and tokens masked
  redacted(text, *tokens)                  text with URL passwords, token-shaped strings and `tokens` replaced by ****
  pytest_runtest_makereport                the safety net: failure reports pass through redacted()
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn, build_demo_wheels

SCRUB_PREFIXES = ("PIP_", "SSL_CERT_", "AWS_", "UV_", "CODEARTIFACT_", "CA_LOGIN_")
SCRUB_NAMES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTPLIB2_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_CONFIG_DIRS",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "CA_LOGIN_CONFIG",
)
DEMO_PACKAGES = ("ca-demo-pkg", "ca-demo-app")


_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^@/\s]+@")
# CodeArtifact's tokens and the stand-in's have a JWT's shape: base64url("{...") . base64url . base64url;
# any part of one, from its start (pytest cuts long reprs short)
_TOKEN_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)*")


def redacted(text: str, *tokens: str) -> str:
    """`text` with every URL password (`scheme://user:****@`), every token-shaped string and each of `tokens`
    replaced by ****."""
    for tok in tokens:
        if tok:
            text = text.replace(tok, "****")
    return _TOKEN_SHAPE.sub("****", _URL_PASSWORD.sub(r"\1****@", text))


def fingerprint(secret: str) -> str:
    """A short hash that tells two secrets apart in a failure message without showing either."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def assert_no_token(token: str, *texts: str, what: str = "text") -> None:
    """Fail if any of `texts` holds `token`; the message names the text by position, never the token."""
    __tracebackhide__ = True  # pytest would print this frame's arguments: the token
    has_token = bool(token)
    assert has_token, "assert_no_token got an empty token (it would be found in every text)"
    for i, t in enumerate(texts):
        found = token in t  # a bool first: pytest would print both operands of `token in t`
        assert not found, f"{what} #{i} contains the token"


def assert_same_secret(a: str, b: str, what: str = "secret") -> None:
    """`a == b` for strings holding a token (index URLs): a failure shows masked forms and hashes only."""
    __tracebackhide__ = True  # pytest would print this frame's arguments: the token
    same = a == b
    assert same, f"{what} differ: {redacted(a)} ({fingerprint(a)}) != {redacted(b)} ({fingerprint(b)})"


def assert_exit(proc: subprocess.CompletedProcess, code: int, *tokens: str, what: str = "process") -> None:
    """`proc.returncode == code`; the message shows the tail of its output with URL passwords and `tokens` masked
    (pytest would print the CompletedProcess: its arguments and output, tokens included)."""
    __tracebackhide__ = True  # pytest would print this frame's arguments: the process and the tokens
    rc = proc.returncode
    ok = rc == code
    out = redacted(f"{proc.stdout or ''}\n{proc.stderr or ''}", *tokens)
    assert ok, f"{what} exited {rc}, expected {code}; output (secrets masked):\n{out[-3000:]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Safety net under the helpers above: a failure report (traceback, captured output and logs) never shows
    a URL password or a token-shaped string, whatever assert or exception produced it."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    if rep.longrepr is not None:
        text = str(rep.longrepr)
        clean = redacted(text)
        if clean != text:  # keep pytest's own (coloured) rendering when there is nothing to mask
            rep.longrepr = clean
    rep.sections = [(title, redacted(body)) for title, body in rep.sections]


def _scrubbed(name: str) -> bool:
    return name.upper().startswith(SCRUB_PREFIXES) or name.upper() in SCRUB_NAMES


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path_factory):
    """No test inherits this machine's PIP_*/SSL_*/AWS_* settings, real credentials, or a metadata service."""
    for name in list(os.environ):
        if _scrubbed(name):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    (home / ".aws").mkdir()
    config, creds = home / ".aws" / "config", home / ".aws" / "credentials"
    config.write_text("")
    creds.write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield home
    # A refresher a test started in this process must not outlive it: its loop would renew, or be found by,
    # the next test (which then depends on the order the tests run in).
    import ca_login

    ca_login.stop_refresh()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wheelhouse")
    build_demo_wheels(d)
    return d


@pytest.fixture
def standin(wheelhouse):
    s = StandIn(packages_dir=wheelhouse).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def _standin_certs(tmp_path_factory):
    from standin import make_certs

    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def standin_https(wheelhouse, _standin_certs):
    s = StandIn(https=True, certs=_standin_certs, packages_dir=wheelhouse).start()
    try:
        yield s
    finally:
        s.stop()


def _base_env(home) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)  # the venv running pytest: aws, pip, python
    return {
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }


@pytest.fixture
def isolated_env(_clean_env):
    def make(**extra) -> dict[str, str]:
        env = _base_env(_clean_env)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    return make


@pytest.fixture
def aws_env(standin, _clean_env) -> dict[str, str]:
    """Minimal environment for `aws` / library subprocesses, aimed at the `standin` fixture."""
    env = _base_env(_clean_env)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
            "AWS_REGION": standin.region,
            "AWS_DEFAULT_REGION": standin.region,
            "AWS_ENDPOINT_URL_CODEARTIFACT": standin.api_url,
            "AWS_ENDPOINT_URL_STS": standin.api_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
            "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
        }
    )
    return env


@pytest.fixture
def boto_client():
    import boto3
    import botocore.config

    def make(
        service: str = "codeartifact",
        standin: StandIn | None = None,
        *,
        endpoint_url=None,
        access_key=DEFAULT_ACCESS_KEY,
        secret_key=DEFAULT_SECRET_KEY,
        verify=None,
        read_timeout=10,
        **cfg,
    ):
        config = botocore.config.Config(
            retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout, **cfg
        )
        return boto3.session.Session().client(
            service,
            region_name="us-west-2",
            endpoint_url=endpoint_url or standin.api_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            verify=verify,
            config=config,
        )

    return make


@dataclass
class PipVenv:
    dir: Path
    bin: Path
    python: Path
    pip: Path

    def run(self, args, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.pip), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """`base` with this venv's bin first on PATH (so `pip` there is this venv's pip)."""
        e = dict(base)
        e["PATH"] = os.pathsep.join([str(self.bin), e.get("PATH", "/usr/bin:/bin")])
        e["VIRTUAL_ENV"] = str(self.dir)
        return e


@pytest.fixture(scope="session")
def _pip_venv_base(tmp_path_factory) -> PipVenv:
    d = tmp_path_factory.mktemp("pipvenv") / "venv"
    # the venv module, not `python -m venv` with this machine's environment: no PIP_* leaks into ensurepip
    base_python = getattr(sys, "_base_executable", sys.executable)
    r = subprocess.run(
        [base_python, "-m", "venv", str(d)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(d.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0:
        # fall back to the stdlib API from this interpreter
        venv.EnvBuilder(with_pip=True, clear=True).create(d)
    return PipVenv(d, d / "bin", d / "bin" / "python", d / "bin" / "pip")


@pytest.fixture
def pip_venv(_pip_venv_base, isolated_env) -> PipVenv:
    v = _pip_venv_base
    yield v
    subprocess.run(
        [str(v.pip), "uninstall", "-y", "-q", *DEMO_PACKAGES],
        env=isolated_env(PIP_NO_INPUT="1"),
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    (v.dir / "pip.conf").unlink(missing_ok=True)


@pytest.fixture
def lib_env(standin, monkeypatch):
    """The in-process library (and subprocesses given os.environ) pointed at the stand-in: fake keys, us-west-2,
    CodeArtifact and STS on the stand-in (the autouse fixture already scrubbed the machine's environment)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", standin.api_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", standin.api_url)
    return standin


def remove_user(name: str) -> None:
    """Remove a throwaway user made by a test: first every process still running as that user (a refresh loop the
    on-start script started, a planted program), in a bounded loop, since `userdel` refuses a user with live
    processes; then the user and its group."""
    import time

    for _ in range(10):
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=10)
        if subprocess.run(["pgrep", "-u", name], capture_output=True, timeout=10).returncode != 0:
            break
        time.sleep(0.2)
    subprocess.run(["userdel", name], capture_output=True, timeout=30)


@contextlib.contextmanager
def new_throwaway_user(prefix: str, shell: str) -> Iterator[tuple[pwd.struct_passwd, Path]]:
    """A new user (name `prefix` + 8 hex digits, login shell `shell`) whose home is `base`/home in a fresh mktemp
    dir `base` under /tmp (0755): yields (the user's passwd entry, base). The user and base are removed afterwards,
    also on failure. Root only: the caller checks."""
    base = Path(tempfile.mkdtemp(prefix=f"ca-login-{prefix}-", dir="/tmp"))
    base.chmod(0o755)
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    r = subprocess.run(
        ["useradd", "-m", "-d", str(base / "home"), "-s", shell, "-U", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    try:
        yield pwd.getpwnam(name), base
    finally:
        remove_user(name)
        if base.parent == Path("/tmp") and base.name.startswith(f"ca-login-{prefix}-"):
            shutil.rmtree(base, ignore_errors=True)  # our own mktemp dir, checked


@pytest.fixture
def proxy_factory():
    """Makes loopback CONNECT proxies that answer with a fixed status (tests/loopback.py); closes them after."""
    from loopback import StatusProxy

    made: list[StatusProxy] = []

    def make(status: int) -> StatusProxy:
        p = StatusProxy(status)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
