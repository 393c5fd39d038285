"""diagnose(tool=...) / `ca-login diagnose --tool`: one check per tool (layer `tool`, after pip's) says whether uv,
Poetry and twine will reach the repository with a valid credential. Each pass case follows a real `ca-login
login --tool ...` against the stand-in; each failure gives its cause code and a fix naming the right command, and
where the fix is a login, running the printed commands makes the check pass. Verdicts are held against real clients
from PyPI: uv installs when the check passes and not when the check says it is overridden, and the `poetry source
add` line the check prints, run by Poetry, makes `poetry add` work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import ca_login
import pytest
import tomllib
from conftest import assert_exit, assert_no_token, new_throwaway_user
from loopback import closed_port
from test_tools import client_bin

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
USER_PYTHON = "/usr/bin/python3"
TARGET = ["--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
LOGIN_CLI = f"ca-login login --domain {DOMAIN} --repository {REPO} --domain-owner {OWNER} --region {REGION}"


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """`argv` in `cwd` with `env` only, no stdin, at most `timeout` seconds."""
    return subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run([CA_LOGIN, *args], env, cwd)


def login(env: dict[str, str], cwd: Path, tools: str, *extra: str) -> None:
    assert_exit(
        cli(env, cwd, "login", *TARGET, "--tool", tools, *extra), 0, what=f"ca-login login --tool {tools}"
    )


def diagnose(env: dict[str, str], cwd: Path, tools: str | None = None) -> tuple[int, dict]:
    args = ["diagnose", *TARGET, "--timeout", "2", "--json"]
    if tools:
        args += ["--tool", tools]
    p = cli(env, cwd, *args)
    assert p.returncode in (0, 1), p.stderr[-2000:]
    return p.returncode, json.loads(p.stdout)


def check(report: dict, name: str) -> dict:
    found = [c for c in report["checks"] if c["name"] == name]
    assert len(found) == 1, [c["name"] for c in report["checks"]]
    return found[0]


def failing(report: dict, name: str, cause: str) -> list[str]:
    """The tool check `name` fails with `cause`, and is the verdict: its commands."""
    c = check(report, name)
    assert c["layer"] == "tool" and c["status"] == "fail", c
    assert c["fix"]["cause"] == cause, c
    v = report["verdict"]
    assert v is not None and v["cause"] == cause and v["layer"] == "tool", v
    assert v["commands"] == c["fix"]["commands"], (v, c)
    return v["commands"]


def run_commands(env: dict[str, str], cwd: Path, commands: list[str]) -> None:
    """The fix's commands, pasted into a shell as they are."""
    for cmd in commands:
        assert_exit(run(["bash", "-c", cmd], env, cwd), 0, what=cmd.split()[0])


def netrc_token(home: Path) -> str:
    words = (home / ".netrc").read_text().split()
    return words[words.index("password") + 1]


def expire(home: Path, *tools: str) -> None:
    """Moves the recorded expiry of `tools`' files an hour into the past (the token itself is left alone)."""
    path = home / ".local" / "state" / "ca-login" / "state.json"
    state = json.loads(path.read_text())
    for e in state["entries"].values():
        if e["tool"] in tools:
            e["expires_at"] = int(time.time()) - 3600
    path.write_text(json.dumps(state))


def endpoint_of(env: dict[str, str]) -> str:
    """The repository endpoint the last login recorded (without credentials)."""
    path = Path(env["HOME"]) / ".local" / "state" / "ca-login" / "state.json"
    entries = json.loads(path.read_text())["entries"].values()
    return next(iter(entries))["repository_endpoint"]


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """The working directory of every command: no project file unless a test writes one."""
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


# --- the pass cases, after a real login ---


