"""The stand-in's repository endpoint (PEP 503 / PEP 691) and pip against it."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import urllib.error
import urllib.request
import zipfile

import pytest
from conftest import assert_exit, assert_no_token
from standin import normalize


def _get(url, token=None, accept=None, user="aws"):
    headers = {}
    if token is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    if accept:
        headers["Accept"] = accept

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_pep503_name_normalization():
    assert normalize("CA_Demo.Pkg") == "ca-demo-pkg"
    assert normalize("ca--demo__pkg") == "ca-demo-pkg"


def test_simple_index_lists_demo_projects_as_html(standin):
    status, headers, body = _get(standin.repository_endpoint() + "simple/", standin.issue_token(60))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<a href="ca-demo-pkg/">' in body.decode() and '<a href="ca-demo-app/">' in body.decode()


def test_project_page_links_carry_sha256_of_the_served_file(standin):
    tok = standin.issue_token(60)
    page_url = standin.repository_endpoint() + "simple/ca-demo-pkg/"
    status, _, body = _get(page_url, tok)
    assert status == 200
    href = body.decode().split('href="')[1].split('"')[0]
    rel, _, digest = href.partition("#sha256=")
    status, _, wheel = _get(page_url + rel, tok)
    assert status == 200 and hashlib.sha256(wheel).hexdigest() == digest


def test_pep691_json_when_accept_asks(standin):
    status, headers, body = _get(
        standin.repository_endpoint() + "simple/ca-demo-app/",
        standin.issue_token(60),
        accept="application/vnd.pypi.simple.v1+json, text/html;q=0.01",
    )
    assert status == 200 and headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    data = json.loads(body)
    assert (
        data["name"] == "ca-demo-app" and data["files"][0]["filename"] == "ca_demo_app-1.0.0-py3-none-any.whl"
    )
    assert len(data["files"][0]["hashes"]["sha256"]) == 64


def test_unnormalized_project_name_redirects(standin):
    status, headers, _ = _get(standin.repository_endpoint() + "simple/CA_Demo.Pkg/", standin.issue_token(60))
    assert status == 301 and headers["Location"].endswith("/pypi/isolatedsm/simple/ca-demo-pkg/")


def test_vpce_path_form_serves_the_same_repository(standin):
    url = f"{standin.api_url}/pypi/d/mydomain-111122223333/isolatedsm/simple/ca-demo-pkg/"
    assert _get(url, standin.issue_token(60))[0] == 200
    assert (
        _get(
            f"{standin.api_url}/pypi/d/otherdomain-111122223333/isolatedsm/simple/", standin.issue_token(60)
        )[0]
        == 404
    )


@pytest.mark.parametrize("case", ["missing", "expired", "forged", "wrong-user"])
def test_bad_credentials_get_401_with_basic_challenge(standin, case):
    token = {
        "missing": None,
        "expired": standin.issue_token(-1),
        "forged": "eyJ2ZXIiOjF9.AAAA.BBBB",
        "wrong-user": standin.issue_token(60),
    }[case]
    status, headers, _ = _get(
        standin.repository_endpoint() + "simple/", token, user="bob" if case == "wrong-user" else "aws"
    )
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")


def test_unknown_repository_is_404(standin):
    assert _get(f"{standin.api_url}/pypi/otherrepo/simple/", standin.issue_token(60))[0] == 404


@pytest.mark.parametrize("code", [401, 403, 404])
def test_repo_faults_answer_their_status(standin, code):
    standin.set_fault(f"repo-{code}")
    status, headers, _ = _get(standin.repository_endpoint() + "simple/", standin.issue_token(60))
    assert status == code
    assert ("WWW-Authenticate" in headers) == (code == 401)


def test_demo_wheel_is_a_valid_wheel(wheelhouse):
    whl = wheelhouse / "ca_demo_pkg-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        assert "ca_demo_pkg/__init__.py" in names
        record = z.read("ca_demo_pkg-1.0.0.dist-info/RECORD").decode()
        for line in record.splitlines():
            path, h, _ = line.split(",")
            if h:
                digest = base64.urlsafe_b64encode(hashlib.sha256(z.read(path)).digest()).rstrip(b"=").decode()
                assert h == "sha256=" + digest
        assert "Name: ca-demo-pkg" in z.read("ca_demo_pkg-1.0.0.dist-info/METADATA").decode()


def _pip_install(pip_venv, isolated_env, index_url, *pkgs, verbose=False):
    # the index URL holds the token: pass it in the environment, never on a command line
    env = pip_venv.env(isolated_env(PIP_NO_INPUT="1", PIP_INDEX_URL=index_url))
    return pip_venv.run(
        [
            "install",
            "--no-input",
            *(["-vv"] if verbose else []),
            "--disable-pip-version-check",
            "--retries",
            "0",
            "--timeout",
            "10",
            *pkgs,
        ],
        env=env,
    )


def test_pip_installs_demo_app_and_dependency_with_token(standin, pip_venv, isolated_env):
    tok = standin.issue_token(300)
    r = _pip_install(pip_venv, isolated_env, standin.index_url(tok), "ca-demo-app")
    assert_no_token(tok, r.stdout, r.stderr, what="pip output")
    assert_exit(r, 0, tok, what="pip install")
    out = subprocess.run(
        [str(pip_venv.python), "-c", "import ca_demo_app; print(ca_demo_app.main())"],
        capture_output=True,
        text=True,
        timeout=60,
        env=isolated_env(),
    )
    assert out.stdout.strip() == "Hello, ca-demo-app, from ca-demo-pkg 1.0.0"


@pytest.mark.parametrize("fault,expect", [("repo-401", "401"), ("repo-403", "403"), ("repo-404", "404")])
def test_pip_fails_without_prompting_on_repo_faults(standin, pip_venv, isolated_env, fault, expect):
    standin.set_fault(fault)
    tok = standin.issue_token(300)
    r = _pip_install(pip_venv, isolated_env, standin.index_url(tok), "ca-demo-pkg", verbose=True)
    text = r.stdout + r.stderr
    assert_no_token(tok, text, what="pip output")  # first: the asserts below print it
    assert r.returncode != 0
    assert f"{expect} Client Error" in text and "No matching distribution found for ca-demo-pkg" in text
    assert "User for" not in text
    assert any(c["status"] == int(expect) for c in standin.calls)


def test_pip_with_expired_token_gets_401_and_fails(standin, pip_venv, isolated_env):
    tok = standin.issue_token(-10)
    r = _pip_install(pip_venv, isolated_env, standin.index_url(tok), "ca-demo-pkg", verbose=True)
    assert_no_token(tok, r.stdout, r.stderr, what="pip output")  # first: the assert below prints it
    assert r.returncode != 0 and "401 Client Error" in r.stdout + r.stderr
    assert standin.calls[-1]["token_state"] == "expired"


def test_throttle_and_internal_error_can_target_the_repository(standin):
    standin.set_fault("throttle", operation="repository", first=1)
    url = standin.repository_endpoint() + "simple/"
    status, headers, _ = _get(url, standin.issue_token(60))
    assert status == 429 and headers["Retry-After"] == "1"
    assert _get(url, standin.issue_token(60))[0] == 200
    standin.set_fault("internal-error", operation="repository")
    assert _get(url, standin.issue_token(60))[0] == 500
