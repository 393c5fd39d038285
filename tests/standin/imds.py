"""A fake EC2 instance metadata service (IMDSv2 only), bindable to any address/port given.

Meant for 169.254.169.254 inside a test network namespace only; tests on loopback point
AWS_EC2_METADATA_SERVICE_ENDPOINT at http://127.0.0.1:PORT. Faults: hang, no-role, internal-error.
"""

from __future__ import annotations

import datetime as _dt
import json
import secrets
import socket
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .server import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

IMDS_FAULTS = ("hang", "no-role", "internal-error")


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    sys_version = ""
    timeout = 60
    server: _Server

    def log_message(self, format, *args):
        pass

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.imds._track(self.request, True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.imds._track(self.request, False)

    def _send(self, status: int, body: str = "", headers=(), ctype="text/plain"):
        data = body.encode()
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: EC2ws",
            f"Content-Length: {len(data)}",
            f"Content-Type: {ctype}",
        ]
        lines += [f"{k}: {v}" for k, v in headers]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        self._status = status

    def do_GET(self):
        self._status = 0
        imds = self.server.imds
        rec = {
            "method": self.command,
            "path": self.path,
            "time": time.time(),
            "status": 0,
            "token": "present" if self.headers.get("X-aws-ec2-metadata-token") else "missing",
        }
        try:
            imds._handle(self)
        finally:
            rec["status"] = self._status
            with imds._lock:
                imds.calls.append(rec)

    do_PUT = do_GET


class FakeIMDS:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        role: str = "GeneralIsolatedNotebook",
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        session_token: str = "standin-imds-session-token",  # noqa: S107
        region: str = "us-west-2",
        account: str = "111122223333",
        credentials_ttl: int = 21600,
    ):
        self.host, self.port = host, port
        self.role, self.region, self.account = role, region, account
        self.access_key, self.secret_key, self.session_token = access_key, secret_key, session_token
        self.credentials_ttl = credentials_ttl
        self.calls: list[dict] = []
        self.faults: dict[str, dict] = {}
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set = set()
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeIMDS:
        self._stop.clear()
        srv = _Server((self.host, self.port), _Handler)
        srv.imds = self
        self.port = srv.server_address[1]
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        srv, self._server = self._server, None
        if not srv:
            return
        self._stop.set()
        srv.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        srv.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def set_fault(self, name: str, **params) -> None:
        if name not in IMDS_FAULTS:
            raise ValueError(f"unknown IMDS fault {name!r}\nhint: one of {', '.join(IMDS_FAULTS)}")
        self.faults[name] = params

    def clear_faults(self) -> None:
        self.faults.clear()

    def _track(self, sock, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def _handle(self, h: _Handler):
        if "hang" in self.faults:
            secs = self.faults["hang"].get("seconds")
            self._stop.wait(float(secs) if secs is not None else None)
            h.close_connection = True
            return
        if "internal-error" in self.faults:
            return h._send(500, "Internal Server Error")
        path = h.path.split("?")[0]
        if h.command == "PUT":
            if path != "/latest/api/token":
                return h._send(405, "Method Not Allowed")
            if h.headers.get("X-Forwarded-For"):
                return h._send(403, "Forbidden")
            try:
                ttl = int(h.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
            except ValueError:
                return h._send(400, "Bad Request")
            if not 1 <= ttl <= 21600:
                return h._send(400, "Bad Request")
            tok = secrets.token_urlsafe(42)
            with self._lock:
                self._tokens[tok] = time.time() + ttl
            return h._send(200, tok, [("X-aws-ec2-metadata-token-ttl-seconds", str(ttl))])
        tok = h.headers.get("X-aws-ec2-metadata-token")
        with self._lock:
            exp = self._tokens.get(tok or "")
        if exp is None or exp < time.time():
            return h._send(401, "Unauthorized")
        now = time.time()
        no_role = "no-role" in self.faults
        if path == "/latest/meta-data/iam/security-credentials/":
            return h._send(404, "Not Found") if no_role else h._send(200, self.role)
        if path == f"/latest/meta-data/iam/security-credentials/{self.role}" and not no_role:
            body = {
                "Code": "Success",
                "LastUpdated": _iso(now),
                "Type": "AWS-HMAC",
                "AccessKeyId": self.access_key,
                "SecretAccessKey": self.secret_key,
                "Token": self.session_token,
                "Expiration": _iso(now + self.credentials_ttl),
            }
            return h._send(200, json.dumps(body, indent=2))
        if path == "/latest/meta-data/iam/info" and not no_role:
            body = {
                "Code": "Success",
                "LastUpdated": _iso(now),
                "InstanceProfileArn": f"arn:aws:iam::{self.account}:instance-profile/{self.role}",
                "InstanceProfileId": "AIPASTANDINEXAMPLE0000",
            }
            return h._send(200, json.dumps(body, indent=2))
        if path == "/latest/meta-data/placement/region":
            return h._send(200, self.region)
        if path == "/latest/meta-data/placement/availability-zone":
            return h._send(200, self.region + "a")
        if path == "/latest/dynamic/instance-identity/document":
            body = {
                "accountId": self.account,
                "architecture": "x86_64",
                "availabilityZone": self.region + "a",
                "imageId": "ami-0123456789abcdef0",
                "instanceId": "i-0123456789abcdef0",
                "instanceType": "ml.t3.medium",
                "pendingTime": _iso(now - 3600),
                "privateIp": "10.0.1.23",
                "region": self.region,
                "version": "2017-09-30",
            }
            return h._send(200, json.dumps(body, indent=2))
        return h._send(404, "Not Found")