def test_uv_passes_after_a_real_login_and_the_default_list_takes_the_recorded_tool(aws_env, _clean_env, work):
    login(aws_env, work, "uv")
    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 0 and j["ok"], j
    uv = check(j, "uv")
    assert uv["layer"] == "tool" and uv["status"] == "ok", uv
    assert "has our index (default)" in uv["detail"] and "has our entry for 127.0.0.1" in uv["detail"], uv
    assert "fix" not in uv
    assert all(check(j, n)["status"] == "skip" for n in ("pip-index-url", "pip-token")), "pip was not asked"
    # No --tool: pip plus every tool the state records (pip is not logged in here, so pip's check fails first).
    rc, j = diagnose(aws_env, work)
    assert check(j, "uv")["status"] == "ok"
    assert j["verdict"]["cause"] == "pip-not-configured"
    assert [c["layer"] for c in j["checks"]][-1] == "tool", "the tool layer comes after pip's"
    token = netrc_token(_clean_env)
    assert_no_token(token, json.dumps(j), what="diagnose JSON")


def test_poetry_passes_after_a_real_login_and_reminds_of_the_project_source(aws_env, work):
    login(aws_env, work, "poetry")
    rc, j = diagnose(aws_env, work, "poetry")
    assert rc == 0 and j["ok"], j
    c = check(j, "poetry")
    assert c["status"] == "ok", c
    assert "has our [http-basic.codeartifact]" in c["detail"], c
    assert (
        "a project uses the repository after: poetry source add --priority=primary codeartifact "
        in c["detail"]
    )


def test_poetry_with_the_netrc_store_checks_the_netrc_entry(aws_env, _clean_env, work):
    login(aws_env, work, "poetry", "--token-store", "netrc")
    rc, j = diagnose(aws_env, work, "poetry")
    assert rc == 0, j
    assert "has our entry for 127.0.0.1" in check(j, "poetry")["detail"]
    (_clean_env / ".netrc").unlink()
    rc, j = diagnose(aws_env, work, "poetry")
    commands = failing(j, "poetry", "netrc-entry-missing")
    assert commands == [f"{LOGIN_CLI} --tool poetry --token-store netrc"], commands


def test_twine_passes_after_a_real_login(aws_env, work):
    login(aws_env, work, "twine")
    rc, j = diagnose(aws_env, work, "twine")
    assert rc == 0 and j["ok"], j
    c = check(j, "twine")
    assert c["status"] == "ok" and "upload with: twine upload -r codeartifact dist/*" in c["detail"], c


def test_all_three_tools_are_checked_in_order_after_pip(aws_env, work):
    login(aws_env, work, "pip,uv,poetry,twine")
    rc, j = diagnose(aws_env, work)
    assert rc == 0 and j["ok"], j
    names = [c["name"] for c in j["checks"] if c["layer"] == "tool"]
    assert names == ["uv", "poetry", "twine"]
    assert check(j, "pip-index-url")["status"] == "ok"
    text = cli(aws_env, work, "diagnose", *TARGET, "--timeout", "2")
    assert_exit(text, 0, what="ca-login diagnose")
    assert text.stdout.rstrip().splitlines()[-1] == (
        "Verdict: all checks passed; pip, uv, poetry and twine can use this repository."
    )
    only_uv = cli(aws_env, work, "diagnose", *TARGET, "--timeout", "2", "--tool", "uv")
    assert only_uv.stdout.rstrip().endswith("Verdict: all checks passed; uv can use this repository.")


# --- uv's failures ---


def test_uv_toml_missing_is_uv_not_configured_and_the_printed_login_fixes_it(aws_env, _clean_env, work):
    login(aws_env, work, "uv")
    (_clean_env / ".config" / "uv" / "uv.toml").unlink()
    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 1
    commands = failing(j, "uv", "uv-not-configured")
    assert commands == [f"{LOGIN_CLI} --tool uv"], commands
    assert "does not exist" in check(j, "uv")["detail"]
    run_commands(aws_env, work, commands)
    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 0, j


def test_our_index_removed_from_uv_toml_is_uv_not_configured(aws_env, _clean_env, work):
    uv_toml = _clean_env / ".config" / "uv" / "uv.toml"
    uv_toml.parent.mkdir(parents=True)
    uv_toml.write_text("# mine\nnative-tls = true\n")
    login(aws_env, work, "uv", "--extra-index-url")
    assert "codeartifact" in uv_toml.read_text()
    uv_toml.write_text("# mine\nnative-tls = true\n")  # the user removed our block
    _, j = diagnose(aws_env, work, "uv")
    commands = failing(j, "uv", "uv-not-configured")
    assert commands == [f"{LOGIN_CLI} --tool uv --extra-index-url"], "the record's mode is kept"
    assert "no [[index]] codeartifact" in check(j, "uv")["detail"]


