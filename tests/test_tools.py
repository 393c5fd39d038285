"""login(tool=...) for uv, Poetry, twine and netrc through the CodeArtifact stand-in: each tool's file, the token
store, logout byte for byte, and pip installing with the token only in netrc."""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import ca_login
import pytest
import tomllib
from conftest import assert_exit, assert_no_token, new_throwaway_user

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"


def do_login(**kw):
    kw.setdefault("domain_owner", OWNER)
    return ca_login.login(DOMAIN, REPO, **kw)


def token_of(r) -> str:
    """The token, read back from the netrc file the login wrote (never printed)."""
    host = urllib.parse.urlsplit(r.repository_endpoint).hostname
    for f in r.files:
        if f.tool == "netrc":
            words = f.config_file.read_text().split()
            for i, w in enumerate(words[:-5]):
                if w == "machine" and words[i + 1] == host and words[i + 4] == "password":
                    return words[i + 5]
    raise AssertionError("no netrc entry for the repository host")


def test_uv_poetry_and_twine_get_their_files_with_the_token_only_where_meant(lib_env, _clean_env):
    r = do_login(tool=["uv", "poetry", "twine"])
    assert r.tools == ("uv", "poetry", "twine")
    by_tool = {f.tool: f for f in r.files}
    home = _clean_env
    assert by_tool["uv"].config_file == home / ".config" / "uv" / "uv.toml"
    assert by_tool["poetry"].config_file == home / ".config" / "pypoetry" / "auth.toml"
    assert by_tool["twine"].config_file == home / ".pypirc"
    assert by_tool["netrc"].config_file == home / ".netrc"
    assert (by_tool["uv"].token_store, by_tool["poetry"].token_store) == ("netrc", "url")
    for f in r.files:
        assert oct(f.config_file.stat().st_mode & 0o777) == "0o600", f.tool
    token = token_of(r)
    simple = r.repository_endpoint.rstrip("/") + "/simple/"

    uv = tomllib.loads(by_tool["uv"].config_file.read_text())
    assert uv["index"] == [{"name": "codeartifact", "url": simple, "default": True}]
    assert_no_token(token, by_tool["uv"].config_file.read_text(), what="uv.toml")
    poetry = tomllib.loads(by_tool["poetry"].config_file.read_text())
    assert poetry["http-basic"]["codeartifact"]["username"] == "aws"
    assert poetry["http-basic"]["codeartifact"]["password"] == token, "auth.toml holds the netrc token"
    pypirc = configparser.RawConfigParser()
    pypirc.read_string(by_tool["twine"].config_file.read_text())
    assert pypirc.get("distutils", "index-servers").split() == ["codeartifact"]
    assert pypirc.get("codeartifact", "repository") == r.repository_endpoint
    assert pypirc.get("codeartifact", "password") == token, ".pypirc holds the netrc token"
    assert r.next_steps == (
        f"poetry source add --priority=primary codeartifact {simple}",
        "twine upload -r codeartifact dist/*",
    )
    for f in r.files:
        assert_no_token(token, f.preview, repr(f), what=f"{f.tool} preview")
    assert_no_token(token, repr(r), str(r), what="login result")


def test_logout_gives_back_each_file_byte_for_byte_and_netrc_goes_with_the_last_user(lib_env, _clean_env):
    home = _clean_env
    pypirc = home / ".pypirc"
    netrc = home / ".netrc"
    pypirc_text = (
        "[distutils]\r\nindex-servers =\r\n    pypi\r\n\r\n"
        + "[pypi]\r\nusername = __token__\r\npassword = pypi-x"
    )
    netrc_text = (
        "# mine\nmachine example.org login me password mine\n\nmacdef init\ncd /\n\ndefault login anon"
    )
    pypirc.write_text(pypirc_text, newline="")
    netrc.write_text(netrc_text)
    pypirc.chmod(0o600)
    netrc.chmod(0o600)
    do_login(tool="uv,twine,poetry", token_store="netrc")
    assert (home / ".config" / "uv" / "uv.toml").exists()
    assert not (home / ".config" / "pypoetry" / "auth.toml").exists(), (
        "Poetry with netrc: auth.toml untouched"
    )

    ca_login.logout(tool="twine")
    assert pypirc.read_bytes() == pypirc_text.encode()
    ca_login.logout(tool="uv")
    assert not (home / ".config" / "uv" / "uv.toml").exists(), "uv.toml was created by the login"
    assert netrc.read_text() != netrc_text, "Poetry still uses the netrc entry"
    ca_login.logout(tool="poetry")
    assert netrc.read_text() == netrc_text


