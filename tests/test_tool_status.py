"""One lifetime for every tool: status per tool (and whether the tool will use what ca-login wrote, checked with
a real uv), ensure_login's no-call fast path over several tools, one refresh renewing every recorded file, and
logout of one tool leaving the refresher to renew the others."""

from __future__ import annotations

import configparser
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import ca_login
import pytest
from conftest import assert_exit, assert_no_token
from test_tools import client_bin

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
TTL = 4  # seconds a stand-in token lives in the refresher tests


@pytest.fixture(autouse=True)
def _no_refresher_left(tmp_path, monkeypatch):
    """No refresher outlives a test; the working directory is the test's own (uv looks for a project config from
    it up)."""
    monkeypatch.chdir(tmp_path)
    yield
    ca_login.stop_refresh()


def do_login(**kw):
    kw.setdefault("domain_owner", OWNER)
    return ca_login.login(DOMAIN, REPO, **kw)


def token_calls(standin) -> int:
    return sum(1 for c in standin.calls if c.get("operation") == "GetAuthorizationToken")


def repo_calls(standin) -> int:
    return sum(1 for c in standin.calls if c.get("operation") == "repository")


def netrc_token(home: Path, endpoint: str) -> str:
    host = urllib.parse.urlsplit(endpoint).hostname
    words = (home / ".netrc").read_text().split()
    for i, w in enumerate(words[:-5]):
        if w == "machine" and words[i + 1] == host and words[i + 4] == "password":
            return words[i + 5]
    raise AssertionError("no netrc entry for the repository host")


def pypirc_token(home: Path) -> str:
    p = configparser.RawConfigParser()
    p.read_string((home / ".pypirc").read_text())
    return p.get("codeartifact", "password")


def pip_token(conf: Path) -> str:
    p = configparser.RawConfigParser()
    p.read_string(conf.read_text())
    return urllib.parse.urlsplit(p.get("global", "index-url")).password or ""


def state_entries(home: Path) -> dict:
    doc = json.loads((home / ".local" / "state" / "ca-login" / "state.json").read_text())
    return {e["tool"]: e for e in doc["entries"].values()}


def shown(obj) -> list[str]:
    return [str(obj), repr(obj), obj._repr_html_(), json.dumps(obj.to_dict())]


# --- status per tool ----------------------------------------------------------------------------------------


def test_each_tool_is_missing_before_login_then_valid_and_used_and_status_none_lists_every_recorded_tool(
    lib_env, _clean_env
):
    before = ca_login.status(tool="uv")
    assert isinstance(before, ca_login.ToolStatus)
    assert before.state == "missing" and not before.ok
    assert before.config_file == _clean_env / ".config" / "uv" / "uv.toml"
    assert before.token_store == "netrc" and before.expires_at is None
    assert [s.tool for s in ca_login.status(tool=None)] == ["pip"]

    r = do_login(tool=["pip", "uv", "poetry", "twine"])
    token = netrc_token(_clean_env, r.repository_endpoint)
    for tool, file, store in [
        ("uv", _clean_env / ".config" / "uv" / "uv.toml", "netrc"),
        ("poetry", _clean_env / ".config" / "pypoetry" / "auth.toml", "url"),
        ("twine", _clean_env / ".pypirc", "url"),
    ]:
        st = ca_login.status(tool=tool)
        assert (st.tool, st.config_file, st.token_store) == (tool, file, store)
        assert st.state == "valid" and st.ok and st.uses, str(st)
        assert st.expires_at == r.expires_at and st.remaining.total_seconds() > 0
        assert (st.domain, st.repository, st.region) == (DOMAIN, REPO, REGION)
        assert st.netrc_file == (_clean_env / ".netrc" if store == "netrc" else None)
        assert "OK" in str(st) and st.headline().startswith("OK")
        assert_no_token(token, *shown(st), what=f"{tool} status")

    every = ca_login.status(tool=None)
    assert isinstance(every, ca_login.Statuses)
    assert every.tools == ("pip", "uv", "poetry", "twine") and every.ok
    assert every["pip"].index_url_is_ours and every["twine"].config_file == _clean_env / ".pypirc"
    assert [s["tool"] for s in every.to_dict()["tools"]] == list(every.tools)
    assert str(every).startswith("ca-login status: OK: pip, uv, poetry, twine use the token")
    assert ca_login.status(tool="pip,twine").tools == ("pip", "twine")
    assert_no_token(token, *shown(every), what="status of every tool")


