"""diagnose(): each broken piece, on loopback against the CodeArtifact stand-in, gives its cause code and a
remedy that names the right piece; the JSON shape is exact; no token ever appears in what it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ca_login
import pytest
from conftest import assert_no_token
from loopback import HangServer, closed_port
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
ROLE = "GeneralIsolatedNotebook"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
CHECK_KEYS = {"name", "layer", "status", "detail", "duration_ms"}
VERDICT_KEYS = {"layer", "cause", "summary", "remedy", "commands"}
LAYERS = ["config", "credentials", "identity", "dns", "tcp", "tls", "api", "repository", "pip"]


def point_at(monkeypatch, s, *, keys=True):
    if keys:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", s.api_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", s.api_url)
    return s


@pytest.fixture
def lib_env(standin, monkeypatch):
    return point_at(monkeypatch, standin)


def run(**kw) -> ca_login.Diagnosis:
    kw.setdefault("domain_owner", OWNER)
    kw.setdefault("timeout", 2.0)
    return ca_login.diagnose(DOMAIN, REPO, **kw)


def do_login(**kw):
    return ca_login.login(DOMAIN, REPO, domain_owner=OWNER, **kw)


def token_of(result) -> str:
    url = result.index_url.get_secret_value()
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def failed(d: ca_login.Diagnosis, cause: str) -> ca_login._diagnosis.Verdict:
    assert not d.ok, f"diagnose said ok:\n{d}"
    assert d.verdict is not None
    assert d.verdict.cause == cause, f"cause {d.verdict.cause!r}, expected {cause!r}:\n{d}"
    assert d.verdict.summary.strip() and d.verdict.remedy.strip()
    return d.verdict


def status_of(d, name) -> str:
    c = d.check(name)
    assert c is not None, f"no check {name}"
    return c.status


# --- healthy ---


def test_healthy_after_login_every_check_passes_and_the_report_is_ok(lib_env):
    do_login()
    d = run()
    assert d.ok, str(d)
    assert d.verdict is None and d.cause is None
    assert not [c for c in d.checks if c.status == "fail"]
    for name in (
        "settings",
        "credentials",
        "caller-identity",
        "tcp-api",
        "get-authorization-token",
        "get-repository-endpoint",
        "repository-read",
        "pip-index-url",
        "pip-token",
    ):
        assert status_of(d, name) == "ok", str(d)
    # layer order, as documented
    order = [LAYERS.index(c.layer) for c in d.checks]
    assert order == sorted(order)
    assert "from GeneralIsolatedNotebook" not in str(d)  # sanity: role only appears where STS named it
    assert ROLE in d.check("caller-identity").detail


def test_settings_check_says_where_each_value_came_from(lib_env):
    d = run()
    detail = d.check("settings").detail
    assert "region us-west-2 (environment variable AWS_REGION)" in detail
    assert "domain mydomain (argument)" in detail
    assert "AWS_ENDPOINT_URL_CODEARTIFACT" in detail


# --- AccessDenied by policy type ---


@pytest.mark.parametrize(
    "fault, cause, piece",
    [
        ("access-denied-identity", "access-denied-identity-policy", f"put-role-policy --role-name {ROLE}"),
        ("access-denied-identity-explicit", "access-denied-identity-policy", "remove the explicit Deny"),
        ("access-denied-vpc-endpoint", "access-denied-vpc-endpoint-policy", "modify-vpc-endpoint"),
        ("access-denied-scp", "access-denied-scp", "service control policy"),
        ("access-denied-permissions-boundary", "access-denied-permissions-boundary", f"--role-name {ROLE}"),
        ("access-denied-session", "access-denied-session-policy", "session policy"),
        ("access-denied-resource", "access-denied-resource-policy", "put-domain-permissions-policy"),
        ("access-denied-no-reason", "access-denied", "names no policy"),
    ],
)
def test_access_denied_gives_the_policy_types_cause_and_a_remedy_naming_it(lib_env, fault, cause, piece):
    lib_env.set_fault(fault, operation="GetAuthorizationToken")
    v = failed(run(), cause)
    assert v.layer == "api"
    assert piece in v.remedy, v.remedy
    assert "codeartifact:GetAuthorizationToken" in v.remedy, v.remedy  # the denied action, named


def test_access_denied_has_the_same_cause_code_as_login(lib_env):
    lib_env.set_fault("access-denied-vpc-endpoint", operation="GetAuthorizationToken")
    with pytest.raises(ca_login.AccessDenied) as e:
        do_login()
    assert failed(run(), e.value.cause).cause == "access-denied-vpc-endpoint-policy"


def test_identity_policy_remedy_names_region_account_and_domain(lib_env):
    lib_env.set_fault("access-denied-identity", operation="GetAuthorizationToken")
    v = failed(run(), "access-denied-identity-policy")
    assert f"arn:aws:codeartifact:{REGION}:{OWNER}:domain/{DOMAIN}" in v.remedy, v.remedy
    assert "sts:GetServiceBearerToken" in v.remedy


# --- not found, throttled ---


def test_domain_not_found(lib_env):
    lib_env.set_fault("domain-not-found")
    v = failed(run(), "domain-not-found")
    assert "list-domains" in v.remedy and REGION in v.remedy


def test_repository_not_found(lib_env):
    lib_env.set_fault("repository-not-found")
    v = failed(run(), "repository-not-found")
    assert "list-repositories-in-domain" in v.remedy and DOMAIN in v.remedy


def test_throttled(lib_env):
    lib_env.set_fault("throttle", operation="GetAuthorizationToken")
    v = failed(run(), "throttled")
    assert v.layer == "api"


# --- the repository read ---


def test_repository_401_is_repository_auth_failed(lib_env):
    lib_env.set_fault("repo-401")
    v = failed(run(), "repository-auth-failed")
    assert v.layer == "repository"
    assert "ca-login login" in v.remedy and "--domain-owner 111122223333" in v.remedy


def test_repository_403_is_forbidden_and_names_read_from_repository_for_the_role(lib_env):
    lib_env.set_fault("repo-403")
    v = failed(run(), "repository-forbidden")
    assert "ReadFromRepository" in v.remedy and f"--repository {REPO}" in v.remedy
    assert f"role/{ROLE}" in v.remedy, v.remedy


def test_repository_404_says_the_path_does_not_name_the_repository(lib_env):
    lib_env.set_fault("repo-404")
    v = failed(run(), "repository-path-not-found")
    assert f"/pypi/d/{DOMAIN}-{OWNER}/{REPO}/" in v.remedy


def test_repositories_endpoint_refusing_while_the_api_works(lib_env):
    d = run(repository_endpoint_url=f"http://127.0.0.1:{closed_port()}/pypi/{REPO}/")
    v = failed(d, "repositories-connection-refused")
    assert v.layer == "tcp"
    assert status_of(d, "get-authorization-token") == "ok"
    assert status_of(d, "repository-read") == "skip"


def test_repositories_endpoint_that_never_answers_is_the_pip_hang_and_the_run_returns(lib_env):
    hang = HangServer()
    try:
        d = run(repository_endpoint_url=f"http://127.0.0.1:{hang.port}/pypi/{REPO}/", timeout=0.5)
    finally:
        hang.close()
    v = failed(d, "repositories-endpoint-no-response")
    assert "com.amazonaws.us-west-2.codeartifact.repositories" in v.remedy
    assert "pip would hang" in v.summary
    assert status_of(d, "tcp-api") == "ok" and status_of(d, "get-authorization-token") == "ok"


def test_a_hanging_api_is_bounded_and_reported_unreachable(monkeypatch, standin):
    hang = HangServer()
    try:
        point_at(monkeypatch, standin)
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", f"http://127.0.0.1:{hang.port}")
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{hang.port}")
        d = run(timeout=0.5)
    finally:
        hang.close()
    v = failed(d, "api-endpoint-no-response")
    assert v.layer == "api"
    assert status_of(d, "caller-identity") == "warn"


# --- the api endpoint, STS ---


def test_api_connection_refused(monkeypatch, standin):
    point_at(monkeypatch, standin)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", f"http://127.0.0.1:{closed_port()}")
    d = run()
    v = failed(d, "api-connection-refused")
    assert v.layer == "tcp"
    assert d.check("tcp-api").status == "fail"


def test_unreachable_sts_is_a_warning_that_says_login_needs_no_sts_endpoint(lib_env, monkeypatch):
    do_login()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{closed_port()}")
    d = run()
    assert d.ok, str(d)
    c = d.check("caller-identity")
    assert c.status == "warn"
    assert "no STS endpoint is needed for login" in c.detail


# --- credentials ---


def test_no_credentials_is_credentials_missing(monkeypatch, standin):
    point_at(monkeypatch, standin, keys=False)
    d = run()
    v = failed(d, "credentials-missing")
    assert v.layer == "credentials"
    assert status_of(d, "get-authorization-token") == "skip"


def test_wrong_secret_is_a_credentials_cause_that_names_the_secret_key(lib_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong/secret/" + "x" * 27)
    d = run()
    # the same code login gives (Error::cause): credentials AWS rejects, found by the first signed call
    v = failed(d, "credentials-invalid")
    assert "AWS_SECRET_ACCESS_KEY" in v.remedy
    assert status_of(d, "get-authorization-token") == "fail"


# --- pip ---


def test_pip_not_configured_before_login(lib_env):
    d = run()
    v = failed(d, "pip-not-configured")
    assert v.layer == "pip"
    assert (
        f"ca-login login --domain {DOMAIN} --domain-owner {OWNER} --repository {REPO} --region {REGION}"
        in v.remedy
    )


def test_pip_config_overridden_by_pip_index_url(lib_env, monkeypatch):
    r = do_login()
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.org/simple")
    d = run()
    v = failed(d, "pip-config-overridden")
    assert "PIP_INDEX_URL" in v.summary and "unset PIP_INDEX_URL" in v.remedy
    assert str(r.config_file) in d.check("pip-index-url").detail


def test_pip_token_expired_per_the_state_record(lib_env, _clean_env):
    r = do_login()
    state = _clean_env / ".local" / "state" / "ca-login" / "state.json"
    data = json.loads(state.read_text())
    for e in data["entries"].values():
        e["expires_at"] = 1_000_000_000
    state.write_text(json.dumps(data))
    d = run()
    assert_no_token(token_of(r), str(d), d.to_json())  # first: the asserts below print parts of d
    v = failed(d, "pip-token-expired")
    assert "ca-login login" in v.remedy


def test_pip_token_expired_when_the_standin_issued_a_short_token(lib_env):
    lib_env.set_fault("token-ttl", seconds=1, first=1)
    do_login()
    import time

    time.sleep(1.5)
    failed(run(), "pip-token-expired")


# --- TLS ---


def test_tls_untrusted_without_the_ca_bundle(monkeypatch, standin_https):
    point_at(monkeypatch, standin_https)
    d = run()
    v = failed(d, "tls-untrusted")
    assert v.layer == "tls"
    assert "AWS_CA_BUNDLE" in v.remedy
    assert "unknown issuer" in d.check("tls-api").detail


def test_tls_trusted_with_the_ca_bundle_and_pip_cert_is_checked_too(monkeypatch, standin_https):
    point_at(monkeypatch, standin_https)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(standin_https.certs.ca_pem))
    monkeypatch.setenv("PIP_CERT", str(standin_https.certs.ca_pem))
    do_login()
    d = run()
    assert d.ok, str(d)
    assert status_of(d, "tls-api") == "ok" and status_of(d, "tls-repositories") == "ok"
    assert d.check("pip-cert").status == "ok", str(d)
    # pip trusting another bundle (its vendored certifi) would reject the test CA
    from pip._vendor import certifi

    monkeypatch.setenv("PIP_CERT", certifi.where())
    d = run()
    v = failed(d, "pip-cert-untrusted")
    assert v.layer == "pip"
    assert f"pip config set global.cert {standin_https.certs.ca_pem}" in v.remedy, v.remedy


# --- bounded, invalid input ---


def test_everything_unreachable_still_returns_a_full_report(monkeypatch, standin):
    point_at(monkeypatch, standin)
    dead = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", dead)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", dead)
    d = run(repository_endpoint_url=f"{dead}/pypi/{REPO}/", timeout=0.5)
    names = {c.name for c in d.checks}
    assert {"settings", "tcp-api", "tcp-repositories", "repository-read", "pip-index-url"} <= names
    assert d.cause == "api-connection-refused"


def test_invalid_input_raises_before_any_network_call(lib_env):
    with pytest.raises(ca_login.InvalidInput):
        ca_login.diagnose("Bad_Domain", REPO)
    with pytest.raises(ValueError):
        ca_login.diagnose(DOMAIN, REPO, timeout=0)
    assert lib_env.calls == []


# --- output: JSON shape, str, HTML, CLI, no token ---


def test_json_has_exactly_the_documented_shape(lib_env):
    for d in (run(), (do_login(), run())[1]):
        j = json.loads(d.to_json())
        assert set(j) == {"ok", "verdict", "checks"}
        if j["ok"]:
            assert j["verdict"] is None
        else:
            assert set(j["verdict"]) == VERDICT_KEYS
        for c in j["checks"]:
            assert set(c) == CHECK_KEYS
            assert c["status"] in ("ok", "fail", "warn", "skip")
            assert isinstance(c["duration_ms"], int)
        assert ca_login.Diagnosis.from_dict(j) == d


def test_str_and_html_show_the_verdict_and_every_check(lib_env):
    d = run()
    text, html = str(d), d._repr_html_()
    assert "pip-not-configured" in text and "fix: command 1 below" in text
    assert "\n  run:\n    ca-login login --domain mydomain" in text
    for c in d.checks:
        assert c.name in text and c.name in html
    assert "<table>" in html and "pip-not-configured" in html


def test_no_token_in_str_repr_html_json_or_cli_output(lib_env, aws_env):
    r = do_login()
    token = token_of(r)
    d = run()
    assert d.ok, str(d)
    cli = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    cli_json = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO, "--json"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_no_token(
        token,
        str(d),
        repr(d),
        d._repr_html_(),
        d.to_json(),
        cli.stdout,
        cli.stderr,
        cli_json.stdout,
        cli_json.stderr,
    )


def test_cli_json_prints_only_json_and_exits_1_when_something_fails(aws_env):
    proc = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO, "--json"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    j = json.loads(proc.stdout)
    assert set(j) == {"ok", "verdict", "checks"}
    assert j["verdict"]["cause"] == "pip-not-configured"


def test_cli_prints_each_check_then_the_verdict_and_exits_0_when_all_is_well(aws_env):
    login = subprocess.run(
        [CA_LOGIN, "login", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    proc = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(" tcp-api " in line for line in lines)
    assert lines[-1].startswith("Verdict: all checks passed")


def test_cli_invalid_input_exits_2(aws_env):
    proc = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", "Bad_Domain", "--repository", REPO, "--json"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "hint:" in proc.stderr
