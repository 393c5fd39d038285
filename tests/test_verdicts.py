"""Issue 9 (items 1, 4 partly, 5) and issue 13's API-answer cap: time-outs by phase, answers too large, and the
dual-stack endpoint type, on loopback against the CodeArtifact stand-in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import ca_login
import pytest
from conftest import assert_exit, assert_no_token
from loopback import HangServer, closed_port

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
DUALSTACK_HOST = f"{DOMAIN}-{OWNER}.codeartifact.{REGION}.on.aws"


def do_login(**kw):
    kw.setdefault("domain_owner", OWNER)
    return ca_login.login(DOMAIN, REPO, **kw)


def diagnose(**kw) -> ca_login.Diagnosis:
    kw.setdefault("domain_owner", OWNER)
    kw.setdefault("timeout", 2.0)
    return ca_login.diagnose(DOMAIN, REPO, **kw)


def verdict(d: ca_login.Diagnosis, cause: str):
    assert not d.ok, f"diagnose said ok:\n{d}"
    assert d.verdict is not None and d.verdict.cause == cause, f"expected {cause}:\n{d}"
    return d.verdict


def pip_conf(home: Path) -> Path:
    return home / ".config" / "pip" / "pip.conf"


def api_calls(standin, op):
    return [c for c in standin.calls if c.get("operation") == op]


@pytest.fixture
def silent():
    s = HangServer()
    try:
        yield s
    finally:
        s.close()


# --- time-outs by phase: login -------------------------------------------------------------------------------


def test_login_against_headers_then_stall_fails_in_the_body_phase(lib_env, _clean_env):
    lib_env.set_fault("headers-then-stall", operation="GetAuthorizationToken")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    assert ei.value.cause == "api-endpoint-no-response"
    assert ei.value.phase == "body"
    assert f"127.0.0.1:{lib_env.port}" in str(ei.value)
    assert "create-vpc-endpoint" not in str(ei.value) and "NO_PROXY" in str(ei.value)
    assert not pip_conf(_clean_env).exists()


def test_login_against_a_trickling_answer_fails_in_the_body_phase(lib_env, _clean_env):
    lib_env.set_fault("trickle", operation="GetAuthorizationToken", interval=0.5, bytes=1000)
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    assert (ei.value.cause, ei.value.phase) == ("api-endpoint-no-response", "body")
    assert not pip_conf(_clean_env).exists()


def test_login_against_a_listener_that_never_finishes_tls_names_the_tls_phase(lib_env, silent, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", f"https://127.0.0.1:{silent.port}")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    assert (ei.value.cause, ei.value.phase) == ("api-endpoint-no-response", "tls")
    assert f"127.0.0.1:{silent.port}" in str(ei.value) and "TLS handshake" in str(ei.value)


def test_login_against_a_plain_listener_that_never_answers_names_the_response_phase(
    lib_env, silent, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", f"http://127.0.0.1:{silent.port}")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    assert (ei.value.cause, ei.value.phase) == ("api-endpoint-no-response", "response")
    assert "read time-out" in str(ei.value)


def test_a_refused_connection_is_the_connect_phase_and_names_the_real_port(lib_env, monkeypatch):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", f"http://127.0.0.1:{port}")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    assert (ei.value.cause, ei.value.phase) == ("api-connection-refused", "connect")
    assert f"127.0.0.1:{port}" in str(ei.value)
    assert "port 443" not in str(ei.value)


def test_cli_login_against_a_stalled_body_exits_3_with_the_cause_in_one_line(standin, aws_env, tmp_path):
    standin.set_fault("headers-then-stall", operation="GetAuthorizationToken")
    p = subprocess.run(
        [CA_LOGIN, "login", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_exit(p, 3)
    assert "did not finish" in p.stderr and f"127.0.0.1:{standin.port}" in p.stderr


# --- the 1 MiB cap ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_a_2_gib_answer_is_answer_too_large_and_nothing_is_written(standin, aws_env, _clean_env, chunked):
    standin.set_fault("huge-body", operation="GetAuthorizationToken", bytes=2 << 30, chunked=chunked)
    code = (
        "import ca_login, sys\n"
        "try:\n"
        f"    ca_login.login({DOMAIN!r}, {REPO!r}, domain_owner={OWNER!r})\n"
        "except ca_login.ServiceError as e:\n"
        # VmHWM: this process's own peak (ru_maxrss would carry pytest's, inherited across fork and exec)
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "    print(e.code, e.host, hwm, flush=True)\n"
        "    print(str(e), file=sys.stderr)\n"
        "    sys.exit(9)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], env=aws_env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 9, p.stderr[-1500:]
    code_, host, maxrss_kib = p.stdout.split()
    assert code_ == "AnswerTooLarge" and host == f"127.0.0.1:{standin.port}"
    assert "1 MiB" in p.stderr
    # issue 13: memory stays under 100 MiB whatever a server sends
    assert int(maxrss_kib) < 100 * 1024, f"peak RSS {int(maxrss_kib) // 1024} MiB"
    assert not pip_conf(_clean_env).exists()


def test_an_answer_just_under_the_cap_is_not_refused_for_its_size(lib_env):
    lib_env.set_fault("huge-body", operation="GetAuthorizationToken", bytes=(1 << 20) - 1)
    with pytest.raises(ca_login.ServiceError) as ei:
        do_login()
    # one MiB of "x" is read in whole, then is not a CodeArtifact answer
    assert ei.value.code != "AnswerTooLarge"


def test_diagnose_says_repository_error_for_a_repository_answer_over_the_cap(lib_env):
    do_login()
    lib_env.set_fault("huge-body", operation="repository", bytes=64 << 20)
    d = diagnose()
    verdict(d, "repository-error")
    assert "over 1 MiB" in d.check("repository-read").detail


# --- time-outs by phase: diagnose ---------------------------------------------------------------------------


def test_diagnose_repository_headers_then_stall_is_repositories_no_response_in_the_body_phase(lib_env):
    do_login()
    lib_env.set_fault("headers-then-stall", operation="repository")
    d = diagnose(timeout=1.0)
    v = verdict(d, "repositories-endpoint-no-response")
    assert "phase: body" in d.check("repository-read").detail
    assert "NO_PROXY" in v.remedy and "codeartifact.repositories" in v.remedy


def test_diagnose_api_headers_then_stall_is_api_no_response(lib_env):
    lib_env.set_fault("headers-then-stall", operation="all")
    d = diagnose(timeout=1.0)
    v = verdict(d, "api-endpoint-no-response")
    assert d.check("tcp-api").status == "ok"
    assert f"127.0.0.1:{lib_env.port}" in v.remedy and "create-vpc-endpoint" not in v.remedy


def test_diagnose_hang_names_the_response_phase_with_the_port(lib_env):
    lib_env.set_fault("hang", operation="all")
    d = diagnose(timeout=1.0)
    verdict(d, "api-endpoint-no-response")
    detail = d.check("get-authorization-token").detail
    assert "read time-out" in detail and f"127.0.0.1:{lib_env.port}" in detail


def test_diagnose_dns_check_counts_a_and_aaaa_records(lib_env):
    do_login()
    d = diagnose(repository_endpoint_url=f"http://localhost:{lib_env.port}/pypi/{REPO}/")
    detail = d.check("dns-repositories").detail
    assert "A: " in detail and "AAAA: " in detail


# --- dual-stack -----------------------------------------------------------------------------------------------


def test_login_dualstack_asks_for_it_and_writes_the_on_aws_host(lib_env):
    r = do_login(endpoint_type="dualstack", dry_run=True)
    assert DUALSTACK_HOST in r.repository_endpoint
    (call,) = api_calls(lib_env, "GetRepositoryEndpoint")
    assert call["query"].get("endpointType") == "dualstack"


def test_login_without_endpoint_type_sends_none_and_gets_the_ipv4_host(lib_env):
    r = do_login(dry_run=True)
    assert DUALSTACK_HOST not in r.repository_endpoint
    (call,) = api_calls(lib_env, "GetRepositoryEndpoint")
    assert "endpointType" not in call["query"]


def test_endpoint_type_from_the_environment(lib_env, monkeypatch):
    monkeypatch.setenv("CA_LOGIN_ENDPOINT_TYPE", "dualstack")
    assert DUALSTACK_HOST in do_login(dry_run=True).repository_endpoint


def test_endpoint_type_from_the_ca_login_config(lib_env, monkeypatch, tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("[default]\nendpoint_type = dualstack\n")
    monkeypatch.setenv("CA_LOGIN_CONFIG", str(cfg))
    assert DUALSTACK_HOST in do_login(dry_run=True).repository_endpoint


def test_configure_endpoint_type_writes_it_and_login_uses_it(lib_env, monkeypatch, tmp_path):
    cfg = tmp_path / "config"
    monkeypatch.setenv("CA_LOGIN_CONFIG", str(cfg))
    p = subprocess.run(
        [CA_LOGIN, "configure", "--endpoint-type", "dualstack"], capture_output=True, text=True, timeout=60
    )
    assert_exit(p, 0, what="configure --endpoint-type")
    assert cfg.read_text() == "[default]\nendpoint_type = dualstack\n"
    assert DUALSTACK_HOST in do_login(dry_run=True).repository_endpoint
    p = subprocess.run(
        [CA_LOGIN, "configure", "--endpoint-type", "ipv6"], capture_output=True, text=True, timeout=60
    )
    assert_exit(p, 2, what="configure --endpoint-type ipv6")
    assert cfg.read_text() == "[default]\nendpoint_type = dualstack\n"


def test_a_bad_endpoint_type_is_invalid_input_before_any_call(lib_env):
    with pytest.raises(ca_login.InvalidInput) as ei:
        do_login(endpoint_type="ipv6")
    assert ei.value.field == "endpoint_type" and "dualstack" in str(ei.value)
    assert lib_env.calls == []


def test_cli_login_endpoint_type_flag(standin, aws_env):
    p = subprocess.run(
        [CA_LOGIN, "login", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
        + ["--endpoint-type", "dualstack", "--dry-run"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_exit(p, 0)
    assert DUALSTACK_HOST in p.stdout


def test_cli_rejects_an_unknown_endpoint_type(aws_env):
    p = subprocess.run(
        [CA_LOGIN, "login", "--domain", DOMAIN, "--repository", REPO, "--endpoint-type", "ipv6"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "dualstack" in p.stderr


def test_diagnose_dualstack_reads_the_on_aws_endpoint(lib_env):
    d = diagnose(endpoint_type="dualstack")
    assert DUALSTACK_HOST in d.check("get-repository-endpoint").detail
    (call,) = api_calls(lib_env, "GetRepositoryEndpoint")
    assert call["query"].get("endpointType") == "dualstack"


def test_diagnose_accepts_the_endpoint_type_flag(standin, aws_env):
    p = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
        + ["--endpoint-type", "dualstack", "--json", "--timeout", "1"],
        env=aws_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode in (0, 1), p.stderr
    assert DUALSTACK_HOST in p.stdout


def test_stand_in_rejects_an_unknown_endpoint_type_like_the_service(lib_env, boto_client):
    import botocore.exceptions

    c = boto_client(standin=lib_env)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi", endpointType="ipv6")
    assert ei.value.response["Error"]["Code"] == "ValidationException"
    ok = c.get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi", endpointType="dualstack")
    assert DUALSTACK_HOST in ok["repositoryEndpoint"]


def test_the_run_is_bounded_whatever_hangs(lib_env):
    lib_env.set_fault("headers-then-stall", operation="all")
    t0 = time.monotonic()
    diagnose(timeout=1.0)
    assert time.monotonic() - t0 < 15


# --- a rejected token ---------------------------------------------------------------------------------------


def replace_pip_token(home: Path, new: str) -> None:
    conf = pip_conf(home)
    text = conf.read_text()
    start = text.index("://aws:") + len("://aws:")
    end = text.index("@", start)
    conf.write_text(text[:start] + new + text[end:])


def test_a_404_to_pips_token_with_a_fresh_token_reading_the_path_is_pip_token_rejected(lib_env, _clean_env):
    do_login()
    replace_pip_token(_clean_env, "revoked-token")
    lib_env.set_fault("bad-token-404")
    d = diagnose()
    v = verdict(d, "pip-token-rejected")
    assert "HTTP 404" in v.summary
    assert "login" in v.remedy
    assert d.check("repository-read").status == "ok"
    assert "revoked-token" not in str(d) and "revoked-token" not in d.to_json()


def test_a_401_to_pips_token_is_pip_token_rejected_too(lib_env, _clean_env):
    do_login()
    replace_pip_token(_clean_env, "revoked-token")
    v = verdict(diagnose(), "pip-token-rejected")
    assert "HTTP 401" in v.summary


def test_a_404_with_a_fresh_token_stays_repository_path_not_found(lib_env, _clean_env):
    do_login()
    replace_pip_token(_clean_env, "revoked-token")
    lib_env.set_fault("repo-404")
    d = diagnose()
    verdict(d, "repository-path-not-found")
    assert d.check("pip-token").status != "fail", d


# --- through a proxy ------------------------------------------------------------------------------------------


def test_diagnose_a_proxy_that_is_down_is_proxy_unreachable(lib_env, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    d = diagnose()
    v = verdict(d, "proxy-unreachable")
    assert "HTTP_PROXY" in v.summary and "NO_PROXY" in v.remedy


def test_diagnose_a_proxy_that_refuses_connect_is_proxy_connect_refused_with_its_status(
    lib_env, monkeypatch, proxy_factory
):
    p = proxy_factory(403)
    monkeypatch.setenv("HTTP_PROXY", p.url)
    v = verdict(diagnose(), "proxy-connect-refused")
    assert "HTTP 403" in v.summary and f"127.0.0.1:{p.port}" in v.summary
    assert p.requests and p.requests[0].startswith(f"CONNECT 127.0.0.1:{lib_env.port}")


def test_diagnose_a_proxy_that_cannot_reach_the_endpoint_is_proxy_not_bypassed(
    lib_env, monkeypatch, proxy_factory
):
    monkeypatch.setenv("HTTP_PROXY", proxy_factory(502).url)
    v = verdict(diagnose(), "proxy-not-bypassed")
    assert "HTTP 502" in v.summary
    assert "NO_PROXY" in v.remedy and ".vpce.amazonaws.com" in v.remedy


def test_login_through_a_proxy_that_is_down_is_proxy_unreachable_as_in_diagnose(lib_env, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    assert ei.value.cause == "proxy-unreachable", str(ei.value)
    assert "HTTP_PROXY" in str(ei.value) and "NO_PROXY" in (ei.value.hint or "")
    assert not pip_conf(Path(os.environ["HOME"])).exists()
    verdict(diagnose(), "proxy-unreachable")


def test_diagnose_no_proxy_bypasses_the_environment_proxy(lib_env, monkeypatch, proxy_factory):
    do_login()
    p = proxy_factory(403)
    monkeypatch.setenv("HTTP_PROXY", p.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    d = diagnose()
    assert d.ok, d
    assert p.requests == []


def test_diagnose_pip_proxy_is_the_repository_hop_and_no_proxy_does_not_bypass_it(
    lib_env, monkeypatch, proxy_factory
):
    do_login()
    p = proxy_factory(403)
    monkeypatch.setenv("PIP_PROXY", p.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    d = diagnose()
    v = verdict(d, "proxy-connect-refused")
    assert "PIP_PROXY" in v.summary
    assert d.check("tcp-api").status == "ok" and d.check("tcp-repositories").status == "fail"


def test_login_through_a_proxy_that_is_down_says_so_in_one_line(lib_env, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://user:proxy-pass@127.0.0.1:{closed_port()}")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        do_login()
    first = str(ei.value).split("\nhint: ")[0]
    assert "The proxy http://user:****@127.0.0.1" in first and "HTTP_PROXY" in first and "\n" not in first
    assert "NO_PROXY" in ei.value.hint
    assert "proxy-pass" not in str(ei.value)


# --- the namespace lab: where the network matters ------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_net(tmp_path_factory, wheelhouse):
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import netlab
    import scenarios as S

    if os.geteuid() != 0:
        pytest.fail("the namespace-lab cases need root (network namespaces); run them as root")
    netlab.cleanup_stale()
    with netlab.Lab() as lab:
        yield S, S.SeedNetwork(lab, tmp_path_factory.mktemp("verdictnet"), packages=wheelhouse).start()


@pytest.fixture
def lab(lab_net):
    S, net = lab_net
    net.healthy()
    return S, net


@pytest.fixture
def lab_home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def lab_verdict(S, proc, cause: str) -> dict:
    d = S.parse_diagnosis(proc)
    assert d["ok"] is False and d["verdict"]["cause"] == cause, f"expected {cause}: {d['verdict']}"
    return d


@pytest.mark.netns
def test_lab_no_endpoint_login_names_the_connect_phase_and_the_real_host_port(lab, lab_home):
    S, net = lab
    net.no_endpoint()
    p = net.login(lab_home)
    assert p.returncode == 3, p.stderr[-1500:]
    assert f"no TCP connection to {S.API_HOST}:443 within the connect time-out" in p.stderr, p.stderr[-1500:]
    assert "create-vpc-endpoint" in p.stderr


@pytest.mark.netns
def test_lab_api_that_accepts_and_never_answers_is_no_response_in_login_and_diagnose(lab, lab_home):
    S, net = lab
    net.fault("hang:operation=all:seconds=20")
    p = net.login(lab_home)
    assert p.returncode == 3, p.stderr[-1500:]
    assert "read time-out" in p.stderr and f"{S.API_HOST}:443" in p.stderr, p.stderr[-1500:]
    assert "create-vpc-endpoint" not in p.stderr
    d = lab_verdict(S, net.diagnose(lab_home), "api-endpoint-no-response")
    tcp = [c for c in d["checks"] if c["name"] == "tcp-api"]
    assert tcp and tcp[0]["status"] == "ok"


@pytest.mark.netns
def test_lab_repository_headers_then_stall_is_repositories_no_response(lab, lab_home):
    S, net = lab
    assert net.login(lab_home).returncode == 0
    net.fault("headers-then-stall:operation=repository:seconds=20")
    d = lab_verdict(S, net.diagnose(lab_home), "repositories-endpoint-no-response")
    assert "phase: body" in next(c for c in d["checks"] if c["name"] == "repository-read")["detail"]


@pytest.mark.netns
def test_lab_a_repository_name_with_only_aaaa_and_no_ipv6_route_is_address_family_no_route(lab, lab_home):
    S, net = lab
    assert net.login(lab_home).returncode == 0
    net.lab.map_host(S.REPO_HOST, "2001:db8::20")
    d = lab_verdict(S, net.diagnose(lab_home), "repositories-address-family-no-route")
    dns = next(c for c in d["checks"] if c["name"] == "dns-repositories")["detail"]
    assert "A: 0, AAAA: 1" in dns
    assert "--endpoint-type ipv4" in d["verdict"]["remedy"]


# --- pip's own proxy option in its config files (proxy = ... in pip.conf) -------------------------------------
# Each case runs diagnose, then real pip (`pip download` from the test venv, with the environment the test builds
# and the same pip.conf) to check the verdict against what pip does.


def add_pip_conf_proxy(conf: Path, url: str) -> None:
    """Put `proxy = url` into [global] of the pip.conf login wrote (its index-url line stays)."""
    text = conf.read_text()
    assert "[global]\n" in text, "login wrote no [global] section"
    conf.write_text(text.replace("[global]\n", f"[global]\nproxy = {url}\n", 1))


def index_url_of(conf: Path) -> str:
    import configparser

    cp = configparser.ConfigParser(interpolation=None)
    cp.read(conf)
    return cp["global"]["index-url"]


def pip_download(pip_venv, isolated_env, tmp_path, **env) -> subprocess.CompletedProcess:
    """`pip download --no-deps ca-demo-pkg` as a user would run it: the test's HOME (so the same pip.conf), no
    proxy or PIP_* variable but those given, one try, bounded; -vv so that pip says why a page failed."""
    dest = tmp_path / "dl"
    e = pip_venv.env(isolated_env(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **env))
    return pip_venv.run(
        [
            "download",
            "-vv",
            "--no-deps",
            "--no-cache-dir",
            "--retries",
            "0",
            "--timeout",
            "5",
            "ca-demo-pkg",
            "-d",
            str(dest),
        ],
        env=e,
        timeout=120,
    )


def pip_saw(p) -> list[str]:
    """The request lines pip (not diagnose) sent the proxy: pip asks for the http:// stand-in with a GET."""
    return [r for r in p.requests if r.startswith("GET ")]


