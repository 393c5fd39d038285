"""The tool list in the ca-login config and the IPython extension in every kernel (issues 11 part 5, 10 part 3):
`ca-login configure --tool` / `--ipython-extension`, logins without a tool using the configured list (`--user`
too), the cell matcher, and real kernels (nbclient) with an IPYTHONDIR the test builds: the extension loaded
without `%load_ext`, `%pip` and `!uv pip install` renewing an expired token first, and the files given back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import ca_login
import pytest
from ca_login._ipython import installer_of, kernel_start, runs_pip, runs_uv
from conftest import assert_exit, assert_no_token, new_throwaway_user
from kernels import kernel_environ, run_cells, uninstall_demo_package
from test_tools import client_bin

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STARTUP = Path("profile_default") / "startup" / "50-ca-login.py"


@pytest.fixture(autouse=True)
def _no_refresher_left():
    yield
    ca_login.stop_refresh()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CA_LOGIN, *args], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def _files(top: Path) -> dict[str, bytes]:
    """Every regular file under `top` and its bytes."""
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}


def _mode(p: Path) -> tuple[int, int, int]:
    st = p.lstat()
    return st.st_uid, st.st_gid, st.st_mode & 0o777


# --- the cell matcher ----------------------------------------------------------------------------------------

PIP_CELLS = [
    "%pip install pandas",
    "!pip install -q pandas",
    "!pip3 install pandas",
    "!python -m pip install pandas",
    "!python3.10 -m pip install pandas",
    "!{sys.executable} -m pip install pandas",
    "import os\n%pip install pandas",
    "%%bash\npip install pandas",
    "%%sh\npython -m pip install pandas",
]
UV_CELLS = [
    "%uv pip install pandas",
    "!uv pip install pandas",
    "!uv pip compile requirements.in",
    "!uv pip sync requirements.txt",
    "!uv add pandas",
    "!uv remove pandas",
    "!uv sync",
    "!uv lock",
    "!uv run pytest",
    "!uv -q --no-cache add pandas",
    "!uv tool install ruff",
    "!uvx ruff check",
    "!/opt/conda/bin/uv pip install pandas",
    "!python -m uv pip install pandas",
    "!{sys.executable} -m uv sync",
    "x = 1\n!uv add pandas",
    "%%bash\nuv add pandas",
    "%%script bash\npython -m uv pip install pandas",
]
NEITHER = [
    "print('uv add pandas')",
    "# !uv add pandas",
    "!uv --version",
    "!uv pip list",
    "!uv pip freeze",
    "!uv venv",
    "!uvicorn app:main",
    "!echo uv add",
    "%%bash\necho uv add pandas",
    "uv add pandas",  # Python, not a shell line
    "import pip",
    "%pipe",
    "%%writefile x.sh\nuv add pandas",
]


@pytest.mark.parametrize("cell", PIP_CELLS)
def test_a_cell_running_pip_is_a_pip_cell(cell):
    assert runs_pip(cell) and installer_of(cell) == "pip"


@pytest.mark.parametrize("cell", UV_CELLS)
def test_a_cell_running_uv_against_the_index_is_a_uv_cell(cell):
    assert runs_uv(cell) and not runs_pip(cell) and installer_of(cell) == "uv"


@pytest.mark.parametrize("cell", NEITHER)
def test_a_cell_that_reads_no_index_with_pip_or_uv_is_neither(cell):
    assert installer_of(cell) is None


def test_a_cell_running_both_pip_and_uv_counts_as_pip():
    assert installer_of("!uv add pandas\n%pip install numpy") == "pip"


# --- the tool list in the ca-login config ----------------------------------------------------------------------


def test_configure_tool_writes_the_tools_key_and_a_bad_tool_writes_nothing(isolated_env, _clean_env):
    env = isolated_env()
    r = _cli("configure", "--domain", DOMAIN, "--tool", "uv", "--tool", "PIP,uv", env=env)
    assert_exit(r, 0, what="configure --tool")
    cfg = _clean_env / ".config" / "ca-login" / "config"
    assert cfg.read_text() == f"[default]\ndomain = {DOMAIN}\ntools = uv,pip\n"
    r = _cli("configure", "--tool", "pip,npm", env=env)
    assert_exit(r, 2, what="configure --tool npm")
    assert '"npm" is not a tool' in r.stderr and "hint: " in r.stderr
    assert cfg.read_text() == f"[default]\ndomain = {DOMAIN}\ntools = uv,pip\n"
    r = _cli("configure", "--replace", "--domain", DOMAIN, env=env)
    assert_exit(r, 0, what="configure --replace")
    assert cfg.read_text() == f"[default]\ndomain = {DOMAIN}\n"


def test_login_without_a_tool_uses_the_configured_tools_and_an_explicit_tool_wins(lib_env, _clean_env):
    from ca_login import _sagemaker

    _sagemaker.configure(tool=["pip", "uv"])
    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, dry_run=True)
    assert r.tools == ("pip", "uv")
    assert ca_login.login(DOMAIN, REPO, domain_owner=OWNER, dry_run=True, tool="pip").tools == ("pip",)
    e = ca_login.ensure_login(DOMAIN, REPO, domain_owner=OWNER)
    assert e.tools == ("pip", "uv")
    assert (_clean_env / ".config" / "uv" / "uv.toml").exists()


def test_a_tools_value_that_is_not_a_tool_list_is_a_config_error_before_any_call(lib_env, _clean_env):
    cfg = _clean_env / ".config" / "ca-login" / "config"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[default]\ntools = pip,npm\n")
    lib_env.reset_calls()
    before = ca_login._core.refresher()  # a stopped refresher of an earlier test may still be on record
    for call in (ca_login.login, ca_login.ensure_login, ca_login.start_refresh):
        with pytest.raises(ca_login.ConfigError) as e:
            call(DOMAIN, REPO, domain_owner=OWNER)
        assert "npm" in str(e.value) and "ca-login configure --tool" in str(e.value), call
    assert ca_login._core.refresher() == before, "a refresher started on a bad tool list"
    assert lib_env.calls == []
    assert ca_login.login(DOMAIN, REPO, domain_owner=OWNER, tool="pip", dry_run=True).tools == ("pip",)


@pytest.fixture
def throwaway_user():
    """A user whose home is in a fresh mktemp dir; removed afterwards even on failure."""
    if os.geteuid() != 0:
        pytest.skip("needs root to add a user")
    with new_throwaway_user("calx", "/bin/bash") as made:
        yield made


def test_root_for_a_user_writes_their_tools_and_startup_file_as_them_and_logs_in_their_configured_tools(
    throwaway_user, standin, aws_env, _clean_env
):
    """`configure --user` writes the user's config and IPython startup file with their ids (root's own IPYTHONDIR
    is not theirs); `login --user` without --tool then writes every tool of *their* list, as them."""
    user, base = throwaway_user
    home = Path(user.pw_dir)
    roots_ipython = base / "roots-ipython"
    env = {**aws_env, "IPYTHONDIR": str(roots_ipython)}
    r = _cli("configure", "--user", user.pw_name, "--tool", "pip,uv", "--ipython-extension", env=env)
    assert_exit(r, 0, what="configure --user")
    ids = (user.pw_uid, user.pw_gid)
    cfg = home / ".config" / "ca-login" / "config"
    startup = home / ".ipython" / STARTUP
    assert _mode(cfg) == (*ids, 0o600) and "tools = pip,uv\n" in cfg.read_text()
    assert _mode(startup) == (*ids, 0o600)
    for d in (home / ".ipython", home / ".ipython" / "profile_default", startup.parent):
        assert _mode(d)[:2] == ids, d
    assert not roots_ipython.exists()
    r = _cli(
        "login",
        "--user",
        user.pw_name,
        "--domain",
        DOMAIN,
        "--domain-owner",
        OWNER,
        "--repository",
        REPO,
        "--region",
        REGION,
        env=env,
    )
    assert_exit(r, 0, what="login --user")
    for f in (home / ".config" / "pip" / "pip.conf", home / ".config" / "uv" / "uv.toml", home / ".netrc"):
        assert _mode(f) == (*ids, 0o600), f
    assert not (_clean_env / ".config" / "uv").exists(), "root's own uv config was written"
    r = _cli("configure", "--user", user.pw_name, "--no-ipython-extension", env=env)
    assert_exit(r, 0, what="configure --user --no-ipython-extension")
    assert not startup.exists() and startup.parent.is_dir()


# --- the extension in every kernel ----------------------------------------------------------------------------


@pytest.fixture
def kernel_env(lib_env, _clean_env, tmp_path):
    env = kernel_environ(lib_env.api_url, _clean_env, IPYTHONDIR=str(tmp_path / "ipython"))
    yield env
    uninstall_demo_package(env)


def _expired_login(lib_env, **kw):
    """A login whose token has expired by the time this returns (the stand-in's token-ttl fault)."""
    lib_env.set_fault("token-ttl", seconds=2)
    first = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, **kw)
    time.sleep(max(0.0, (first.expires_at - datetime.now(timezone.utc)).total_seconds() + 1.1))
    assert ca_login.status().state == "expired"
    lib_env.clear_faults()
    lib_env.reset_calls()
    return first