def test_uv_status_follows_uv_precedence_variables_win_a_project_counts_only_with_its_own_indexes(
    lib_env, _clean_env, tmp_path, monkeypatch
):
    do_login(tool="uv")
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    monkeypatch.chdir(project / "src")
    assert ca_login.status(tool="uv").ok
    for var in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_CONFIG_FILE"):
        monkeypatch.setenv(var, "https://mirror.example/simple")
        st = ca_login.status(tool="uv")
        assert st.valid and not st.ok and not st.uses
        assert len(st.overrides) == 1 and st.overrides[0].startswith(f"{var} is set"), st.overrides
        assert f"NOT USED: valid token, but uv will not use it: {var} is set" in str(st)
        monkeypatch.delenv(var)
    # A parent's pyproject.toml with [tool.uv] but no index of its own is merged with the user file: ours is used.
    (project / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\n\n[tool.uv]\npackage = false\n'
    )
    assert ca_login.status(tool="uv").ok
    (project / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "corp"\nurl = "https://user:pw@corp.example/simple"\n'
    )
    st = ca_login.status(tool="uv")
    assert not st.ok and "index corp" in st.overrides[0] and "comes before ours" in st.overrides[0]
    assert "pw" not in st.overrides[0], "the project's password is shown"


def test_poetry_and_twine_status_name_the_environment_variables_that_win(lib_env, monkeypatch):
    do_login(tool="poetry,twine")
    monkeypatch.setenv("POETRY_HTTP_BASIC_CODEARTIFACT_PASSWORD", "elsewhere-secret")
    monkeypatch.setenv("TWINE_PASSWORD", "elsewhere-secret")
    both = ca_login.status(tool=["poetry", "twine"])
    assert not both.ok and all(s.valid for s in both)
    assert both["poetry"].overrides[0].startswith("POETRY_HTTP_BASIC_CODEARTIFACT_PASSWORD is set")
    assert both["twine"].overrides[0].startswith("TWINE_PASSWORD is set")
    assert "NOT OK: poetry NOT USED, twine NOT USED" in str(both)
    assert_no_token("elsewhere-secret", *shown(both), what="status")


def test_status_says_replaced_when_the_netrc_entry_or_the_tools_own_block_is_gone(lib_env, _clean_env):
    do_login(tool="uv,twine")
    (_clean_env / ".netrc").write_text("machine other.example login me password mine\n")
    uv = ca_login.status(tool="uv")
    assert uv.state == "replaced" and not uv.netrc_holds_ours and uv.file_holds_ours
    assert "NO entry of ours" in str(uv)
    (_clean_env / ".pypirc").write_text("[distutils]\nindex-servers = pypi\n")
    assert ca_login.status(tool="twine").state == "replaced"