@pytest.mark.parametrize("var", ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_NO_CONFIG"])
def test_a_uv_override_variable_is_uv_config_overridden_with_its_unset(aws_env, work, var):
    login(aws_env, work, "uv")
    value = "1" if var == "UV_NO_CONFIG" else "https://pypi.org/simple"
    rc, j = diagnose({**aws_env, var: value}, work, "uv")
    assert rc == 1
    assert failing(j, "uv", "uv-config-overridden") == [f"unset {var}"]
    assert var in check(j, "uv")["detail"]


def test_uv_index_adds_indexes_ahead_of_ours_a_warning(aws_env, work):
    login(aws_env, work, "uv")
    rc, j = diagnose({**aws_env, "UV_INDEX": "https://pypi.org/simple"}, work, "uv")
    assert rc == 0, "a warning leaves the report ok"
    c = check(j, "uv")
    assert c["status"] == "warn" and c["fix"] == {
        "cause": "uv-index-shadowed",
        "commands": ["unset UV_INDEX"],
    }, c


def test_a_project_with_its_own_default_index_overrides_the_user_file(aws_env, work):
    login(aws_env, work, "uv")
    sub = work / "src" / "pkg"
    sub.mkdir(parents=True)
    (work / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\n\n[[tool.uv.index]]\nname = "corp"\n'
        'url = "https://corp.example/simple"\ndefault = true\n'
    )
    rc, j = diagnose(aws_env, sub, "uv")  # found from a subdirectory too
    commands = failing(j, "uv", "uv-config-overridden")
    assert commands == [f"{LOGIN_CLI} --tool uv --extra-index-url"], commands
    assert f"{work / 'pyproject.toml'} sets a default [[index]] corp" in check(j, "uv")["detail"]
    # A project whose [tool.uv] sets other things is merged with the user file: ours still counts.
    (work / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\n\n[tool.uv]\npackage = false\n'
    )
    rc, j = diagnose(aws_env, sub, "uv")
    assert rc == 0 and "merged with" in check(j, "uv")["detail"], j


def test_the_netrc_entry_missing_or_expired_fails_and_the_printed_login_renews_it(aws_env, _clean_env, work):
    login(aws_env, work, "uv")
    netrc = _clean_env / ".netrc"
    netrc.write_text("machine other.example login u password p\n")
    rc, j = diagnose(aws_env, work, "uv")
    assert failing(j, "uv", "netrc-entry-missing") == [f"{LOGIN_CLI} --tool uv"]
    assert "has no entry for 127.0.0.1" in check(j, "uv")["detail"]
    netrc.unlink()
    login(aws_env, work, "uv")
    expire(_clean_env, "uv", "netrc")
    rc, j = diagnose(aws_env, work, "uv")
    commands = failing(j, "uv", "uv-token-expired")
    assert "expired at" in check(j, "uv")["detail"]
    run_commands(aws_env, work, commands)
    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 0 and "the token expires at" in check(j, "uv")["detail"], j


def test_a_netrc_others_can_read_is_a_warning_whose_fix_is_chmod(aws_env, _clean_env, work):
    login(aws_env, work, "uv")
    netrc = _clean_env / ".netrc"
    netrc.chmod(0o644)
    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 0
    c = check(j, "uv")
    assert c["status"] == "warn" and c["fix"] == {
        "cause": "netrc-permissions",
        "commands": [f"chmod 600 {netrc}"],
    }
    run_commands(aws_env, work, c["fix"]["commands"])
    rc, j = diagnose(aws_env, work, "uv")
    assert check(j, "uv")["status"] == "ok"


def test_netrc_is_honoured(aws_env, _clean_env, tmp_path, work):
    env = {**aws_env, "NETRC": str(tmp_path / "my-netrc")}
    login(env, work, "uv")
    assert (tmp_path / "my-netrc").exists() and not (_clean_env / ".netrc").exists()
    rc, j = diagnose(env, work, "uv")
    assert rc == 0 and f"{tmp_path / 'my-netrc'} has our entry" in check(j, "uv")["detail"], j
    rc, j = diagnose(aws_env, work, "uv")  # without NETRC, uv looks in ~/.netrc
    failing(j, "uv", "netrc-entry-missing")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add a throwaway user")
def test_a_netrc_this_user_cannot_read_is_netrc_unreadable_and_the_printed_fix_works(standin, aws_env):
    with new_throwaway_user("cald", "/bin/sh") as (pw, base):
        home = base / "home"
        for f in ("aws-config", "aws-credentials"):
            (base / f).write_text("")
            (base / f).chmod(0o644)
        # The user cannot reach this venv's interpreter (under /root): the system Python runs our package.
        bindir = base / "bin"
        bindir.mkdir(mode=0o755)
        (bindir / "ca-login").write_text(f'#!/bin/sh\nexec {USER_PYTHON} -m ca_login "$@"\n')
        (bindir / "ca-login").chmod(0o755)
        env = {
            **aws_env,
            "PATH": f"{bindir}:/usr/bin:/bin",
            "PYTHONPATH": str(Path(ca_login.__file__).resolve().parent.parent),
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(base / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(base / "aws-credentials"),
        }

        def drop():
            os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
            os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
            os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)

        def as_user(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                args, env=env, cwd=home, capture_output=True, text=True, timeout=120, preexec_fn=drop
            )

        assert_exit(as_user("ca-login", "login", *TARGET, "--tool", "uv"), 0, what="login as the user")
        netrc = home / ".netrc"
        os.chown(netrc, 0, 0)  # root's now, still 0600: the user cannot read it
        p = as_user("ca-login", "diagnose", *TARGET, "--timeout", "2", "--json", "--tool", "uv")
        commands = failing(json.loads(p.stdout), "uv", "netrc-unreadable")
        assert commands == [f"mv {netrc} {netrc}.ca-login-aside", f"{LOGIN_CLI} --tool uv"], commands
        for cmd in commands:
            assert_exit(as_user("bash", "-c", cmd), 0, what=cmd.split()[0])
        p = as_user("ca-login", "diagnose", *TARGET, "--timeout", "2", "--json", "--tool", "uv")
        assert_exit(p, 0, what="diagnose after the fix")


# --- Poetry's and twine's failures ---


def test_poetry_auth_toml_missing_or_its_token_expired(aws_env, _clean_env, work):
    login(aws_env, work, "poetry")
    auth = _clean_env / ".config" / "pypoetry" / "auth.toml"
    expire(_clean_env, "poetry")
    rc, j = diagnose(aws_env, work, "poetry")
    assert failing(j, "poetry", "poetry-token-expired") == [f"{LOGIN_CLI} --tool poetry"]
    auth.unlink()
    rc, j = diagnose(aws_env, work, "poetry")
    commands = failing(j, "poetry", "poetry-not-configured")
    run_commands(aws_env, work, commands)
    rc, j = diagnose(aws_env, work, "poetry")
    assert rc == 0, j


def test_poetry_http_basic_variables_override_auth_toml(aws_env, work):
    login(aws_env, work, "poetry")
    _, j = diagnose({**aws_env, "POETRY_HTTP_BASIC_CODEARTIFACT_PASSWORD": "not-a-token"}, work, "poetry")
    assert failing(j, "poetry", "poetry-config-overridden") == [
        "unset POETRY_HTTP_BASIC_CODEARTIFACT_PASSWORD"
    ]
    assert "not-a-token" not in json.dumps(j)


def test_a_poetry_project_without_the_source_warns_with_the_source_add_line(aws_env, work):
    login(aws_env, work, "poetry")
    pyproject = work / "pyproject.toml"
    pyproject.write_text('[tool.poetry]\nname = "p"\nversion = "0"\npackage-mode = false\n')
    rc, j = diagnose(aws_env, work, "poetry")
    assert rc == 0
    c = check(j, "poetry")
    simple = endpoint_of(aws_env) + "simple/"
    assert c["status"] == "warn" and c["fix"]["cause"] == "poetry-source-missing", c
    assert c["fix"]["commands"] == [f"poetry source add --priority=primary codeartifact {simple}"]
    with pyproject.open("a") as f:
        f.write(f'\n[[tool.poetry.source]]\nname = "codeartifact"\nurl = "{simple}"\npriority = "primary"\n')
    _, j = diagnose(aws_env, work, "poetry")
    ok = check(j, "poetry")
    assert ok["status"] == "ok" and "source codeartifact is this repository" in ok["detail"], ok


def test_pypirc_missing_or_without_our_server_is_twine_not_configured(aws_env, _clean_env, work):
    login(aws_env, work, "twine")
    pypirc = _clean_env / ".pypirc"
    text = pypirc.read_text()
    pypirc.write_text(text.replace("index-servers =\n    codeartifact", "index-servers =\n    pypi"))
    rc, j = diagnose(aws_env, work, "twine")
    assert failing(j, "twine", "twine-not-configured") == [f"{LOGIN_CLI} --tool twine"]
    assert "does not list codeartifact" in check(j, "twine")["detail"], check(j, "twine")
    pypirc.unlink()
    rc, j = diagnose(aws_env, work, "twine")
    run_commands(aws_env, work, failing(j, "twine", "twine-not-configured"))
    rc, j = diagnose(aws_env, work, "twine")
    assert rc == 0, j


def test_twine_variables_override_pypirc_a_warning(aws_env, work):
    login(aws_env, work, "twine")
    env = {**aws_env, "TWINE_REPOSITORY_URL": "https://upload.example/legacy/", "TWINE_PASSWORD": "pw-x"}
    rc, j = diagnose(env, work, "twine")
    assert rc == 0
    c = check(j, "twine")
    assert c["status"] == "warn" and c["fix"]["cause"] == "twine-config-overridden", c
    assert sorted(c["fix"]["commands"]) == ["unset TWINE_PASSWORD", "unset TWINE_REPOSITORY_URL"]
    assert "pw-x" not in json.dumps(j)


# --- the Python face ---


def test_python_diagnose_takes_tool_and_its_fix_names_the_python_login(
    lib_env, _clean_env, work, monkeypatch
):
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER, tool="uv")
    (_clean_env / ".config" / "uv" / "uv.toml").unlink()
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2.0, tool=["uv"])
    assert d.cause == "uv-not-configured"
    c = d.check("uv")
    assert c is not None and c.cause == "uv-not-configured" and c.layer == "tool"
    want = (
        f'ca_login.login(domain="{DOMAIN}", repository="{REPO}", domain_owner="{OWNER}", region="{REGION}", '
        'tool="uv")'
    )
    assert c.commands == (want,) and d.verdict is not None and d.verdict.commands == (want,)
    assert c.to_dict()["fix"] == {"cause": "uv-not-configured", "commands": [want]}
    assert "uv" in str(d) and "tool" in d._repr_html_()
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER, tool="uv")
    monkeypatch.setenv("UV_DEFAULT_INDEX", "https://pypi.org/simple")
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2.0, tool="uv")
    assert d.check("uv").commands == ('import os; os.environ.pop("UV_DEFAULT_INDEX", None)',)