def test_pip_with_the_token_only_in_netrc_installs_through_the_standin(lib_env, pip_venv, isolated_env):
    r = do_login(tool=["pip"], token_store="netrc")
    text = r.config_file.read_text()
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("global", "index-url") == r.repository_endpoint.rstrip("/") + "/simple/"
    token = token_of(r)
    assert_no_token(token, text, what="pip.conf")
    out = pip_venv.run(
        ["install", "--no-input", "--no-cache-dir", "ca-demo-app"], pip_venv.env(isolated_env())
    )
    assert_no_token(token, out.stdout, out.stderr, what="pip output")
    assert_exit(out, 0, what="pip install")
    ca_login.logout()
    assert not (os.path.exists(r.files[0].config_file)), "the netrc the login created goes with the last user"


def test_bad_tool_arguments_fail_before_any_network_call(lib_env):
    for kw, field in [
        ({"tool": "npm"}, "tool"),
        ({"tool": "uv", "token_store": "keyring"}, "token_store"),
        ({"tool": "poetry", "poetry_source": "a b"}, "poetry_source"),
    ]:
        with pytest.raises(ca_login.InvalidInput) as e:
            do_login(**kw)
        assert field in str(e.value) and "hint:" in str(e.value)
    assert [c for c in lib_env.calls if c.get("operation") not in (None, "repository", "control")] == []


def test_dry_run_writes_nothing_and_masks_every_password(lib_env, _clean_env):
    (_clean_env / ".pypirc").write_text("[pypi]\npassword = pypi-own-secret\n")
    r = do_login(tool="twine,uv", extra_index=True, dry_run=True)
    assert not (_clean_env / ".netrc").exists() and not (_clean_env / ".config" / "uv").exists()
    assert (_clean_env / ".pypirc").read_text() == "[pypi]\npassword = pypi-own-secret\n"
    shown = "\n".join(f.preview for f in r.files)
    assert "pypi-own-secret" not in shown and "password = ****" in shown
    uv = tomllib.loads(next(f.preview for f in r.files if f.tool == "uv"))
    assert "default" not in uv["index"][0], "an extra index is not uv's default"