def _pip_token(first) -> str:
    return first.index_url.get_secret_value().split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def _renewed_before_the_repository(lib_env) -> bool:
    ops = [c.get("operation") for c in lib_env.calls]
    return (
        "GetAuthorizationToken" in ops
        and "repository" in ops
        and (ops.index("GetAuthorizationToken") < ops.index("repository"))
    )


LOADED = "print('ca_login' in get_ipython().extension_manager.loaded)"


def test_after_configure_ipython_extension_a_new_kernel_has_it_loaded_and_renews_before_pip_install(
    kernel_env, lib_env, tmp_path
):
    r = _cli("configure", "--ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --ipython-extension")
    startup = Path(kernel_env["IPYTHONDIR"]) / STARTUP
    assert _mode(startup)[2] == 0o600 and f"wrote {startup}" in r.stdout
    first = _expired_login(lib_env)
    out = run_cells([LOADED, "%pip install --no-cache-dir ca-demo-pkg"], kernel_env, tmp_path)
    assert_no_token(_pip_token(first), *out, what="cell output")
    assert out[0].strip() == "True", out[0]
    assert "ca_login: renewed the CodeArtifact token before pip" in out[1], out[1][-2000:]
    assert "Successfully installed ca-demo-pkg-1.0.0" in out[1], out[1][-2000:]
    assert _renewed_before_the_repository(lib_env)


