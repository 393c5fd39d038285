"""The service's answer is checked before anything is written (issue 13 part 3): an empty token, an expiration
that is past, too far ahead, absent or not a number is a ServiceError naming the host; CLI exit 1, no
traceback, pip.conf and the state file byte for byte as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ca_login
import pytest
from conftest import assert_exit
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")

BAD_ANSWERS = [
    ("empty-token", {}, "an empty token"),
    ("expiration", {"value": "past"}, "a token that expired"),
    ("expiration", {"value": "far"}, "longer than CodeArtifact's 12 hours"),
    ("expiration", {"value": "43800"}, "longer than CodeArtifact's 12 hours"),
    ("expiration", {"value": "absent"}, "no expiration"),
    ("expiration", {"value": "nan"}, "not a valid GetAuthorizationToken response"),
    ("expiration", {"value": "text"}, "not a valid GetAuthorizationToken response"),
]


def snapshot(*roots: Path) -> dict[str, bytes]:
    """Every regular file under `roots`, path -> bytes."""
    return {str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def cli_login(env: dict[str, str], conf: Path) -> subprocess.CompletedProcess:
    args = [
        "login",
        "--domain",
        DOMAIN,
        "--domain-owner",
        OWNER,
        "--repository",
        REPO,
        "--config-file",
        str(conf),
    ]
    return subprocess.run([CA_LOGIN, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("fault", "params", "said"), BAD_ANSWERS, ids=[f"{f}-{p}" for f, p, _ in BAD_ANSWERS]
)
def test_cli_refuses_a_bad_token_answer_and_leaves_every_file_as_it_was(
    standin, aws_env, tmp_path, _clean_env, fault, params, said
):
    conf = tmp_path / "pip.conf"
    assert_exit(cli_login(aws_env, conf), 0, what="first, good ca-login login")
    before = snapshot(tmp_path, _clean_env)
    assert str(conf) in before
    standin.set_fault(fault, **params)
    out = cli_login(aws_env, conf)
    assert_exit(out, 1, what=f"ca-login login with fault {fault} {params}")
    assert out.stderr.startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    host = standin.api_url.split("://", 1)[1].rstrip("/")
    assert host in out.stderr, out.stderr
    assert said in out.stderr, out.stderr
    assert "\nhint: " in out.stderr
    assert snapshot(tmp_path, _clean_env) == before


@pytest.mark.parametrize("value", ["past", "far", "absent"])
def test_python_login_raises_service_error_with_the_host(standin, monkeypatch, tmp_path, value):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", standin.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", standin.api_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", standin.api_url)
    standin.set_fault("expiration", value=value)
    conf = tmp_path / "pip.conf"
    with pytest.raises(ca_login.ServiceError) as info:
        ca_login.login(DOMAIN, REPO, domain_owner=OWNER, config_file=conf)
    assert info.value.host == standin.api_url.split("://", 1)[1].rstrip("/")
    assert info.value.code == "InvalidResponse"
    assert "ca_login.login()" in info.value.hint
    assert not conf.exists()


def test_a_token_answer_within_twelve_hours_is_accepted(standin, aws_env, tmp_path):
    standin.set_fault("expiration", value="3600")
    assert_exit(cli_login(aws_env, tmp_path / "pip.conf"), 0, what="ca-login login, expiration in an hour")
    assert "index-url" in (tmp_path / "pip.conf").read_text()