def client_bin(tmp_path_factory, package: str) -> Path:
    """`package`'s program from PyPI, installed into a venv of its own (never this machine's), with an
    environment this test builds (no PIP_* or proxy variables)."""
    d = tmp_path_factory.mktemp(f"{package}venv") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(d)], check=True, timeout=300, env={"PATH": "/usr/bin:/bin"}
    )
    r = subprocess.run(
        [str(d / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", package],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(d.parent)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return d / "bin" / package


def run_client(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """A real client's command in `cwd` with `env` only, no stdin, at most 300 s."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def uv_bin(tmp_path_factory):
    """uv from PyPI, in a venv of its own (the client under test, never this machine's)."""
    return client_bin(tmp_path_factory, "uv")


def test_real_uv_installs_through_uv_toml_and_netrc_without_the_token_in_its_output(
    lib_env, uv_bin, pip_venv, isolated_env, _clean_env, tmp_path
):
    r = do_login(tool="uv")
    token = token_of(r)
    env = isolated_env()
    env = {k: v for k, v in env.items() if not k.startswith(("UV_", "PIP_"))}
    env.update(HOME=str(_clean_env), UV_CACHE_DIR=str(tmp_path / "uvcache"), PATH="/usr/bin:/bin")
    env.pop("XDG_CONFIG_HOME", None)
    out = run_client(
        [str(uv_bin), "-v", "pip", "install", "--python", str(pip_venv.python), "ca-demo-app"], env, tmp_path
    )
    assert_no_token(token, out.stdout, out.stderr, what="uv -v output")
    assert_exit(out, 0, what="uv pip install")
    assert "ca-demo-pkg" in out.stderr + out.stdout
    version = subprocess.run([str(uv_bin), "--version"], capture_output=True, text=True, timeout=60).stdout
    print(f"client: {version.strip()}")


def test_eight_racing_logins_over_every_file_leave_one_block_each_and_logout_restores_them(
    lib_env, _clean_env
):
    home = _clean_env
    pypirc_text = "[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n"
    (home / ".pypirc").write_text(pypirc_text)
    errors = []

    def one():
        try:
            do_login(tool=["pip", "uv", "poetry", "twine"])
        except Exception as e:
            errors.append(type(e).__name__)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    files = [
        home / ".config" / "uv" / "uv.toml",
        home / ".config" / "pypoetry" / "auth.toml",
        home / ".pypirc",
        home / ".netrc",
    ]
    for f in files:
        assert f.read_text().count("# ca-login: begin") == 1, f
    assert (home / ".pypirc").read_text().count("    codeartifact") == 1
    for tool in ("uv", "poetry", "twine"):
        ca_login.logout(tool=tool)
    assert (home / ".pypirc").read_text() == pypirc_text
    assert [f.exists() for f in files] == [False, False, True, False]


@pytest.fixture(scope="session")
def twine_bin(tmp_path_factory):
    """twine from PyPI, in a venv of its own."""
    return client_bin(tmp_path_factory, "twine")


def test_real_twine_uploads_to_the_standin_through_pypirc_without_the_token_in_its_output(
    lib_env, twine_bin, wheelhouse, _clean_env, tmp_path
):
    r = do_login(tool="twine")
    pypirc = configparser.RawConfigParser()
    pypirc.read_string((_clean_env / ".pypirc").read_text())
    token = pypirc.get("codeartifact", "password")
    wheel = sorted(wheelhouse.glob("ca_demo_pkg-*.whl"))[0]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(_clean_env), "LANG": "C.UTF-8"}
    out = run_client(
        [str(twine_bin), "upload", "--verbose", "--non-interactive", "-r", "codeartifact", str(wheel)],
        env,
        tmp_path,
    )
    assert_no_token(token, out.stdout, out.stderr, what="twine --verbose output")
    assert_exit(out, 0, what="twine upload")
    assert [u["filename"] for u in lib_env.uploads] == [wheel.name]
    assert r.next_steps == ("twine upload -r codeartifact dist/*",)
    version = subprocess.run([str(twine_bin), "--version"], capture_output=True, text=True, timeout=60).stdout
    print(f"client: {version.strip().splitlines()[0]}")


@pytest.fixture(scope="session")
def poetry_bin(tmp_path_factory):
    """Poetry from PyPI, in a venv of its own."""
    return client_bin(tmp_path_factory, "poetry")


def poetry_project(tmp_path: Path) -> Path:
    """tmp_path/proj: a Poetry project with no package of its own and no dependencies yet."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n\n'
        "[tool.poetry]\npackage-mode = false\n"
    )
    return project


def poetry_env(home: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    """All a real Poetry gets: this venv's PATH, `home`, a cache in tmp_path, no keyring, and `extra`."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **extra,
        "POETRY_CACHE_DIR": str(tmp_path / "pcache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }


@pytest.mark.parametrize("store", ["url", "netrc"])
def test_real_poetry_adds_a_package_from_the_standin_with_the_token_in_auth_toml_or_netrc(
    lib_env, poetry_bin, store, _clean_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("POETRY_CONFIG_DIR", str(tmp_path / "pconf"))
    r = do_login(tool="poetry", token_store=store)
    token = token_of(r) if store == "netrc" else None
    if store == "url":
        token = tomllib.loads((tmp_path / "pconf" / "auth.toml").read_text())["http-basic"]["codeartifact"][
            "password"
        ]
    project = poetry_project(tmp_path)
    env = poetry_env(_clean_env, tmp_path, POETRY_CONFIG_DIR=str(tmp_path / "pconf"))
    outs = []
    for cmd in (r.next_steps[0].split()[1:], ["add", "--lock", "-vvv", "ca-demo-pkg"]):
        out = run_client([str(poetry_bin), *cmd], env, project)
        outs.append(out)
        assert_no_token(token, out.stdout, out.stderr, what="poetry -vvv output")
        assert_exit(out, 0, what=f"poetry {cmd[0]}")
    lock = (project / "poetry.lock").read_text()
    assert "ca-demo-pkg" in lock
    assert_no_token(
        token, lock, (project / "pyproject.toml").read_text(), what="poetry.lock / pyproject.toml"
    )
    version = subprocess.run(
        [str(poetry_bin), "--version"], capture_output=True, text=True, timeout=60, env=env
    )
    print(f"client: {version.stdout.strip()}")


def test_real_uv_add_locks_the_package_and_uv_lock_holds_no_token(lib_env, uv_bin, _clean_env, tmp_path):
    r = do_login(tool="uv")
    token = token_of(r)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(_clean_env),
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": str(tmp_path / "uvcache"),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
    }
    out = run_client([str(uv_bin), "-v", "add", "ca-demo-pkg"], env, project)
    assert_no_token(token, out.stdout, out.stderr, what="uv -v add output")
    assert_exit(out, 0, what="uv add")
    lock = (project / "uv.lock").read_text()
    assert "ca-demo-pkg" in lock and r.repository_endpoint.rstrip("/") + "/simple" in lock
    assert_no_token(token, lock, (project / "pyproject.toml").read_text(), what="uv.lock / pyproject.toml")


CA_LOGIN = str(Path(sys.executable).parent / "ca-login")


def cli(args, env):
    return subprocess.run(
        [CA_LOGIN, *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def test_cli_tool_flags_print_the_next_commands_and_logout_tool_takes_each_file_back(aws_env, _clean_env):
    base = ["--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    dry = cli(["login", *base, "--tool", "twine", "--tool", "poetry,uv", "--dry-run"], aws_env)
    assert_exit(dry, 0, what="ca-login login --dry-run")
    assert "next: twine upload -r codeartifact dist/*" in dry.stdout
    assert "next: poetry source add --priority=primary codeartifact " in dry.stdout
    assert "password = ****" in dry.stdout and not (_clean_env / ".pypirc").exists()
    out = cli(["login", *base, "--tool", "twine,uv", "--json"], aws_env)
    assert_exit(out, 0, what="ca-login login --json")
    doc = json.loads(out.stdout)
    assert doc["tools"] == ["twine", "uv"]
    assert [f["tool"] for f in doc["files"]] == ["twine", "uv", "netrc"]
    token = configparser.RawConfigParser()
    token.read_string((_clean_env / ".pypirc").read_text())
    assert_no_token(token.get("codeartifact", "password"), out.stdout, out.stderr, what="ca-login output")
    bad = cli(["login", *base, "--tool", "npm"], aws_env)
    assert bad.returncode != 0 and "hint:" in bad.stderr
    gone = cli(["logout", "--tool", "twine,uv"], aws_env)
    assert_exit(gone, 0, what="ca-login logout --tool")
    assert not (_clean_env / ".pypirc").exists() and not (_clean_env / ".netrc").exists()


@pytest.fixture
def throwaway_user():
    """A user whose home is in a fresh temp tree (removed with the user, also on failure); root only."""
    if os.geteuid() != 0:
        pytest.fail("the --user tests run as root (they create a throwaway user)")
    with new_throwaway_user("calt", "/bin/sh") as made:
        yield made


def test_root_for_a_user_writes_each_tool_file_as_the_user_and_never_through_a_link_to_roots_file(
    aws_env, throwaway_user
):
    pw, base = throwaway_user
    home = Path(pw.pw_dir)
    root_only = base / "root-only"
    root_only.write_text("machine root.example login root password rootsecret\n")
    root_only.chmod(0o600)
    os.symlink(root_only, home / ".netrc")
    os.lchown(home / ".netrc", pw.pw_uid, pw.pw_gid)
    args = ["login", "--user", pw.pw_name, "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    refused = cli([*args, "--tool", "uv"], aws_env)
    assert refused.returncode == 7, refused.stderr
    assert root_only.read_text() == "machine root.example login root password rootsecret\n"
    assert "rootsecret" not in refused.stdout + refused.stderr
    (home / ".netrc").unlink()

    ok = cli([*args, "--tool", "uv,twine,poetry"], aws_env)
    assert_exit(ok, 0, what="ca-login login --user --tool")
    # The session lock (one ca-login operation at a time on the user's files) is the user's as well.
    for f in (
        home / ".config" / "uv" / "uv.toml",
        home / ".pypirc",
        home / ".netrc",
        home / ".ca-login.lock",
    ):
        st = f.stat()
        assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (pw.pw_uid, pw.pw_gid, "0o600"), f
    gone = cli(["logout", "--user", pw.pw_name, "--tool", "uv,twine,poetry"], aws_env)
    assert_exit(gone, 0, what="ca-login logout --user --tool")
    assert not (home / ".pypirc").exists() and not (home / ".netrc").exists()


def client_version(name: str, argv: list[str], env: dict[str, str]) -> str:
    """`NAME X.Y.Z` from a client's `--version` line (uv 0.13.9, Poetry (version 2.5.1), twine version 7.0.0 (...),
    pip 23.2.1 from ...)."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert_exit(out, 0, what=f"{name} --version")
    version = re.search(r"\d+(\.\d+)+", out.stdout)
    assert version, f"no version in {name} --version"
    return f"{name} {version.group(0)}"


def files_holding(token: str, *roots: Path) -> list[str]:
    """Every regular file under `roots` (links not followed) that holds the token, or the `aws:TOKEN` pair as an
    HTTP Basic header carries it (base64); paths only, never the content."""
    needles = (token.encode(), base64.b64encode(f"aws:{token}".encode()))
    hits = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                p = Path(dirpath) / name
                if p.is_symlink() or not p.is_file():
                    continue
                data = p.read_bytes()
                if any(n in data for n in needles):
                    hits.append(str(p))
    return sorted(hits)


@pytest.mark.parametrize("store", ["url", "netrc"])
def test_after_every_client_ran_the_token_is_only_in_the_files_meant_to_hold_it_and_in_no_verbose_output(
    aws_env, standin, store, uv_bin, poetry_bin, twine_bin, pip_venv, wheelhouse, _clean_env
):
    """One login of all four tools, then each real client with its most verbose output: uv -v add, poetry -vvv
    add, pip -vv install, twine --verbose upload, all with their caches, configs and projects in the temp HOME.
    Then the whole HOME (config, state, caches, the projects' uv.lock, poetry.lock, pyproject.toml, uv's
    project venv) and pip's venv are searched for the token (and its Basic-auth form)."""
    home = _clean_env
    env = {**aws_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    base = ["--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    login = cli(["-v", "login", *base, "--tool", "pip,uv,poetry,twine", "--token-store", store], env)
    assert_exit(login, 0, what="ca-login -v login")
    host = urllib.parse.urlsplit(standin.repository_endpoint()).hostname
    words = (home / ".netrc").read_text().split()
    token = words[words.index(host) + 4]
    assert standin.token_state(token) == "valid"
    outputs = {"ca-login -v login": login}

    def client(name: str, argv: list[str], cwd: Path, extra_env=None) -> None:
        out = run_client(argv, {**env, **(extra_env or {})}, cwd)
        outputs[name] = out
        assert_exit(out, 0, token, what=name)

    # Every client keeps its default cache and config dirs: ~/.cache/{uv,pypoetry,pip}, ~/.config/...
    uv_env = {"UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never"}
    pyproject = '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n'
    uv_proj, poetry_proj = home / "uvproj", home / "poetryproj"
    uv_proj.mkdir()
    (uv_proj / "pyproject.toml").write_text(pyproject)
    client("uv -v add", [str(uv_bin), "-v", "add", "ca-demo-pkg"], uv_proj, uv_env)
    poetry_proj.mkdir()
    (poetry_proj / "pyproject.toml").write_text(pyproject + "\n[tool.poetry]\npackage-mode = false\n")
    simple = standin.repository_endpoint().rstrip("/") + "/simple/"
    add_source = ["source", "add", "--priority=primary", "codeartifact", simple]
    client("poetry source add", [str(poetry_bin), *add_source], poetry_proj)
    client("poetry -vvv add", [str(poetry_bin), "add", "--lock", "-vvv", "ca-demo-pkg"], poetry_proj)
    client(
        "pip -vv install",
        [str(pip_venv.pip), "-vv", "install", "--no-input", "ca-demo-app"],
        home,
        {"PATH": f"{pip_venv.bin}:{env['PATH']}", "VIRTUAL_ENV": str(pip_venv.dir)},
    )
    wheel = sorted(wheelhouse.glob("ca_demo_pkg-*.whl"))[0]
    client(
        "twine --verbose upload",
        [str(twine_bin), "upload", "--verbose", "--non-interactive", "-r", "codeartifact", str(wheel)],
        home,
    )

    for name, out in outputs.items():
        assert_no_token(token, out.stdout, out.stderr, what=f"{name} output")
    assert (
        "ca-demo-pkg" in (uv_proj / "uv.lock").read_text()
        and "ca-demo-pkg" in (poetry_proj / "poetry.lock").read_text()
    )
    # (pip keeps none of the stand-in's answers: they carry no cache headers, so ~/.cache/pip may not exist)
    caches = [home / ".cache" / c for c in ("uv", "pypoetry")]
    assert [c.name for c in caches if not c.is_dir()] == [], "the clients' caches are in the temp HOME"
    meant = {home / ".netrc", home / ".pypirc"}
    if store == "url":
        meant |= {home / ".config" / "pip" / "pip.conf", home / ".config" / "pypoetry" / "auth.toml"}
    held = files_holding(token, home, pip_venv.dir)
    assert sorted(map(str, meant)) == held, (
        f"the token is in {held}; only {sorted(map(str, meant))} are meant to hold it"
    )
    bins = {"uv": uv_bin, "Poetry": poetry_bin, "twine": twine_bin, "pip": pip_venv.pip}
    versions = [client_version(name, [str(b), "--version"], env) for name, b in bins.items()]
    print(f"clients tested: {', '.join(versions)}")
