"""The fake IMDSv2 inside a network namespace, and the stand-in run as a process (`python tests/standin`).

The IMDS tests use the seed's network from tests/scenarios.py in a module-wide netlab.Lab: the fake IMDSv2 on
169.254.169.254:80 of the notebook namespace's loopback, the stand-in behind the real AWS names in the endpoint
namespace. Clients (raw HTTP, botocore, ca_login) run inside the notebook namespace, the only place where
AWS_EC2_METADATA_DISABLED is unset; this process keeps it set and never talks to a metadata address.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from configparser import ConfigParser
from pathlib import Path
from urllib.parse import urlsplit

import netlab
import pytest
import scenarios as S

STANDIN_DIR = Path(__file__).resolve().parent / "standin"
FAULTY_IMDS_PORT = 8081  # a second fake IMDS on 169.254.169.254 whose instance has no role

# Runs in the notebook namespace: IMDSv1 and v2 requests to the fake IMDS; prints each (status, body).
_IMDS_REQUESTS = r"""
import json, sys, urllib.error, urllib.request
base = sys.argv[1]
def req(path, method="GET", headers=None):
    r = urllib.request.Request(base + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(r, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
out = {"v1_region": req("/latest/meta-data/placement/region")[0],
       "put_without_ttl": req("/latest/api/token", "PUT")[0]}
status, tok = req("/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
out["put"] = status
h = {"X-aws-ec2-metadata-token": tok}
out["region"] = req("/latest/meta-data/placement/region", headers=h)
out["roles"] = req("/latest/meta-data/iam/security-credentials/", headers=h)
out["document"] = json.loads(req("/latest/dynamic/instance-identity/document", headers=h)[1])
print(json.dumps(out))
"""

# Runs in the notebook namespace: botocore's default chain, then one CodeArtifact call through the real API
# name (mapped to the stand-in). Prints no secret: the session token is compared here, against FakeIMDS's.
_BOTOCORE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import botocore.config, botocore.session
from standin import FakeIMDS
session = botocore.session.get_session()
creds = session.get_credentials()
if creds is None:
    print(json.dumps({"credentials": None})); sys.exit(0)
frozen = creds.get_frozen_credentials()
out = {"credentials": creds.method, "access_key": frozen.access_key,
       "token_is_the_roles": frozen.token == FakeIMDS().session_token}
if sys.argv[2] == "call":
    cfg = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
    client = session.create_client("codeartifact", region_name=sys.argv[3], config=cfg)
    r = client.get_authorization_token(domain=sys.argv[4], domainOwner=sys.argv[5])
    out["endpoint"] = client.meta.endpoint_url
    out["got_token"] = bool(r["authorizationToken"])
print(json.dumps(out))
"""

# Runs in the notebook namespace: a second fake IMDS, with a fault, until killed.
_FAULTY_IMDS = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
from standin import FakeIMDS
imds = FakeIMDS(sys.argv[2], int(sys.argv[3]))
imds.set_fault(sys.argv[4])
imds.start()
print("ready", flush=True)
threading.Event().wait()
"""

# Runs in the notebook namespace: the library's login on its default path; prints no secret.
_CA_LOGIN = r"""
import json, os, sys
import ca_login
r = ca_login.login(sys.argv[1], sys.argv[2], domain_owner=sys.argv[3])
print(json.dumps({"repository_endpoint": r.repository_endpoint, "config_file": str(r.config_file),
                  "keys_in_env": sorted(k for k in os.environ if k.startswith(("AWS_ACCESS", "AWS_SECRET")))}))
"""


def _req(url, method="GET", headers=None, data=None):
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method=method, headers=headers or {}, data=data), timeout=5
        ) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """The seed's network (scenarios.SeedNetwork) plus a fake IMDS with the no-role fault on port 8081."""
    if os.geteuid() != 0:
        pytest.fail("the IMDS tests need root (network namespaces); run them as root")
    netlab.cleanup_stale()
    with netlab.Lab() as lab:
        net = S.SeedNetwork(lab, tmp_path_factory.mktemp("imdsnet")).start(lifetime=600)
        faulty = lab.popen(
            "notebook",
            [S.PYTHON, "-c", _FAULTY_IMDS, str(S.HERE), lab.imds_address, str(FAULTY_IMDS_PORT), "no-role"],
            timeout=600,
            env=netlab.minimal_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        S._read_line(faulty, 30, "the fake IMDS with the no-role fault")
        lab.wait_tcp("notebook", lab.imds_address, FAULTY_IMDS_PORT, timeout=15)
        yield net


@pytest.fixture
def net(network):
    network.healthy()
    return network


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def _notebook_run(net, home, argv, *, env=None, timeout=60) -> subprocess.CompletedProcess:
    """Run argv in the notebook namespace with the seed's environment (no keys, the metadata service on)."""
    full_env = net.env(home, env)
    assert "AWS_EC2_METADATA_DISABLED" not in full_env and "AWS_ACCESS_KEY_ID" not in full_env
    return net.run(home, argv, timeout=timeout, env=env)


def _notebook_json(net, home, argv, *, env=None, timeout=60) -> dict:
    proc = _notebook_run(net, home, argv, env=env, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}; stderr: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


@pytest.mark.netns
def test_imds_requires_a_session_token(net, home):
    out = _notebook_json(net, home, [S.PYTHON, "-c", _IMDS_REQUESTS, f"http://{net.lab.imds_address}"])
    assert out["v1_region"] == 401  # IMDSv1: refused
    assert out["put_without_ttl"] == 400  # no TTL header
    assert out["put"] == 200
    assert out["region"] == [200, "us-west-2"]
    assert out["roles"] == [200, S.ROLE]
    assert out["document"]["region"] == S.REGION and out["document"]["accountId"] == S.OWNER


@pytest.mark.netns
def test_botocore_takes_role_credentials_from_fake_imds_and_they_work_on_the_stand_in(net, home):
    before = len(net.calls())
    out = _notebook_json(
        net,
        home,
        [S.PYTHON, "-c", _BOTOCORE, str(S.HERE), "call", S.REGION, S.DOMAIN, S.OWNER],
        env={"AWS_MAX_ATTEMPTS": "1"},
    )
    assert out["credentials"] == "iam-role", out
    assert out["access_key"] == S.IMDS_ACCESS_KEY and out["token_is_the_roles"] is True
    # the default endpoint: the real API name, which the notebook's hosts file maps to the stand-in
    assert urlsplit(out["endpoint"]).hostname == S.API_HOST and out["got_token"] is True
    calls = [c for c in net.calls()[before:] if c.get("operation") == "GetAuthorizationToken"]
    assert [(c["status"], c["access_key"]) for c in calls] == [(200, S.IMDS_ACCESS_KEY)]


@pytest.mark.netns
def test_imds_no_role_fault_leaves_botocore_without_credentials(net, home):
    # Aimed at the faulty IMDS on 169.254.169.254:8081; were the variable ignored, botocore would find the
    # healthy one on :80 (inside the namespace) and this test would fail.
    out = _notebook_json(
        net,
        home,
        [S.PYTHON, "-c", _BOTOCORE, str(S.HERE), "credentials-only"],
        env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{net.lab.imds_address}:{FAULTY_IMDS_PORT}"},
    )
    assert out == {"credentials": None}


@pytest.mark.netns
def test_ca_login_default_chain_takes_imdsv2_role_credentials_with_no_keys_in_env(net, home):
    before = len(net.calls())
    proc = _notebook_run(net, home, [S.PYTHON, "-c", _CA_LOGIN, S.DOMAIN, S.REPOSITORY, S.OWNER])
    conf = home / ".config" / "pip" / "pip.conf"
    cp = ConfigParser()
    cp.read(conf)
    token = urlsplit(cp["global"]["index-url"]).password if cp.has_option("global", "index-url") else None
    output = proc.stdout + proc.stderr
    shown = output.replace(token, "****") if token else output
    assert proc.returncode == 0, f"login exited {proc.returncode}; output (token masked): {shown[-2000:]}"
    leaked = bool(token) and token in output
    assert not leaked, "the login's output contains the CodeArtifact token"
    out = json.loads(proc.stdout)
    assert out["keys_in_env"] == []
    assert urlsplit(out["repository_endpoint"]).hostname == S.REPO_HOST
    assert Path(out["config_file"]) == conf
    index = urlsplit(cp["global"]["index-url"])
    assert index.hostname == S.REPO_HOST and token, "pip.conf's index-url has no token for the repository"
    calls = [c for c in net.calls()[before:] if c.get("operation") == "GetAuthorizationToken"]
    assert [(c["status"], c["access_key"]) for c in calls] == [(200, S.IMDS_ACCESS_KEY)]


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
