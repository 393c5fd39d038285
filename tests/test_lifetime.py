"""Token lifetime: status, ensure_login, the background refresher and logout, against the stand-in issuing
tokens that live a few seconds, with a real pip installing through what we wrote, and through the CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ca_login
import pytest
from conftest import assert_exit, assert_no_token, assert_same_secret
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
TTL = 4  # seconds a stand-in token lives in these tests


def _point_at(standin, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", standin.api_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", standin.api_url)


@pytest.fixture
def lib_env(standin, monkeypatch):
    """The in-process library pointed at the stand-in, whose tokens live TTL seconds."""
    _point_at(standin, monkeypatch)
    standin.set_fault("token-ttl", seconds=TTL)
    return standin


@pytest.fixture
def conf(tmp_path, monkeypatch) -> Path:
    """A pip config file of the test's own, which pip reads (PIP_CONFIG_FILE)."""
    path = tmp_path / "pip.conf"
    monkeypatch.setenv("PIP_CONFIG_FILE", str(path))
    return path


@pytest.fixture(autouse=True)
def _no_refresher_left():
    yield
    ca_login.stop_refresh()


def token_calls(standin) -> int:
    return sum(1 for c in standin.calls if c.get("operation") == "GetAuthorizationToken")


def token_of(result) -> str:
    url = result.index_url.get_secret_value()
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def wait_until_expired(expires_at: datetime) -> None:
    delay = (expires_at - datetime.now(timezone.utc)).total_seconds() + 1.1
    assert delay < TTL + 5, "the token lives longer than this test expects"
    time.sleep(max(0.0, delay))


def login_args(**kw):
    kw.setdefault("domain_owner", OWNER)
    return kw


# --- status -------------------------------------------------------------------------------------------------


def test_status_is_missing_before_login_valid_after_and_expired_once_the_token_dies(
    lib_env, _clean_env, caplog
):
    caplog.set_level(logging.DEBUG)
    before = ca_login.status()
    assert before.state == "missing" and not before.valid
    assert before.file == _clean_env / ".config" / "pip" / "pip.conf"
    assert before.expires_at is None and before.remaining is None
    assert not before.index_url_is_ours

    r = ca_login.login(DOMAIN, REPO, **login_args())
    st = ca_login.status()
    assert st.valid and st.state == "valid"
    assert st.file == r.config_file
    assert st.repository_endpoint == lib_env.repository_endpoint(REPO)
    assert (st.domain, st.repository, st.region) == (DOMAIN, REPO, REGION)
    assert st.expires_at == r.expires_at and st.expires_at.tzinfo is not None
    assert timedelta(0) < st.remaining <= timedelta(seconds=TTL)
    assert st.index_url_is_ours and st.file_holds_ours
    assert str(st.file) in st.index_url_source
    assert_no_token(token_of(r), st.index_url, what="status index_url")  # first: the assert below prints it
    assert st.index_url == str(r.index_url)  # masked
    assert "OK" in str(st) and "valid" in st._repr_html_()

    wait_until_expired(st.expires_at)
    dead = ca_login.status()
    assert dead.state == "expired" and not dead.valid
    assert dead.remaining < timedelta(0)
    assert "EXPIRED" in str(dead) and "expired" in dead._repr_html_()
    tok = token_of(r)
    assert_no_token(
        tok, str(st), repr(st), st._repr_html_(), json.dumps(st.to_dict()), str(dead), caplog.text
    )


def test_status_names_the_variable_that_wins_over_our_file(lib_env, monkeypatch):
    ca_login.login(DOMAIN, REPO, **login_args())
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple/")
    st = ca_login.status()
    assert st.valid  # the token itself is fine
    assert not st.index_url_is_ours
    assert st.index_url == "https://mirror.example/simple/"
    assert "PIP_INDEX_URL" in st.index_url_source
    assert "NOT ours" in str(st) and "PIP_INDEX_URL" in str(st)


