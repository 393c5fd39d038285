"""The CodeArtifact stand-in: API (rest-json, SigV4), repository (PEP 503/691), STS, control.

One port serves:
  POST /v1/authorization-token        GetAuthorizationToken
  GET  /v1/repository/endpoint        GetRepositoryEndpoint
  POST /  (Action=GetCallerIdentity)  STS GetCallerIdentity (query protocol, XML)
  /pypi/REPO/simple/...               the repository (and /pypi/d/DOMAIN-OWNER/REPO/simple/..., vpce form)
  /_standin/...                       control: fault, faults, calls, token, health (no auth)
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import html
import json
import os
import re
import secrets as _secrets
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from . import faults as F
from . import sigv4
from .wheels import build_demo_wheels, normalize, scan

DEFAULT_SECRET_KEY = "standin/SECRET/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DEFAULT_ACCESS_KEY = "AKIDSTANDINEXAMPLE"

DOMAIN_RE = re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")
FORMATS = ("npm", "pypi", "maven", "nuget", "generic", "ruby", "swift", "cargo")

JSON_SIMPLE = "application/vnd.pypi.simple.v1+json"
HTML_SIMPLE = "application/vnd.pypi.simple.v1+html"


class _Fault:
    __slots__ = ("name", "ops", "params", "remaining", "window")

    def __init__(self, name: str, params: dict):
        if name not in F.FAULTS:
            raise ValueError(f"unknown fault {name!r}\nhint: one of {', '.join(sorted(F.FAULTS))}")
        default_ops, _ = F.FAULTS[name]
        self.name = name
        self.params = {k: F.coerce(v) for k, v in params.items()}
        self.ops = F.parse_operations(self.params.get("operation"), default_ops)
        first = self.params.get("first")
        self.remaining = int(first) if first is not None else None
        self.window: collections.deque = collections.deque()

    def describe(self) -> dict:
        d = {"params": self.params, "operations": sorted(self.ops)}
        if self.remaining is not None:
            d["remaining"] = self.remaining
        return d


# The package layer's operations (botocore's codeartifact model): (method, path) -> operation.
_PACKAGE_OPS = {
    ("GET", "/v1/package"): "DescribePackage",
    ("POST", "/v1/package"): "PutPackageOriginConfiguration",
    ("POST", "/v1/package/versions"): "ListPackageVersions",
    ("POST", "/v1/package/versions/update_status"): "UpdatePackageVersionsStatus",
    ("GET", "/v1/repository"): "DescribeRepository",
    ("POST", "/v1/repository/external-connection"): "AssociateExternalConnection",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    standin: StandIn

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError, OSError)):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin"
    sys_version = ""
    timeout = 120
    server: _Server

    # --- plumbing -------------------------------------------------------------------------
    def setup(self):
        sock = self.request
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.standin._track(sock, True)
        if isinstance(sock, ssl.SSLSocket):
            sock.settimeout(10)
            sock.do_handshake()
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.standin._track(self.request, False)

    def log_message(self, format, *args):
        if self.server.standin.verbose:
            sys.stderr.write(f"standin: {self.address_string()} - {format % args}\n")

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status: int, body: bytes = b"", headers=(), content_type: str | None = None):
        """Status line, headers and body in one write (no Nagle/delayed-ACK stall on keep-alive)."""
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: standin",
            f"Content-Length: {len(body)}",
        ]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += body
        self._status = status
        rec = getattr(self, "_rec", None)
        if rec is not None and not self._recorded:
            # record before answering: a client that got its answer finds its call in .calls
            rec["status"] = status
            rec["duration"] = round(time.time() - rec["time"], 6)
            self._recorded = True
            self.server.standin._record(rec)
        self.wfile.write(data)

    def _lower_headers(self) -> dict[str, str]:
        out: dict[str, list[str]] = {}
        for k, v in self.headers.items():
            out.setdefault(k.lower(), []).append(v)
        return {k: ",".join(v) for k, v in out.items()}

    # --- dispatch -------------------------------------------------------------------------
    def _dispatch(self):
        st = self.server.standin
        self._status = 0
        started = time.time()
        raw_path, _, raw_query = self.path.partition("?")
        self._rec = None
        self._recorded = False
        if raw_path.startswith("/_standin/"):
            body = self._body()
            return st._control(self, raw_path, raw_query, body)
        body = self._body()
        rec = {
            "operation": "unknown",
            "method": self.command,
            "path": raw_path,
            "query": dict(parse_qsl(raw_query, keep_blank_values=True)),
            "host": self.headers.get("Host", ""),
            "user_agent": self.headers.get("User-Agent", ""),
            "time": started,
            "status": 0,
            "error": None,
            "fault": None,
        }
        self._rec = rec
        try:
            if raw_path == "/v1/authorization-token":
                rec["operation"] = "GetAuthorizationToken"
                st._api(self, "GetAuthorizationToken", raw_path, raw_query, body)
            elif raw_path == "/v1/repository/endpoint":
                rec["operation"] = "GetRepositoryEndpoint"
                st._api(self, "GetRepositoryEndpoint", raw_path, raw_query, body)
            elif (self.command, raw_path) in _PACKAGE_OPS:
                rec["operation"] = _PACKAGE_OPS[(self.command, raw_path)]
                st._package_api(self, rec["operation"], raw_path, raw_query, body)
            elif raw_path.startswith(("/pypi/", "/npm/")):
                rec["operation"] = "repository"
                self._req_body = body  # twine's upload POST
                st._repository(self, raw_path)
            elif raw_path == "/" and (
                b"Action=GetCallerIdentity" in body or "Action=GetCallerIdentity" in raw_query
            ):
                rec["operation"] = "GetCallerIdentity"
                st._sts(self, raw_path, raw_query, body)
            else:
                rec["error"] = "UnknownOperationException"
                self._send(
                    404,
                    b'{"message":"Unknown operation"}',
                    [
                        ("x-amzn-ErrorType", "UnknownOperationException"),
                        ("x-amzn-RequestId", str(uuid.uuid4())),
                    ],
                    "application/json",
                )
        finally:
            if not self._recorded:  # answered calls were recorded by _send
                rec["duration"] = round(time.time() - started, 6)
                st._record(rec)
            self._rec = None


class StandIn:
    """A local CodeArtifact. See the README, section "Testing without AWS"."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        https: bool = False,
        certs=None,
        region: str = "us-west-2",
        domain: str = "mydomain",
        owner: str = "111122223333",
        repositories=("isolatedsm",),
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        repository_endpoint_base: str | None = None,
        token_ttl: int = 43200,
        packages_dir=None,
        session_ttl: int = 3600,
        caller_arn: str | None = None,
        extra_credentials: dict[str, str] | None = None,
        max_calls: int = 10000,
        verbose: bool = False,
        public_packages_dir=None,
        package_config: dict[str, dict[str, str]] | None = None,
        repository_sources: dict[str, dict[str, list[str]]] | None = None,
        version_status: dict[tuple[str, str], str] | None = None,
        yanked: dict[str, str] | None = None,
        simple_json: bool = True,
    ):
        self.host, self.port = host, port
        self.https, self.certs = https, certs
        self.region, self.domain, self.owner = region, domain, owner
        self.repositories = tuple(repositories)
        self.access_key, self.secret_key = access_key, secret_key
        self.repository_endpoint_base = (
            repository_endpoint_base.rstrip("/") if repository_endpoint_base else None
        )
        self.token_ttl, self.session_ttl = token_ttl, session_ttl
        self.packages_dir = Path(packages_dir) if packages_dir else None
        self.caller_arn = caller_arn or f"arn:aws:sts::{owner}:assumed-role/GeneralIsolatedNotebook/SageMaker"
        self.credentials = {access_key: secret_key, **(extra_credentials or {})}
        self.verbose = verbose
        # The package layer (issue 12): files only "public PyPI" has (served through an external connection),
        # per-package origin restrictions, each repository's upstreams and external connections (the seed's
        # isolatedsm -> pypi-store -> public:pypi by default), version statuses other than Published, yanked
        # files (file name -> reason), and whether project pages come as PEP 691 JSON when asked.
        self.public_packages_dir = Path(public_packages_dir) if public_packages_dir else None
        self.public_packages: dict = {}
        self.package_config = {k: dict(v) for k, v in (package_config or {}).items()}
        self.repository_sources = (
            {k: {n: list(x) for n, x in v.items()} for k, v in repository_sources.items()}
            if repository_sources is not None
            else {
                "isolatedsm": {"upstreams": ["pypi-store"], "external_connections": []},
                "pypi-store": {"upstreams": [], "external_connections": ["public:pypi"]},
            }
        )
        self.version_status = dict(version_status or {})
        self.yanked = dict(yanked or {})
        self.simple_json = simple_json
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()
        # twine's legacy uploads accepted: (name, version, filename, size) each, never the credentials
        self.uploads: list[dict] = []
        self._calls: collections.deque = collections.deque(maxlen=max_calls)
        self._token_key = _secrets.token_bytes(32)
        self._stop_event = threading.Event()
        self._conns: set = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: str | None = None
        self.packages: dict = {}

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> StandIn:
        if self._server:
            return self
        self._stop_event.clear()
        if self.packages_dir is None or (self.https and self.certs is None):
            self._tmp = tempfile.mkdtemp(prefix="standin-")
        if self.packages_dir is None:
            self.packages_dir = Path(self._tmp) / "packages"
            build_demo_wheels(self.packages_dir)
        self.rescan()
        self.rescan_public()
        cls = _Server6 if ":" in self.host else _Server
        srv = cls((self.host, self.port), _Handler)
        srv.standin = self
        if self.https:
            from .certs import Certs, make_certs

            if self.certs is None or not isinstance(self.certs, Certs):
                self.certs = make_certs(
                    self.certs or Path(self._tmp) / "certs", self.region, self.domain, self.owner
                )
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(self.certs.cert_pem), str(self.certs.key_pem))
            ctx.set_alpn_protocols(["http/1.1"])
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        self.port = srv.server_address[1]
        self._server = srv
        self._thread = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.1}, name=f"standin:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        srv, self._server = self._server, None
        if not srv:
            return
        self._stop_event.set()  # releases `hang` and `slow`
        srv.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        srv.server_close()
        if self._thread:
            self._thread.join(5)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            if self.https:
                self.certs = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _track(self, sock, add: bool):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def rescan_public(self):
        self.public_packages = scan(self.public_packages_dir) if self.public_packages_dir else {}

    def rescan(self):
        self.packages = scan(self.packages_dir)

    # --- addresses ------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.https else 'http'}://{h}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"{self.api_url}/_standin"

    def repository_endpoint(self, repo: str | None = None, fmt: str = "pypi") -> str:
        base = self.repository_endpoint_base or self.api_url
        return f"{base}/{fmt}/{repo or self.repositories[0]}/"

    def dualstack_endpoint(self, repo: str | None = None, fmt: str = "pypi") -> str:
        """What GetRepositoryEndpoint names for endpointType=dualstack: `DOMAIN-OWNER.codeartifact.REGION.on.aws`
        (no `.d.`), on this stand-in's port. Always https, as CodeArtifact's are: the client refuses a token URL over
        plain http to a host that is not loopback (a plain-http stand-in serves it only to tests that read the URL)."""
        host = f"{self.domain}-{self.owner}.codeartifact.{self.region}.on.aws"
        return f"https://{host}:{self.port}/{fmt}/{repo or self.repositories[0]}/"

    def index_url(self, token: str, repo: str | None = None) -> str:
        """The pip index URL as `aws codeartifact login` writes it (contains the token: never print it)."""
        u = urlsplit(self.repository_endpoint(repo))
        return f"{u.scheme}://aws:{token}@{u.netloc}{u.path}simple/"

    # --- faults and calls -----------------------------------------------------------------
    def set_fault(self, name: str, **params) -> None:
        f = _Fault(name, params)
        with self._lock:
            self._faults[name] = f

    def clear_fault(self, name: str) -> None:
        with self._lock:
            self._faults.pop(name, None)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> dict:
        with self._lock:
            return {n: f.describe() for n, f in self._faults.items()}

    @property
    def calls(self) -> list[dict]:
        with self._lock:
            return [dict(c) for c in self._calls]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def _record(self, rec: dict):
        with self._lock:
            self._calls.append(rec)

    def _take(self, op: str, names) -> _Fault | None:
        """The first active fault among `names` that targets `op`; counts it against first=N."""
        with self._lock:
            for n in names:
                f = self._faults.get(n)
                if f is None or op not in f.ops:
                    continue
                if f.remaining is not None:
                    if f.remaining <= 0:
                        continue
                    f.remaining -= 1
                return f
        return None

    def _throttled(self, op: str) -> _Fault | None:
        with self._lock:
            f = self._faults.get("throttle")
            if f is None or op not in f.ops:
                return None
            if f.remaining is not None:
                if f.remaining <= 0:
                    return None
                f.remaining -= 1
                return f
            rate = f.params.get("rate")
            if rate is None:
                return f
            now = time.monotonic()
            w = f.window
            while w and now - w[0] >= 1.0:
                w.popleft()
            if len(w) >= float(rate):
                return f
            w.append(now)
            return None

    def _network_faults(self, h: _Handler, op: str) -> bool:
        """hang / slow. Returns True when the request must get no answer."""
        f = self._take(op, ("hang",))
        if f is not None:
            h._rec["fault"] = "hang"
            h._recorded = True
            self._record(h._rec)  # visible in .calls while it hangs
            secs = f.params.get("seconds")
            self._stop_event.wait(float(secs) if secs is not None else None)
            h.close_connection = True
            return True
        f = self._take(op, ("slow",))
        if f is not None:
            h._rec["fault"] = "slow"
            self._stop_event.wait(float(f.params.get("seconds", 5)))
        return False

    def _body_faults(self, h: _Handler, op: str) -> bool:
        """huge-body / headers-then-stall / trickle: a status line and headers, then a body that is too large,
        never comes, or comes a byte at a time. Returns True when the request was answered that way."""
        f = self._take(op, ("huge-body", "headers-then-stall", "trickle"))
        if f is None:
            return False
        h._rec["fault"] = f.name
        h._rec["status"] = 200
        h._recorded = True
        self._record(h._rec)
        h.close_connection = True
        size = int(f.params.get("bytes", 2 << 30 if f.name == "huge-body" else 1000))
        chunked = f.name == "huge-body" and bool(f.params.get("chunked", False))
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
        try:
            h.wfile.write(head.encode("latin-1"))
            h.wfile.flush()
            if f.name == "headers-then-stall":
                secs = f.params.get("seconds")
                self._stop_event.wait(float(secs) if secs is not None else None)
            elif f.name == "trickle":
                interval = float(f.params.get("interval", 1.0))
                for _ in range(size):
                    if self._stop_event.wait(interval):
                        break
                    h.wfile.write(b" ")
                    h.wfile.flush()
            else:
                block = b"x" * 65536
                left = size
                while left > 0 and not self._stop_event.is_set():
                    part = block[: min(left, len(block))]
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                    left -= len(part)
                if chunked:
                    h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client gave up: that is what these faults test
        return True

    # --- tokens ---------------------------------------------------------------------------
    def issue_token(self, ttl: float = 43200, *, domain: str | None = None, owner: str | None = None) -> str:
        """A repository token valid for `ttl` seconds from now (negative: already expired)."""
        return self._issue(time.time() + ttl, domain or self.domain, owner or self.owner)

    def _issue(self, exp: float, domain: str, owner: str) -> str:
        head = json.dumps(
            {
                "ver": 1,
                "isu": int(time.time()),
                "exp": exp,
                "dom": domain,
                "own": owner,
                "n": _secrets.token_hex(8),
            },
            separators=(",", ":"),
        ).encode()
        body = (
            base64.urlsafe_b64encode(head).rstrip(b"=")
            + b"."
            + base64.urlsafe_b64encode(os.urandom(540)).rstrip(b"=")
        )
        sig = base64.urlsafe_b64encode(hmac.new(self._token_key, body, hashlib.sha256).digest()).rstrip(b"=")
        return (body + b"." + sig).decode()

    def token_state(self, token: str) -> str:
        """'valid', 'expired' or 'invalid' for a token (the token itself is never logged)."""
        try:
            head_b64, pad, sig = token.split(".")
            body = f"{head_b64}.{pad}".encode()
            want = base64.urlsafe_b64encode(hmac.new(self._token_key, body, hashlib.sha256).digest()).rstrip(
                b"="
            )
            if not hmac.compare_digest(want, sig.encode()):
                return "invalid"
            head = json.loads(base64.urlsafe_b64decode(head_b64 + "=" * (-len(head_b64) % 4)))
        except (ValueError, UnicodeError):
            return "invalid"
        if head.get("dom") != self.domain or head.get("own") != self.owner:
            return "invalid"
        return "valid" if head["exp"] > time.time() else "expired"

    # --- API ------------------------------------------------------------------------------
    def _error(
        self, h: _Handler, status: int, code: str, message: str, extra: dict | None = None, headers=()
    ):
        h._rec["error"] = code
        body = {"message": message, **(extra or {})}
        h._send(
            status,
            json.dumps(body).encode(),
            [("x-amzn-ErrorType", code), ("x-amzn-RequestId", str(uuid.uuid4())), *headers],
            "application/json",
        )

    def _api(self, h: _Handler, op: str, raw_path: str, raw_query: str, body: bytes):
        if self._network_faults(h, op) or self._body_faults(h, op):
            return
        want = "POST" if op == "GetAuthorizationToken" else "GET"
        if h.command != want:
            return self._error(
                h, 404, "UnknownOperationException", f"Unknown operation {h.command} {raw_path}"
            )
        v = sigv4.verify(
            h.command,
            raw_path,
            raw_query,
            h._lower_headers(),
            body,
            service="codeartifact",
            region=self.region,
            secrets=self.credentials,
        )
        h._rec["access_key"] = v.access_key
        if not v.ok:
            return self._error(h, 403, v.code, v.message)
        f = self._throttled(op)
        if f is not None:
            h._rec["fault"] = "throttle"
            ra = f.params.get("retry_after", 1)
            return self._error(
                h, 429, "ThrottlingException", "Rate exceeded", headers=[("Retry-After", str(ra))]
            )
        q = dict(parse_qsl(raw_query, keep_blank_values=True))
        errors = []
        domain, owner = q.get("domain"), q.get("domain-owner")
        self._check(errors, "domain", domain, DOMAIN_RE, 2, 50, required=True)
        self._check(errors, "domainOwner", owner, ACCOUNT_RE, 12, 12)
        if op == "GetAuthorizationToken":
            dur = q.get("duration")
            duration = 43200
            if dur is not None:
                try:
                    duration = int(dur)
                except ValueError:
                    return self._error(
                        h,
                        400,
                        "ValidationException",
                        f"Value '{dur}' at 'durationSeconds' failed to satisfy constraint: Member must be a number",
                        {"reason": "CANNOT_PARSE"},
                    )
                if duration < 0 or duration > 43200:
                    errors.append(
                        f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
                        f"Member must have value {'less than or equal to 43200' if duration > 0 else 'greater than or equal to 0'}"  # noqa: E501
                    )
                elif 0 < duration < 900:
                    errors.append(
                        f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
                        "Member must be 0 or have value between 900 and 43200"
                    )
        else:
            repo, fmt, etype = q.get("repository"), q.get("format"), q.get("endpointType")
            self._check(errors, "repository", repo, REPO_RE, 2, 100, required=True)
            if fmt is None:
                errors.append("Value null at 'format' failed to satisfy constraint: Member must not be null")
            elif fmt not in FORMATS:
                errors.append(
                    f"Value '{fmt}' at 'format' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(FORMATS)}]"  # noqa: E501
                )
            if etype is not None and etype not in ("dualstack", "ipv4"):
                errors.append(
                    f"Value '{etype}' at 'endpointType' failed to satisfy constraint: Member must satisfy enum value set: [dualstack, ipv4]"  # noqa: E501
                )
        if errors:
            n = len(errors)
            return self._error(
                h,
                400,
                "ValidationException",
                f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors),
                {"reason": "FIELD_VALIDATION_FAILED"},
            )
        owner = owner or self.owner
        if self._take(op, ("internal-error",)):
            h._rec["fault"] = "internal-error"
            return self._error(h, 500, "InternalServerException", "An internal error occurred.")
        if op == "GetAuthorizationToken":
            action, resource = (
                "codeartifact:GetAuthorizationToken",
                f"arn:aws:codeartifact:{self.region}:{owner}:domain/{domain}",
            )
        else:
            action = "codeartifact:GetRepositoryEndpoint"
            resource = f"arn:aws:codeartifact:{self.region}:{owner}:repository/{domain}/{q.get('repository')}"
        with self._lock:
            denied = [n for n in self._faults if n.startswith("access-denied-")]
        f = self._take(op, denied)
        if f is not None:
            h._rec["fault"] = f.name
            msg = F.access_denied_message(
                f.name,
                f.params.get("arn", self.caller_arn),
                f.params.get("action", action),
                f.params.get("resource", resource),
            )
            return self._error(h, 403, "AccessDeniedException", msg)
        f = self._take(op, ("domain-not-found",))
        if f is not None or domain != self.domain or owner != self.owner:
            if f is not None:
                h._rec["fault"] = f.name
            return self._error(
                h,
                404,
                "ResourceNotFoundException",
                f"Domain not found. Domain '{domain}' owned by account '{owner}' does not exist.",
                {"resourceId": domain, "resourceType": "domain"},
            )
        if op == "GetAuthorizationToken":
            return self._get_token(h, duration, domain, owner)
        repo = q["repository"]
        f = self._take(op, ("repository-not-found",))
        if f is not None or repo not in self.repositories:
            if f is not None:
                h._rec["fault"] = f.name
            return self._error(
                h,
                404,
                "ResourceNotFoundException",
                f"Repository not found. Repository '{repo}' in domain '{domain}' owned by account '{owner}' does not exist.",  # noqa: E501
                {"resourceId": repo, "resourceType": "repository"},
            )
        if q.get("endpointType") == "dualstack":
            out = {"repositoryEndpoint": self.dualstack_endpoint(repo, q["format"])}
        else:
            out = {"repositoryEndpoint": self.repository_endpoint(repo, q["format"])}
        h._send(200, json.dumps(out).encode(), [("x-amzn-RequestId", str(uuid.uuid4()))], "application/json")

    @staticmethod
    def _check(errors, member, value, pattern, lo, hi, required=False):
        if value is None:
            if required:
                errors.append(
                    f"Value null at '{member}' failed to satisfy constraint: Member must not be null"
                )
            return
        if len(value) < lo:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {lo}"  # noqa: E501
            )
        elif len(value) > hi:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {hi}"  # noqa: E501
            )
        elif not pattern.fullmatch(value):
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern.pattern}"  # noqa: E501
            )

    def _get_token(self, h: _Handler, duration: int, domain: str, owner: str):
        now = time.time()
        requested = self.session_ttl if duration == 0 else duration
        actual = min(requested, self.token_ttl)
        reported = actual
        f = self._take("GetAuthorizationToken", ("token-ttl",))
        if f is not None:
            h._rec["fault"] = "token-ttl"
            actual = min(actual, float(f.params.get("seconds", 5)))
            reported = requested if f.params.get("report", "actual") == "requested" else actual
        token = self._issue(now + actual, domain, owner)
        h._rec["token_ttl"] = actual
        out = {"authorizationToken": token, "expiration": round(now + reported, 3)}
        if self._take("GetAuthorizationToken", ("empty-token",)) is not None:
            h._rec["fault"] = "empty-token"
            out["authorizationToken"] = ""
        f = self._take("GetAuthorizationToken", ("expiration",))
        if f is not None:
            h._rec["fault"] = "expiration"
            value = f.params.get("value", "absent")
            bad = {
                "past": round(now - 3600, 3),
                "far": round(now + 2 * 86400, 3),
                "nan": "NaN",
                "text": "soon",
            }
            if value == "absent":
                del out["expiration"]
            elif value in bad:
                out["expiration"] = bad[value]
            else:
                out["expiration"] = round(now + float(value), 3)
        h._send(200, json.dumps(out).encode(), [("x-amzn-RequestId", str(uuid.uuid4()))], "application/json")

    # --- STS GetCallerIdentity (query protocol) -------------------------------------------
    def _sts(self, h: _Handler, raw_path: str, raw_query: str, body: bytes):
        if self._network_faults(h, "GetCallerIdentity"):
            return
        v = sigv4.verify(
            h.command,
            raw_path,
            raw_query,
            h._lower_headers(),
            body,
            service="sts",
            region=self.region,
            secrets=self.credentials,
        )
        h._rec["access_key"] = v.access_key
        rid = str(uuid.uuid4())
        if not v.ok:
            code = {
                "UnrecognizedClientException": "InvalidClientTokenId",
                "InvalidSignatureException": "SignatureDoesNotMatch",
            }.get(v.code, v.code)
            h._rec["error"] = code
            xml = (
                f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{html.escape(v.message)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>"
            )
            return h._send(403, xml.encode(), [("x-amzn-RequestId", rid)], "text/xml")
        role_session = self.caller_arn.split(":assumed-role/")[-1].split("/")
        user_id = f"AROASTANDINEXAMPLE00:{role_session[-1]}"
        xml = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
            f"<Arn>{self.caller_arn}</Arn><UserId>{user_id}</UserId><Account>{self.owner}</Account>"
            f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )
        h._send(200, xml.encode(), [("x-amzn-RequestId", rid)], "text/xml")

    # --- repository -----------------------------------------------------------------------
    def _upload(self, h: _Handler, body: bytes):
        """The legacy upload API twine speaks: a multipart/form-data POST with `:action=file_upload`."""
        import email.parser
        import email.policy

        ctype = h.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._repo_error(h, 400, "expected multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        fields, filename, size = {}, None, 0
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                filename, size = part.get_filename(), len(part.get_payload(decode=True) or b"")
            elif name in (":action", "name", "version"):
                fields[name] = part.get_content().strip()
        if fields.get(":action") != "file_upload" or not filename:
            return self._repo_error(h, 400, "not a file upload")
        with self._lock:
            self.uploads.append(
                {
                    "name": fields.get("name"),
                    "version": fields.get("version"),
                    "filename": filename,
                    "size": size,
                }
            )
        return h._send(200, b"OK\n", [], "text/plain; charset=utf-8")

    def _repo_error(self, h: _Handler, status: int, text: str, headers=()):
        h._rec["error"] = str(status)
        h._send(status, (text + "\n").encode(), headers, "text/plain; charset=utf-8")

    def _repository(self, h: _Handler, raw_path: str):
        if self._network_faults(h, "repository") or self._body_faults(h, "repository"):
            return
        parts = raw_path.split("/")  # '', 'pypi', REPO, 'simple', ...
        fmt = parts[1]
        if len(parts) > 4 and parts[2] == "d":  # vpce form: /pypi/d/DOMAIN-OWNER/REPO/...
            if parts[3] != f"{self.domain}-{self.owner}":
                return self._repo_error(h, 404, f"Domain not found: {parts[3]}")
            parts = ["", fmt, *parts[4:]]
        repo = parts[2] if len(parts) > 2 else ""
        realm = f'Basic realm="{self.domain}/{repo}"'
        if self._throttled("repository"):
            h._rec["fault"] = "throttle"
            return self._repo_error(h, 429, "Too Many Requests", [("Retry-After", "1")])
        if self._take("repository", ("internal-error",)):
            h._rec["fault"] = "internal-error"
            return self._repo_error(h, 500, "Internal Server Error")
        for code in (401, 403, 404):
            f = self._take("repository", (f"repo-{code}",))
            if f is not None:
                h._rec["fault"] = f.name
                hdrs = [("WWW-Authenticate", realm)] if code == 401 else []
                return self._repo_error(h, code, HTTPStatus(code).phrase, hdrs)
        auth = h.headers.get("Authorization", "")
        token = None
        if auth.startswith("Basic "):
            h._rec["auth"] = "basic"
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeError):
                user, pw = "", ""
            token = pw if user == "aws" else None
        elif auth.startswith("Bearer "):
            h._rec["auth"] = "bearer"
            token = auth[7:].strip()
        else:
            h._rec["auth"] = None
        state = self.token_state(token) if token else "missing"
        h._rec["token_state"] = state  # valid|expired|invalid|missing, never the token
        if state != "valid":
            f = self._take("repository", ("bad-token-404",))
            if f is not None:
                h._rec["fault"] = f.name
                return self._repo_error(h, 404, "Not Found")
            return self._repo_error(h, 401, "Unauthorized", [("WWW-Authenticate", realm)])
        if fmt != "pypi" or repo not in self.repositories:
            return self._repo_error(h, 404, f"Repository not found: {repo}")
        rest = parts[3:]
        if h.command == "POST" and rest in ([], [""]):
            return self._upload(h, getattr(h, "_req_body", b""))
        if not rest or rest[0] != "simple":
            return self._repo_error(h, 404, "Not Found")
        base = "/".join(raw_path.split("/")[: raw_path.split("/").index("simple") + 1])
        if len(rest) == 1:
            return h._send(301, b"", [("Location", base + "/")])
        if rest == ["simple", ""]:
            return self._simple_index(h)
        project = rest[1]
        if len(rest) == 2 or (len(rest) == 3 and rest[2] == ""):
            if project != normalize(project) or len(rest) == 2:
                return h._send(301, b"", [("Location", f"{base}/{normalize(project)}/")])
            return self._simple_project(h, project, repo)
        if len(rest) == 4:
            for w in self.files(repo, normalize(project)):
                if w.version == rest[2] and w.filename == rest[3]:
                    return h._send(200, w.path.read_bytes(), [], "application/octet-stream")
        return self._repo_error(h, 404, "Not Found")

    @staticmethod
    def _wants_json(accept: str) -> bool:
        best, best_q = "html", -1.0
        for _i, part in enumerate(accept.split(",")):
            media, *params = [p.strip() for p in part.split(";")]
            q = 1.0
            for p in params:
                if p.startswith("q="):
                    try:
                        q = float(p[2:])
                    except ValueError:
                        q = 0
            kind = {
                JSON_SIMPLE: "json",
                "application/vnd.pypi.simple.latest+json": "json",
                HTML_SIMPLE: "html",
                "application/vnd.pypi.simple.latest+html": "html",
                "text/html": "html",
            }.get(media)
            if kind and q > best_q:
                best, best_q = kind, q
        return best == "json"

    def _simple_index(self, h: _Handler):
        names = sorted(self.packages)
        if self._wants_json(h.headers.get("Accept", "")):
            out = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
            return h._send(200, json.dumps(out).encode(), [], JSON_SIMPLE)
        links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
        page = f'<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>Simple index</title></head><body>\n{links}</body></html>\n'  # noqa: E501
        h._send(200, page.encode(), [], "text/html; charset=utf-8")

    # --- the package layer's model -------------------------------------------------------------
    def reaches_public(self, repo: str, depth: int = 0) -> bool:
        src = self.repository_sources.get(repo, {})
        if "public:pypi" in src.get("external_connections", []):
            return True
        return depth < 5 and any(self.reaches_public(u, depth + 1) for u in src.get("upstreams", []))

    def restrictions(self, project: str) -> dict[str, str]:
        return {"publish": "ALLOW", "upstream": "ALLOW", **self.package_config.get(project, {})}

    def all_versions(self, repo: str, project: str) -> list:
        """Every file the repository has or would fetch for `project`, whatever its version's status."""
        files = list(self.packages.get(project, []))
        if self.restrictions(project)["upstream"] == "ALLOW" and self.reaches_public(repo):
            files += self.public_packages.get(project, [])
        return files

    def files(self, repo: str, project: str) -> list:
        """The files pip sees: Published versions only."""
        return [
            w
            for w in self.all_versions(repo, project)
            if self.version_status.get((project, w.version), "Published") == "Published"
        ]

    def _simple_project(self, h: _Handler, project: str, repo: str = ""):
        files = self.files(repo or self.repositories[0], project)
        if not files:
            return self._repo_error(h, 404, f"Package not found: {project}")
        if self.simple_json and self._wants_json(h.headers.get("Accept", "")):
            out = {
                "meta": {"api-version": "1.0"},
                "name": project,
                "files": [
                    {
                        "filename": w.filename,
                        "url": f"{w.version}/{w.filename}",
                        "hashes": {"sha256": w.sha256},
                        **({"requires-python": w.requires_python} if w.requires_python else {}),
                        "yanked": self.yanked.get(w.filename, False),
                    }
                    for w in files
                ],
            }
            return h._send(200, json.dumps(out).encode(), [], JSON_SIMPLE)

        def extra(w) -> str:
            out = ""
            if w.requires_python:
                out += f' data-requires-python="{html.escape(w.requires_python)}"'
            if w.filename in self.yanked:
                out += f' data-yanked="{html.escape(self.yanked[w.filename])}"'
            return out

        links = "".join(
            f'<a href="{w.version}/{w.filename}#sha256={w.sha256}"{extra(w)}>{w.filename}</a><br/>\n'
            for w in files
        )
        page = (
            f'<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
            f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>\n{links}</body></html>\n"
        )
        h._send(200, page.encode(), [], "text/html; charset=utf-8")

    def _package_api(self, h: _Handler, op: str, raw_path: str, raw_query: str, body: bytes):
        """DescribePackage, PutPackageOriginConfiguration, ListPackageVersions, UpdatePackageVersionsStatus,
        DescribeRepository, AssociateExternalConnection (SigV4-checked; access-denied-* faults apply)."""
        if self._network_faults(h, op):
            return
        v = sigv4.verify(
            h.command,
            raw_path,
            raw_query,
            h._lower_headers(),
            body,
            service="codeartifact",
            region=self.region,
            secrets=self.credentials,
        )
        h._rec["access_key"] = v.access_key
        if not v.ok:
            return self._error(h, 403, v.code, v.message)
        q = dict(parse_qsl(raw_query, keep_blank_values=True))
        domain, owner, repo = q.get("domain"), q.get("domain-owner") or self.owner, q.get("repository", "")
        with self._lock:
            denied = [n for n in self._faults if n.startswith("access-denied-")]
        f = self._take(op, denied)
        if f is not None:
            h._rec["fault"] = f.name
            resource = f"arn:aws:codeartifact:{self.region}:{owner}:repository/{domain}/{repo}"
            msg = F.access_denied_message(
                f.name,
                f.params.get("arn", self.caller_arn),
                f.params.get("action", f"codeartifact:{op}"),
                resource,
            )
            return self._error(h, 403, "AccessDeniedException", msg)
        if domain != self.domain or owner != self.owner:
            return self._error(h, 404, "ResourceNotFoundException", f"Domain not found: {domain}")
        if repo not in self.repository_sources and repo not in self.repositories:
            return self._error(h, 404, "ResourceNotFoundException", f"Repository not found: {repo}")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return self._error(h, 400, "ValidationException", "the body is not JSON")

        def reply(obj):
            h._send(
                200, json.dumps(obj).encode(), [("x-amzn-RequestId", str(uuid.uuid4()))], "application/json"
            )

        def describe(r: str) -> dict:
            src = self.repository_sources.setdefault(r, {"upstreams": [], "external_connections": []})
            return {
                "name": r,
                "domainName": self.domain,
                "domainOwner": self.owner,
                "arn": f"arn:aws:codeartifact:{self.region}:{self.owner}:repository/{self.domain}/{r}",
                "upstreams": [{"repositoryName": u} for u in src.get("upstreams", [])],
                "externalConnections": [
                    {"externalConnectionName": e, "packageFormat": "pypi", "status": "AVAILABLE"}
                    for e in src.get("external_connections", [])
                ],
            }

        if op == "DescribeRepository":
            return reply({"repository": describe(repo)})
        if op == "AssociateExternalConnection":
            src = self.repository_sources.setdefault(repo, {"upstreams": [], "external_connections": []})
            conn = q.get("external-connection", "")
            if conn not in src.setdefault("external_connections", []):
                src["external_connections"].append(conn)
            return reply({"repository": describe(repo)})
        project = normalize(q.get("package", ""))
        if op == "PutPackageOriginConfiguration":
            r = data.get("restrictions", {})
            self.package_config[project] = {
                "publish": r.get("publish", "ALLOW"),
                "upstream": r.get("upstream", "ALLOW"),
            }
            return reply({"originConfiguration": {"restrictions": self.restrictions(project)}})
        known = project in self.package_config or bool(self.all_versions(repo, project))
        if not known:
            return self._error(h, 404, "ResourceNotFoundException", f"Package not found: {project}")
        if op == "DescribePackage":
            return reply(
                {
                    "package": {
                        "format": "pypi",
                        "name": project,
                        "originConfiguration": {"restrictions": self.restrictions(project)},
                    }
                }
            )
        if op == "ListPackageVersions":
            versions = sorted({w.version for w in self.all_versions(repo, project)})
            return reply(
                {
                    "format": "pypi",
                    "package": project,
                    "versions": [
                        {
                            "version": ver,
                            "revision": "standin",
                            "status": self.version_status.get((project, ver), "Published"),
                        }
                        for ver in versions
                    ],
                }
            )
        # UpdatePackageVersionsStatus
        target = data.get("targetStatus", "")
        done = {}
        for ver in data.get("versions", []):
            self.version_status[(project, ver)] = target
            done[ver] = {"revision": "standin", "status": target}
        return reply({"successfulVersions": done, "failedVersions": {}})

    # --- control endpoint -----------------------------------------------------------------
    def _control(self, h: _Handler, raw_path: str, raw_query: str, body: bytes):
        q = dict(parse_qsl(raw_query))

        def reply(obj, status=200):
            h._send(status, json.dumps(obj).encode(), [], "application/json")

        try:
            data = json.loads(body) if body else {}
            what = raw_path[len("/_standin/") :]
            if what == "health":
                return reply({"ok": True, "api_url": self.api_url})
            if what == "calls":
                if h.command == "DELETE":
                    self.reset_calls()
                return reply(self.calls)
            if what in ("fault", "faults"):
                if h.command == "POST":
                    if "spec" in data:
                        name, params = F.parse_spec(data["spec"])
                    else:
                        name, params = data["name"], data.get("params", {})
                    self.set_fault(name, **params)
                elif h.command == "DELETE":
                    name = q.get("name") or data.get("name")
                    self.clear_fault(name) if name else self.clear_faults()
                return reply(self.faults)
            if what == "clear" and h.command == "POST":
                self.clear_faults()
                return reply(self.faults)
            if what == "token" and h.command == "POST":
                ttl = float(data.get("ttl", 43200))
                return reply(
                    {"authorizationToken": self.issue_token(ttl), "expiration": round(time.time() + ttl, 3)}
                )
            return reply(
                {
                    "message": f"unknown control path {raw_path}",
                    "hint": "GET health|calls|faults, POST fault {name, params}|{spec}, DELETE fault[?name=], POST clear, POST token {ttl}",  # noqa: E501
                },
                404,
            )
        except (ValueError, KeyError, TypeError) as e:
            return reply({"message": f"bad control request to {raw_path}: {e}"}, 400)
