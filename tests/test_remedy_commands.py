"""Verdict.commands (issue 9 item 6): every `aws ...` command a diagnosis suggests is one the real AWS CLI accepts.
Each runs through .venv's `aws` with --endpoint-url at a closed loopback port: it must fail on the connection
("Could not connect to the endpoint URL"), never on its arguments. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import ca_login
import pytest
from loopback import closed_port

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
AWS = str(Path(sys.executable).parent / "aws")
CONNECT_FAILED = "Could not connect to the endpoint URL"

# fault, operation it targets, the verdict's cause, a command the verdict must hold
CASES = [
    (
        "access-denied-identity",
        "GetAuthorizationToken",
        "access-denied-identity-policy",
        "aws iam put-role-policy",
    ),
    (
        "access-denied-vpc-endpoint",
        "GetAuthorizationToken",
        "access-denied-vpc-endpoint-policy",
        "aws ec2 modify-vpc-endpoint",
    ),
    (
        "access-denied-scp",
        "GetAuthorizationToken",
        "access-denied-scp",
        "aws organizations list-policies-for-target",
    ),
    (
        "access-denied-rcp",
        "GetAuthorizationToken",
        "access-denied-rcp",
        "aws organizations list-policies-for-target",
    ),
    (
        "access-denied-permissions-boundary",
        "GetAuthorizationToken",
        "access-denied-permissions-boundary",
        "aws iam get-role",
    ),
    (
        "access-denied-resource",
        "GetAuthorizationToken",
        "access-denied-resource-policy",
        "aws codeartifact put-domain-permissions-policy",
    ),
    (
        "access-denied-resource",
        "GetRepositoryEndpoint",
        "access-denied-resource-policy",
        "aws codeartifact put-repository-permissions-policy",
    ),
    ("access-denied-no-reason", "GetAuthorizationToken", "access-denied", "aws iam list-role-policies"),
    ("domain-not-found", "GetAuthorizationToken", "domain-not-found", "aws codeartifact list-domains"),
    (
        "repository-not-found",
        "GetRepositoryEndpoint",
        "repository-not-found",
        "aws codeartifact list-repositories-in-domain",
    ),
    ("hang", "all", "api-endpoint-no-response", "aws ec2 describe-vpc-endpoints"),
]


def aws_invocations(command: str) -> list[list[str]]:
    """The `aws ...` argument lists in one suggested line: `X=$(aws ... | cut ...)` gives its inner `aws`,
    shell variables ("$VPCE_ID") become a placeholder value (ARN-shaped: some parameters have a minimum length)."""
    out = []
    for m in re.finditer(r"(?:^|\$\()\s*(aws [^|)]*?)\s*(?:\||\)|$)", command):
        text = re.sub(r'"?\$[A-Z_]+"?', "arn:aws:iam::111122223333:policy/placeholder", m.group(1))
        out.append(shlex.split(text))
    return out


def fails_on_connection(argv: list[str], env: dict[str, str], port: int) -> tuple[bool, str]:
    """Run `argv` through the real AWS CLI at a closed loopback port: (failed on the connection, stderr tail)."""
    assert argv[0] == "aws"
    proc = subprocess.run(
        [AWS, *argv[1:], "--endpoint-url", f"http://127.0.0.1:{port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode != 0 and CONNECT_FAILED in proc.stderr, proc.stderr[-600:]


@pytest.mark.parametrize(
    ("fault", "operation", "cause", "expected"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_every_suggested_aws_command_is_accepted_by_the_aws_cli(
    lib_env, aws_env, fault, operation, cause, expected
):
    lib_env.set_fault(fault, operation=operation)
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=1.0)
    assert d.verdict is not None and d.verdict.cause == cause, str(d)
    commands = d.verdict.commands
    assert any(expected in c for c in commands), commands
    invocations = [argv for c in commands for argv in aws_invocations(c)]
    assert invocations, commands
    port = closed_port()
    for argv in invocations:
        ok, err = fails_on_connection(argv, aws_env, port)
        assert ok, f"{shlex.join(argv)}\nfailed before connecting:\n{err}"


@pytest.mark.parametrize("fault", ["access-denied-identity", "domain-not-found"])
def test_python_commands_end_with_a_python_login_and_cli_ones_with_ca_login(lib_env, aws_env, fault):
    lib_env.set_fault(fault, operation="GetAuthorizationToken")
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=1.0)
    cli = ca_login._core.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=1.0, face="cli")
    cli_commands = ca_login.Diagnosis.from_json(cli).verdict.commands
    if fault == "access-denied-identity":
        assert d.verdict.commands[-1] == (
            f'ca_login.login(domain="{DOMAIN}", repository="{REPO}", domain_owner="{OWNER}", region="{REGION}")'
        )
        assert cli_commands[-1] == (
            f"ca-login login --domain {DOMAIN} --repository {REPO} --domain-owner {OWNER} --region {REGION}"
        )

    def shell_only(commands):
        return [c for c in commands if not c.startswith(("ca_login.", "ca-login "))]

    assert shell_only(d.verdict.commands) == shell_only(cli_commands) != []
    assert not any("diagnose" in c for c in (*d.verdict.commands, *cli_commands))


def test_cli_diagnose_prints_the_commands_under_the_verdict(lib_env, aws_env):
    lib_env.set_fault("access-denied-identity", operation="GetAuthorizationToken")
    ca = str(Path(sys.executable).parent / "ca-login")
    args = ["diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO, "--timeout", "1"]
    out = subprocess.run([ca, *args], env=aws_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    tail = out.stdout.split("Verdict: ", 1)[1]
    assert "run:" in tail
    flat = re.sub(r" \\\n\s+", " ", tail)  # the code block wraps long commands with a trailing backslash
    assert "aws iam put-role-policy --role-name GeneralIsolatedNotebook" in flat
    assert f"ca-login login --domain {DOMAIN}" in flat


def test_a_broken_command_fails_the_check(aws_env):
    port = closed_port()
    for broken in (
        "aws ec2 modify-vpc-endpoint --region us-west-2 --no-such-flag x",
        "aws codeartifact put-domain-permissions-policy --region us-west-2 --domain d",  # --policy-document missing
        "aws iam put-role-policies --role-name R",  # no such operation
    ):
        ok, _ = fails_on_connection(aws_invocations(broken)[0], aws_env, port)
        assert not ok, broken
