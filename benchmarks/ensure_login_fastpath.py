"""The in-process cost of ensure_login() when the recorded token is still good (fast path: no network call).

Logs in once against the local stand-in (in a temporary HOME, fake keys, loopback endpoints only), then calls
ensure_login() in a bounded loop and prints the median, p90 and max per call, next to ca_login.status() and
one real login for scale. The target is under 5 ms for the fast path.

    .venv/bin/python benchmarks/ensure_login_fastpath.py [--calls 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn

SCRUB = ("PIP_", "AWS_", "SSL_CERT_", "CA_LOGIN_", "XDG_", "UV_")


def timed(fn, calls: int, seconds: float) -> list[float]:
    out = []
    deadline = time.monotonic() + seconds
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
        if time.monotonic() > deadline:
            break
    return out


def show(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p90 = ms[int(len(ms) * 0.9) - 1] if len(ms) >= 10 else ms[-1]
    print(
        f"{name:<34} n={len(ms):<5} median {statistics.median(ms):7.3f} ms"
        f"  p90 {p90:7.3f} ms  max {ms[-1]:7.3f} ms"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000, help="at most this many calls per measurement")
    ap.add_argument("--seconds", type=float, default=10.0, help="at most this long per measurement")
    a = ap.parse_args()

    for k in list(os.environ):
        if k.upper().startswith(SCRUB) or k.upper() in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            del os.environ[k]
    home = tempfile.mkdtemp(prefix="ca-login-bench-")
    os.environ.update(
        HOME=home,
        AWS_CONFIG_FILE=os.path.join(home, "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID=DEFAULT_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=DEFAULT_SECRET_KEY,
        AWS_REGION="us-west-2",
    )
    with StandIn() as s:
        os.environ["AWS_ENDPOINT_URL_CODEARTIFACT"] = s.api_url
        os.environ["AWS_ENDPOINT_URL_STS"] = s.api_url
        import ca_login

        kw = dict(domain_owner="111122223333")
        t = time.perf_counter()
        r = ca_login.login("mydomain", "isolatedsm", **kw)
        print(
            f"one login (cold, loopback stand-in):  {(time.perf_counter() - t) * 1000:.1f} ms"
            f" -> {r.config_file}"
        )
        calls_before = len(s.calls)

        def fast():
            res = ca_login.ensure_login("mydomain", "isolatedsm", min_remaining=3600, **kw)
            if res.fresh:
                raise SystemExit("ensure_login logged in: the fast path was not taken")

        def fast_core():
            d = ca_login._core.ensure_login(
                "mydomain", "isolatedsm", min_remaining=3600, sys_prefix=sys.prefix, **kw
            )
            if d["fresh"]:
                raise SystemExit("ensure_login logged in: the fast path was not taken")

        show("ensure_login() fast path", timed(fast, a.calls, a.seconds))
        show("_core.ensure_login() fast path", timed(fast_core, a.calls, a.seconds))
        show("status()", timed(ca_login.status, a.calls, a.seconds))
        if len(s.calls) != calls_before:
            print(
                f"WARNING: the stand-in got {len(s.calls) - calls_before} call(s) during the fast-path loop"
            )
        else:
            print("the stand-in got no call during the loops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
