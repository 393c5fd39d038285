"""Cold start of the `ca-login` command against the interpreter's floor (`python -c pass`).

Logs in once against the local stand-in (a temporary HOME, fake keys, loopback endpoints only), then runs, each
as a fresh process, `python -c pass`, `python -c "import ca_login"`, `ca-login status` and
`ca-login login --if-expiring-within 3600` (fresh token: no network call), and prints the median and the ratio
of each to `python -c pass`. The target is within 2x for both commands.

    .venv/bin/python benchmarks/cli_cold.py [--runs 30] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn

SCRUB = ("PIP_", "AWS_", "SSL_CERT_", "CA_LOGIN_", "XDG_", "UV_")
CA_LOGIN = os.path.join(os.path.dirname(sys.executable), "ca-login")
WRAPLESS = "import sys; from ca_login.cli import main; sys.exit(main(sys.argv[1:]))"


def cold(argv: list[str], runs: int, seconds: float, env: dict[str, str]) -> list[float]:
    """Wall time of `runs` fresh processes (ms), at most `seconds` in all; each must exit 0."""
    out: list[float] = []
    deadline = time.monotonic() + seconds
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        out.append((time.perf_counter() - t) * 1000)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
        if time.monotonic() > deadline:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="processes per measurement")
    ap.add_argument("--seconds", type=float, default=30.0, help="at most this long per measurement")
    a = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(SCRUB)}
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        env.pop(k, None)
    home = tempfile.mkdtemp(prefix="ca-login-bench-")
    env.update(
        HOME=home,
        AWS_CONFIG_FILE=os.path.join(home, "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID=DEFAULT_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=DEFAULT_SECRET_KEY,
        AWS_REGION="us-west-2",
        # what `ca-login configure` would record: the fast path of `login --if-expiring-within` needs no flags
        CA_LOGIN_DOMAIN="mydomain",
        CA_LOGIN_REPOSITORY="isolatedsm",
        CA_LOGIN_DOMAIN_OWNER="111122223333",
    )
    with StandIn() as s:
        env["AWS_ENDPOINT_URL_CODEARTIFACT"] = s.api_url
        env["AWS_ENDPOINT_URL_STS"] = s.api_url
        login = [CA_LOGIN, "login", "--domain", "mydomain", "--repository", "isolatedsm"]
        subprocess.run(
            [*login, "--domain-owner", "111122223333"],
            env=env,
            check=True,
            timeout=60,
            stdout=subprocess.DEVNULL,
        )
        calls = len(s.calls)
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import ca_login'", [sys.executable, "-c", "import ca_login"]),
            ("ca-login status", [CA_LOGIN, "status"]),
            # the same without the wrapper the installer writes for `ca-login` (it imports `re` first)
            ("status without the wrapper", [sys.executable, "-c", WRAPLESS, "status"]),
            ("ca-login login --if-expiring-within", [CA_LOGIN, "login", "--if-expiring-within", "3600"]),
        ]
        floor = None
        for name, argv in cases:
            ms = cold(argv, a.runs, a.seconds, env)
            med = statistics.median(ms)
            floor = floor or med
            print(
                f"{name:<38} n={len(ms):<3} median {med:6.1f} ms  min {min(ms):6.1f} ms  {med / floor:4.2f}x"
            )
        print(f"network calls during the fast paths: {len(s.calls) - calls} (expected 0)")
    print(f"(temporary HOME left at {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
