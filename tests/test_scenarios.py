"""The seed's network, replayed (issue 4): each failure the blog post's reader meets, built in network
namespaces, and what `ca-login diagnose` and `ca-login login` say about it.

The notebook namespace has the real AWS names in its hosts file, a fake IMDSv2 at 169.254.169.254 and no keys
or endpoint variables: the library runs its default path (credentials from the metadata service, the regional
endpoint names, AWS_CA_BUNDLE = the stand-in's test CA). See tests/scenarios.py for the network.

Every process has a generous time-out (30 s) so a hang fails instead of blocking; durations are measured in
benchmarks/diagnose_vs_cli.py, not asserted here.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab
import scenarios as S
from conftest import assert_exit, assert_no_token

pytestmark = pytest.mark.netns

CHECK_KEYS = {"name", "layer", "status", "detail", "duration_ms"}
VERDICT_KEYS = {"layer", "cause", "summary", "remedy", "commands"}


@pytest.fixture(scope="module")
def network(tmp_path_factory, wheelhouse):
    if os.geteuid() != 0:
        pytest.fail("the scenario tests need root (network namespaces); run them as root")
    netlab.cleanup_stale()
    with netlab.Lab() as lab:
        yield S.SeedNetwork(lab, tmp_path_factory.mktemp("seednet"), packages=wheelhouse).start()


@pytest.fixture
def net(network):
    """The network with both endpoints present, open and without faults (whatever the last test left)."""
    network.healthy()
    return network


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def diagnosis(proc: subprocess.CompletedProcess) -> dict:
    """The diagnosis JSON, checked against the contract: exact keys, exit 0 exactly when ok."""
    d = S.parse_diagnosis(proc)
    assert set(d) == {"ok", "verdict", "checks"}, f"top-level keys: {sorted(d)}"
    assert (proc.returncode == 0) == (d["ok"] is True), f"exit {proc.returncode} with ok={d['ok']}"
    for c in d["checks"]:
        assert set(c) == CHECK_KEYS, f"check keys: {sorted(c)}"
        assert c["status"] in ("ok", "fail", "warn", "skip"), c
    if d["ok"]:
        assert d["verdict"] is None
    else:
        assert set(d["verdict"]) == VERDICT_KEYS, f"verdict keys: {sorted(d['verdict'])}"
    return d


def failed_verdict(proc: subprocess.CompletedProcess, cause: str) -> dict:
    d = diagnosis(proc)
    assert d["ok"] is False, f"diagnose said ok; checks: {d['checks']}"
    v = d["verdict"]
    assert v["cause"] == cause, f"cause {v['cause']!r} (summary: {v['summary']!r}), expected {cause!r}"
    assert v["summary"].strip() and v["remedy"].strip()
    return v


def pip_conf_token(home: Path) -> str:
    """The token `ca-login login` wrote into the user's pip.conf (never printed)."""
    cp = configparser.ConfigParser()
    cp.read(home / ".config" / "pip" / "pip.conf")
    password = urlsplit(cp["global"]["index-url"]).password
    assert password, "pip.conf's index-url carries no token"
    return password


# -- 0. no endpoint: the names resolve to addresses that drop packets ------------------------------


def test_scenario0_no_endpoint_login_gives_up_with_exit_3_and_names_the_api_endpoint(net, home):
    net.no_endpoint()
    proc = net.login(home, timeout=30)  # returns (TimeoutExpired otherwise) instead of ~300 s of silence
    assert proc.returncode == 3, f"exit {proc.returncode}: {proc.stderr[-1500:]}"
    assert "hint:" in proc.stderr
    assert "com.amazonaws.us-west-2.codeartifact.api" in proc.stderr, proc.stderr[-1500:]
    assert not (home / ".config" / "pip" / "pip.conf").exists(), "a failed login wrote pip.conf"


def test_scenario0_no_endpoint_diagnose_blames_the_missing_api_endpoint(net, home):
    net.no_endpoint()
    v = failed_verdict(net.diagnose(home, timeout=30), "api-endpoint-unreachable")
    # the piece to create, not a security group to open: the names resolve to public addresses
    assert "com.amazonaws.us-west-2.codeartifact.api" in v["remedy"], v["remedy"]
    assert "create-vpc-endpoint" in v["remedy"], v["remedy"]


# -- 1. endpoint present, its security group drops 443 ---------------------------------------------


def test_scenario1_security_group_blocking_443_diagnose_says_unreachable_and_names_the_security_group(
    net, home
):
    net.security_group_blocks()
    v = failed_verdict(net.diagnose(home, timeout=30), "api-endpoint-unreachable")
    assert "security group" in v["remedy"].lower(), v["remedy"]


# -- 2. role without the IAM policy ----------------------------------------------------------------


