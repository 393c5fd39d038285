"""Load on the CodeArtifact stand-in: signed GetAuthorizationToken requests over keep-alive, on loopback.

Prints requests/s for a few client thread counts, and for the repository's simple page.
Bounded: at most --requests requests per run and --seconds seconds per run.

    .venv/bin/python benchmarks/standin_load.py [--requests 3000] [--seconds 10] [--threads 1,4,8]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from standin import StandIn
from standin.sigv4 import sign

QUERY = "domain=mydomain&domain-owner=111122223333&duration=900"


def run(s: StandIn, threads: int, total: int, seconds: float, kind: str) -> tuple[int, int, float]:
    lock = threading.Lock()
    counts = {"ok": 0, "bad": 0, "left": total}
    deadline = time.monotonic() + seconds
    token = s.issue_token(3600)
    basic = "Basic " + base64.b64encode(f"aws:{token}".encode()).decode()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        host = f"127.0.0.1:{s.port}"
        while time.monotonic() < deadline:
            with lock:
                if counts["left"] <= 0:
                    break
                counts["left"] -= 1
            if kind == "token":
                h = sign(
                    "POST",
                    host,
                    "/v1/authorization-token",
                    QUERY,
                    b"",
                    access_key=s.access_key,
                    secret_key=s.secret_key,
                    region=s.region,
                    service="codeartifact",
                )
                h["Content-Length"] = "0"
                conn.request("POST", "/v1/authorization-token?" + QUERY, body=b"", headers=h)
            else:
                conn.request("GET", "/pypi/isolatedsm/simple/ca-demo-pkg/", headers={"Authorization": basic})
            r = conn.getresponse()
            r.read()
            with lock:
                counts["ok" if r.status == 200 else "bad"] += 1
        conn.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts["ok"], counts["bad"], time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", default="1,4,8")
    a = p.parse_args()
    with StandIn(max_calls=1000) as s:
        print(
            f"stand-in at {s.api_url}; up to {a.requests} requests or {a.seconds:.0f} s per run; "
            f"client and server share this machine's {os.cpu_count()} cores"
        )
        for kind in ("token", "simple-page"):
            for n in (int(x) for x in a.threads.split(",")):
                ok, bad, dt = run(s, n, a.requests, a.seconds, kind)
                print(
                    f"{kind:12s} threads={n:2d} requests={ok + bad:5d} non-200={bad:3d} "
                    f"time={dt:6.2f}s  {ok / dt:7.0f} requests/s"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
