"""The stand-in's CodeArtifact API as boto3 (botocore's codeartifact model) sees it."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest
from conftest import assert_no_token
from standin import FAULTS, StandIn

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"


def _err(exc_info):
    e = exc_info.value
    return (
        e.response["Error"]["Code"],
        e.response["ResponseMetadata"]["HTTPStatusCode"],
        e.response["Error"]["Message"],
    )


def test_get_authorization_token_returns_token_and_expiry_of_requested_duration(standin, boto_client):
    c = boto_client(standin=standin)
    before = time.time()
    r = c.get_authorization_token(domain=DOMAIN, domainOwner=OWNER, durationSeconds=900)
    state = standin.token_state(r["authorizationToken"])  # not in the assert: pytest may print the call
    assert state == "valid"
    assert before + 899 <= r["expiration"].timestamp() <= time.time() + 901


def test_default_duration_is_twelve_hours_and_zero_means_session_expiry(standin, boto_client):
    c = boto_client(standin=standin)
    now = time.time()
    assert abs(c.get_authorization_token(domain=DOMAIN)["expiration"].timestamp() - (now + 43200)) < 60
    assert (
        abs(
            c.get_authorization_token(domain=DOMAIN, durationSeconds=0)["expiration"].timestamp()
            - (now + standin.session_ttl)
        )
        < 60
    )


def test_token_ttl_caps_lifetime(wheelhouse, boto_client):
    with StandIn(packages_dir=wheelhouse, token_ttl=1000) as s:
        r = boto_client(standin=s).get_authorization_token(domain=DOMAIN, durationSeconds=43200)
        assert r["expiration"].timestamp() - time.time() < 1001


@pytest.mark.parametrize("fmt,suffix", [("pypi", "/pypi/isolatedsm/"), ("npm", "/npm/isolatedsm/")])
def test_get_repository_endpoint_per_format(standin, boto_client, fmt, suffix):
    r = boto_client(standin=standin).get_repository_endpoint(
        domain=DOMAIN, domainOwner=OWNER, repository=REPO, format=fmt
    )
    assert r["repositoryEndpoint"] == standin.api_url + suffix


def test_repository_endpoint_base_gives_real_codeartifact_url(wheelhouse, boto_client):
    base = "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com"
    with StandIn(packages_dir=wheelhouse, repository_endpoint_base=base) as s:
        r = boto_client(standin=s).get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi")
        assert r["repositoryEndpoint"] == base + "/pypi/isolatedsm/" == s.repository_endpoint("isolatedsm")


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"domain": "My_Domain"}, "at 'domain' failed to satisfy constraint"),
        ({"domain": DOMAIN, "domainOwner": "12345678901x"}, "at 'domainOwner'"),
        ({"domain": DOMAIN, "durationSeconds": 899}, "at 'durationSeconds'"),
        ({"domain": DOMAIN, "durationSeconds": 43201}, "at 'durationSeconds'"),
    ],
)
def test_invalid_input_is_validation_exception_with_reason(standin, boto_client, kwargs, fragment):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        boto_client(standin=standin).get_authorization_token(**kwargs)
    code, status, msg = _err(ei)
    assert (code, status) == ("ValidationException", 400)
    assert fragment in msg
    assert ei.value.response.get("reason") == "FIELD_VALIDATION_FAILED"


def test_invalid_repository_name_and_format_rejected(standin, boto_client):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        boto_client(standin=standin).get_repository_endpoint(domain=DOMAIN, repository="-bad", format="pypi")
    assert _err(ei)[:2] == ("ValidationException", 400)


def test_wrong_secret_is_invalid_signature(standin, boto_client):
    c = boto_client(standin=standin, secret_key="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token(domain=DOMAIN)
    assert _err(ei)[:2] == ("InvalidSignatureException", 403)
    assert standin.calls[-1]["status"] == 403


def test_unknown_access_key_is_unrecognized_client(standin, boto_client):
    c = boto_client(standin=standin, access_key="AKIDUNKNOWNEXAMPLE")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token(domain=DOMAIN)
    assert _err(ei) == (
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
    )


def test_wrong_region_in_signature_rejected(standin, boto_client):
    import boto3

    c = boto3.session.Session().client(
        "codeartifact",
        region_name="eu-west-1",
        endpoint_url=standin.api_url,
        aws_access_key_id=standin.access_key,
        aws_secret_access_key=standin.secret_key,
    )
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token(domain=DOMAIN)
    assert _err(ei)[:2] == ("InvalidSignatureException", 403)


def test_unknown_domain_and_repository_are_not_found(standin, boto_client):
    c = boto_client(standin=standin)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token(domain="otherdomain")
    assert _err(ei)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_repository_endpoint(domain=DOMAIN, repository="nosuchrepo", format="pypi")
    assert _err(ei)[:2] == ("ResourceNotFoundException", 404)


ACCESS_DENIED = sorted(n for n in FAULTS if n.startswith("access-denied-"))
PHRASES = {
    "identity": (
        "because no identity-based policy allows the {a} action",
        "with an explicit deny in an identity-based policy",
    ),
    "vpc-endpoint": (
        "because no VPC endpoint policy allows the {a} action",
        "with an explicit deny in a VPC endpoint policy",
    ),
    "scp": (
        "because no service control policy allows the {a} action",
        "with an explicit deny in a service control policy",
    ),
    "rcp": (
        "because no resource control policy allows the {a} action",
        "with an explicit deny in a resource control policy",
    ),
    "permissions-boundary": (
        "because no permissions boundary allows the {a} action",
        "with an explicit deny in a permissions boundary",
    ),
    "resource": (
        "because no resource-based policy allows the {a} action",
        "with an explicit deny in a resource-based policy",
    ),
    "session": (
        "because no session policy allows the {a} action",
        "with an explicit deny in a sessions policy",
    ),
}


def test_fault_catalogue_has_every_policy_phrase_implicit_and_explicit():
    assert len(ACCESS_DENIED) == 15
    for kind in PHRASES:
        assert f"access-denied-{kind}" in FAULTS and f"access-denied-{kind}-explicit" in FAULTS


@pytest.mark.parametrize("fault", ACCESS_DENIED)
@pytest.mark.parametrize("op", ["GetAuthorizationToken", "GetRepositoryEndpoint"])
def test_access_denied_faults_give_aws_message(standin, boto_client, fault, op):
    standin.set_fault(fault)
    c = boto_client(standin=standin)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        if op == "GetAuthorizationToken":
            c.get_authorization_token(domain=DOMAIN, domainOwner=OWNER)
        else:
            c.get_repository_endpoint(domain=DOMAIN, domainOwner=OWNER, repository=REPO, format="pypi")
    resource = (
        f"arn:aws:codeartifact:us-west-2:{OWNER}:domain/{DOMAIN}"
        if op == "GetAuthorizationToken"
        else f"arn:aws:codeartifact:us-west-2:{OWNER}:repository/{DOMAIN}/{REPO}"
    )
    code, status, msg = _err(ei)
    assert (code, status) == ("AccessDeniedException", 403)
    action = f"codeartifact:{op}"
    head = (
        f"User: arn:aws:sts::{OWNER}:assumed-role/GeneralIsolatedNotebook/SageMaker is not authorized to "
        f"perform: {action} on resource: {resource}"
    )
    if fault == "access-denied-no-reason":
        assert msg == head
    else:
        kind = fault[len("access-denied-") :].removesuffix("-explicit")
        phrase = PHRASES[kind][1 if fault.endswith("-explicit") else 0].format(a=action)
        assert msg == f"{head} {phrase}"
    assert ei.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "AccessDeniedException"


def test_access_denied_can_name_another_action_and_target_one_operation(standin, boto_client):
    standin.set_fault(
        "access-denied-identity",
        operation="GetAuthorizationToken",
        action="sts:GetServiceBearerToken",
        resource="*",
    )
    c = boto_client(standin=standin)
    assert c.get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi")["repositoryEndpoint"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token(domain=DOMAIN)
    assert _err(ei)[2].endswith(
        "perform: sts:GetServiceBearerToken on resource: * because no identity-based "
        "policy allows the sts:GetServiceBearerToken action"
    )


@pytest.mark.parametrize(
    "fault,op,code,status",
    [
        ("domain-not-found", "GetAuthorizationToken", "ResourceNotFoundException", 404),
        ("domain-not-found", "GetRepositoryEndpoint", "ResourceNotFoundException", 404),
        ("repository-not-found", "GetRepositoryEndpoint", "ResourceNotFoundException", 404),
        ("throttle", "GetAuthorizationToken", "ThrottlingException", 429),
        ("throttle", "GetRepositoryEndpoint", "ThrottlingException", 429),
        ("internal-error", "GetAuthorizationToken", "InternalServerException", 500),
        ("internal-error", "GetRepositoryEndpoint", "InternalServerException", 500),
    ],
)
def test_error_faults_give_documented_code_and_status(standin, boto_client, fault, op, code, status):
    standin.set_fault(fault)
    c = boto_client(standin=standin)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        if op == "GetAuthorizationToken":
            c.get_authorization_token(domain=DOMAIN)
        else:
            c.get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi")
    assert _err(ei)[:2] == (code, status)
    assert standin.calls[-1]["fault"] == fault


def test_resource_not_found_names_the_resource(standin, boto_client):
    standin.set_fault("repository-not-found")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        boto_client(standin=standin).get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi")
    assert ei.value.response["resourceType"] == "repository" and ei.value.response["resourceId"] == REPO


def test_throttle_first_n_then_recovers_with_retry_after(standin, boto_client):
    standin.set_fault("throttle", first=2, retry_after=3)
    c = boto_client(standin=standin)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            c.get_authorization_token(domain=DOMAIN)
        assert _err(ei)[:2] == ("ThrottlingException", 429)
        assert ei.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "3"
    assert c.get_authorization_token(domain=DOMAIN)["authorizationToken"]


def test_throttle_rate_limits_requests_per_second(standin, boto_client):
    standin.set_fault("throttle", rate=3)
    c = boto_client(standin=standin)
    outcomes = []
    for _ in range(8):  # bounded: 8 requests, well inside one second on loopback
        try:
            c.get_authorization_token(domain=DOMAIN)
            outcomes.append(200)
        except botocore.exceptions.ClientError as e:
            outcomes.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
    assert outcomes.count(200) >= 3 and 429 in outcomes


def test_slow_answer_exceeds_client_read_timeout(standin, boto_client):
    standin.set_fault("slow", seconds=2, operation="GetAuthorizationToken")
    c = boto_client(standin=standin, read_timeout=0.5)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        c.get_authorization_token(domain=DOMAIN)
    assert c.get_repository_endpoint(domain=DOMAIN, repository=REPO, format="pypi")


def test_hang_never_answers_and_stop_still_returns(wheelhouse, boto_client):
    s = StandIn(packages_dir=wheelhouse).start()
    s.set_fault("hang")
    c = boto_client(standin=s, read_timeout=0.5)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        c.get_authorization_token(domain=DOMAIN)
    assert s.calls[-1]["fault"] == "hang" and s.calls[-1]["status"] == 0
    t = threading.Thread(target=s.stop)
    t.start()
    t.join(10)
    assert not t.is_alive(), "stop() blocked on a hanging request"


def test_token_ttl_fault_makes_tokens_expire_quickly(standin, boto_client):
    standin.set_fault("token-ttl", seconds=1)
    r = boto_client(standin=standin).get_authorization_token(domain=DOMAIN)
    assert r["expiration"].timestamp() - time.time() <= 1.5
    time.sleep(1.2)
    state = standin.token_state(r["authorizationToken"])  # not in the assert: pytest may print the call
    assert state == "expired"


def test_token_ttl_fault_can_report_the_requested_expiry(standin, boto_client):
    standin.set_fault("token-ttl", seconds=1, report="requested")
    r = boto_client(standin=standin).get_authorization_token(domain=DOMAIN, durationSeconds=3600)
    assert r["expiration"].timestamp() - time.time() > 3000
    time.sleep(1.2)
    state = standin.token_state(r["authorizationToken"])  # not in the assert: pytest may print the call
    assert state == "expired"


def test_fault_switched_through_control_endpoint(standin, boto_client):
    def post(path, obj=None, method="POST"):
        req = urllib.request.Request(
            standin.control_url + path,
            method=method,
            data=json.dumps(obj).encode() if obj is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    assert post("/fault", {"spec": "access-denied-vpc-endpoint:operation=GetAuthorizationToken"}) == {
        "access-denied-vpc-endpoint": {
            "params": {"operation": "GetAuthorizationToken"},
            "operations": ["GetAuthorizationToken"],
        }
    }
    c = boto_client(standin=standin)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token(domain=DOMAIN)
    assert "no VPC endpoint policy allows" in _err(ei)[2]
    assert post("/fault", method="DELETE") == {}
    assert c.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    calls = post("/calls", method="GET")
    assert [x["status"] for x in calls] == [403, 200]
    with pytest.raises(urllib.error.HTTPError) as ei2:
        post("/fault", {"name": "no-such-fault"})
    assert ei2.value.code == 400


def test_calls_never_hold_the_token(standin, boto_client):
    tok = boto_client(standin=standin).get_authorization_token(domain=DOMAIN)["authorizationToken"]
    req = urllib.request.Request(
        standin.repository_endpoint() + "simple/", headers={"Authorization": "Bearer " + tok}
    )
    urllib.request.urlopen(req, timeout=5).read()
    text = json.dumps(standin.calls)
    assert_no_token(tok, text, what="recorded calls (JSON)")
    assert standin.calls[-1]["token_state"] == "valid"


def test_unknown_fault_name_rejected_with_hint(standin):
    with pytest.raises(ValueError, match="hint:"):
        standin.set_fault("access-denied-everything")


def test_sts_get_caller_identity_answers_and_checks_signature(standin, boto_client):
    r = boto_client("sts", standin=standin).get_caller_identity()
    assert r["Account"] == "111122223333" and r["Arn"].endswith(
        "assumed-role/GeneralIsolatedNotebook/SageMaker"
    )
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        boto_client("sts", standin=standin, secret_key="wrong").get_caller_identity()
    assert _err(ei)[:2] == ("SignatureDoesNotMatch", 403)
