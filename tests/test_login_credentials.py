"""Where `ca_login.login()` finds credentials when the environment holds no keys (the SageMaker Studio paths).

Studio hands a kernel its role through the container credential provider; here a tiny HTTP server on loopback
plays that provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, it is not a metadata service). A profile with a
`credential_process` is the other way people set it up. The library runs in a subprocess with a minimal
environment: no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_EC2_METADATA_DISABLED=true, the CodeArtifact
stand-in on loopback as the API endpoint.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
PYTHON = sys.executable  # the project venv's interpreter (ca_login installed)
SESSION_TOKEN = "standin-role-session-token"  # a fake role session token (the stand-in ignores it)

# Runs in a subprocess: one login, then the non-secret parts of the result and what the environment held.
_LOGIN = r"""
import json, os, sys
import ca_login
r = ca_login.login(sys.argv[1], sys.argv[2], domain_owner=sys.argv[3], config_file=sys.argv[4])
print(json.dumps({
    "repository_endpoint": r.repository_endpoint,
    "config_file": str(r.config_file),
    "keys_in_env": sorted(k for k in os.environ if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
    "metadata_disabled": os.environ.get("AWS_EC2_METADATA_DISABLED"),
}))
"""

# The AWS CLI's credential_process contract (Version 1); counts its runs in the file named by argv[1].
_CREDENTIAL_PROCESS = """\
import json, sys
with open(sys.argv[1], "a") as fh:
    fh.write("run\\n")
print(json.dumps({{
    "Version": 1,
    "AccessKeyId": {key!r},
    "SecretAccessKey": {secret!r},
    "SessionToken": {token!r},
    "Expiration": {expiration!r},
}}))
"""


def _expiration(hours: float = 1) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


class _ContainerCredentials(BaseHTTPRequestHandler):
    """GET /creds -> the role's temporary credentials, as the ECS/Studio container endpoint answers."""

    server: _CredsServer

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path != "/creds":
            self.send_error(404)
            return
        body = json.dumps(
            {
                "AccessKeyId": DEFAULT_ACCESS_KEY,
                "SecretAccessKey": DEFAULT_SECRET_KEY,
                "Token": SESSION_TOKEN,
                "Expiration": _expiration(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _CredsServer(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]


@pytest.fixture
def container_credentials():
    srv = _CredsServer(("127.0.0.1", 0), _ContainerCredentials)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def _env_without_keys(isolated_env, standin, **extra) -> dict[str, str]:
    """The library's environment: region and loopback endpoints, no keys, metadata service off."""
    env = isolated_env(
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL_CODEARTIFACT=standin.api_url,
        AWS_ENDPOINT_URL_STS=standin.api_url,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.environ["AWS_CONFIG_FILE"],
        AWS_SHARED_CREDENTIALS_FILE=os.environ["AWS_SHARED_CREDENTIALS_FILE"],
        **extra,
    )
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    return env


def _login(env: dict[str, str], conf: Path) -> dict:
    proc = subprocess.run(
        [PYTHON, "-c", _LOGIN, DOMAIN, REPO, OWNER, str(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    token = _token_in(conf) if conf.exists() else ""
    out = proc.stdout + proc.stderr
    shown = out.replace(token, "****") if token else out
    assert proc.returncode == 0, f"login exited {proc.returncode}; output (token masked):\n{shown[-3000:]}"
    leaked = bool(token) and token in out
    assert not leaked, "the login's output contains the CodeArtifact token"
    return json.loads(proc.stdout)


def _token_in(conf: Path) -> str:
    cp = configparser.ConfigParser()
    cp.read(conf)
    return urlsplit(cp["global"]["index-url"]).password or ""


def _assert_logged_in_with_the_role(result: dict, conf: Path, standin) -> None:
    assert result["keys_in_env"] == [], f"keys in the library's environment: {result['keys_in_env']}"
    assert result["metadata_disabled"] == "true"
    assert result["config_file"] == str(conf)
    assert _token_in(conf), "pip.conf's index-url carries no token"
    index_host = urlsplit(result["repository_endpoint"]).hostname
    cp = configparser.ConfigParser()
    cp.read(conf)
    assert urlsplit(cp["global"]["index-url"]).hostname == index_host
    calls = [c for c in standin.calls if c.get("operation") == "GetAuthorizationToken"]
    assert calls, "the stand-in saw no GetAuthorizationToken call"
    assert all(c["status"] == 200 and c["access_key"] == DEFAULT_ACCESS_KEY for c in calls), [
        {k: c.get(k) for k in ("status", "access_key", "error")} for c in calls
    ]


def test_login_takes_studio_container_credentials_with_no_keys_in_env_and_metadata_disabled(
    standin, isolated_env, container_credentials, tmp_path
):
    port = container_credentials.server_address[1]
    env = _env_without_keys(
        isolated_env, standin, AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{port}/creds"
    )
    conf = tmp_path / "pip.conf"
    result = _login(env, conf)
    assert container_credentials.requests, "the library never asked the container credential endpoint"
    assert set(container_credentials.requests) == {"/creds"}, container_credentials.requests
    _assert_logged_in_with_the_role(result, conf, standin)


def test_login_takes_credentials_from_a_profiles_credential_process_with_no_keys_in_env(
    standin, isolated_env, tmp_path
):
    runs = tmp_path / "credential-process-runs"
    script = tmp_path / "creds.py"
    script.write_text(
        _CREDENTIAL_PROCESS.format(
            key=DEFAULT_ACCESS_KEY, secret=DEFAULT_SECRET_KEY, token=SESSION_TOKEN, expiration=_expiration()
        )
    )
    config = tmp_path / "aws-config"
    config.write_text(f"[profile studio]\ncredential_process = {PYTHON} {script} {runs}\nregion = {REGION}\n")
    env = _env_without_keys(isolated_env, standin)
    env.update(AWS_CONFIG_FILE=str(config), AWS_PROFILE="studio")
    conf = tmp_path / "pip.conf"
    result = _login(env, conf)
    assert runs.exists() and runs.read_text().count("run") >= 1, "the credential_process never ran"
    _assert_logged_in_with_the_role(result, conf, standin)