def test_scenario2_role_without_iam_policy_login_exits_4_with_put_role_policy_hint(net, home):
    net.fault("access-denied-identity")
    proc = net.login(home, timeout=30)
    assert proc.returncode == 4, f"exit {proc.returncode}: {proc.stderr[-1500:]}"
    hint = proc.stderr.partition("hint:")[2]
    assert "put-role-policy" in hint and S.ROLE in hint, proc.stderr[-1500:]


def test_scenario2_role_without_iam_policy_diagnose_gives_put_role_policy_for_the_role(net, home):
    net.fault("access-denied-identity")
    v = failed_verdict(net.diagnose(home, timeout=30), "access-denied-identity-policy")
    assert "put-role-policy" in v["remedy"], v["remedy"]
    assert S.ROLE in v["remedy"], v["remedy"]


# -- 3. endpoint policy denying --------------------------------------------------------------------


def test_scenario3_vpc_endpoint_policy_denying_diagnose_gives_modify_vpc_endpoint(net, home):
    net.fault("access-denied-vpc-endpoint")
    v = failed_verdict(net.diagnose(home, timeout=30), "access-denied-vpc-endpoint-policy")
    assert "modify-vpc-endpoint" in v["remedy"], v["remedy"]


# -- 4. everything right ---------------------------------------------------------------------------


def test_scenario4_everything_right_login_then_pip_installs_the_demo_wheel_in_the_notebook(
    net, home, pip_venv
):
    login = net.login(home, timeout=30)
    assert_exit(login, 0, what="ca-login login")
    token = pip_conf_token(home)
    assert_no_token(token, login.stdout, login.stderr, what="login output")
    # the default path: the regional endpoint name, signed with the role credentials from the fake IMDS
    # (the notebook's environment holds no keys and no endpoint variables)
    env = net.env(home)
    assert not [k for k in env if k.startswith("AWS_ENDPOINT_URL") or k.endswith("_ACCESS_KEY_ID")]
    tokens = [c for c in net.calls() if c["operation"] == "GetAuthorizationToken" and c["status"] == 200]
    assert tokens and tokens[-1]["host"] == S.API_HOST and tokens[-1]["access_key"] == S.IMDS_ACCESS_KEY

    pip_env = {"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "10"}
    install = net.run(home, [str(pip_venv.pip), "install", "ca-demo-app"], timeout=90, env=pip_env)
    # first: the asserts below print it
    assert_no_token(token, install.stdout, install.stderr, what="pip output")
    assert_exit(install, 0, what="pip install")
    assert S.REPO_HOST in install.stdout  # it went through the repositories endpoint's name
    used = net.run(
        home, [str(pip_venv.python), "-c", "import ca_demo_pkg; print(ca_demo_pkg.greet())"], timeout=30
    )
    assert used.returncode == 0 and used.stdout.strip(), used.stderr[-800:]


def test_scenario4_everything_right_diagnose_says_ok_after_login(net, home):
    login = net.login(home, timeout=30)
    assert_exit(login, 0, what="ca-login login")
    token = pip_conf_token(home)
    proc = net.diagnose(home, timeout=30)
    # first: the asserts below print it
    assert_no_token(token, proc.stdout, proc.stderr, what="diagnose output")
    d = diagnosis(proc)
    assert d["ok"] is True, f"verdict: {d['verdict']}"
    assert not [c for c in d["checks"] if c["status"] == "fail"]


# -- 5. api endpoint fine, repositories endpoint missing -------------------------------------------


def test_scenario5_repositories_endpoint_missing_diagnose_names_the_repositories_endpoint(net, home):
    net.no_repositories_endpoint()
    v = failed_verdict(net.diagnose(home, timeout=30), "repositories-endpoint-unreachable")
    assert "com.amazonaws.us-west-2.codeartifact.repositories" in v["remedy"], v["remedy"]
    assert "create-vpc-endpoint" in v["remedy"], v["remedy"]


# -- 6. token in pip.conf expired ------------------------------------------------------------------


def test_scenario6_expired_token_in_pip_conf_diagnose_says_log_in_again(net, home):
    net.fault("token-ttl:seconds=2:first=1")  # only the login's token is short-lived
    login = net.login(home, timeout=30)
    assert_exit(login, 0, what="ca-login login")
    token = pip_conf_token(home)
    time.sleep(3)
    proc = net.diagnose(home, timeout=30)
    # first: the asserts below print it
    assert_no_token(token, proc.stdout, proc.stderr, what="diagnose output")
    v = failed_verdict(proc, "pip-token-expired")
    assert re.search(r"\blogin\b", v["remedy"]), v["remedy"]


# -- 7. repository answering 403 -------------------------------------------------------------------


def test_scenario7_repository_forbidden_diagnose_names_read_from_repository(net, home):
    net.fault("repo-403")
    v = failed_verdict(net.diagnose(home, timeout=30), "repository-forbidden")
    assert "ReadFromRepository" in v["remedy"], v["remedy"]
    assert S.REPOSITORY in v["remedy"], v["remedy"]
