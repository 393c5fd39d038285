"""`make demo` runs scripts/demo.py: keep it working."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_logs_in_and_installs_a_package_through_the_stand_in(isolated_env):
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=isolated_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Successfully installed ca-demo-app-1.0.0 ca-demo-pkg-1.0.0" in r.stdout
    assert "Hello, SageMaker, from ca-demo-pkg 1.0.0" in r.stdout
    assert "aws:****@" in r.stdout
    assert r.stdout.rstrip().endswith("demo: ok")
