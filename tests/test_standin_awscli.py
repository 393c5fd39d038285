"""The real AWS CLI (awscli from PyPI) logs pip in through the stand-in; the pip it configured installs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import assert_exit, assert_no_token, assert_same_secret

AWS = shutil.which("aws", path=str(Path(sys.executable).parent))

LOGIN = [
    "codeartifact",
    "login",
    "--tool",
    "pip",
    "--domain",
    "mydomain",
    "--domain-owner",
    "111122223333",
    "--repository",
    "isolatedsm",
]


def _aws(args, env, timeout=120):
    assert AWS, f"no `aws` next to {sys.executable}\nhint: .venv/bin/pip install -r requirements-dev.txt"
    return subprocess.run(
        [AWS, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _issued_tokens(standin):
    """Successful token calls (the records never hold tokens; pip's config has the one pip got)."""
    return [c for c in standin.calls if c["operation"] == "GetAuthorizationToken" and c["status"] == 200]


def test_aws_version_runs_from_the_venv(isolated_env):
    r = _aws(["--version"], isolated_env())
    assert r.returncode == 0 and r.stdout.startswith("aws-cli/1.")


def test_aws_codeartifact_login_configures_pip_which_installs_the_demo_wheel(
    standin, aws_env, pip_venv, isolated_env
):
    env = pip_venv.env(aws_env)  # the CLI runs `pip config set` with the first pip on PATH
    r = _aws(LOGIN, env)
    assert_exit(r, 0, what="aws codeartifact login")
    conf = Path(env["HOME"]) / ".config" / "pip" / "pip.conf"
    if not conf.exists():
        conf = pip_venv.dir / "pip.conf"
    text = conf.read_text()
    index = text.split("index-url = ", 1)[1].split()[0]
    token = index.split("aws:", 1)[1].split("@", 1)[0]
    assert_no_token(token, r.stdout, r.stderr, what="AWS CLI output")  # first: the asserts below print it
    assert "Successfully configured pip to use AWS CodeArtifact repository" in r.stdout
    assert "Login expires in 12 hours" in r.stdout
    assert len(_issued_tokens(standin)) == 1
    assert [c["operation"] for c in standin.calls] == ["GetAuthorizationToken", "GetRepositoryEndpoint"]
    state = standin.token_state(token)  # not in the assert: pytest may print the call
    assert state == "valid"
    assert_same_secret(index, standin.index_url(token), "pip.conf's index-url and the stand-in's")

    # pip with nothing but the config the CLI wrote (no --index-url)
    pip_env = pip_venv.env(isolated_env(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1"))
    pip_env["HOME"] = env["HOME"]
    r = pip_venv.run(["install", "--no-input", "--retries", "0", "ca-demo-app"], env=pip_env)
    assert_no_token(token, r.stdout, r.stderr, what="pip output")
    assert_exit(r, 0, token, what="pip install")
    repo_calls = [c for c in standin.calls if c["operation"] == "repository"]
    assert repo_calls and all(c["token_state"] == "valid" for c in repo_calls)
    out = subprocess.run(
        [str(pip_venv.python), "-c", "import ca_demo_pkg; print(ca_demo_pkg.greet())"],
        capture_output=True,
        text=True,
        timeout=60,
        env=isolated_env(),
    )
    assert out.stdout.strip() == "Hello, SageMaker, from ca-demo-pkg 1.0.0"


def test_aws_login_shows_access_denied_from_the_stand_in(standin, aws_env, pip_venv):
    standin.set_fault("access-denied-identity")
    r = _aws(LOGIN, pip_venv.env(aws_env))
    assert r.returncode != 0
    assert "AccessDeniedException" in r.stderr
    assert "because no identity-based policy allows the codeartifact:GetAuthorizationToken action" in r.stderr
    assert not (Path(aws_env["HOME"]) / ".config" / "pip" / "pip.conf").exists()


def test_aws_login_with_wrong_secret_is_rejected(standin, aws_env, pip_venv):
    env = pip_venv.env(aws_env)
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
    r = _aws(LOGIN, env)
    assert r.returncode != 0 and "InvalidSignatureException" in r.stderr


def test_aws_login_duration_reaches_the_stand_in(standin, aws_env, pip_venv):
    r = _aws([*LOGIN, "--duration-seconds", "900"], pip_venv.env(aws_env))
    assert r.returncode == 0, r.stderr
    assert "Login expires in 15 minutes" in r.stdout
    assert standin.calls[0]["query"]["duration"] == "900"
