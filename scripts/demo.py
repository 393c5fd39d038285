"""The main job, end to end, on this machine with no AWS: start the CodeArtifact stand-in on loopback, log pip in
with `ca-login login`, pip-install a package through it in a fresh venv, and show the result.

Run with `make demo` (which sets up .venv and builds the extension first).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn  # noqa: E402

BIN = Path(sys.executable).parent


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def run(argv: list[str], env: dict[str, str], show: list[str] | None = None) -> subprocess.CompletedProcess:
    print("$ " + " ".join(shlex.quote(a) for a in (show or argv)), flush=True)
    r = subprocess.run(argv, env=env, text=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"demo: step failed with exit code {r.returncode}")
    return r


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ca-login-demo-") as tmp, StandIn() as standin:
        home = Path(tmp) / "home"
        (home / ".aws").mkdir(parents=True)
        for f in ("config", "credentials"):
            (home / ".aws" / f).write_text("")
        # A clean environment: nothing from this machine's PIP_*/AWS_*/SSL_* settings, no metadata service.
        env = {
            "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "AWS_ENDPOINT_URL_CODEARTIFACT": standin.api_url,
            "AWS_ENDPOINT_URL_STS": standin.api_url,
        }
        step(f"CodeArtifact stand-in listening on {standin.api_url} (domain mydomain, repository isolatedsm)")

        step("Log pip in (the token goes into pip's user config; the output shows it masked)")
        run(
            [
                str(BIN / "ca-login"),
                "login",
                "--domain",
                "mydomain",
                "--domain-owner",
                "111122223333",
                "--repository",
                "isolatedsm",
                "--region",
                "us-west-2",
            ],
            env,
        )
        conf = home / ".config" / "pip" / "pip.conf"
        print(f"\n{conf} (mode {oct(conf.stat().st_mode & 0o777)}), token masked:")
        text = conf.read_text()
        for line in text.splitlines():
            if line.startswith("index-url"):
                scheme, rest = line.split("://", 1)
                line = f"{scheme}://aws:****@{rest.split('@', 1)[1]}"
            print("  " + line)

        step("A fresh venv's pip installs through it")
        target = Path(tmp) / "venv"
        base_python = getattr(sys, "_base_executable", sys.executable)
        run([base_python, "-m", "venv", str(target)], env)
        run([str(target / "bin" / "pip"), "install", "--no-input", "--no-cache-dir", "ca-demo-app"], env)
        run([str(target / "bin" / "python"), "-c", "import ca_demo_pkg; print(ca_demo_pkg.greet())"], env)

        step("What the stand-in saw")
        for c in standin.calls:
            if c.get("operation"):
                print(
                    f"  {c['operation']:<24} {c.get('method', ''):<5} {c.get('path', '')} -> {c.get('status')}"
                )
        print("\ndemo: ok")


if __name__ == "__main__":
    main()
