"""pip's extra-index-url mode (login(extra_index=True), ca-login login --extra-index-url) through the CodeArtifact
stand-in: our one entry in [global] extra-index-url next to the user's own, a real pip installing through it,
logout byte for byte, switching modes, PIP_EXTRA_INDEX_URL, and what status and diagnose say."""

from __future__ import annotations

import configparser
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import warnings
from pathlib import Path

import ca_login
from conftest import assert_exit, assert_no_token
from test_tools import throwaway_user  # noqa: F401  (the fixture: a throwaway user, removed also on failure)

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
MIRROR_PW = "mirror-pw-0451"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def user_conf(home: Path) -> Path:
    return home / ".config" / "pip" / "pip.conf"


def users_file(home: Path) -> tuple[Path, str, str]:
    """The user's own pip.conf: an index-url and an extra index of theirs (with their credentials), both on
    loopback ports nothing listens on (pip warns and goes on), comments and another section."""
    conf = user_conf(home)
    conf.parent.mkdir(parents=True, exist_ok=True)
    theirs = f"http://bob:{MIRROR_PW}@127.0.0.1:{closed_port()}/simple/"
    text = (
        "# team settings\r\n"
        "[global]\r\n"
        f"index-url = http://127.0.0.1:{closed_port()}/simple/\r\n"
        "extra-index-url =\r\n"
        "    # the team mirror\r\n"
        f"    {theirs}\r\n"
        "timeout = 2\r\n"
        "\r\n"
        "[install]\r\n"
        "no-compile = yes\r\n"
    )
    conf.write_bytes(text.encode())
    return conf, text, theirs


def do_login(**kw):
    kw.setdefault("domain_owner", OWNER)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = ca_login.login(DOMAIN, REPO, **kw)
    return r, [str(w.message) for w in caught if issubclass(w.category, ca_login.LoginWarning)]


def token_of(result) -> str:
    url = result.index_url.get_secret_value()
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def pip_lists(conf: Path) -> tuple[str | None, list[str]]:
    """[global] index-url and the extra-index-url list, as pip's configparser reads them."""
    p = configparser.RawConfigParser()
    p.read_string(conf.read_text())
    index = p.get("global", "index-url", fallback=None)
    return index, p.get("global", "extra-index-url", fallback="").split()


def state_entry(home: Path, conf: Path) -> dict:
    data = json.loads((home / ".local" / "state" / "ca-login" / "state.json").read_text())
    return data["entries"][str(conf)]


def repo_netloc(standin) -> str:
    """`host:port` of the stand-in's repository endpoint (the user's own indexes are on other ports)."""
    return urllib.parse.urlsplit(standin.repository_endpoint(REPO)).netloc


def pip_install(pip_venv, isolated_env, *extra_env: tuple[str, str]):
    env = pip_venv.env(isolated_env(PIP_RETRIES="0", PIP_TIMEOUT="2", **dict(extra_env)))
    return pip_venv.run(["install", "--no-input", "--no-cache-dir", "ca-demo-pkg"], env)


def test_extra_index_login_keeps_the_users_lists_and_real_pip_installs_through_it_then_logout_gives_back_every_byte(
    lib_env, pip_venv, isolated_env, _clean_env
):
    conf, original, theirs = users_file(_clean_env)
    index_before, _ = pip_lists(conf)
    r, warned = do_login(extra_index=True)
    assert r.config_file == conf
    token = token_of(r)
    after = conf.read_bytes().decode()
    index, extras = pip_lists(conf)
    assert index == index_before, "the extra-index login changed index-url"
    assert extras[0] == theirs, "the user's own extra index (and its credentials) is gone"
    ours = extras[1] == r.index_url.get_secret_value()
    assert ours and len(extras) == 2, "our entry is not the list's second and last"
    # Every line of the user's file is still there, in order, CRLF kept; ours come after the list.
    kept = [ln for ln in after.split("\r\n") if "ca-login:" not in ln and repo_netloc(lib_env) not in ln]
    assert kept == original.split("\r\n")
    assert "    # ca-login: token for mydomain/isolatedsm expires" in after
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    assert any("dependency confusion" in w and "upstream" in w for w in warned), warned
    assert_no_token(token, *warned, str(r), repr(r), r.preview, what="warning or result text")

    out = pip_install(pip_venv, isolated_env)
    assert_no_token(token, out.stdout, out.stderr, what="pip output")
    assert_exit(out, 0, what="pip install through the extra index")
    assert "Successfully installed ca-demo-pkg" in out.stdout

    gone = ca_login.logout()
    assert gone.action == "removed" and "extra-index-url" in gone.message
    assert conf.read_bytes() == original.encode(), "logout did not give the file back byte for byte"