def test_cli_status_per_tool_its_exit_codes_json_and_a_cold_start_without_heavy_imports(
    aws_env, _clean_env, tmp_path
):
    def cli(*args, env=aws_env):
        return subprocess.run(
            [CA_LOGIN, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )

    base = ["--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    assert_exit(cli("login", *base, "--tool", "uv,twine"), 0, what="ca-login login --tool uv,twine")
    token = pypirc_token(_clean_env)
    uv = cli("status", "--tool", "uv")
    assert_exit(uv, 0, token, what="status --tool uv")
    assert uv.stdout.startswith("ca-login status (uv): OK: uv uses the token")
    both = cli("status", "--tool", "uv", "--tool", "twine", "--json")
    assert_exit(both, 0, token, what="status --tool uv --tool twine --json")
    doc = json.loads(both.stdout)
    assert doc["ok"] is True and [t["tool"] for t in doc["tools"]] == ["uv", "twine"]
    # No --tool: pip and every recorded tool; pip was never logged in here, so exit 1.
    every = cli("status")
    assert every.returncode == 1, every.stdout
    assert every.stdout.startswith("ca-login status: NOT OK: pip MISSING (uv, twine OK)")
    for line in ("\n  pip:", "\n  uv:", "\n  twine:"):
        assert line in every.stdout
    overridden = cli(
        "status", "--tool", "uv", env={**aws_env, "UV_INDEX_URL": "https://mirror.example/simple"}
    )
    assert overridden.returncode == 1 and "UV_INDEX_URL is set" in overridden.stdout
    heavy = ("argparse", "json", "logging", "typing", "dataclasses", "pathlib", "datetime", "textwrap")
    probe = (
        "import sys\nfrom ca_login.cli import main\nrc = main(['status'])\n"
        f"print('HEAVY', sorted(m for m in {heavy!r} if m in sys.modules), rc)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=aws_env, cwd=tmp_path
    )
    assert "HEAVY [] 1" in p.stdout, p.stdout[-500:] + p.stderr[-500:]
    for out in (uv, both, every, overridden, p):
        assert_no_token(token, out.stdout, out.stderr, what="ca-login status output")


# --- what real uv does, as status says ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def uv_bin(tmp_path_factory):
    """uv from PyPI, in a venv of its own (test_tools' client_bin)."""
    return client_bin(tmp_path_factory, "uv")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uv_goes_where_status_says_our_index_or_the_one_that_wins(
    lib_env, uv_bin, pip_venv, _clean_env, tmp_path, monkeypatch
):
    r = do_login(tool="uv")
    token = netrc_token(_clean_env, r.repository_endpoint)
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    elsewhere = f"http://127.0.0.1:{_closed_port()}/simple"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(_clean_env),
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": str(tmp_path / "uvcache"),
        "UV_NO_CACHE": "1",
        "UV_HTTP_TIMEOUT": "5",
    }

    def uv_install(extra_env: dict) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [
                str(uv_bin),
                "-v",
                "pip",
                "install",
                "--python",
                str(pip_venv.python),
                "--reinstall",
                "ca-demo-pkg",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, **extra_env},
            cwd=project,
            stdin=subprocess.DEVNULL,
        )
        assert_no_token(token, out.stdout, out.stderr, what="uv -v output")
        return out

    # A project config without indexes of its own: merged, ours is used.
    (project / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\n\n[tool.uv]\npackage = false\n'
    )
    assert ca_login.status(tool="uv").ok
    before = repo_calls(lib_env)
    assert_exit(uv_install({}), 0, token, what="uv pip install through our index")
    assert repo_calls(lib_env) > before

    # UV_INDEX_URL set: status says uv will not use our file, and uv indeed goes elsewhere.
    monkeypatch.setenv("UV_INDEX_URL", elsewhere)
    st = ca_login.status(tool="uv")
    assert not st.ok and "UV_INDEX_URL" in st.overrides[0]
    monkeypatch.delenv("UV_INDEX_URL")
    before = repo_calls(lib_env)
    out = uv_install({"UV_INDEX_URL": elsewhere})
    assert out.returncode != 0 and elsewhere.split("//")[1].split("/")[0] in out.stderr
    assert repo_calls(lib_env) == before, "uv asked our repository with UV_INDEX_URL set"

    # A project index of its own comes before ours: status says so, and uv asks it first.
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "p"\nversion = "0"\n\n[[tool.uv.index]]\nname = "corp"\nurl = "{elsewhere}"\n'
    )
    st = ca_login.status(tool="uv")
    assert not st.ok and "index corp" in st.overrides[0]
    before = repo_calls(lib_env)
    out = uv_install({})
    assert out.returncode != 0 and elsewhere.split("//")[1].split("/")[0] in out.stderr
    assert repo_calls(lib_env) == before, "uv asked our repository before the project's own index"