def test_pip_conf_proxy_that_refuses_is_proxy_connect_refused_naming_the_file_and_pip_is_refused_too(
    lib_env, proxy_factory, pip_venv, isolated_env, tmp_path
):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    p = proxy_factory(403)
    add_pip_conf_proxy(conf, p.url)
    d = diagnose()
    v = verdict(d, "proxy-connect-refused")
    assert f"proxy in [global] of {conf}" in v.summary and "HTTP 403" in v.summary, v.summary
    assert f"remove the `proxy = ...` line from [global] of {conf}" in v.remedy, v.remedy
    assert "export NO_PROXY" not in v.remedy
    # The fix is prose (remove a line): nothing in it renders as a command to paste.
    from ca_login._display import commands_in

    assert commands_in(v.remedy) == [], v.remedy
    assert d.check("tcp-api").status == "ok" and d.check("tcp-repositories").status == "fail"
    assert p.requests and p.requests[0].startswith(f"CONNECT 127.0.0.1:{lib_env.port}")
    r = pip_download(pip_venv, isolated_env, tmp_path)
    assert r.returncode != 0, r.stdout[-1500:]
    assert pip_saw(p), f"pip did not go through the pip.conf proxy: {p.requests}"
    assert f'{p.url} "GET ' in r.stdout + r.stderr and "403 Client Error" in r.stdout + r.stderr