@pytest.fixture(scope="session")
def uv_bin(tmp_path_factory):
    """uv from PyPI, in a venv of its own (tests/test_tools.py's client_bin), never this machine's."""
    return client_bin(tmp_path_factory, "uv")


def test_with_pip_and_uv_configured_a_uv_pip_install_cell_renews_first_and_succeeds(
    kernel_env, lib_env, uv_bin, tmp_path
):
    r = _cli("configure", "--tool", "pip,uv", "--ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --tool pip,uv --ipython-extension")
    first = _expired_login(lib_env)  # no tool: the configured pip and uv
    assert first.tools == ("pip", "uv")
    env = {
        **kernel_env,
        "PATH": os.pathsep.join([str(uv_bin.parent), kernel_env["PATH"]]),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
    }
    target = tmp_path / "target"
    out = run_cells([f"!uv pip install --no-cache --target {target} ca-demo-pkg"], env, tmp_path)
    assert_no_token(_pip_token(first), *out, what="cell output")
    assert "ca_login: renewed the CodeArtifact token before uv" in out[0], out[0][-2000:]
    assert list(target.glob("ca_demo_pkg-1.0.0.dist-info")), out[0][-2000:]
    assert _renewed_before_the_repository(lib_env)


def test_a_uv_cell_renews_nothing_when_uv_is_not_configured(kernel_env, lib_env, tmp_path):
    r = _cli("configure", "--ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --ipython-extension")
    _expired_login(lib_env)
    out = run_cells(["!uv pip install --help >/dev/null 2>&1; echo done"], kernel_env, tmp_path)
    assert "renewed" not in out[0] and "done" in out[0], out[0]
    assert not [c for c in lib_env.calls if c.get("operation") == "GetAuthorizationToken"]