# --- ensure_login over several tools --------------------------------------------------------------------------


def test_ensure_login_with_several_tools_makes_no_call_while_every_file_is_recorded_ours_and_fresh(
    lib_env, _clean_env
):
    tools = ["pip", "uv", "twine"]
    first = ca_login.ensure_login(DOMAIN, REPO, tool=tools, min_remaining=0, domain_owner=OWNER)
    assert first.fresh and token_calls(lib_env) == 1
    for _ in range(3):
        again = ca_login.ensure_login(DOMAIN, REPO, tool=tools, min_remaining=0, domain_owner=OWNER)
        assert not again.fresh and again.tools == tuple(tools)
        assert [f.tool for f in again.files] == ["uv", "twine", "netrc"]
    assert token_calls(lib_env) == 1, "ensure_login called CodeArtifact while every file was fresh"
    assert "still valid" in str(again)
    # Without pip: the index URL given back carries the token the files hold.
    only = ca_login.ensure_login(DOMAIN, REPO, tool="uv,twine", min_remaining=0, domain_owner=OWNER)
    assert not only.fresh and token_calls(lib_env) == 1
    assert only.index_url.get_secret_value().split("@")[0].endswith(":" + pypirc_token(_clean_env))
    # One file no longer ours: a login.
    (_clean_env / ".pypirc").write_text("[distutils]\nindex-servers = pypi\n")
    assert ca_login.ensure_login(DOMAIN, REPO, tool=tools, min_remaining=0, domain_owner=OWNER).fresh
    assert token_calls(lib_env) == 2
    # The netrc entry uv needs is gone: a login.
    (_clean_env / ".netrc").unlink()
    assert ca_login.ensure_login(DOMAIN, REPO, tool="uv", min_remaining=0, domain_owner=OWNER).fresh
    assert token_calls(lib_env) == 3
    # Asked in another way than recorded (uv as an extra index): a login.
    assert ca_login.ensure_login(
        DOMAIN, REPO, tool="uv", extra_index=True, min_remaining=0, domain_owner=OWNER
    ).fresh
    assert token_calls(lib_env) == 4
    # Not enough left: a login.
    assert ca_login.ensure_login(DOMAIN, REPO, tool=tools, min_remaining=10**6, domain_owner=OWNER).fresh
    assert token_calls(lib_env) == 5
    assert_no_token(pypirc_token(_clean_env), str(again), repr(only), what="ensure_login result")


