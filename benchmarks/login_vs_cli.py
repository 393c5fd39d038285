"""Benchmark: a cold `python -c "import ca_login; ca_login.login(...)"` against `aws codeartifact login --tool pip`,
both on the same CodeArtifact stand-in on loopback; plus repeated in-process logins.

Prints medians and the ratio (target: at least 20x faster than the AWS CLI; in-process repeat under 10 ms).
Never reaches AWS: fake keys, a temporary HOME, metadata disabled, every endpoint on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn  # noqa: E402

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"


def clean_env(home: Path, api_url: str) -> dict[str, str]:
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    for f in ("config", "credentials"):
        (home / ".aws" / f).write_text("")
    bindir = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ENDPOINT_URL_CODEARTIFACT": api_url,
        "AWS_ENDPOINT_URL_STS": api_url,
    }


def time_runs(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{argv[0]} failed (exit {r.returncode}): {r.stderr[-500:]}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10, help="cold runs of each (at least 10 for the report)")
    ap.add_argument("--repeat", type=int, default=200, help="in-process repeated logins")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp, StandIn() as standin:
        env = clean_env(Path(tmp) / "home", standin.api_url)
        ours = [
            sys.executable,
            "-c",
            f"import ca_login; ca_login.login({DOMAIN!r}, {REPO!r}, domain_owner={OWNER!r})",
        ]
        cli = [
            str(Path(sys.executable).parent / "aws"),
            "codeartifact",
            "login",
            "--tool",
            "pip",
            "--domain",
            DOMAIN,
            "--domain-owner",
            OWNER,
            "--repository",
            REPO,
        ]
        # one warm-up each (page cache), not counted
        time_runs(ours, env, 1)
        time_runs(cli, env, 1)
        t_ours = time_runs(ours, env, args.runs)
        t_cli = time_runs(cli, env, args.runs)

        # in-process repeated logins, in this process with the same clean environment
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            import ca_login

            ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
            rep = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
                rep.append(time.perf_counter() - t0)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    m_ours, m_cli = statistics.median(t_ours), statistics.median(t_cli)
    print(f"cold login, median of {args.runs}:")
    def spread(t: list[float]) -> str:
        return f"(min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f})"

    print(f"  ca_login (python -c import+login): {m_ours * 1000:8.1f} ms  {spread(t_ours)}")
    print(f"  aws codeartifact login --tool pip: {m_cli * 1000:8.1f} ms  {spread(t_cli)}")
    print(f"  ratio (AWS CLI / ca_login):        {m_cli / m_ours:8.1f}x   (target >= 20x)")
    print(
        f"in-process repeated login, median of {args.repeat}: {statistics.median(rep) * 1000:.2f} ms "
        f"(p90 {sorted(rep)[int(len(rep) * 0.9)] * 1000:.2f} ms; target < 10 ms)"
    )


if __name__ == "__main__":
    main()