def test_extra_index_relogin_replaces_our_entry_and_logout_removes_the_file_the_login_created(
    lib_env, _clean_env
):
    conf = user_conf(_clean_env)
    first, _ = do_login(extra_index=True)
    assert conf.exists()
    second, _ = do_login(extra_index=True)
    _, extras = pip_lists(conf)
    assert len(extras) == 1, "a re-login added a second entry"
    same = extras[0] == second.index_url.get_secret_value()
    assert same, "the entry is not the new login's"
    assert_no_token(token_of(first), conf.read_text(), what="pip.conf after the re-login")
    assert conf.read_text().count("# ca-login:") == 1
    entry = state_entry(_clean_env, conf)
    assert entry["extra_index"] is True and entry["created"] is True
    ca_login.logout()
    assert not conf.exists(), "the file the login created (and nothing else is in) is still there"


def test_switching_modes_leaves_one_entry_of_ours_and_logout_restores_the_original(
    lib_env, _clean_env, tmp_path
):
    conf, original, theirs = users_file(_clean_env)
    index_before, _ = pip_lists(conf)
    endpoint_host = repo_netloc(lib_env)

    def ours_in(conf):
        index, extras = pip_lists(conf)
        return [u for u in [index, *extras] if u and endpoint_host in u]

    do_login()
    assert len(ours_in(conf)) == 1 and pip_lists(conf)[0] != index_before
    assert state_entry(_clean_env, conf)["extra_index"] is False
    # The dry run of the switch previews both changes (index-url given back, our entry in the list), masked.
    written = conf.read_bytes()
    dry, _ = do_login(extra_index=True, dry_run=True)
    assert f"index-url = {index_before}" in dry.preview and "    http://aws:****@" in dry.preview
    assert conf.read_bytes() == written, "the dry run wrote the file"

    do_login(extra_index=True)
    index, extras = pip_lists(conf)
    assert index == index_before, "index-url was not given back when switching to the extra index"
    assert len(ours_in(conf)) == 1 and extras[0] == theirs
    assert state_entry(_clean_env, conf)["extra_index"] is True
    # ensure_login in the same mode needs no call; in the other mode it logs in and switches.
    again = ca_login.ensure_login(DOMAIN, REPO, domain_owner=OWNER, extra_index=True)
    assert again.fresh is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ca_login.LoginWarning)
        switched = ca_login.ensure_login(DOMAIN, REPO, domain_owner=OWNER)
    assert switched.fresh is True
    index, extras = pip_lists(conf)
    assert extras == [theirs], "our extra-index-url entry is still there after switching back"
    assert len(ours_in(conf)) == 1 and index != index_before
    entry = state_entry(_clean_env, conf)
    assert entry["extra_index"] is False and entry["previous_index_url"] == index_before

    ca_login.logout()
    assert conf.read_bytes() == original.encode(), "logout after switching modes changed the file"