def test_a_uv_only_login_made_with_arguments_is_renewed_before_a_uv_cell_without_touching_pip(
    lib_env, _clean_env
):
    cfg = _clean_env / ".config" / "ca-login" / "config"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[default]\ntools = uv\n")  # no domain or repository: only the recorded login names them
    lib_env.set_fault("token-ttl", seconds=2)
    first = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, tool="uv")
    time.sleep(max(0.0, (first.expires_at - datetime.now(timezone.utc)).total_seconds() + 1.1))
    assert ca_login.status("uv").state == "expired"
    lib_env.clear_faults()
    lib_env.reset_calls()
    from ca_login._ipython import before_pip

    line = before_pip("uv")
    assert line is not None and "renewed the CodeArtifact token before uv" in line, line
    assert [c for c in lib_env.calls if c.get("operation") == "GetAuthorizationToken"]
    assert ca_login.status("uv").state == "valid"
    assert not (_clean_env / ".config" / "pip" / "pip.conf").exists()


def test_no_ipython_extension_gives_the_ipython_dir_back_and_new_kernels_no_longer_load_it(
    kernel_env, tmp_path
):
    ipy = Path(kernel_env["IPYTHONDIR"])
    mine = ipy / "profile_default" / "startup" / "00-mine.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("MY_STARTUP_RAN = True\n")
    (ipy / "profile_default" / "ipython_config.py").write_text("c = get_config()  # noqa\n")
    before = _files(ipy)
    r = _cli("configure", "--ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --ipython-extension")
    assert set(_files(ipy)) == {*before, str(STARTUP)}
    r = _cli("configure", "--ipython-extension", env=kernel_env)
    assert "already loads" in r.stdout
    r = _cli("configure", "--no-ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --no-ipython-extension")
    assert f"removed {ipy / STARTUP}" in r.stdout
    assert _files(ipy) == before
    out = run_cells([LOADED, "print(MY_STARTUP_RAN)"], kernel_env, tmp_path)
    assert out[0].strip() == "False" and out[1].strip() == "True", out


def test_a_startup_file_of_the_users_own_under_our_name_is_neither_replaced_nor_removed(kernel_env):
    ipy = Path(kernel_env["IPYTHONDIR"])
    (ipy / STARTUP).parent.mkdir(parents=True)
    (ipy / STARTUP).write_text("print('mine')\n")
    r = _cli("configure", "--ipython-extension", env=kernel_env)
    assert_exit(r, 7, what="configure --ipython-extension over the user's file")
    assert "did not write" in r.stderr and "hint: " in r.stderr
    r = _cli("configure", "--no-ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --no-ipython-extension")
    assert "left" in r.stdout
    assert (ipy / STARTUP).read_text() == "print('mine')\n"


def test_the_startup_file_outside_ipython_prints_nothing_and_raises_nothing(kernel_env, tmp_path):
    r = _cli("configure", "--ipython-extension", env=kernel_env)
    assert_exit(r, 0, what="configure --ipython-extension")
    p = subprocess.run(
        [sys.executable, str(Path(kernel_env["IPYTHONDIR"]) / STARTUP)],
        env=kernel_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stdout + p.stderr


class _Extensions:
    def __init__(self, error: Exception | None = None) -> None:
        self.loaded: list[str] = []
        self.error = error

    def load_extension(self, name: str) -> None:
        if self.error is not None:
            raise self.error
        self.loaded.append(name)


class _Shell:
    def __init__(self, error: Exception | None = None) -> None:
        self.extension_manager = _Extensions(error)


def test_kernel_start_takes_the_handed_over_variables_it_lacks_and_loads_the_extension(
    _clean_env, monkeypatch, capsys
):
    handed = _clean_env / ".config" / "ca-login" / "container-env"
    handed.parent.mkdir(parents=True)
    handed.write_text(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/creds\nAWS_REGION=eu-west-1\nPATH=/planted\n"
    )
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    path_before = os.environ["PATH"]
    shell = _Shell()
    kernel_start(lambda: shell)
    assert shell.extension_manager.loaded == ["ca_login"]
    assert os.environ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] == "/v2/creds"
    assert os.environ["AWS_REGION"] == "us-west-2" and os.environ["PATH"] == path_before
    assert capsys.readouterr().out == ""


def test_kernel_start_never_raises_and_says_in_one_line_why_the_extension_did_not_load(capsys):
    kernel_start(lambda: _Shell(RuntimeError("broken\nsecond line")))
    out = capsys.readouterr().out
    assert out == "ca_login: the IPython extension was not loaded at kernel start: broken\n"
    kernel_start(None)  # outside IPython: nothing to load, nothing printed
    assert capsys.readouterr().out == ""