def test_cli_login_if_expiring_within_with_tools_calls_once(aws_env, standin, _clean_env):
    args = ["login", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    args += ["--tool", "pip,uv", "--if-expiring-within", "0", "--json"]
    outs = [
        subprocess.run([CA_LOGIN, *args], capture_output=True, text=True, timeout=120, env=aws_env)
        for _ in range(2)
    ]
    for out in outs:
        assert_exit(out, 0, what="ca-login login --tool pip,uv --if-expiring-within 0")
    assert [json.loads(o.stdout)["fresh"] for o in outs] == [True, False]
    assert token_calls(standin) == 1


# --- the refresher over every recorded file -------------------------------------------------------------------


@pytest.fixture
def short_tokens(lib_env):
    lib_env.set_fault("token-ttl", seconds=TTL)
    return lib_env


def wait_for(cond, seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def test_one_refresh_renews_every_recorded_file_with_the_new_token_and_moves_each_expiry(
    short_tokens, _clean_env
):
    r = do_login(tool=["pip", "uv", "twine"])
    conf = r.config_file
    old = {"pip": pip_token(conf), "netrc": netrc_token(_clean_env, r.repository_endpoint)}
    old["twine"] = pypirc_token(_clean_env)
    old_expiry = {t: e["expires_at"] for t, e in state_entries(_clean_env).items()}
    assert set(old_expiry) == {"pip", "uv", "twine", "netrc"}
    # Started for pip alone: the recorded uv and twine logins are renewed with it.
    info = ca_login.start_refresh(DOMAIN, REPO, domain_owner=OWNER)
    assert info.tools == ("pip", "uv", "twine") and info.renewals == 0
    assert wait_for(lambda: ca_login.status().refresher.renewals >= 1, TTL + 5)
    calls = token_calls(short_tokens)
    new = {"pip": pip_token(conf), "netrc": netrc_token(_clean_env, r.repository_endpoint)}
    new["twine"] = pypirc_token(_clean_env)
    assert new["pip"] == new["netrc"] == new["twine"], "the files hold different tokens after one refresh"
    for tool in old:
        same = old[tool] == new[tool]
        assert not same, f"{tool}'s file still holds the old token"
    expiry = {t: e["expires_at"] for t, e in state_entries(_clean_env).items()}
    assert all(expiry[t] > old_expiry[t] for t in old_expiry), (old_expiry, expiry)
    assert calls == 2, "one refresh made more than one token call for one way of logging in"
    assert ca_login.status(tool=None).ok
    for tok in (*old.values(), new["pip"]):
        assert_no_token(tok, str(ca_login.status(tool=None)), what="status after the refresh")


def test_logout_of_one_tool_leaves_the_refresher_renewing_the_others_and_the_last_one_stops_it(
    short_tokens, _clean_env
):
    r = do_login(tool=["pip", "uv", "twine"])
    ca_login.start_refresh(DOMAIN, REPO, tool=["pip", "uv", "twine"], domain_owner=OWNER)
    out = ca_login.logout(tool="twine")
    assert out.stopped_refresher and out.action == "removed"
    assert not (_clean_env / ".pypirc").exists()
    ri = ca_login.status().refresher
    assert ri.running and ri.tools == ("pip", "uv")
    renewals = ri.renewals
    assert wait_for(lambda: ca_login.status().refresher.renewals > renewals, TTL + 5)
    assert not (_clean_env / ".pypirc").exists(), "the refresher wrote twine's file back after its logout"
    assert ca_login.status(tool="uv").valid and ca_login.status().valid
    assert ca_login.logout(tool="uv").stopped_refresher
    assert ca_login.status().refresher.running, "logging uv out stopped the refresher while pip is left"
    assert ca_login.status().refresher.tools == ("pip",)
    last = ca_login.logout()
    assert last.stopped_refresher and last.action == "removed"
    assert not ca_login.status().refresher.running
    calls = token_calls(short_tokens)
    time.sleep(TTL)
    assert token_calls(short_tokens) == calls, "the refresher kept calling after the last tool's logout"
    assert not os.path.exists(_clean_env / ".netrc"), "the netrc entry outlived the last login using it"
    assert not r.config_file.exists() or "index-url" not in r.config_file.read_text()


def test_mypy_strict_gives_each_form_of_status_its_own_type(tmp_path):
    from test_typing import mypy

    p = mypy(
        tmp_path,
        """
import ca_login
from ca_login import Status, Statuses, ToolStatus

def use() -> None:
    a: Status = ca_login.status()
    b: ToolStatus = ca_login.status(tool="uv")
    c: Statuses = ca_login.status(tool=["pip", "uv"])
    d: Statuses = ca_login.status(tool=None)
    o: tuple[str, ...] = b.overrides
    print(a.ok, b.uses, c.ok, d.tools, o, c["uv"].state)
""",
    )
    assert p.returncode == 0, p.stdout + p.stderr
