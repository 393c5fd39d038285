"""Real Jupyter kernels for the tests: the environment a kernel gets (this venv's tools, the test's HOME, fake keys,
the stand-in's loopback endpoints and nothing else), running cells in a new kernel, and putting this venv back as
it was after a cell ran ``%pip install``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

PIP = Path(sys.executable).parent / "pip"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def kernel_environ(api_url: str, home: Path, **extra: str) -> dict[str, str]:
    """The whole environment of a test kernel against the stand-in at `api_url` (CodeArtifact and STS), with
    `home` as HOME and `extra` added."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
        "AWS_REGION": "us-west-2",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
        "AWS_ENDPOINT_URL_CODEARTIFACT": api_url,
        "AWS_ENDPOINT_URL_STS": api_url,
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        **extra,
    }


def uninstall_demo_package(env: dict[str, str]) -> None:
    """Take out what a cell's ``%pip install ca-demo-pkg`` put into this venv."""
    subprocess.run(
        [str(PIP), "uninstall", "-y", "-q", "ca-demo-pkg"], env=env, capture_output=True, timeout=120
    )


def run_cells(cells: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """Each cell's outputs as text (streams, rich text, error tracebacks), through a new real kernel."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=env)
    texts = []
    for cell in nb.cells:
        parts = []
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts += [ANSI.sub("", line) for line in out.get("traceback", [])]
            parts += [v for k, v in out.get("data", {}).items() if k == "text/plain"]
        texts.append("\n".join(parts))
    return texts
