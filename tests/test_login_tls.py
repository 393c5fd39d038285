"""login() over HTTPS: the CA bundle rules of the AWS CLI (AWS_CA_BUNDLE, the profile's ca_bundle) and proxies."""

from __future__ import annotations

import select
import socket
import threading

import ca_login
import pytest
from loopback import StatusProxy
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"


@pytest.fixture
def tls_env(standin_https, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", standin_https.api_url)
    return standin_https


def login(tmp_path):
    return ca_login.login(DOMAIN, REPO, domain_owner=OWNER, config_file=tmp_path / "pip.conf")


def test_untrusted_certificate_is_endpoint_unreachable_with_ca_bundle_hint(tls_env, tmp_path):
    assert tls_env.api_url.startswith("https://")
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        login(tmp_path)
    assert ei.value.cause == "tls-untrusted"
    assert "AWS_CA_BUNDLE" in ei.value.hint


def test_aws_ca_bundle_is_honoured(tls_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_env.certs.ca_pem))
    r = login(tmp_path)
    assert r.repository_endpoint.startswith("https://")


def test_profile_ca_bundle_is_honoured(tls_env, monkeypatch, tmp_path):
    import os
    from pathlib import Path

    Path(os.environ["AWS_CONFIG_FILE"]).write_text(f"[default]\nca_bundle = {tls_env.certs.ca_pem}\n")
    r = login(tmp_path)
    assert r.repository_endpoint.startswith("https://")


def test_missing_ca_bundle_file_is_a_config_error_before_any_call(tls_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(ca_login.ConfigError) as ei:
        login(tmp_path)
    assert "nope.pem" in str(ei.value)
    assert [c for c in tls_env.calls if c.get("operation") == "GetAuthorizationToken"] == []


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "directory"])
def test_ca_bundle_that_is_not_a_regular_file_is_a_config_error_without_waiting(
    tls_env, monkeypatch, tmp_path, kind
):
    import os
    import time

    bundle = tmp_path / "bundle.pem"
    if kind == "fifo":
        os.mkfifo(bundle)
    elif kind == "link-to-dev-zero":
        bundle.symlink_to("/dev/zero")
    else:
        bundle.mkdir()
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    started = time.monotonic()
    with pytest.raises(ca_login.ConfigError) as ei:
        login(tmp_path)
    assert time.monotonic() - started < 10
    assert "bundle.pem" in str(ei.value)
    assert [c for c in tls_env.calls if c.get("operation") == "GetAuthorizationToken"] == []
    assert not (tmp_path / "pip.conf").exists()


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that records the targets it tunnels to."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.targets: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            conn.close()
            return
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=5)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [conn, upstream]
        for _ in range(10000):  # bounded relay
            r, _, _ = select.select(socks, [], [], 5)
            if not r:
                break
            done = False
            for s in r:
                buf = s.recv(65536)
                if not buf:
                    done = True
                    break
                (upstream if s is conn else conn).sendall(buf)
            if done:
                break
        conn.close()
        upstream.close()

    def close(self):
        self._stop = True
        self.sock.close()


def login_through(p: StatusProxy, tls_env, monkeypatch, tmp_path) -> pytest.ExceptionInfo:
    """login over HTTPS through the proxy `p`, which must fail with EndpointUnreachable."""
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_env.certs.ca_pem))
    monkeypatch.setenv("HTTPS_PROXY", p.url)
    with pytest.raises(ca_login.EndpointUnreachable) as ei:
        login(tmp_path)
    return ei


@pytest.mark.parametrize(
    ("status", "cause"),
    [(403, "proxy-connect-refused"), (502, "proxy-not-bypassed"), (504, "proxy-not-bypassed")],
)
def test_login_through_a_proxy_that_refuses_connect_has_the_proxy_cause_diagnose_gives(
    tls_env, monkeypatch, tmp_path, proxy_factory, status, cause
):
    p = proxy_factory(status)
    ei = login_through(p, tls_env, monkeypatch, tmp_path)
    assert ei.value.cause == cause, str(ei.value)
    assert f"HTTP {status}" in str(ei.value) and "NO_PROXY" in (ei.value.hint or "")
    assert p.requests and p.requests[0].startswith("CONNECT 127.0.0.1:")
    assert not (tmp_path / "pip.conf").exists()


def test_login_through_a_proxy_that_opens_the_tunnel_does_not_blame_the_proxy(
    tls_env, monkeypatch, tmp_path, proxy_factory
):
    p = proxy_factory(200)  # opens the tunnel, then closes it: what fails is beyond the proxy
    ei = login_through(p, tls_env, monkeypatch, tmp_path)
    assert not ei.value.cause.startswith("proxy-"), str(ei.value)
    assert "through the proxy" in str(ei.value)


@pytest.fixture
def proxy():
    p = ConnectProxy()
    yield p
    p.close()


def test_https_proxy_is_used_together_with_the_ca_bundle(tls_env, monkeypatch, tmp_path, proxy):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_env.certs.ca_pem))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    r = login(tmp_path)
    assert r.repository_endpoint.startswith("https://")
    port = tls_env.api_url.rsplit(":", 1)[1]
    assert any(t.endswith(f":{port}") for t in proxy.targets), proxy.targets


def test_no_proxy_bypasses_the_proxy(tls_env, monkeypatch, tmp_path, proxy):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_env.certs.ca_pem))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    host = tls_env.api_url.split("://", 1)[1].rsplit(":", 1)[0]
    monkeypatch.setenv("NO_PROXY", host)
    login(tmp_path)
    assert proxy.targets == []
