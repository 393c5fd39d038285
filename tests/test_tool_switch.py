"""Switching a tool from one way of logging in to another (token store url <-> netrc, pip's index-url <-> extra
index, uv's default <-> extra index, Poetry's source name) through the CodeArtifact stand-in: after the second
login the token is only in the files the current way uses and the earlier token nowhere, the state says the
current way, and one logout gives every file of the user's back byte for byte. Real Poetry after the switch to
netrc."""

from __future__ import annotations

import configparser
import json
import urllib.parse
import warnings
from pathlib import Path

import ca_login
import pytest
import tomllib
from conftest import assert_exit, assert_no_token
from test_tools import cli, client_bin, files_holding, poetry_env, poetry_project, run_client

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"

AUTH_TOML = (
    '# my Poetry credentials\r\n[http-basic.mine]\r\nusername = "me"\r\npassword = "my-own-pw"  # kept\r\n'
)
NETRC = "# mine\nmachine example.org login me password mine\n\ndefault login anon password anon"
PIP_CONF = (
    "# team settings\n[global]\nindex-url = http://127.0.0.1:9/simple/\ntimeout = 2\n"
    "\n[install]\nno-compile = yes\n"
)
UV_TOML = (
    '# my uv settings\nnative-tls = true\n\n[[index]]\nname = "mine"\nurl = "http://127.0.0.1:9/simple/"\n'
)


