"""Logins of every tool racing across processes over one HOME that holds the user's own files: the CLI, both
token stores, the Python API in subprocesses, a login racing a logout. Each login's files and state records are
written under the user's session lock (src/files/session.rs). Every URL is on 127.0.0.1 (the stand-in); a
failure never prints the token (conftest's helpers)."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import tomllib
from conftest import assert_exit, assert_no_token

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
LOGIN = ["login", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
ALL_TOOLS = "pip,uv,poetry,twine"

# The user's own files, with comments and settings of their own (0600, as a login leaves them).
USER_FILES = {
    ".config/pip/pip.conf": (
        "# my pip settings\n[global]\ntimeout = 30\nindex-url = https://mirror.example.org/simple\n\n"
        "[install]\nno-warn-script-location = true\n"
    ),
    ".config/uv/uv.toml": (
        '# my uv settings\nnative-tls = true\n\n[[index]]\nname = "internal"\n'
        'url = "https://mirror.example.org/simple"\n'
    ),
    ".config/pypoetry/auth.toml": (
        '# my Poetry credentials\n[http-basic.internal]\nusername = "me"\npassword = "mine"\n'
    ),
    ".pypirc": (
        "[distutils]\nindex-servers =\n    pypi\n\n# my upload account\n[pypi]\nusername = __token__\n"
        "password = pypi-mine\n"
    ),
    ".netrc": "# mine\nmachine example.org login me password mine\n\nmacdef init\ncd /\n\n",
}
STATE = ".local/state/ca-login/state.json"
TEMP_NAME = re.compile(r"\.ca-login\.\d+\.[0-9a-f]{16}\.tmp$")


def seed(home: Path) -> None:
    for rel, text in USER_FILES.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o600)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def finish(procs: list[subprocess.Popen]) -> list[subprocess.CompletedProcess]:
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate(timeout=30)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def api_login(store: str) -> list[str]:
    """The Python API in a subprocess of its own."""
    code = (
        "import ca_login; ca_login.login("
        f"{DOMAIN!r}, {REPO!r}, domain_owner={OWNER!r}, tool={ALL_TOOLS!r}, token_store={store!r})"
    )
    return [sys.executable, "-c", code]


def netrc_passwords(text: str, host: str) -> list[str]:
    """The password of every `machine HOST` entry (a word list as netrc readers take it)."""
    words = text.split()
    return [
        words[i + 5]
        for i in range(len(words) - 5)
        if words[i] == "machine" and words[i + 1] == host and words[i + 4] == "password"
    ]


def state_entries(home: Path) -> dict[str, dict]:
    """The state's entries by tool (the file must parse)."""
    state = json.loads((home / STATE).read_text())
    by_tool = {e["tool"]: e for e in state["entries"].values()}
    assert len(by_tool) == len(state["entries"]), "two state entries for one tool"
    for e in by_tool.values():
        assert e["config_file"] in {str(home / rel) for rel in USER_FILES}, (
            "a state entry for a file not ours"
        )
    return by_tool


def check_files(home: Path, standin, outputs=()) -> dict[str, str | None]:
    """Every file parses. A tool the state records holds exactly one entry of ours (never two netrc machine lines
    for the host, never a second [[index]], index-servers name or section) and the user's own entries; a tool it
    does not record has the user's file back byte for byte. Every token found is one the stand-in issued, in no
    output, and all files hold the same one (one login's). Every file and the state are 0600; no temporary file
    is left. Returns the token each logged-in file holds (None: the URL only, as with the netrc store), by tool."""
    __tracebackhide__ = True
    host = urllib.parse.urlsplit(standin.repository_endpoint()).hostname
    entries = state_entries(home)
    files = {"pip": "pip.conf", "uv": "uv.toml", "poetry": "auth.toml", "twine": ".pypirc", "netrc": ".netrc"}
    paths = {
        tool: home / next(rel for rel in USER_FILES if rel.endswith(name)) for tool, name in files.items()
    }
    found: dict[str, str | None] = {}
    for tool, path in paths.items():
        rel = str(path.relative_to(home))
        if tool not in entries:
            assert path.read_bytes() == USER_FILES[rel].encode(), (
                f"{rel}: not the user's file, yet no login recorded"
            )
            continue
        text = path.read_text()
        if tool == "pip":
            pip = configparser.RawConfigParser(strict=True)
            pip.read_string(text)
            url = urllib.parse.urlsplit(pip.get("global", "index-url"))
            assert url.hostname == host, "pip.conf: the index-url is not the repository's"
            assert pip.get("global", "timeout") == "30", "pip.conf: the user's setting is gone"
            found[tool] = url.password
            assert (url.password is None) == (entries[tool]["token_store"] == "netrc"), (
                "pip.conf: store mismatch"
            )
        elif tool == "uv":
            uv = tomllib.loads(text)
            ours = [i for i in uv["index"] if i["name"] == "codeartifact"]
            assert len(ours) == 1, f"uv.toml: {len(ours)} [[index]] named codeartifact"
            assert urllib.parse.urlsplit(ours[0]["url"]).password is None, (
                "uv.toml: credentials in an index URL"
            )
            assert [i["name"] for i in uv["index"]] == ["internal", "codeartifact"], "uv.toml: the indexes"
            assert [i["name"] for i in uv["index"] if i.get("default")] == ["codeartifact"]
        elif tool == "poetry":
            auth = tomllib.loads(text)
            assert set(auth["http-basic"]) <= {"internal", "codeartifact"}, "auth.toml: a section not ours"
            assert auth["http-basic"]["internal"]["password"] == "mine", "auth.toml: the user's entry is gone"
            # With the netrc store the login leaves auth.toml as it is: a block an earlier url-store login wrote
            # stays (with that login's token) until logout, so only the url store's token is compared here.
            if entries[tool]["token_store"] == "url":
                assert "codeartifact" in auth["http-basic"], "auth.toml: recorded, yet our entry is missing"
                found[tool] = auth["http-basic"]["codeartifact"]["password"]
        elif tool == "twine":
            pypirc = configparser.RawConfigParser(strict=True)  # a second section or key raises here
            pypirc.read_string(text)
            servers = pypirc.get("distutils", "index-servers").split()
            assert servers == ["pypi", "codeartifact"], f".pypirc: index-servers {servers}"
            assert pypirc.get("pypi", "password") == "pypi-mine", ".pypirc: the user's entry is gone"
            found[tool] = pypirc.get("codeartifact", "password")
        else:
            passwords = netrc_passwords(text, host)
            assert len(passwords) == 1, f".netrc: {len(passwords)} machine entries for the repository host"
            assert "machine example.org login me password mine" in text, ".netrc: the user's entry is gone"
            found[tool] = passwords[0]
    uses_netrc = any(e["token_store"] == "netrc" for t, e in entries.items() if t != "netrc")
    assert ("netrc" in entries) == uses_netrc, (
        "the netrc entry outlives the logins that use it, or is missing"
    )
    tokens = {t for t in found.values() if t is not None}
    assert len(tokens) <= 1, (
        f"{len(tokens)} different tokens in {sorted(found)}: the logins' writes interleaved"
    )
    for tool, token in found.items():
        if token is not None:
            assert standin.token_state(token) == "valid", f"{tool}: not a token the stand-in issued"
            for p in outputs:
                assert_no_token(token, p.stdout, p.stderr, what="a racing process's output")
            assert_no_token(token, (home / STATE).read_text(), what="state file")
    for rel in [*USER_FILES, STATE]:
        mode = (home / rel).stat().st_mode & 0o777
        assert mode == 0o600, f"{rel} has mode {oct(mode)}"
    left = [str(p) for p in home.rglob("*") if TEMP_NAME.search(p.name)]
    assert left == [], f"temporary files left: {left}"
    return found


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return finish([start(args, env)])[0]


