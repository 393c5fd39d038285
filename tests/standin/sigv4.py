"""AWS Signature Version 4: verification (server side) and signing (for benchmarks and raw tests).

Standard library only. The canonical request follows the SigV4 specification as botocore and the
AWS SDK for Rust build it for non-S3 services (path quoted once more, query re-encoded and sorted).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<sh>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-f]+)\s*$"
)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_query(raw_query: str) -> str:
    pairs = []
    if raw_query:
        for part in raw_query.split("&"):
            if not part:
                continue
            k, _, v = part.partition("=")
            pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed_headers)
    return "\n".join(
        [
            method.upper(),
            quote(raw_path or "/", safe="/~"),
            canonical_query(raw_query),
            canon_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


@dataclass
class Verdict:
    ok: bool
    code: str = ""  # AWS error code when not ok
    message: str = ""
    access_key: str = ""


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    secrets: dict[str, str],
    now: float | None = None,
) -> Verdict:
    """Check a request's SigV4 signature. `headers`: lower-case names, multi-values joined by ','."""
    auth = headers.get("authorization")
    if not auth:
        return Verdict(False, "MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        return Verdict(
            False,
            "IncompleteSignatureException",
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={auth.split(' ')[0]}",  # noqa: E501
        )
    cred = m.group("cred").split("/")
    if len(cred) != 5:
        return Verdict(
            False, "IncompleteSignatureException", "Credential must have exactly 5 slash-delimited elements"
        )
    akid, date, c_region, c_service, term = cred
    if akid not in secrets:
        return Verdict(
            False,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            akid,
        )
    if term != "aws4_request":
        return Verdict(
            False,
            "InvalidSignatureException",
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'.",
            akid,
        )
    if c_service != service:
        return Verdict(
            False,
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'. ",
            akid,
        )
    if c_region != region:
        return Verdict(
            False,
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{c_region}'. ",
            akid,
        )
    amz_date = headers.get("x-amz-date", "")
    try:
        t = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return Verdict(
            False,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            akid,
        )
    if amz_date[:8] != date:
        return Verdict(
            False,
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'.",  # noqa: E501
            akid,
        )
    now = _dt.datetime.now(_dt.timezone.utc).timestamp() if now is None else now
    if abs(now - t.timestamp()) > MAX_SKEW_SECONDS:
        return Verdict(
            False,
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {_dt.datetime.fromtimestamp(now - MAX_SKEW_SECONDS, _dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}",  # noqa: E501
            akid,
        )
    signed = m.group("sh").split(";")
    if "host" not in signed:
        return Verdict(
            False,
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            akid,
        )
    payload_hash = headers.get("x-amz-content-sha256") or _sha256_hex(body)
    creq = canonical_request(method, raw_path, raw_query, headers, signed, payload_hash)
    sts = "\n".join(
        [
            ALGORITHM,
            amz_date,
            f"{date}/{c_region}/{c_service}/aws4_request",
            _sha256_hex(creq.encode("utf-8")),
        ]
    )
    expected = hmac.new(
        signing_key(secrets[akid], date, c_region, c_service), sts.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, m.group("sig")):
        return Verdict(
            False,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.",
            akid,
        )
    return Verdict(True, access_key=akid)


def sign(
    method: str,
    host: str,
    raw_path: str,
    raw_query: str,
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    session_token: str | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, str]:
    """Headers (Host, X-Amz-Date, Authorization, ...) for a request signed like botocore signs it."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": host, "x-amz-date": amz_date}
    if session_token:
        headers["x-amz-security-token"] = session_token
    signed = sorted(headers)
    creq = canonical_request(method, raw_path, raw_query, headers, signed, _sha256_hex(body))
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join([ALGORITHM, amz_date, scope, _sha256_hex(creq.encode("utf-8"))])
    sig = hmac.new(
        signing_key(secret_key, amz_date[:8], region, service), sts.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    out = {
        "Host": host,
        "X-Amz-Date": amz_date,
        "Authorization": f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}",  # noqa: E501
    }
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    return out