def test_status_says_replaced_when_the_file_no_longer_holds_our_url(lib_env, conf):
    ca_login.login(DOMAIN, REPO, **login_args(config_file=conf))
    conf.write_text("[global]\nindex-url = https://mirror.example/simple/\n")
    st = ca_login.status(config_file=conf)
    assert st.state == "replaced" and not st.valid


# --- ensure_login -------------------------------------------------------------------------------------------


def test_ensure_login_makes_no_call_while_valid_and_one_after_expiry(lib_env, _clean_env):
    first = ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args())
    assert first.fresh and token_calls(lib_env) == 1
    for _ in range(5):
        again = ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args())
        assert not again.fresh
        assert_same_secret(
            again.index_url.get_secret_value(), first.index_url.get_secret_value(), "index URLs"
        )
        assert again.expires_at == first.expires_at
    assert token_calls(lib_env) == 1, "ensure_login called CodeArtifact while the token was valid"
    assert "still valid" in str(again)

    wait_until_expired(first.expires_at)
    renewed = ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args())
    assert renewed.fresh and token_calls(lib_env) == 2
    assert renewed.expires_at > first.expires_at
    assert ca_login.status().valid


def test_ensure_login_logs_in_once_when_min_remaining_exceeds_what_is_left(lib_env):
    ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args())
    assert token_calls(lib_env) == 1
    r = ca_login.ensure_login(DOMAIN, REPO, min_remaining=3600, **login_args())
    assert r.fresh and token_calls(lib_env) == 2
    # The default is an hour: a token of a few seconds is always renewed.
    assert ca_login.ensure_login(DOMAIN, REPO, **login_args()).fresh
    assert token_calls(lib_env) == 3


def test_ensure_login_logs_in_for_another_repository_or_when_the_file_was_edited(lib_env, conf):
    ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args(config_file=conf))
    lib_env.clear_faults()  # long-lived tokens from now on
    assert not ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args(config_file=conf)).fresh
    # The user replaced our line: log in again.
    conf.write_text("[global]\nindex-url = https://mirror.example/simple/\n")
    assert ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, **login_args(config_file=conf)).fresh
    # Another domain owner than the one recorded: log in again.
    calls = token_calls(lib_env)
    with pytest.raises(ca_login.Error):
        ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, config_file=conf, domain_owner="999999999999")
    assert token_calls(lib_env) == calls + 1


def test_ensure_login_checks_its_input_before_anything(lib_env):
    with pytest.raises(ca_login.InvalidInput):
        ca_login.ensure_login("Bad_Domain", REPO, **login_args())
    assert token_calls(lib_env) == 0


def test_duration_zero_takes_the_expiry_from_the_servers_answer(wheelhouse, monkeypatch, tmp_path):
    with StandIn(packages_dir=wheelhouse, session_ttl=TTL) as s:
        _point_at(s, monkeypatch)
        r = ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, duration_seconds=0, **login_args())
        calls = [c for c in s.calls if c.get("operation") == "GetAuthorizationToken"]
        assert calls[0]["query"].get("duration") == "0"
        left = (r.expires_at - datetime.now(timezone.utc)).total_seconds()
        assert -1 <= left <= TTL, "the expiry is not the role session's (from the server)"
        st = ca_login.status()
        assert st.valid and st.expires_at == r.expires_at
        wait_until_expired(r.expires_at)
        assert ca_login.status().state == "expired"
        assert ca_login.ensure_login(DOMAIN, REPO, min_remaining=0, duration_seconds=0, **login_args()).fresh


# --- the background refresher -------------------------------------------------------------------------------


