"""Benchmark: how soon a SIGINT (Jupyter's "interrupt") stops a login that waits on a server that never answers.

Prints the median and the worst of N runs (target: within a second). Loopback only, fake keys, temporary HOME.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from login_vs_cli import clean_env  # noqa: E402
from standin import StandIn  # noqa: E402

CODE = (
    "import ca_login, sys\n"
    "try:\n"
    "    ca_login.login('mydomain', 'isolatedsm', domain_owner='111122223333')\n"
    "except KeyboardInterrupt:\n"
    "    sys.exit(42)\n"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    latencies = []
    with tempfile.TemporaryDirectory() as tmp, StandIn() as standin:
        env = clean_env(Path(tmp) / "home", standin.api_url)
        standin.set_fault("hang", operation="all")
        for _ in range(args.runs):
            standin.reset_calls()
            p = subprocess.Popen([sys.executable, "-c", CODE], env=env)
            deadline = time.monotonic() + 20
            while not [c for c in standin.calls if c.get("operation")] and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # well inside the wait
            t0 = time.perf_counter()
            p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=30)
            latencies.append(time.perf_counter() - t0)
            if rc != 42:
                raise SystemExit(f"run ended with exit {rc}, not by the interrupt")
    print(
        f"interrupt -> exit, {args.runs} runs: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"worst {max(latencies) * 1000:.0f} ms (target: within 1000 ms)"
    )


if __name__ == "__main__":
    main()