@pytest.fixture
def home(_clean_env, monkeypatch) -> Path:
    """A fresh HOME where every tool reads its default file (no POETRY_CONFIG_DIR or NETRC of this machine)."""
    monkeypatch.delenv("POETRY_CONFIG_DIR", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    return _clean_env


def paths(home: Path) -> dict[str, Path]:
    return {
        "pip": home / ".config" / "pip" / "pip.conf",
        "uv": home / ".config" / "uv" / "uv.toml",
        "poetry": home / ".config" / "pypoetry" / "auth.toml",
        "netrc": home / ".netrc",
    }


def users_files(home: Path, *names: str) -> dict[Path, bytes]:
    """The user's own files (comments, entries of theirs, CRLF in auth.toml), 0600; their exact bytes."""
    texts = {"pip": PIP_CONF, "uv": UV_TOML, "poetry": AUTH_TOML, "netrc": NETRC}
    out = {}
    for name in names:
        p = paths(home)[name]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(texts[name].encode())
        p.chmod(0o600)
        out[p] = p.read_bytes()
    return out


def do_login(**kw):
    kw.setdefault("domain_owner", OWNER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ca_login.LoginWarning)
        return ca_login.login(DOMAIN, REPO, **kw)


def host_of(r) -> str:
    return urllib.parse.urlsplit(r.repository_endpoint).hostname


def netrc_token(home: Path, host: str) -> str:
    words = paths(home)["netrc"].read_text().split()
    for i, w in enumerate(words[:-5]):
        if w == "machine" and words[i + 1] == host and words[i + 4] == "password":
            return words[i + 5]
    raise AssertionError("no netrc entry for the repository host")


def poetry_token(home: Path, source: str = "codeartifact") -> str:
    return tomllib.loads(paths(home)["poetry"].read_text())["http-basic"][source]["password"]


def pip_token(home: Path) -> str:
    p = configparser.RawConfigParser()
    p.read_string(paths(home)["pip"].read_text())
    return urllib.parse.urlsplit(p.get("global", "index-url")).password or ""


def state_entries(home: Path) -> dict[str, dict]:
    return json.loads((home / ".local" / "state" / "ca-login" / "state.json").read_text())["entries"]


def holders(token: str, home: Path) -> list[str]:
    """The files under HOME holding `token`, relative to HOME (names only, never the content)."""
    return [str(Path(p).relative_to(home)) for p in files_holding(token, home)]


def assert_given_back(originals: dict[Path, bytes], *gone: Path) -> None:
    for p, data in originals.items():
        assert p.read_bytes() == data, f"{p.name} is not the user's file byte for byte after logout"
    for p in gone:
        assert not p.exists(), f"{p} the login created is still there after logout"


def test_poetry_url_then_netrc_takes_the_old_block_out_of_auth_toml_and_logout_gives_both_files_back(
    lib_env, home
):
    files = paths(home)
    originals = users_files(home, "poetry", "netrc")
    do_login(tool="poetry")
    old = poetry_token(home)
    assert holders(old, home) == [".config/pypoetry/auth.toml"]

    r = do_login(tool="poetry", token_store="netrc")
    new = netrc_token(home, host_of(r))
    assert new != old
    assert holders(old, home) == [], "the url-store login's token is still on disk"
    assert holders(new, home) == [".netrc"]
    assert files["poetry"].read_bytes() == originals[files["poetry"]], "auth.toml is not the user's own again"
    preview = next(f.preview for f in r.files if f.tool == "poetry")
    assert "taken out" in preview
    assert_no_token(new, preview, what="poetry preview")
    entries = state_entries(home)
    assert entries[str(files["poetry"])]["token_store"] == "netrc"
    assert entries[str(files["netrc"])]["tool"] == "netrc"

    ca_login.logout(tool="poetry")
    assert_given_back(originals)


def test_poetry_url_then_netrc_removes_the_auth_toml_the_first_login_created(lib_env, home):
    files = paths(home)
    do_login(tool="poetry")
    assert files["poetry"].exists()
    r = do_login(tool="poetry", token_store="netrc")
    assert not files["poetry"].exists(), "the auth.toml the url login created stays with only our block gone"
    assert holders(netrc_token(home, host_of(r)), home) == [".netrc"]
    # And back: the url login creates it again, and its logout removes it (the record still says created).
    do_login(tool="poetry")
    assert holders(poetry_token(home), home) == [".config/pypoetry/auth.toml"]
    assert not files["netrc"].exists(), "the netrc file the netrc login created is still there"
    ca_login.logout(tool="poetry")
    assert_given_back({}, files["poetry"], files["netrc"])


def test_poetry_netrc_then_url_takes_our_netrc_entry_out_unless_another_tool_still_uses_it(lib_env, home):
    files = paths(home)
    originals = users_files(home, "poetry", "netrc")
    r = do_login(tool="poetry", token_store="netrc")
    old = netrc_token(home, host_of(r))

    do_login(tool="poetry")
    new = poetry_token(home)
    assert holders(old, home) == [], "the netrc-store login's token is still on disk"
    assert holders(new, home) == [".config/pypoetry/auth.toml"]
    assert files["netrc"].read_bytes() == originals[files["netrc"]], ".netrc is not the user's own again"
    entries = state_entries(home)
    assert entries[str(files["poetry"])]["token_store"] == "url"
    assert str(files["netrc"]) not in entries, "the state still records our netrc entry"
    ca_login.logout(tool="poetry")
    assert_given_back(originals)

    # uv keeps using netrc: Poetry's switch to url leaves the entry to uv's logout.
    do_login(tool="uv,poetry", token_store="netrc")
    do_login(tool="poetry")
    uv_token = netrc_token(home, host_of(r))
    assert holders(uv_token, home) == [".netrc"], "the entry uv still uses went with Poetry's switch"
    ca_login.logout(tool="poetry")
    ca_login.logout(tool="uv")
    assert_given_back(originals, files["uv"])


def test_pip_url_then_netrc_and_back_keeps_the_token_in_one_place_and_logout_restores_pip_conf(lib_env, home):
    files = paths(home)
    originals = users_files(home, "pip", "netrc")
    do_login()
    in_url = pip_token(home)
    assert holders(in_url, home) == [".config/pip/pip.conf"]

    r = do_login(token_store="netrc")
    in_netrc = netrc_token(home, host_of(r))
    assert holders(in_url, home) == [] and holders(in_netrc, home) == [".netrc"]
    assert pip_token(home) == "", "pip.conf's index-url still carries a token with the netrc store"
    assert state_entries(home)[str(files["pip"])]["token_store"] == "netrc"

    do_login()
    back = pip_token(home)
    assert holders(in_netrc, home) == [], "the netrc entry stays after pip switched back to the url"
    assert holders(back, home) == [".config/pip/pip.conf"]
    assert files["netrc"].read_bytes() == originals[files["netrc"]]
    entries = state_entries(home)
    assert entries[str(files["pip"])]["token_store"] == "url" and str(files["netrc"]) not in entries

    ca_login.logout()
    assert_given_back(originals)


def test_pip_extra_index_then_index_url_with_netrc_leaves_one_entry_and_the_token_only_in_netrc(
    lib_env, home
):
    files = paths(home)
    originals = users_files(home, "pip", "netrc")
    r = do_login(extra_index=True)
    old = urllib.parse.urlsplit(r.index_url.get_secret_value()).password or ""
    assert holders(old, home) == [".config/pip/pip.conf"]

    r = do_login(token_store="netrc")
    new = netrc_token(home, host_of(r))
    assert holders(old, home) == [] and holders(new, home) == [".netrc"]
    text = files["pip"].read_text()
    assert text.count(urllib.parse.urlsplit(r.repository_endpoint).netloc) == 1, "our entry in both modes"
    entry = state_entries(home)[str(files["pip"])]
    assert (entry["extra_index"], entry["token_store"]) == (False, "netrc")

    ca_login.logout()
    assert_given_back(originals)


def test_uv_default_then_extra_index_replaces_our_index_and_logout_gives_uv_toml_back(lib_env, home):
    files = paths(home)
    originals = users_files(home, "uv", "netrc")
    r = do_login(tool="uv")
    old = netrc_token(home, host_of(r))
    ours = [i for i in tomllib.loads(files["uv"].read_text())["index"] if i["name"] == "codeartifact"]
    assert ours and ours[0].get("default") is True

    r = do_login(tool="uv", extra_index=True)
    new = netrc_token(home, host_of(r))
    assert holders(old, home) == [] and holders(new, home) == [".netrc"]
    indexes = tomllib.loads(files["uv"].read_text())["index"]
    assert [i["name"] for i in indexes] == ["mine", "codeartifact"], (
        "not one index of ours next to the user's"
    )
    assert "default" not in indexes[1], "the extra index is still uv's default"
    assert state_entries(home)[str(files["uv"])]["extra_index"] is True

    do_login(tool="uv")
    indexes = tomllib.loads(files["uv"].read_text())["index"]
    assert [(i["name"], i.get("default")) for i in indexes] == [("mine", None), ("codeartifact", True)]
    assert state_entries(home)[str(files["uv"])]["extra_index"] is False

    ca_login.logout(tool="uv")
    assert_given_back(originals)


def test_poetry_source_change_replaces_our_block_and_keeps_the_users_own_table_of_the_old_name(lib_env, home):
    files = paths(home)
    originals = users_files(home, "poetry")
    do_login(tool="poetry")
    old = poetry_token(home)

    do_login(tool="poetry", poetry_source="corp")
    new = poetry_token(home, "corp")
    auth = tomllib.loads(files["poetry"].read_text())["http-basic"]
    assert sorted(auth) == ["corp", "mine"], "the default source's block is still there"
    assert holders(old, home) == [] and holders(new, home) == [".config/pypoetry/auth.toml"]
    assert state_entries(home)[str(files["poetry"])]["source"] == "corp"
    ca_login.logout(tool="poetry")
    assert_given_back(originals)

    # The user's own [http-basic.codeartifact] is theirs: a login under another source name keeps it.
    own = AUTH_TOML + '\r\n[http-basic.codeartifact]\r\nusername = "u"\r\npassword = "their-own-pw"\r\n'
    files["poetry"].write_bytes(own.encode())
    do_login(tool="poetry", poetry_source="corp")
    do_login(tool="poetry", poetry_source="corp2")
    auth = tomllib.loads(files["poetry"].read_text())["http-basic"]
    assert sorted(auth) == ["codeartifact", "corp2", "mine"]
    assert auth["codeartifact"]["password"] == "their-own-pw"
    ca_login.logout(tool="poetry")
    assert files["poetry"].read_bytes() == own.encode()


def test_cli_poetry_url_then_netrc_leaves_auth_toml_without_the_old_token_and_status_says_netrc(
    aws_env, home
):
    files = paths(home)
    originals = users_files(home, "poetry", "netrc")
    base = ["login", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO, "--tool", "poetry"]
    first = cli(base, aws_env)
    assert_exit(first, 0, what="ca-login login --tool poetry")
    old = poetry_token(home)
    dry = cli([*base, "--token-store", "netrc", "--dry-run"], aws_env)
    assert_exit(dry, 0, old, what="ca-login login --token-store netrc --dry-run")
    assert "taken out" in dry.stdout, "the dry run does not say our auth.toml block goes"
    assert poetry_token(home) == old, "the dry run wrote auth.toml"
    out = cli([*base, "--token-store", "netrc"], aws_env)
    assert_exit(out, 0, old, what="ca-login login --token-store netrc")
    host = urllib.parse.urlsplit(state_entries(home)[str(files["poetry"])]["repository_endpoint"]).hostname
    new = netrc_token(home, host)
    for tok in (old, new):
        assert_no_token(tok, first.stdout, first.stderr, dry.stdout, dry.stderr, out.stdout, out.stderr)
    assert holders(old, home) == [] and holders(new, home) == [".netrc"]
    assert state_entries(home)[str(files["poetry"])]["token_store"] == "netrc"
    st = cli(["status", "--tool", "poetry", "--json"], aws_env)
    assert_exit(st, 0, new, what="ca-login status --tool poetry")
    assert_no_token(new, st.stdout, st.stderr, what="ca-login status output")
    status = json.loads(st.stdout)
    assert (status["token_store"], status["state"]) == ("netrc", "valid"), (
        "status does not say a valid netrc login"
    )
    gone = cli(["logout", "--tool", "poetry"], aws_env)
    assert_exit(gone, 0, what="ca-login logout --tool poetry")
    assert_given_back(originals)


@pytest.fixture(scope="session")
def poetry_bin(tmp_path_factory):
    """Poetry from PyPI, in a venv of its own."""
    return client_bin(tmp_path_factory, "poetry")


def test_real_poetry_adds_a_package_with_the_new_token_from_netrc_after_the_switch_from_auth_toml(
    lib_env, poetry_bin, home, tmp_path
):
    files = paths(home)
    originals = users_files(home, "poetry")
    do_login(tool="poetry")
    old = poetry_token(home)
    r = do_login(tool="poetry", token_store="netrc")
    new = netrc_token(home, host_of(r))
    assert files["poetry"].read_bytes() == originals[files["poetry"]]
    project = poetry_project(tmp_path)
    env = poetry_env(home, tmp_path)
    for cmd in (r.next_steps[0].split()[1:], ["add", "--lock", "-vvv", "ca-demo-pkg"]):
        out = run_client([str(poetry_bin), *cmd], env, project)
        for tok in (old, new):
            assert_no_token(tok, out.stdout, out.stderr, what=f"poetry {cmd[0]} output")
        assert_exit(out, 0, old, new, what=f"poetry {cmd[0]}")
    assert "ca-demo-pkg" in (project / "poetry.lock").read_text()
    assert holders(old, home) == [], "the url-store login's token is on disk after poetry ran"
    assert holders(new, home) == [".netrc"], "the token is somewhere besides .netrc after poetry ran"
    ca_login.logout(tool="poetry")
    assert_given_back(originals, files["netrc"])