def test_pip_conf_proxy_on_a_closed_port_is_proxy_unreachable_and_pip_cannot_connect_to_it(
    lib_env, pip_venv, isolated_env, tmp_path
):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    port = closed_port()
    add_pip_conf_proxy(conf, f"http://127.0.0.1:{port}")
    v = verdict(diagnose(), "proxy-unreachable")
    assert f"http://127.0.0.1:{port} (proxy in [global] of {conf})" in v.summary, v.summary
    assert f"[global] of {conf}" in v.remedy and "export NO_PROXY" not in v.remedy, v.remedy
    r = pip_download(pip_venv, isolated_env, tmp_path)
    assert r.returncode != 0
    assert "Cannot connect to proxy" in r.stdout + r.stderr, (r.stdout + r.stderr)[-1500:]


def test_a_pip_conf_proxy_password_is_masked_in_every_output(lib_env, aws_env):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    add_pip_conf_proxy(conf, f"http://proxyuser:pw-in-pip-conf@127.0.0.1:{closed_port()}")
    d = diagnose()
    v = verdict(d, "proxy-unreachable")
    assert "http://proxyuser:****@127.0.0.1" in v.summary, v.summary
    cli = [
        subprocess.run(
            [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
            + ["--timeout", "2", *extra],
            env={**aws_env, "HOME": os.environ["HOME"]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        for extra in ([], ["--json"])
    ]
    assert all("proxy-unreachable" in c.stdout for c in cli), [c.stdout[-800:] for c in cli]
    import json

    texts = [str(d), repr(d), d._repr_html_(), json.dumps(d.to_dict())] + [c.stdout + c.stderr for c in cli]
    assert_no_token("pw-in-pip-conf", *texts, what="diagnose output")
    assert all("proxyuser:****@" in t for t in texts)


def test_a_pip_conf_proxy_without_a_scheme_is_http_as_pip_takes_it(
    lib_env, proxy_factory, pip_venv, isolated_env, tmp_path
):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    p = proxy_factory(403)
    add_pip_conf_proxy(conf, f"127.0.0.1:{p.port}")
    v = verdict(diagnose(), "proxy-connect-refused")
    assert f"the proxy http://127.0.0.1:{p.port} (proxy in [global] of {conf})" in v.summary.lower(), (
        v.summary
    )
    r = pip_download(pip_venv, isolated_env, tmp_path)
    assert r.returncode != 0 and pip_saw(p), "pip did not take the scheme-less proxy as http://"


def test_pip_proxy_wins_over_the_pip_conf_proxy_in_diagnose_and_in_pip(
    lib_env, monkeypatch, proxy_factory, pip_venv, isolated_env, tmp_path
):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    add_pip_conf_proxy(conf, f"http://127.0.0.1:{closed_port()}")
    p = proxy_factory(403)
    monkeypatch.setenv("PIP_PROXY", p.url)
    v = verdict(diagnose(), "proxy-connect-refused")
    assert f"127.0.0.1:{p.port} (PIP_PROXY)" in v.summary and str(conf) not in v.summary, v.summary
    from ca_login._display import commands_in

    assert commands_in(v.remedy) == ["unset PIP_PROXY"], v.remedy
    r = pip_download(pip_venv, isolated_env, tmp_path, PIP_PROXY=p.url)
    assert r.returncode != 0
    assert pip_saw(p), "pip did not use PIP_PROXY"
    assert f'{p.url} "GET ' in r.stdout + r.stderr
    assert "Cannot connect to proxy" not in r.stdout + r.stderr


def test_pip_config_file_devnull_turns_the_pip_conf_proxy_off_in_diagnose_and_in_pip(
    lib_env, monkeypatch, proxy_factory, pip_venv, isolated_env, tmp_path
):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    p = proxy_factory(403)
    add_pip_conf_proxy(conf, p.url)
    index_url = index_url_of(conf)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    d = diagnose()
    tcp = d.check("tcp-repositories")
    assert tcp.status == "ok" and "through the proxy" not in tcp.detail, tcp.detail
    assert d.check("repository-read").status == "ok", d
    assert p.requests == []
    r = pip_download(pip_venv, isolated_env, tmp_path, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index_url)
    assert r.returncode == 0, (r.stdout + r.stderr)[-1500:]
    assert list((tmp_path / "dl").glob("ca_demo_pkg-*")) and p.requests == []


def test_pip_conf_proxy_wins_over_the_environment_proxy_and_no_proxy_does_not_bypass_it_as_in_pip(
    lib_env, monkeypatch, proxy_factory, pip_venv, isolated_env, tmp_path
):
    do_login()
    conf = pip_conf(Path(os.environ["HOME"]))
    p = proxy_factory(403)
    add_pip_conf_proxy(conf, p.url)
    env_proxy = f"http://127.0.0.1:{closed_port()}"
    # NO_PROXY takes the api host (the same loopback address) off the environment's proxy, not off pip's own.
    monkeypatch.setenv("HTTP_PROXY", env_proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    d = diagnose()
    v = verdict(d, "proxy-connect-refused")
    assert f"proxy in [global] of {conf}" in v.summary, v.summary
    assert d.check("tcp-api").status == "ok"
    for extra in ({"NO_PROXY": "127.0.0.1"}, {}):
        seen = len(pip_saw(p))
        r = pip_download(pip_venv, isolated_env, tmp_path, HTTP_PROXY=env_proxy, **extra)
        assert r.returncode != 0
        assert len(pip_saw(p)) > seen, f"pip did not use the pip.conf proxy with {extra}"
        assert "Cannot connect to proxy" not in r.stdout + r.stderr, "pip used HTTP_PROXY"