def test_refresher_renews_before_the_token_dies_while_pip_keeps_installing(
    lib_env, pip_venv, isolated_env, _clean_env, caplog
):
    caplog.set_level(logging.INFO)
    info = ca_login.start_refresh(DOMAIN, REPO, **login_args())
    assert info.running and info.config_file == _clean_env / ".config" / "pip" / "pip.conf"
    # The first run logs in at once (nothing recorded yet).
    deadline = time.monotonic() + 10
    while not ca_login.status().valid and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ca_login.status().valid
    env = pip_venv.env(isolated_env(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1"))
    started = time.monotonic()
    installs = 0
    # Installs for 2.5 token lives (bounded in count too): the first token dies in the middle of it.
    while time.monotonic() - started < 2.5 * TTL and installs < 40:
        out = pip_venv.run(
            ["install", "--no-cache-dir", "--force-reinstall", "--no-deps", "ca-demo-pkg"], env
        )
        assert out.returncode == 0, f"install #{installs} failed: " + (
            out.stdout[-1500:] + out.stderr[-1500:]
        )
        installs += 1
    st = ca_login.status()
    assert st.valid, str(st)
    assert st.refresher is not None and st.refresher.running
    # The first login, then a renewal at about 75% of each ~TTL s life.
    assert st.refresher.renewals >= 3, st.refresher.summary()
    assert st.refresher.last_ok and st.refresher.consecutive_failures == 0
    assert st.refresher.next_run_at is not None
    repo_calls = [c for c in lib_env.calls if c.get("operation") == "repository"]
    assert repo_calls and all(c.get("token_state") == "valid" for c in repo_calls), "pip used a dead token"
    assert installs >= 3
    assert "renewed" in caplog.text
    stopped = ca_login.stop_refresh()
    assert stopped is not None and not stopped.running
    assert not ca_login.status().refresher.running
    print(f"{installs} installs over {time.monotonic() - started:.1f} s, {stopped.renewals} renewals")


def test_refresher_retries_after_a_failure_and_status_shows_it(lib_env, caplog):
    lib_env.set_fault("access-denied-identity", first=1, operation="GetAuthorizationToken")
    ca_login.start_refresh(DOMAIN, REPO, **login_args())
    deadline = time.monotonic() + 5
    while (ri := ca_login.status().refresher).last_ok is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ri.last_ok is False and ri.consecutive_failures == 1
    assert ri.last_error_cause.startswith("access-denied")
    assert "AccessDenied" in ri.last_result or "not authorized" in ri.last_result
    assert ri.next_run_at is not None
    assert "FAILED" in str(ca_login.status())
    assert any(r.levelno >= logging.WARNING and "retrying in" in r.getMessage() for r in caplog.records)
    # The retry (1-2 s later) succeeds.
    deadline = time.monotonic() + 8
    while (ri := ca_login.status().refresher).renewals == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ri.renewals == 1 and ri.last_ok and ri.consecutive_failures == 0
    assert ca_login.status().valid


def test_stop_refresh_stops_all_calls_and_a_new_start_replaces_the_old(lib_env):
    ca_login.start_refresh(DOMAIN, REPO, **login_args())
    deadline = time.monotonic() + 10
    while not ca_login.status().valid and time.monotonic() < deadline:
        time.sleep(0.1)
    # Starting again replaces the running refresher (one per process); the token is valid: no call at start.
    calls = token_calls(lib_env)
    info = ca_login.start_refresh(DOMAIN, REPO, **login_args())
    assert info.running and info.renewals == 0
    assert token_calls(lib_env) == calls
    t0 = time.monotonic()
    last = ca_login.stop_refresh()
    print(f"stop_refresh took {(time.monotonic() - t0) * 1000:.1f} ms")
    assert last is not None and not last.running
    assert ca_login.stop_refresh() is None
    calls = token_calls(lib_env)
    time.sleep(TTL + 1)
    assert token_calls(lib_env) == calls, "the refresher kept calling after stop_refresh()"


def test_start_refresh_rejects_bad_input_at_once(lib_env):
    with pytest.raises(ca_login.InvalidInput):
        ca_login.start_refresh("Bad_Domain", REPO, **login_args())
    with pytest.raises(ca_login.InvalidInput):
        ca_login.start_refresh(DOMAIN, REPO, every=0, **login_args())
    assert ca_login.status().refresher is None or not ca_login.status().refresher.running


# --- logout -------------------------------------------------------------------------------------------------

WITH_PREVIOUS = (
    "# team settings, do not remove\n"
    "[global]\n"
    "timeout = 60\n"
    "; the mirror we used before CodeArtifact\n"
    "index-url=https://user:pw@mirror.example/simple/\n"
    "\n"
    "[install]\n"
    "no-compile = yes\n"
    "\n"
    "[list]\n"
    "format=columns\n"
)
WITHOUT_INDEX_URL = "# mine\n[global]\ntimeout = 60\n\n[install]\nno-compile = yes\n"


@pytest.mark.parametrize(
    "original", [WITH_PREVIOUS, WITHOUT_INDEX_URL], ids=["previous-index-url", "no-index-url"]
)
def test_logout_restores_the_file_byte_for_byte(lib_env, conf, original):
    conf.write_bytes(original.encode())
    r1 = ca_login.login(DOMAIN, REPO, **login_args(config_file=conf))
    r2 = ca_login.login(
        DOMAIN, REPO, **login_args(config_file=conf)
    )  # the second login keeps the first "before"
    assert conf.read_text() != original
    out = ca_login.logout(config_file=conf)
    # first: the comparison below prints the file
    assert_no_token(token_of(r1), conf.read_text(), what="pip.conf after logout")
    assert_no_token(token_of(r2), conf.read_text(), what="pip.conf after logout")
    assert conf.read_bytes() == original.encode()
    assert out.action == ("restored" if "index-url" in original else "removed")
    assert out.had_state
    if out.action == "restored":
        assert out.restored_index_url == "https://user:****@mirror.example/simple/"
    assert ca_login.status(config_file=conf).state == "missing"
    assert_no_token(token_of(r1), str(out), json.dumps(out.to_dict()))
    assert_no_token(token_of(r2), str(out))
    # A second logout changes nothing.
    assert ca_login.logout(config_file=conf).action == "unchanged"
    assert conf.read_bytes() == original.encode()


def test_logout_leaves_a_file_the_user_changed_since(lib_env, conf):
    ca_login.login(DOMAIN, REPO, **login_args(config_file=conf))
    changed = "[global]\nindex-url = https://elsewhere.example/simple/\n"
    conf.write_text(changed)
    out = ca_login.logout(config_file=conf)
    assert out.action == "unchanged" and out.had_state
    assert conf.read_text() == changed
    assert ca_login.status(config_file=conf).state == "missing"


def test_logout_without_state_removes_only_our_commented_line(lib_env, conf, _clean_env):
    conf.write_text(WITHOUT_INDEX_URL)
    ca_login.login(DOMAIN, REPO, **login_args(config_file=conf))
    (_clean_env / ".local" / "state" / "ca-login" / "state.json").unlink()
    out = ca_login.logout(config_file=conf)
    assert out.action == "removed" and not out.had_state
    assert conf.read_text() == WITHOUT_INDEX_URL


def test_logout_stops_the_refresher_of_that_file(lib_env):
    ca_login.start_refresh(DOMAIN, REPO, **login_args())
    deadline = time.monotonic() + 10
    while not ca_login.status().valid and time.monotonic() < deadline:
        time.sleep(0.1)
    out = ca_login.logout()
    assert out.stopped_refresher and out.action == "removed"
    calls = token_calls(lib_env)
    time.sleep(TTL)
    assert token_calls(lib_env) == calls
    assert not ca_login.status().valid


# --- the CLI ------------------------------------------------------------------------------------------------


def cli(env, *args, timeout=60):
    return subprocess.run(
        [CA_LOGIN, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def conf_token(conf: Path) -> str:
    return conf.read_text().split("aws:", 1)[1].split("@", 1)[0]


def test_cli_status_login_if_expiring_and_logout(standin, aws_env, tmp_path):
    standin.set_fault("token-ttl", seconds=TTL)
    conf = tmp_path / "pip.conf"
    conf.write_text(WITH_PREVIOUS)
    aws_env = {**aws_env, "PIP_CONFIG_FILE": str(conf)}  # pip reads it: status says whether ours wins
    target = ["--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO, "--config-file", str(conf)]
    tokens: list[str] = []

    def no_token(proc, what):
        __tracebackhide__ = True  # pytest would print this frame's arguments (the process and its output)
        # before any assert that prints the process or its output
        for tok in tokens:
            assert_no_token(tok, proc.stdout, proc.stderr, what=f"{what} output")

    st = cli(aws_env, "status", "--config-file", str(conf))
    assert st.returncode == 1, st.stdout + st.stderr
    assert "MISSING" in st.stdout

    first = cli(aws_env, "-v", "login", *target, "--if-expiring-within", "0")
    assert_exit(first, 0, what="login")
    tokens.append(conf_token(conf))
    no_token(first, "login")
    assert token_calls(standin) == 1
    second = cli(aws_env, "-v", "login", *target, "--if-expiring-within", "0", "--json")
    no_token(second, "login --json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["fresh"] is False
    assert token_calls(standin) == 1, (
        "login --if-expiring-within called CodeArtifact while the token was valid"
    )
    third = cli(aws_env, "login", *target, "--if-expiring-within", "3600")
    assert_exit(third, 0, *tokens, what="login --if-expiring-within 3600")
    tokens.append(conf_token(conf))
    no_token(third, "login --if-expiring-within 3600")
    assert token_calls(standin) == 2

    st = cli(aws_env, "status", "--config-file", str(conf), "--json")
    no_token(st, "status --json")
    assert st.returncode == 0, st.stdout + st.stderr
    doc = json.loads(st.stdout)
    assert doc["state"] == "valid" and doc["valid"] is True
    assert doc["file"] == str(conf) and 0 < doc["remaining_seconds"] <= TTL
    assert doc["repository_endpoint"] == standin.repository_endpoint(REPO)
    assert doc["index_url_is_ours"] is True and "PIP_CONFIG_FILE" in doc["index_url_source"]
    assert doc["index_url"].startswith("http://aws:****@")

    wait_until_expired(datetime.fromisoformat(doc["expires_at"]))
    dead = cli(aws_env, "status", "--config-file", str(conf))
    no_token(dead, "status")
    assert dead.returncode == 1 and "EXPIRED" in dead.stdout
    dead_json = cli(aws_env, "status", "--config-file", str(conf), "--json")
    no_token(dead_json, "status --json")
    assert dead_json.returncode == 1 and json.loads(dead_json.stdout)["state"] == "expired"

    out = cli(aws_env, "-v", "logout", "--config-file", str(conf))
    no_token(out, "logout")
    assert out.returncode == 0, out.stderr
    assert "restored" in out.stdout
    for tok in tokens:
        # first: the diff below prints it
        assert_no_token(tok, conf.read_text(), what="pip.conf after logout")
    assert conf.read_text() == WITH_PREVIOUS
    gone = cli(aws_env, "status", "--config-file", str(conf))
    no_token(gone, "status")
    assert gone.returncode == 1 and "MISSING" in gone.stdout
    assert all(len(tok) > 20 for tok in tokens)


def test_refresher_logs_at_debug_never_show_the_token(standin, aws_env, tmp_path):
    """A separate interpreter with logging at DEBUG from the start: every message the core sends."""
    standin.set_fault("token-ttl", seconds=3)
    conf = tmp_path / "pip.conf"
    code = (
        "import logging, sys, time\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
        "import ca_login\n"
        f"ca_login.start_refresh({DOMAIN!r}, {REPO!r}, domain_owner={OWNER!r}, config_file={str(conf)!r})\n"
        "time.sleep(4.5)\n"
        "print(ca_login.status(config_file=" + repr(str(conf)) + "))\n"
        "print(ca_login.stop_refresh().summary())\n"
    )
    env = {**aws_env, "PIP_CONFIG_FILE": str(conf)}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert_exit(p, 0, what="the refresher's interpreter")
    token = conf_token(conf)
    size = len(token)  # not in the assert: pytest would print len(token)
    assert size > 20
    # first: the assert below prints stderr
    assert_no_token(token, p.stdout, p.stderr, what="refresher output")
    assert "renewed" in p.stderr
    assert os.environ.get("AWS_ACCESS_KEY_ID") is None  # the test process itself stays scrubbed