def assert_logged_out(home: Path, standin) -> None:
    __tracebackhide__ = True
    check_files(home, standin)
    assert state_entries(home) == {}, "the state still holds a login after logout"


def test_eight_cli_logins_racing_across_processes_leave_one_logins_token_in_every_file_and_logout_gives_back_every_byte(
    aws_env, standin, _clean_env
):
    home = _clean_env
    seed(home)
    procs = finish([start([CA_LOGIN, *LOGIN, "--tool", ALL_TOOLS], aws_env) for _ in range(8)])
    for p in procs:
        assert_exit(p, 0, what="a racing ca-login login")
    calls = [c for c in standin.calls if c.get("operation") == "GetAuthorizationToken"]
    assert len(calls) == 8, f"{len(calls)} token calls for 8 logins"
    found = check_files(home, standin, procs)
    assert sorted(found) == ["netrc", "pip", "poetry", "twine"] and None not in found.values()
    assert sorted(state_entries(home)) == ["netrc", "pip", "poetry", "twine", "uv"]
    assert_exit(run([CA_LOGIN, "logout", "--tool", ALL_TOOLS], aws_env), 0, what="ca-login logout")
    assert_logged_out(home, standin)


def test_logins_racing_with_both_token_stores_and_the_python_api_leave_one_entry_and_one_logins_token_per_file(
    aws_env, standin, _clean_env
):
    home = _clean_env
    seed(home)
    cmds = [
        *[
            [CA_LOGIN, *LOGIN, "--tool", ALL_TOOLS, "--token-store", s]
            for s in ("url", "netrc", "url", "netrc")
        ],
        *[[CA_LOGIN, *LOGIN, "--tool", ALL_TOOLS] for _ in range(2)],
        api_login("url"),
        api_login("netrc"),
    ]
    procs = finish([start(c, aws_env) for c in cmds])
    for p in procs:
        assert_exit(p, 0, what="a racing login")
    found = check_files(home, standin, procs)
    assert sorted(state_entries(home)) == ["netrc", "pip", "poetry", "twine", "uv"]
    assert found["netrc"] is not None and found["twine"] is not None
    assert_exit(run([CA_LOGIN, "logout", "--tool", ALL_TOOLS], aws_env), 0, what="ca-login logout")
    assert_logged_out(home, standin)


def test_a_login_racing_a_logout_leaves_each_tool_logged_in_or_given_back_never_torn(
    aws_env, standin, _clean_env
):
    home = _clean_env
    seed(home)
    outcomes = []
    for delay in [i / 100 for i in range(12)]:
        assert_exit(run([CA_LOGIN, *LOGIN, "--tool", ALL_TOOLS], aws_env), 0, what="ca-login login")
        login = start([CA_LOGIN, *LOGIN, "--tool", ALL_TOOLS], aws_env)
        time.sleep(delay)
        logout = start([CA_LOGIN, "logout", "--tool", ALL_TOOLS], aws_env)
        procs = finish([login, logout])
        for p in procs:
            assert_exit(p, 0, what="a login or logout racing the other")
        check_files(home, standin, procs)
        outcomes.append(",".join(sorted(state_entries(home))) or "-")
    print(f"login racing logout: tools left logged in, by delay: {outcomes}")
    assert_exit(run([CA_LOGIN, "logout", "--tool", ALL_TOOLS], aws_env), 0, what="ca-login logout")
    assert_logged_out(home, standin)
