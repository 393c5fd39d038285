"""diagnose(package=...): for each reason pip says "No matching distribution found", real pip fails against the
stand-in while diagnose names the cause; the fix it gives (through boto3 or the command it names) lets pip succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ca_login
import pytest
from conftest import assert_exit, assert_no_token, redacted
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn, build_demo_wheels
from standin.wheels import build_package_wheels

DOMAIN, OWNER, REPO, REGION = "mydomain", "111122223333", "isolatedsm", "us-west-2"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")
NO_MATCH = "No matching distribution found"


@pytest.fixture(scope="module")
def case_dirs(tmp_path_factory):
    local, public = tmp_path_factory.mktemp("local"), tmp_path_factory.mktemp("public")
    build_demo_wheels(local)
    marks = build_package_wheels(local, public, sys.version_info[:2])
    return local, public, marks


def make_standin(case_dirs, **kw) -> StandIn:
    local, public, marks = case_dirs
    kw.setdefault("yanked", {marks["yanked"]: "broken build"})
    kw.setdefault("version_status", {("ca-archived", "2.0"): "Archived"})
    kw.setdefault("package_config", {"ca-blocked": {"publish": "ALLOW", "upstream": "BLOCK"}})
    return StandIn(packages_dir=local, public_packages_dir=public, **kw).start()


@pytest.fixture
def pkg_env(case_dirs, monkeypatch):
    s = make_standin(case_dirs)
    try:
        point_at(monkeypatch, s)
        yield s
    finally:
        s.stop()


def point_at(monkeypatch, s):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", s.api_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", s.api_url)
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER)


def diagnose(*packages: str) -> ca_login.Diagnosis:
    return ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2.0, packages=list(packages))


def package_checks(d):
    return [c for c in d.checks if c.name == "package"]


def verdict(d, cause: str):
    assert not d.ok, str(d)
    assert d.verdict.layer == "package", str(d)
    assert d.verdict.cause == cause, str(d)
    return d.verdict


def pip_download(s: StandIn, req: str, dest: Path, isolated_env) -> tuple[subprocess.CompletedProcess, str]:
    token = s.issue_token()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "-d",
            str(dest),
            "--index-url",
            s.index_url(token),
            req,
        ],
        env=isolated_env(PIP_CONFIG_FILE=os.devnull),
        capture_output=True,
        text=True,
        timeout=120,
    ), token


def pip_fails(s, req, tmp_path, isolated_env):
    proc, token = pip_download(s, req, tmp_path / "fail", isolated_env)
    assert_exit(proc, 1, token, what=f"pip download {req}")
    no_match = NO_MATCH in proc.stderr
    assert no_match, redacted(proc.stderr, token)


def pip_succeeds(s, req, tmp_path, isolated_env):
    proc, token = pip_download(s, req, tmp_path / "ok", isolated_env)
    assert_exit(proc, 0, token, what=f"pip download {req}")


def client(s, boto_client):
    return boto_client("codeartifact", s)


def test_a_fitting_package_passes_and_names_the_file_pip_takes(pkg_env):
    d = diagnose("ca-demo-pkg>=1.0")
    assert d.ok, str(d)
    (c,) = package_checks(d)
    assert c.status == "ok" and c.layer == "package"
    assert "JSON page" in c.detail and "ca_demo_pkg-1.0.0-py3-none-any.whl" in c.detail


def test_version_not_found_lists_nearest_versions_and_the_pin_that_works(pkg_env, tmp_path, isolated_env):
    pip_fails(pkg_env, "ca-demo-pkg==9.9", tmp_path, isolated_env)
    v = verdict(diagnose("ca-demo-pkg==9.9"), "package-version-not-found")
    assert "pip install 'ca-demo-pkg==1.0.0'" in v.remedy
    assert "1.0.0" in package_checks(diagnose("ca-demo-pkg==9.9"))[0].detail
    pip_succeeds(pkg_env, "ca-demo-pkg==1.0.0", tmp_path, isolated_env)


def test_wheels_for_another_python_are_no_compatible_file_naming_the_python_tag(
    pkg_env, tmp_path, isolated_env
):
    pip_fails(pkg_env, "ca-nextpy-only==2.0", tmp_path, isolated_env)
    d = diagnose("ca-nextpy-only==2.0")
    v = verdict(d, "package-no-compatible-file")
    major, minor = sys.version_info[:2]
    assert f"python tag cp{major}{minor + 1}" in package_checks(d)[0].detail
    assert "pip install 'ca-nextpy-only==1.0'" in v.remedy
    pip_succeeds(pkg_env, "ca-nextpy-only==1.0", tmp_path, isolated_env)


def test_a_newer_glibc_wheel_names_both_glibc_levels(pkg_env, tmp_path, isolated_env):
    pip_fails(pkg_env, "ca-newglibc==2.0", tmp_path, isolated_env)
    d = diagnose("ca-newglibc==2.0")
    v = verdict(d, "package-no-compatible-file")
    assert "needs glibc 2.40, this machine has glibc 2." in package_checks(d)[0].detail
    assert "pip install 'ca-newglibc==1.0'" in v.remedy


def test_requires_python_above_this_interpreter_is_no_compatible_file(pkg_env, tmp_path, isolated_env):
    pip_fails(pkg_env, "ca-newpython>=2", tmp_path, isolated_env)
    d = diagnose("ca-newpython>=2")
    v = verdict(d, "package-no-compatible-file")
    major, minor = sys.version_info[:2]
    assert f"requires-python >={major}.{minor + 1}" in package_checks(d)[0].detail
    assert "pip install 'ca-newpython==1.0'" in v.remedy


def test_only_yanked_files_is_all_yanked_and_a_pin_is_a_warning(pkg_env, tmp_path, isolated_env):
    pip_fails(pkg_env, "ca-yanked-only", tmp_path, isolated_env)
    v = verdict(diagnose("ca-yanked-only"), "package-all-yanked")
    assert "pip install 'ca-yanked-only==1.0'" in v.remedy
    d = diagnose("ca-yanked-only==1.0")
    assert d.ok and package_checks(d)[0].status == "warn", str(d)
    pip_succeeds(pkg_env, "ca-yanked-only==1.0", tmp_path, isolated_env)


def test_an_archived_version_is_unavailable_and_the_status_update_fixes_it(
    pkg_env, tmp_path, isolated_env, boto_client
):
    pip_fails(pkg_env, "ca-archived==2.0", tmp_path, isolated_env)
    v = verdict(diagnose("ca-archived==2.0"), "package-version-unavailable")
    assert "Archived" in v.summary
    assert (
        "update-package-versions-status" in v.remedy
        and "--versions 2.0 --target-status Published" in v.remedy
    )
    client(pkg_env, boto_client).update_package_versions_status(
        domain=DOMAIN,
        domainOwner=OWNER,
        repository=REPO,
        format="pypi",
        package="ca-archived",
        versions=["2.0"],
        targetStatus="Published",
    )
    assert diagnose("ca-archived==2.0").ok
    pip_succeeds(pkg_env, "ca-archived==2.0", tmp_path, isolated_env)


def test_upstream_block_is_origin_blocked_and_allowing_it_fixes_it(
    pkg_env, tmp_path, isolated_env, boto_client
):
    pip_fails(pkg_env, "ca-blocked", tmp_path, isolated_env)
    v = verdict(diagnose("ca-blocked"), "package-origin-blocked")
    assert "put-package-origin-configuration" in v.remedy
    assert "--package ca-blocked --restrictions publish=ALLOW,upstream=ALLOW" in v.remedy
    client(pkg_env, boto_client).put_package_origin_configuration(
        domain=DOMAIN,
        domainOwner=OWNER,
        repository=REPO,
        format="pypi",
        package="ca-blocked",
        restrictions={"publish": "ALLOW", "upstream": "ALLOW"},
    )
    assert diagnose("ca-blocked").ok
    pip_succeeds(pkg_env, "ca-blocked", tmp_path, isolated_env)


def test_an_upstream_without_external_connection_is_not_found_and_associating_fixes_it(
    case_dirs, monkeypatch, tmp_path, isolated_env, boto_client
):
    sources = {
        "isolatedsm": {"upstreams": ["pypi-store"], "external_connections": []},
        "pypi-store": {"upstreams": [], "external_connections": []},
    }
    s = make_standin(case_dirs, repository_sources=sources)
    try:
        point_at(monkeypatch, s)
        pip_fails(s, "ca-public-only", tmp_path, isolated_env)
        v = verdict(diagnose("ca-public-only"), "package-not-found")
        assert "pypi-store" in v.summary
        assert "associate-external-connection" in v.remedy
        assert "--repository pypi-store --external-connection public:pypi" in v.remedy
        client(s, boto_client).associate_external_connection(
            domain=DOMAIN, domainOwner=OWNER, repository="pypi-store", externalConnection="public:pypi"
        )
        assert diagnose("ca-public-only").ok
        pip_succeeds(s, "ca-public-only", tmp_path, isolated_env)
    finally:
        s.stop()


def test_no_upstream_at_all_gives_create_associate_and_update_repository(case_dirs, monkeypatch):
    s = make_standin(
        case_dirs, repository_sources={"isolatedsm": {"upstreams": [], "external_connections": []}}
    )
    try:
        point_at(monkeypatch, s)
        v = verdict(diagnose("ca-public-only"), "package-not-found")
        for cmd in ("create-repository", "associate-external-connection", "update-repository"):
            assert f"aws codeartifact {cmd}" in v.remedy, v.remedy
        assert "--upstreams repositoryName=pypi-store" in v.remedy
    finally:
        s.stop()


def test_a_name_pypi_does_not_have_says_check_the_name(pkg_env, tmp_path, isolated_env):
    pip_fails(pkg_env, "ca-no-such-thing", tmp_path, isolated_env)
    v = verdict(diagnose("ca_No.Such-Thing"), "package-not-found")
    assert "check the name" in v.remedy and "ca-no-such-thing" in v.remedy


def test_html_only_repository_reads_requires_python_and_yanked_from_the_page(case_dirs, monkeypatch):
    s = make_standin(case_dirs, simple_json=False)
    try:
        point_at(monkeypatch, s)
        d = diagnose("ca-newpython>=2", "ca-yanked-only", "ca-demo-pkg")
        checks = package_checks(d)
        assert [c.status for c in checks] == ["fail", "fail", "ok"], str(d)
        assert all("HTML page" in c.detail for c in checks)
        assert "requires-python" in checks[0].detail
        assert d.verdict.cause == "package-no-compatible-file"
    finally:
        s.stop()


def test_denied_api_calls_still_give_a_cause_and_the_command_for_someone_with_access(pkg_env):
    pkg_env.set_fault("access-denied-identity")
    d = diagnose("ca-public-never")
    # GetAuthorizationToken is denied too: the package check is a skip, not a guess.
    assert package_checks(d)[0].status == "skip"
    pkg_env.clear_faults()
    pkg_env.set_fault("access-denied-identity", operation="DescribePackage,DescribeRepository")
    d = diagnose("ca-public-never")
    v = verdict(d, "package-not-found")
    assert "DescribeRepository failed (access-denied-identity-policy" in package_checks(d)[0].detail
    assert "ask someone with access to run aws codeartifact describe-repository" in v.remedy


def test_several_packages_get_one_check_each_in_order(pkg_env):
    d = diagnose("ca-demo-pkg", "ca-demo-pkg==9.9", "ca-nextpy-only==2.0")
    checks = package_checks(d)
    assert [c.detail.split(":")[0] for c in checks] == [
        "ca-demo-pkg",
        "ca-demo-pkg==9.9",
        "ca-nextpy-only==2.0",
    ]
    assert [c.status for c in checks] == ["ok", "fail", "fail"]
    assert d.verdict.cause == "package-version-not-found"


def test_a_failed_repository_read_makes_each_package_a_skip(pkg_env):
    pkg_env.set_fault("repo-403")
    d = diagnose("ca-demo-pkg", "ca-blocked")
    assert [c.status for c in package_checks(d)] == ["skip", "skip"]
    assert d.verdict.cause == "repository-forbidden"


def test_cli_package_flag_with_json_exits_1_and_names_the_cause(pkg_env, aws_env):
    env = dict(aws_env, AWS_ENDPOINT_URL_CODEARTIFACT=pkg_env.api_url, AWS_ENDPOINT_URL_STS=pkg_env.api_url)
    args = [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
    proc = subprocess.run(
        [*args, "--json", "--package", "ca-demo-pkg", "--package", "ca-archived==2.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_exit(proc, 1)
    j = json.loads(proc.stdout)
    assert j["verdict"]["cause"] == "package-version-unavailable"
    assert [c["status"] for c in j["checks"] if c["name"] == "package"] == ["ok", "fail"]


def test_no_token_in_any_output_of_the_package_layer(pkg_env, aws_env):
    token = pkg_env.issue_token()
    env = dict(aws_env, AWS_ENDPOINT_URL_CODEARTIFACT=pkg_env.api_url, AWS_ENDPOINT_URL_STS=pkg_env.api_url)
    d = diagnose("ca-demo-pkg", "ca-blocked", "ca-nextpy-only==2.0")
    cli = subprocess.run(
        [CA_LOGIN, "diagnose", "--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO]
        + ["--package", "ca-archived==2.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    texts = [str(d), repr(d), d._repr_html_(), d.to_json(), cli.stdout, cli.stderr]
    assert_no_token(token, *texts)
    for t in texts:
        assert redacted(t) == t, "a token-shaped string or URL password in the output"


@pytest.mark.parametrize(
    "bad", ["ca-demo-pkg @ https://example.invalid/x.whl", "ca-demo-pkg>=", "ca-demo-pkg[x", "==1.0", "a>>1"]
)
def test_bad_requirements_are_invalid_input_before_any_call(pkg_env, bad):
    pkg_env.reset_calls()
    with pytest.raises(ca_login.InvalidInput):
        diagnose(bad)
    assert pkg_env.calls == []