def test_an_unknown_tool_is_invalid_input_before_any_call(lib_env, work):
    with pytest.raises(ca_login.InvalidInput) as e:
        ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, tool="npm")
    assert "npm" in str(e.value) and "hint:" in str(e.value)
    assert [c for c in lib_env.calls if c.get("operation") not in (None, "repository", "control")] == []


def test_every_tool_cause_is_listed_in_the_readme_and_the_docstring():
    root = Path(__file__).resolve().parent.parent
    remedy = (root / "src" / "remedy.rs").read_text()
    block = remedy.split("pub const TOOL_CAUSES", 1)[1].split("];", 1)[0]
    causes = [line.strip().strip('",') for line in block.splitlines()[1:] if line.strip().startswith('"')]
    assert len(causes) == 15, causes
    readme = (root / "README.md").read_text().split("### Each tool: uv, Poetry, twine", 1)[1]
    doc = " ".join((ca_login.diagnose.__doc__ or "").split())
    for cause in causes:
        assert f"`{cause}`" in readme, cause
        assert cause in doc, cause


# --- the verdicts against real uv and Poetry ---


@pytest.fixture(scope="module")
def uv_bin(tmp_path_factory):
    return client_bin(tmp_path_factory, "uv")


@pytest.fixture(scope="module")
def poetry_bin(tmp_path_factory):
    return client_bin(tmp_path_factory, "poetry")


