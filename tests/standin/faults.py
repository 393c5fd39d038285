"""Fault catalogue of the stand-in. The names are a contract: tests and the namespace lab use them.

Each fault has a default target. `operation=` narrows or widens it:
  GetAuthorizationToken, GetRepositoryEndpoint, GetCallerIdentity, all (= the two CodeArtifact operations),
  repository (= /pypi/... requests), DescribePackage, ListPackageVersions, DescribeRepository, or a comma/plus
  separated list of these.
Common params: first=N (the fault applies to the first N matching requests, then switches itself off).
"""

from __future__ import annotations

API_OPS = ("GetAuthorizationToken", "GetRepositoryEndpoint")
# The package layer's reads (diagnose(package=...)), targeted only when named.
PACKAGE_OPS = ("DescribePackage", "ListPackageVersions", "DescribeRepository")
TARGETS = (*API_OPS, "GetCallerIdentity", "repository", *PACKAGE_OPS)

# policy type -> (implicit phrase, explicit phrase), as in the IAM User Guide's
# "Troubleshoot access denied error messages" (note the guide's "sessions policy" spelling).
POLICY_PHRASES = {
    "identity": (
        "because no identity-based policy allows the {action} action",
        "with an explicit deny in an identity-based policy",
    ),
    "vpc-endpoint": (
        "because no VPC endpoint policy allows the {action} action",
        "with an explicit deny in a VPC endpoint policy",
    ),
    "scp": (
        "because no service control policy allows the {action} action",
        "with an explicit deny in a service control policy",
    ),
    "rcp": (
        "because no resource control policy allows the {action} action",
        "with an explicit deny in a resource control policy",
    ),
    "permissions-boundary": (
        "because no permissions boundary allows the {action} action",
        "with an explicit deny in a permissions boundary",
    ),
    "resource": (
        "because no resource-based policy allows the {action} action",
        "with an explicit deny in a resource-based policy",
    ),
    "session": (
        "because no session policy allows the {action} action",
        "with an explicit deny in a sessions policy",
    ),
}

# name -> (default operations, description)
FAULTS: dict[str, tuple[tuple[str, ...], str]] = {}
for _kind in POLICY_PHRASES:
    FAULTS[f"access-denied-{_kind}"] = (
        API_OPS,
        f"403 AccessDeniedException: no {_kind} policy allows the action",
    )
    FAULTS[f"access-denied-{_kind}-explicit"] = (
        API_OPS,
        f"403 AccessDeniedException: explicit deny in a {_kind} policy",
    )
FAULTS.update(
    {
        "access-denied-no-reason": (API_OPS, "403 AccessDeniedException whose message names no policy"),
        "domain-not-found": (API_OPS, "404 ResourceNotFoundException for the domain"),
        "repository-not-found": (
            ("GetRepositoryEndpoint",),
            "404 ResourceNotFoundException for the repository",
        ),
        "throttle": (
            API_OPS,
            "429 ThrottlingException with Retry-After; params first=N or rate=R (per second), retry_after=S",
        ),
        "internal-error": (API_OPS, "500 InternalServerException"),
        "slow": (API_OPS, "answer after seconds=S (default 5)"),
        "hang": (API_OPS, "accept and read the request, never answer (until stop() or seconds=S)"),
        "huge-body": (
            API_OPS,
            "200 with a body of bytes=N (default 2 GiB), streamed; chunked=true for chunked framing",
        ),
        "headers-then-stall": (API_OPS, "status line and headers, then no body (until stop() or seconds=S)"),
        "trickle": (API_OPS, "status line and headers, then the body one byte every interval=S (default 1)"),
        "bad-token-404": (
            ("repository",),
            "repository answers 404 (not 401) to a bad or expired token, as CodeArtifact can (uv#11899)",
        ),
        "repo-401": (("repository",), "repository answers 401 with WWW-Authenticate: Basic"),
        "repo-403": (("repository",), "repository answers 403"),
        "repo-404": (("repository",), "repository answers 404"),
        "empty-token": (("GetAuthorizationToken",), "200 answer whose authorizationToken is an empty string"),
        "expiration": (
            ("GetAuthorizationToken",),
            "200 answer with a bad `expiration`: value=past (an hour ago), far (two days ahead), nan, text, "
            "absent (no field) or SECONDS (that many seconds from now)",
        ),
        "token-ttl": (
            ("GetAuthorizationToken",),
            "tokens issued now are valid for seconds=S only; report=actual (default) puts that in `expiration`, "
            "report=requested reports the requested duration (the token dies early)",
        ),
    }
)


def parse_operations(value, default: tuple[str, ...]) -> frozenset[str]:
    if value is None or value == "":
        return frozenset(default)
    parts = (
        value if isinstance(value, (list, tuple, set, frozenset)) else str(value).replace("+", ",").split(",")
    )
    out: set[str] = set()
    for p in parts:
        p = str(p).strip()
        if p == "all":
            out.update(API_OPS)
        elif p == "api":
            out.update(API_OPS)
        elif p in TARGETS:
            out.add(p)
        else:
            raise ValueError(
                f"unknown operation {p!r} for a fault\nhint: use one of {', '.join(TARGETS)}, all"
            )
    return frozenset(out)


def coerce(value):
    """Turn '3' into 3 and '0.5' into 0.5 (params from the command line or JSON)."""
    if isinstance(value, str):
        for t in (int, float):
            try:
                return t(value)
            except ValueError:
                pass
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def parse_spec(spec: str) -> tuple[str, dict]:
    """'throttle:first=3:operation=GetAuthorizationToken' -> ('throttle', {'first': 3, ...})."""
    name, *rest = spec.split(":")
    params = {}
    for item in rest:
        if not item:
            continue
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(
                f"fault parameter {item!r} in {spec!r} is not KEY=VALUE\nhint: --fault throttle:first=3"
            )
        params[k.strip()] = coerce(v.strip())
    return name.strip(), params


def access_denied_message(name: str, caller_arn: str, action: str, resource: str) -> str:
    base = f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource}"
    if name == "access-denied-no-reason":
        return base
    kind = name[len("access-denied-") :]
    explicit = kind.endswith("-explicit")
    if explicit:
        kind = kind[: -len("-explicit")]
    implicit_phrase, explicit_phrase = POLICY_PHRASES[kind]
    return f"{base} {explicit_phrase if explicit else implicit_phrase.format(action=action)}"
