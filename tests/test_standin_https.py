"""HTTPS with the test CA: trusting clients get in, others are refused; the names are AWS's."""

from __future__ import annotations

import socket
import ssl

import botocore.exceptions
import pytest
from conftest import assert_exit, assert_no_token
from standin import make_certs


def test_leaf_certificate_names_the_real_codeartifact_hosts(tmp_path):
    c = make_certs(tmp_path, region="eu-central-1", domain="acme", owner="444455556666")
    info = ssl._ssl._test_decode_cert(str(c.cert_pem))
    sans = {v for _, v in info["subjectAltName"]}
    assert sans == {
        "codeartifact.eu-central-1.amazonaws.com",
        "acme-444455556666.d.codeartifact.eu-central-1.amazonaws.com",
        "acme-444455556666.codeartifact.eu-central-1.on.aws",
        "*.api.codeartifact.eu-central-1.vpce.amazonaws.com",
        "*.d.codeartifact.eu-central-1.vpce.amazonaws.com",
        "sts.eu-central-1.amazonaws.com",
        "localhost",
        "127.0.0.1",
    }
    assert oct(c.key_pem.stat().st_mode & 0o777) == "0o600"


def test_boto3_over_https_with_the_test_ca(standin_https, boto_client):
    c = boto_client(standin=standin_https, verify=str(standin_https.certs.ca_pem))
    assert c.get_authorization_token(domain="mydomain")["authorizationToken"]
    assert standin_https.api_url.startswith("https://127.0.0.1:")


def test_boto3_over_https_without_the_test_ca_is_refused(standin_https, boto_client):
    c = boto_client(standin=standin_https)  # botocore's default bundle: does not know the test CA
    with pytest.raises(botocore.exceptions.SSLError):
        c.get_authorization_token(domain="mydomain")
    assert not [x for x in standin_https.calls if x["operation"] == "GetAuthorizationToken"]


@pytest.mark.parametrize(
    "name,ok",
    [
        ("codeartifact.us-west-2.amazonaws.com", True),
        ("mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com", True),
        ("mydomain-111122223333.codeartifact.us-west-2.on.aws", True),
        ("vpce-0abc-1xyz.api.codeartifact.us-west-2.vpce.amazonaws.com", True),
        ("vpce-0abc-1xyz.d.codeartifact.us-west-2.vpce.amazonaws.com", True),
        ("sts.us-west-2.amazonaws.com", True),
        ("codeartifact.eu-west-1.amazonaws.com", False),
        ("sts.amazonaws.com", False),
    ],
)
def test_tls_hostname_check_against_aws_names(standin_https, name, ok):
    ctx = ssl.create_default_context(cafile=str(standin_https.certs.ca_pem))
    with socket.create_connection(("127.0.0.1", standin_https.port), timeout=5) as raw:
        if ok:
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
        else:
            with pytest.raises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(raw, server_hostname=name)


def test_pip_over_https_needs_the_ca(standin_https, pip_venv, isolated_env):
    tok = standin_https.issue_token(300)
    # the index URL holds the token: pass it in the environment, never on a command line
    env = pip_venv.env(
        isolated_env(
            PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_INDEX_URL=standin_https.index_url(tok)
        )
    )
    args = ["install", "--no-input", "--retries", "0", "ca-demo-pkg"]
    r = pip_venv.run(args, env=env)
    # first: the assert below prints it
    assert_no_token(tok, r.stdout, r.stderr, what="pip output without the CA")
    assert r.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in r.stdout + r.stderr
    r = pip_venv.run(["--cert", str(standin_https.certs.ca_pem), *args], env=env)
    assert_no_token(tok, r.stdout, r.stderr, what="pip output with the CA")
    assert_exit(r, 0, tok, what="pip install --cert")
