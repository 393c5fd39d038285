"""What a login records beside pip's config, and what it never records: tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ca_login
import pytest
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"


@pytest.fixture
def lib_env(standin, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", standin.api_url)
    return standin


def state_file(home: Path) -> Path:
    return home / ".local" / "state" / "ca-login" / "state.json"


def api_calls(standin) -> list:
    return [
        c for c in standin.calls if c.get("operation") in ("GetAuthorizationToken", "GetRepositoryEndpoint")
    ]


def test_token_written_by_the_aws_cli_is_neither_stored_nor_restored(lib_env, aws_env, _clean_env, pip_venv):
    # The AWS CLI logs pip in first (it runs `pip config set` with the first pip on PATH: the test venv's).
    env = pip_venv.env(aws_env)
    out = subprocess.run(
        [
            "aws",
            "codeartifact",
            "login",
            "--tool",
            "pip",
            "--domain",
            DOMAIN,
            "--domain-owner",
            OWNER,
            "--repository",
            REPO,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-1500:]
    conf = _clean_env / ".config" / "pip" / "pip.conf"
    cli_url = conf.read_text().split("index-url = ", 1)[1].split("\n", 1)[0]
    cli_token = cli_url.split("aws:", 1)[1].split("@", 1)[0]

    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    assert r.config_file == conf
    recorded = state_file(_clean_env).read_text()
    found = cli_token in recorded or r.index_url.get_secret_value() in recorded
    assert not found, "the state file holds a token"
    entry = next(iter(json.loads(recorded)["entries"].values()))
    assert entry["previous_index_url"] is None and entry["had_previous"] is False

    result = ca_login.logout()
    assert result.action == "removed"
    after = conf.read_text()
    found = cli_token in after or r.index_url.get_secret_value() in after
    assert not found, "logout put a token back"
    assert "index-url" not in after


def test_own_previous_index_url_is_restored_at_logout(lib_env, _clean_env):
    conf = _clean_env / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    original = "[global]\nindex-url = https://mirror.example.invalid/simple/\ntimeout = 30\n"
    conf.write_text(original)
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    ca_login.logout()
    assert conf.read_text() == original


def test_corrupt_state_file_is_replaced_by_the_next_login_with_a_warning(lib_env, _clean_env, caplog):
    conf = _clean_env / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[global]\ntimeout = 30\n")
    sf = state_file(_clean_env)
    sf.parent.mkdir(parents=True)
    sf.write_text("{not json")
    st = ca_login.status()
    assert st.state == "unknown" and not st.valid
    assert any("not a valid ca-login state file" in p for p in st.problems), st.problems
    with caplog.at_level("WARNING", logger="ca_login"):
        r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    assert any("not a valid ca-login state file" in m for m in caplog.messages), caplog.messages
    recorded = json.loads(sf.read_text())
    assert list(recorded["entries"]) == [str(r.config_file)]
    assert ca_login.status().valid


def test_state_file_that_cannot_be_updated_leaves_pip_conf_as_it_was(lib_env, _clean_env):
    # The state folder is a file: recording the expiry fails after the token came back. pip's config must not
    # be left half-done (a new token with no record of its expiry).
    conf = _clean_env / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# mine\n[global]\ntimeout = 30\n")
    blocker = _clean_env / "state-blocker"
    blocker.write_text("not a folder")
    os.environ["CA_LOGIN_STATE_FILE"] = str(blocker / "state.json")
    try:
        with pytest.raises(ca_login.ConfigError):
            ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    finally:
        del os.environ["CA_LOGIN_STATE_FILE"]
    assert conf.read_text() == "# mine\n[global]\ntimeout = 30\n"


def test_cli_status_says_a_corrupt_state_file_is_unknown_with_exit_1_and_login_replaces_it(
    standin, aws_env, _clean_env, tmp_path
):
    sf = state_file(Path(aws_env["HOME"]))
    sf.parent.mkdir(parents=True, exist_ok=True)
    sf.write_text("{not json")
    cli = str(Path(sys.executable).parent / "ca-login")
    conf = str(tmp_path / "pip.conf")
    st = subprocess.run(
        [cli, "status", "--config-file", conf], env=aws_env, capture_output=True, text=True, timeout=60
    )
    assert st.returncode == 1, st.stderr
    assert "Traceback" not in st.stderr
    assert "UNKNOWN" in st.stdout and "not a valid ca-login state file" in " ".join(st.stdout.split())
    out = subprocess.run(
        [
            cli,
            "login",
            "--domain",
            DOMAIN,
            "--domain-owner",
            OWNER,
            "--repository",
            REPO,
            "--config-file",
            conf,
        ],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "not a valid ca-login state file" in out.stderr
    assert json.loads(sf.read_text())["entries"]