def test_pip_extra_index_url_variable_wins_and_the_login_status_and_real_pip_say_so(
    lib_env, pip_venv, isolated_env, _clean_env, monkeypatch
):
    users_file(_clean_env)
    elsewhere = f"http://127.0.0.1:{closed_port()}/simple/"
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", elsewhere)
    r, warned = do_login(extra_index=True)
    lost = [w for w in warned if "PIP_EXTRA_INDEX_URL" in w]
    assert (
        lost and "pip will not use the extra-index-url" in lost[0] and "unset PIP_EXTRA_INDEX_URL" in lost[0]
    )
    st = ca_login.status()
    assert st.file_holds_ours is True
    assert st.index_url_is_ours is False and st.ok is False
    assert "PIP_EXTRA_INDEX_URL" in st.headline() and st.index_url == elsewhere
    # Real pip takes the variable's list instead of the file's: it does not find the package.
    out = pip_install(pip_venv, isolated_env, ("PIP_EXTRA_INDEX_URL", elsewhere))
    assert_no_token(token_of(r), out.stdout, out.stderr, what="pip output")
    assert out.returncode != 0 and "No matching distribution found for ca-demo-pkg" in out.stderr, out.stderr[
        -800:
    ]
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL")
    assert ca_login.status().ok is True
    ca_login.logout()


def test_status_knows_the_extra_index_mode_and_sees_our_entry_go(lib_env, _clean_env):
    conf, _, theirs = users_file(_clean_env)
    r, _ = do_login(extra_index=True)
    st = ca_login.status()
    assert st.state == "valid" and st.file_holds_ours and st.index_url_is_ours and st.ok, str(st)
    # "pip uses" names our entry (masked) and the extra-index-url list it is in, not the user's index-url.
    assert st.index_url == r.index_url.masked and st.index_url_source.startswith(
        "extra-index-url, [global] in "
    )
    assert_no_token(token_of(r), str(st), json.dumps(st.to_dict()), what="status text")
    # The user takes our entry out by hand: the record is there, the file no longer holds ours.
    text = conf.read_text()
    lines = [ln for ln in text.splitlines(keepends=True) if "ca-login:" not in ln and "aws:" not in ln]
    conf.write_text("".join(lines))
    st = ca_login.status()
    assert st.state == "replaced" and not st.ok
    assert pip_lists(conf)[1] == [theirs]


def test_diagnose_passes_our_repository_found_as_an_extra_index_and_names_the_risk(lib_env, _clean_env):
    users_file(_clean_env)
    r, _ = do_login(extra_index=True)
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2.0)
    assert_no_token(token_of(r), str(d), d.to_json(), what="diagnosis")
    c = d.check("pip-index-url")
    assert c.status == "ok", str(d)
    assert "extra index" in c.detail and "dependency confusion" in c.detail
    assert "not this repository" not in c.detail
    assert d.check("pip-token").status == "ok", str(d)


def test_pip_with_the_token_only_in_netrc_installs_through_the_extra_index(
    lib_env, pip_venv, isolated_env, _clean_env
):
    conf, original, theirs = users_file(_clean_env)
    r, _ = do_login(extra_index=True, token_store="netrc")
    _, extras = pip_lists(conf)
    assert extras == [theirs, r.repository_endpoint.rstrip("/") + "/simple/"]
    netrc = _clean_env / ".netrc"
    words = netrc.read_text().split()
    token = words[words.index("password") + 1]
    assert_no_token(token, conf.read_text(), what="pip.conf")
    out = pip_install(pip_venv, isolated_env)
    assert_no_token(token, out.stdout, out.stderr, what="pip output")
    assert_exit(out, 0, what="pip install with the token in netrc")
    ca_login.logout()
    assert conf.read_bytes() == original.encode()
    assert not netrc.exists(), "the netrc the login created goes with the logout"


