"""Time to a verdict on the seed's worst case (scenario 0: no VPC endpoint, the AWS names resolve to addresses
that drop packets): `ca-login diagnose` against `aws codeartifact login --tool pip` (the AWS CLI in .venv).

Builds its own network-namespace lab (needs root): the notebook namespace has the real AWS names in its hosts
file pointing at packet-dropping addresses, a fake IMDSv2 for credentials, no keys and no endpoint variables.
Every program runs there with the same minimal environment and the same flags (`--region` included, since
AWS CLI v1 reads only AWS_DEFAULT_REGION). The CLI is stopped at --cli-limit seconds (default 60) and reported
as "> 60 s". `ca-login login` (time to its error and hint) is measured too.

Bounded: at most (diagnose runs + login runs) x 30 s + CLI runs x --cli-limit s, plus a few seconds of set-up.
Default 5 + 3 + 3 runs: about 1 minute for ours, 3 minutes for the CLI (3 runs only, because each takes 60 s).

    sudo .venv/bin/python benchmarks/diagnose_vs_cli.py [--diagnose-runs 5] [--login-runs 3] [--cli-runs 3]
    sudo .venv/bin/python benchmarks/diagnose_vs_cli.py --skip-cli   # ours only, about 1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import netlab
import scenarios as S

OUR_LIMIT = 30.0  # a process of ours that has not answered by then counts as "> 30 s"


def timed(net: S.SeedNetwork, home: Path, argv: list[str], limit: float):
    """(seconds, CompletedProcess or None if stopped at `limit`) for one run in the notebook namespace."""
    home.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        proc = net.run(home, argv, timeout=limit)
    except subprocess.TimeoutExpired:
        return time.monotonic() - t0, None
    return time.monotonic() - t0, proc


def fmt(seconds: float, status: str, limit: float) -> str:
    return {"answered": f"{seconds:6.2f} s", "stopped": f"> {limit:.0f} s"}.get(status, "no verdict")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--diagnose-runs", type=int, default=5)
    p.add_argument("--login-runs", type=int, default=3)
    p.add_argument("--cli-runs", type=int, default=3)
    p.add_argument("--cli-limit", type=float, default=60.0, help="stop the AWS CLI after this many seconds")
    p.add_argument(
        "--skip-cli",
        action="store_true",
        help="do not run the AWS CLI (same as --cli-runs 0): a quick figure for ca-login alone, no ratio",
    )
    a = p.parse_args(argv)
    if a.skip_cli:
        a.cli_runs = 0
    if os.geteuid() != 0:
        print(
            "diagnose_vs_cli: needs root to build network namespaces\nhint: run it as root", file=sys.stderr
        )
        return 2

    netlab.cleanup_stale()
    work = Path(tempfile.mkdtemp(prefix="diagnose-vs-cli-"))
    flags = [*S.TARGET_FLAGS, "--region", S.REGION]
    limits = {"ca-login diagnose": OUR_LIMIT, "ca-login login": OUR_LIMIT, "aws CLI": a.cli_limit}
    # name -> [(seconds, status)], status: answered (a verdict / an error naming the cause), stopped, failed
    rows: dict[str, list[tuple[float, str]]] = {name: [] for name in limits}
    with netlab.Lab() as lab:
        net = S.SeedNetwork(lab, work / "net").start(lifetime=3600)
        net.no_endpoint()
        print("scenario 0: no VPC endpoint (codeartifact and sts names resolve to packet-dropping addresses)")

        for i in range(a.diagnose_runs):
            argv_ = [S.CA_LOGIN, "diagnose", *flags, "--json"]
            secs, proc = timed(net, work / f"d{i}", argv_, OUR_LIMIT)
            status, what = "stopped", ""
            if proc is not None:
                try:
                    v = json.loads(proc.stdout).get("verdict") or {}
                    status, what = "answered", f"exit {proc.returncode}, cause={v.get('cause')}"
                except ValueError:
                    last = (proc.stderr.strip().splitlines() or [""])[-1]
                    status, what = "failed", f"exit {proc.returncode}, no JSON: {last}"
            rows["ca-login diagnose"].append((secs, status))
            print(
                f"  ca-login diagnose       run {i + 1}: {fmt(secs, status, OUR_LIMIT)}  {what}", flush=True
            )

        for i in range(a.login_runs):
            secs, proc = timed(net, work / f"l{i}", [S.CA_LOGIN, "login", *flags], OUR_LIMIT)
            status, what = "stopped", ""
            if proc is not None:
                hint = "yes" if "hint:" in proc.stderr else "no"
                status, what = "answered", f"exit {proc.returncode}, hint: {hint}"
            rows["ca-login login"].append((secs, status))
            print(
                f"  ca-login login          run {i + 1}: {fmt(secs, status, OUR_LIMIT)}  {what}", flush=True
            )

        for i in range(a.cli_runs):
            argv_ = [S.AWS_CLI, "codeartifact", "login", "--tool", "pip", *flags]
            secs, proc = timed(net, work / f"c{i}", argv_, a.cli_limit)
            status, what = "stopped", "no output yet, stopped"
            if proc is not None:
                status, what = "answered", f"exit {proc.returncode}: {proc.stderr.strip()[-160:]}"
            rows["aws CLI"].append((secs, status))
            print(
                f"  aws codeartifact login  run {i + 1}: {fmt(secs, status, a.cli_limit)}  {what}", flush=True
            )

    print("\nmedians (time until the program gives its answer, or is stopped):")
    med: dict[str, tuple[float, str]] = {}
    for name, runs in rows.items():
        if not runs:
            continue
        statuses = {st for _, st in runs}
        m = statistics.median(sec for sec, _ in runs)
        status = "failed" if "failed" in statuses else "stopped" if "stopped" in statuses else "answered"
        med[name] = (m, status)
        shown = fmt(m, status, limits[name]).strip()
        print(f"  {name:18s} {shown:>10s}  ({len(runs)} runs)")
    cli = med.get("aws CLI")
    for ours in ("ca-login diagnose", "ca-login login"):
        if ours not in med or not cli:
            continue
        if med[ours][1] != "answered":
            print(f"  ratio aws CLI / {ours}: n/a ({ours}: {fmt(0, med[ours][1], OUR_LIMIT)})")
            continue
        ratio = cli[0] / max(med[ours][0], 1e-3)
        bound = ">= " if cli[1] == "stopped" else ""
        target = " (target: >= 30x)" if ours == "ca-login diagnose" else ""
        print(f"  ratio aws CLI / {ours}: {bound}{ratio:.1f}x sooner{target}")
    if cli and cli[1] == "stopped":
        print(
            f"  note: the CLI was stopped at {a.cli_limit:.0f} s; the ratios are lower bounds "
            "(unstopped, AWS CLI v1 would wait about 300 s: 60 s connect time-out x 5 attempts, "
            "per its defaults; not measured here)"
        )
    if a.cli_runs:
        print(
            f"  note: {a.cli_runs} CLI runs only, as each takes {a.cli_limit:.0f} s; "
            f"{a.diagnose_runs} diagnose and {a.login_runs} login runs"
        )
    else:
        print("  note: the AWS CLI was not run (--skip-cli / --cli-runs 0): no ratio")
    failed = [n for n, (_, st) in med.items() if st == "failed" and n != "aws CLI"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