def test_the_printed_poetry_source_add_run_by_real_poetry_clears_the_warning(
    aws_env, poetry_bin, _clean_env, tmp_path, work
):
    login(aws_env, work, "poetry")
    (work / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n\n'
        "[tool.poetry]\npackage-mode = false\n"
    )
    _, j = diagnose(aws_env, work, "poetry")
    c = check(j, "poetry")
    assert c["status"] == "warn" and c["fix"]["cause"] == "poetry-source-missing", c
    (command,) = c["fix"]["commands"]
    assert command.startswith("poetry source add --priority=primary codeartifact ")
    env = {
        "PATH": f"{poetry_bin.parent}:/usr/bin:/bin",
        "HOME": str(_clean_env),
        "LANG": "C.UTF-8",
        "POETRY_CACHE_DIR": str(tmp_path / "pcache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    run_commands(env, work, [command])
    _, j = diagnose(aws_env, work, "poetry")
    ok = check(j, "poetry")
    assert ok["status"] == "ok" and "source codeartifact is this repository" in ok["detail"], ok
    out = run([str(poetry_bin), "add", "--lock", "ca-demo-pkg"], env, work, timeout=300)
    assert_exit(out, 0, what="poetry add after a passing check")
    auth = tomllib.loads((_clean_env / ".config" / "pypoetry" / "auth.toml").read_text())
    token = auth["http-basic"]["codeartifact"]["password"]
    assert_no_token(token, out.stdout, out.stderr, json.dumps(j), what="poetry output and diagnose JSON")


def test_real_uv_installs_when_the_check_passes_and_not_when_it_says_overridden(
    aws_env, uv_bin, pip_venv, _clean_env, tmp_path, work
):
    login(aws_env, work, "uv")
    token = netrc_token(_clean_env)
    uv_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(_clean_env),
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": str(tmp_path / "uvcache"),
    }

    def uv_install(env: dict[str, str]) -> subprocess.CompletedProcess:
        out = run(
            [
                str(uv_bin),
                "pip",
                "install",
                "--reinstall",
                "--no-cache",
                "--python",
                str(pip_venv.python),
                "ca-demo-pkg",
            ],
            env,
            work,
            timeout=300,
        )
        assert_no_token(token, out.stdout, out.stderr, what="uv output")
        return out

    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 0, j
    assert_exit(uv_install(uv_env), 0, what="uv pip install after a passing check")
    elsewhere = f"http://127.0.0.1:{closed_port()}/simple"
    rc, j = diagnose({**aws_env, "UV_DEFAULT_INDEX": elsewhere}, work, "uv")
    failing(j, "uv", "uv-config-overridden")
    out = uv_install({**uv_env, "UV_DEFAULT_INDEX": elsewhere})
    assert out.returncode != 0, "uv went to UV_DEFAULT_INDEX, as the check said"
    # A project's [tool.uv] is merged with the user file: without an index of its own, ours still serves.
    pyproject = work / "pyproject.toml"
    pyproject.write_text('[project]\nname = "p"\nversion = "0"\n\n[tool.uv]\nresolution = "highest"\n')
    rc, j = diagnose(aws_env, work, "uv")
    assert rc == 0 and "merged with" in check(j, "uv")["detail"], j
    assert_exit(uv_install(uv_env), 0, what="uv pip install in a project with [tool.uv]")
    # Its own default index wins over ours.
    with pyproject.open("a") as f:
        f.write(f'\n[[tool.uv.index]]\nname = "corp"\nurl = "{elsewhere}"\ndefault = true\n')
    rc, j = diagnose(aws_env, work, "uv")
    failing(j, "uv", "uv-config-overridden")
    out = uv_install(uv_env)
    assert out.returncode != 0 and elsewhere in out.stderr, (
        "uv went to the project's index, as the check said"
    )