def cli(args, env):
    return subprocess.run(
        [CA_LOGIN, *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def test_cli_extra_index_url_dry_run_previews_masked_then_login_status_and_logout(aws_env, _clean_env):
    conf, original, _ = users_file(_clean_env)
    base = ["--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    dry = cli(["login", *base, "--extra-index-url", "--dry-run"], aws_env)
    assert_exit(dry, 0, what="ca-login login --extra-index-url --dry-run")
    assert "    # ca-login: token for mydomain/isolatedsm expires" in dry.stdout
    assert "http://aws:****@127.0.0.1:" in dry.stdout and f"bob:{MIRROR_PW}" not in dry.stdout
    assert "warning: two indexes allow dependency confusion" in dry.stderr
    assert conf.read_bytes() == original.encode(), "the dry run wrote the file"

    out = cli(["login", *base, "--extra-index-url", "--json"], aws_env)
    assert_exit(out, 0, what="ca-login login --extra-index-url")
    assert "warning: two indexes allow dependency confusion" in out.stderr
    assert "hint: log in without --extra-index-url" in out.stderr
    _, extras = pip_lists(conf)
    token = extras[-1].split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert_no_token(token, out.stdout, out.stderr, what="ca-login output")
    st = cli(["status", "--json"], aws_env)
    assert_exit(st, 0, token, what="ca-login status")
    assert json.loads(st.stdout)["index_url_is_ours"] is True
    gone = cli(["logout"], aws_env)
    assert_exit(gone, 0, token, what="ca-login logout")
    assert conf.read_bytes() == original.encode()


def test_the_refresher_renews_our_extra_index_entry_in_place(lib_env, _clean_env):
    conf, original, theirs = users_file(_clean_env)
    index_before, _ = pip_lists(conf)
    lib_env.set_fault("token-ttl", seconds=4)
    try:
        ca_login.start_refresh(DOMAIN, REPO, domain_owner=OWNER, extra_index=True)
        deadline = time.monotonic() + 12
        while (ri := ca_login.status().refresher).renewals < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ri.renewals >= 2 and ri.last_ok, ri.summary()
    finally:
        ca_login.stop_refresh()
    index, extras = pip_lists(conf)
    assert index == index_before, "the refresher changed index-url"
    assert extras[0] == theirs and len(extras) == 2, "the refresher added or lost an entry"
    assert conf.read_bytes().decode().count("# ca-login:") == 1
    assert len([c for c in lib_env.calls if c.get("operation") == "GetAuthorizationToken"]) >= 2
    assert ca_login.status().ok
    ca_login.logout()
    assert conf.read_bytes() == original.encode()


def test_diagnose_says_when_pip_extra_index_url_takes_the_place_of_our_list(lib_env, _clean_env, monkeypatch):
    users_file(_clean_env)
    r, _ = do_login(extra_index=True)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://other.invalid/simple/")
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2.0)
    assert_no_token(token_of(r), str(d), d.to_json(), what="diagnosis")
    assert not d.ok and d.verdict is not None and d.verdict.cause == "pip-config-overridden", str(d)
    assert "PIP_EXTRA_INDEX_URL" in d.verdict.summary and "unset PIP_EXTRA_INDEX_URL" in d.verdict.remedy
    assert str(r.config_file) in d.check("pip-index-url").detail


def test_logout_without_the_record_takes_out_only_the_entry_under_our_comment(lib_env, _clean_env):
    conf, original, _ = users_file(_clean_env)
    do_login(extra_index=True)
    (_clean_env / ".local" / "state" / "ca-login" / "state.json").unlink()
    gone = ca_login.logout()
    assert gone.action == "removed" and not gone.had_state
    assert conf.read_bytes() == original.encode(), "logout without the record changed more than our entry"


def test_root_for_a_user_writes_the_users_pip_conf_as_the_user_and_logout_takes_it_back(
    aws_env,
    throwaway_user,  # noqa: F811 (the fixture imported above)
):
    pw, _ = throwaway_user
    home = Path(pw.pw_dir)
    args = ["--user", pw.pw_name, "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    ok = cli(["login", *args, "--extra-index-url"], aws_env)
    assert_exit(ok, 0, what="ca-login login --user --extra-index-url")
    conf = user_conf(home)
    st = conf.stat()
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (pw.pw_uid, pw.pw_gid, "0o600")
    _, extras = pip_lists(conf)
    assert len(extras) == 1 and "/pypi/isolatedsm/simple/" in extras[0]
    gone = cli(["logout", "--user", pw.pw_name], aws_env)
    assert_exit(gone, 0, what="ca-login logout --user")
    assert not conf.exists(), "the pip.conf the login created for the user is still there"
