"""The example notebooks, executed headless (nbclient) against the stand-in, with a kernel from the test venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import assert_no_token, redacted
from nbclient import NotebookClient
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
PIP = Path(sys.executable).parent / "pip"


@pytest.fixture
def kernel_env(standin, _clean_env, tmp_path):
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(_clean_env),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
        "AWS_REGION": "us-west-2",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
        "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
        "AWS_ENDPOINT_URL_CODEARTIFACT": standin.api_url,
        "AWS_ENDPOINT_URL_STS": standin.api_url,
        "CA_LOGIN_DOMAIN": "mydomain",
        "CA_LOGIN_DOMAIN_OWNER": "111122223333",
        "CA_LOGIN_REPOSITORY": "isolatedsm",
        "CA_LOGIN_DEMO_STANDIN_CONTROL": standin.control_url,
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    yield env
    # %pip install went into this venv: leave it as it was.
    subprocess.run(
        [str(PIP), "uninstall", "-y", "-q", "ca-demo-pkg"], env=env, capture_output=True, timeout=120
    )


def run_notebook(name: str, env: dict[str, str], cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=env)
    return nb


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for v in out.get("data", {}).values():
                parts.append(v if isinstance(v, str) else str(v))
    return "\n".join(parts)


def pip_conf_token(home: Path) -> str:
    import configparser

    p = configparser.RawConfigParser()
    p.read(home / ".config" / "pip" / "pip.conf")
    return p.get("global", "index-url").split("aws:", 1)[1].split("@", 1)[0]


def test_quickstart_notebook_logs_in_installs_and_shows_status(kernel_env, tmp_path, _clean_env, standin):
    nb = run_notebook("01-quickstart.ipynb", kernel_env, tmp_path)
    text = outputs_text(nb)
    token = pip_conf_token(_clean_env)
    assert_no_token(token, text, what="notebook outputs")  # first: the asserts below print the outputs
    assert "Successfully installed ca-demo-pkg-1.0.0" in text
    assert "Hello, SageMaker, from ca-demo-pkg 1.0.0" in text
    assert "aws:****@" in text
    # ensure_login() in the last cell made no call: one token request in all
    assert len([c for c in standin.calls if c.get("operation") == "GetAuthorizationToken"]) == 1


def test_when_pip_hangs_notebook_names_each_broken_piece(kernel_env, tmp_path, _clean_env):
    nb = run_notebook("02-when-pip-hangs.ipynb", kernel_env, tmp_path)
    text = outputs_text(nb)
    token = pip_conf_token(_clean_env)
    assert_no_token(token, text, what="notebook outputs")  # first: the asserts below print the outputs
    assert "put-role-policy" in text
    assert "modify-vpc-endpoint" in text
    for cause in (
        "access-denied-identity-policy",
        "access-denied-vpc-endpoint-policy",
        "repository-forbidden",
    ):
        assert f"FAILED, {cause}" in text, cause
    assert '"ok": true' in text


def test_lifetime_and_extension_notebook_runs_in_order_with_one_token_call(
    kernel_env, tmp_path, _clean_env, standin
):
    nb = run_notebook("03-lifetime-and-extension.ipynb", kernel_env, tmp_path)
    text = outputs_text(nb)
    # the last cell logs out (pip.conf no longer holds the token): no URL password or token-shaped string at all
    clean = redacted(text) == text
    assert clean, "a token or URL password in the notebook outputs"
    assert "ca-login status: OK: pip uses the token for mydomain/isolatedsm" in text
    assert "Token still valid, no call made" in text
    assert "ca_login refresher: running" in text and "ca_login refresher: stopped" in text
    assert "Successfully installed ca-demo-pkg-1.0.0" in text
    assert "ca_login logout:" in text
    assert "aws:****@" in text
    # the %pip cell found the token fresh: the login in the first cell is the only token request
    assert len([c for c in standin.calls if c.get("operation") == "GetAuthorizationToken"]) == 1
