"""The fake IMDSv2 (on loopback here) and the stand-in run as a process (`python tests/standin`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import botocore.session
import pytest
from standin import FakeIMDS

STANDIN_DIR = Path(__file__).resolve().parent / "standin"


def _req(url, method="GET", headers=None, data=None):
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method=method, headers=headers or {}, data=data), timeout=5
        ) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def imds():
    with FakeIMDS() as m:
        yield m


def test_imds_requires_a_session_token(imds):
    assert _req(imds.url + "/latest/meta-data/placement/region")[0] == 401  # IMDSv1: refused
    assert _req(imds.url + "/latest/api/token", "PUT")[0] == 400  # no TTL header
    status, tok = _req(imds.url + "/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200
    h = {"X-aws-ec2-metadata-token": tok}
    assert _req(imds.url + "/latest/meta-data/placement/region", headers=h) == (200, "us-west-2")
    assert _req(imds.url + "/latest/meta-data/iam/security-credentials/", headers=h) == (
        200,
        "GeneralIsolatedNotebook",
    )
    doc = json.loads(_req(imds.url + "/latest/dynamic/instance-identity/document", headers=h)[1])
    assert doc["region"] == "us-west-2" and doc["accountId"] == "111122223333"


def test_botocore_takes_role_credentials_from_fake_imds_and_they_work_on_the_stand_in(
    imds, standin, monkeypatch
):
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
    session = botocore.session.get_session()
    creds = session.get_credentials()
    assert creds is not None and creds.method == "iam-role"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key == standin.access_key and frozen.token == imds.session_token
    client = session.create_client("codeartifact", region_name="us-west-2", endpoint_url=standin.api_url)
    assert client.get_authorization_token(domain="mydomain")["authorizationToken"]
    assert all(c["token"] == "present" for c in imds.calls if c["method"] == "GET")


def test_imds_no_role_fault_leaves_botocore_without_credentials(imds, monkeypatch):
    imds.set_fault("no-role")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
    assert botocore.session.get_session().get_credentials() is None


def test_standin_process_prints_urls_switches_faults_and_stops_on_sigterm(isolated_env):
    p = subprocess.Popen(
        [sys.executable, str(STANDIN_DIR), "--port", "0", "--fault", "throttle:first=1"],
        env=isolated_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(p.stdout.readline())
        assert info["api_url"].startswith("http://127.0.0.1:") and info["faults"] == ["throttle"]
        assert json.loads(_req(info["control_url"] + "/health")[1])["ok"] is True
        faults = json.loads(_req(info["control_url"] + "/faults")[1])
        assert faults["throttle"]["remaining"] == 1
        body = json.dumps({"name": "repo-403"}).encode()
        assert "repo-403" in json.loads(_req(info["control_url"] + "/fault", "POST", data=body)[1])
        status, _ = _req(info["repository_endpoint"] + "simple/")
        assert status == 403
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=15)
    assert rc == 0, p.stderr.read()


def test_standin_process_rejects_unknown_fault_with_hint(isolated_env):
    r = subprocess.run(
        [sys.executable, str(STANDIN_DIR), "--fault", "access-denied-moon"],
        env=isolated_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "hint:" in r.stderr
