"""The result of ``ca_login.diagnose()``: the checks layer by layer, and the verdict (the first failing
layer).

No logic the core needs lives here: the Rust core runs the checks and chooses the verdict; this is its Python
face (plain text, HTML for notebooks, JSON for scripts).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any, Optional

STATUSES = ("ok", "fail", "warn", "skip")
_MARK = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}
_COLOR = {"ok": "#15803d", "fail": "#b91c1c", "warn": "#b45309", "skip": "#6b7280"}


@dataclass(frozen=True)
class Check:
    """One check: ``name``, ``layer``, ``status`` (ok, fail, warn, skip), ``detail``, ``duration_ms``."""

    name: str
    layer: str
    status: str
    detail: str
    duration_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layer": self.layer,
            "status": self.status,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Verdict:
    """The first failing layer: its ``cause`` code, a one-sentence ``summary`` and the exact ``remedy``."""

    layer: str
    cause: str
    summary: str
    remedy: str
    commands: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "cause": self.cause,
            "summary": self.summary,
            "remedy": self.remedy,
            "commands": list(self.commands),
        }


def format_check(c: Check) -> str:
    """One line per check: ``FAIL  tcp          tcp-repositories         detail (12 ms)``."""
    return f"  {_MARK.get(c.status, c.status)}  {c.layer:<11} {c.name:<24} {c.detail} ({c.duration_ms} ms)"


def format_verdict(ok: bool, verdict: Optional[Verdict]) -> str:
    if ok or verdict is None:
        return "Verdict: all checks passed; pip can install from this repository."
    return f"Verdict: {verdict.cause} (layer {verdict.layer})\n  {verdict.summary}\n  fix: {verdict.remedy}"


@dataclass(frozen=True)
class Diagnosis:
    """What ``ca_login.diagnose()`` found.

    Attributes:
        ok: ``True`` when no check failed (warnings allowed).
        verdict: ``None`` when ok; else the first failing layer's ``Verdict`` (layer, cause, summary, remedy).
        checks: every check in layer order (configuration, credentials, identity, dns, tcp, tls, api,
            repository, pip).
    """

    ok: bool
    verdict: Optional[Verdict]
    checks: tuple[Check, ...]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        v = d.get("verdict")
        return cls(
            ok=bool(d["ok"]),
            verdict=None
            if v is None
            else Verdict(v["layer"], v["cause"], v["summary"], v["remedy"], tuple(v.get("commands", ()))),
            checks=tuple(
                Check(c["name"], c["layer"], c["status"], c["detail"], int(c["duration_ms"]))
                for c in d["checks"]
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> Diagnosis:
        return cls.from_dict(json.loads(text))

    @property
    def cause(self) -> Optional[str]:
        """The verdict's cause code, or ``None`` when all is well."""
        return None if self.verdict is None else self.verdict.cause

    def check(self, name: str) -> Optional[Check]:
        """The check called ``name`` (e.g. ``"tcp-repositories"``), if it ran."""
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "verdict": {"layer", "cause", "summary", "remedy"} | None, "checks": [...]}``."""
        return {
            "ok": self.ok,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        head = "ca_login diagnosis: OK" if self.ok else f"ca_login diagnosis: FAILED ({self.cause})"
        lines = [head, *(format_check(c) for c in self.checks), format_verdict(self.ok, self.verdict)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        L = "text-align:left"
        rows = "".join(
            f"<tr><td style='color:{_COLOR.get(c.status, '#000')};font-weight:bold;{L}'>{e(c.status)}</td>"
            f"<td style='{L}'>{e(c.layer)}</td><td style='{L}'>{e(c.name)}</td>"
            f"<td style='{L}'>{e(c.detail)}</td><td style='text-align:right'>{c.duration_ms} ms</td></tr>"
            for c in self.checks
        )
        if self.ok or self.verdict is None:
            verdict = (
                "<p style='color:#15803d'><strong>All checks passed</strong>: "
                "pip can install from this repository.</p>"
            )
        else:
            v = self.verdict
            verdict = (
                f"<p style='color:#b91c1c'><strong>{e(v.cause)}</strong> (layer {e(v.layer)}): "
                f"{e(v.summary)}</p>"
                f"<p><strong>Fix:</strong> <code style='white-space:pre-wrap'>{e(v.remedy)}</code></p>"
            )
        return (
            "<div><strong>ca_login diagnosis</strong>"
            f"{verdict}<table><tr><th>status</th><th>layer</th><th>check</th><th>detail</th><th>time</th></tr>"
            f"{rows}</table></div>"
        )


def _interpreter_tags() -> list[str]:
    """The wheel tags this interpreter takes, most preferred first: pip's own ``sys_tags()`` when pip is
    importable, else ``packaging.tags``, else a fallback (CPython's cpXY / abi3 / none tags and pyXY tags on
    this platform, manylinux levels up to this machine's glibc, then ``any``)."""
    try:
        from pip._vendor.packaging import tags
    except ImportError:
        try:
            from packaging import tags  # type: ignore[no-redef]
        except ImportError:
            return _fallback_tags()
    return [str(t) for t in tags.sys_tags()]


def _fallback_tags() -> list[str]:
    import platform
    import sys
    import sysconfig

    major, minor = sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    plats = [plat]
    libc, ver = platform.libc_ver()
    if plat.startswith("linux_") and libc == "glibc" and ver.count(".") >= 1:
        arch = plat[len("linux_") :]
        glibc_minor = int(ver.split(".")[1])
        plats = [f"manylinux_2_{m}_{arch}" for m in range(glibc_minor, 4, -1)] + plats
        aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        plats += [f"{a}_{arch}" for m, a in aliases.items() if m <= glibc_minor]
    out = []
    if platform.python_implementation() == "CPython":
        cp = f"cp{major}{minor}"
        for p in plats:
            out.append(f"{cp}-{cp}-{p}")
            out += [f"cp{major}{m}-abi3-{p}" for m in range(minor, 1, -1)]
            out.append(f"{cp}-none-{p}")
    for p in plats:
        out += [f"py{major}{minor}-none-{p}", f"py{major}-none-{p}"]
        out += [f"py{major}{m}-none-{p}" for m in range(minor - 1, -1, -1)]
    out += [f"py{major}{minor}-none-any", f"py{major}-none-any"]
    out += [f"py{major}{m}-none-any" for m in range(minor - 1, -1, -1)]
    return out


def _run(on_check=None, packages: Optional[list[str]] = None, **kwargs) -> Diagnosis:
    import platform
    import sys

    from . import _core

    if packages:
        kwargs.update(
            packages=list(packages), python_version=platform.python_version(), tags=_interpreter_tags()
        )
    text = _core.diagnose(sys_prefix=sys.prefix, on_check=on_check, **kwargs)
    return Diagnosis.from_json(text)


def diagnose(
    domain: Optional[str] = None,
    repository: Optional[str] = None,
    *,
    domain_owner: Optional[str] = None,
    region: Optional[str] = None,
    endpoint_url: Optional[str] = None,
    repository_endpoint_url: Optional[str] = None,
    profile: Optional[str] = None,
    timeout: float = 3.0,
    package: Optional[str] = None,
    packages: Optional[list[str]] = None,
    endpoint_type: Optional[str] = None,
) -> Diagnosis:
    """Find which piece between this interpreter's pip and CodeArtifact is broken, and the exact fix.

    Checks, layer by layer (independent ones concurrently, each bounded by ``timeout`` seconds; the whole run
    ends within 10 s at the default, even on a network that drops every packet): the settings and where each
    came from; the credentials; the caller's identity (STS, optional); DNS, TCP 443 and TLS to the
    ``codeartifact.api`` and ``codeartifact.repositories`` endpoints; GetAuthorizationToken and
    GetRepositoryEndpoint; a read of the repository's simple index with the token; pip's own configuration
    (which file wins, the recorded token's expiry, ``PIP_*`` overrides, proxies, pip's trusted CAs).

    Args: as for ``login()`` (``endpoint_type`` too); ``timeout`` bounds each check (seconds). ``package`` (a PEP
    508 requirement such as ``"pandas==2.2.3"``) or ``packages`` (several) add the package layer: once the
    repository read passes, it reads each project's page and says whether pip would find a file for this
    interpreter, and if not, why (package-not-found, package-origin-blocked, package-version-not-found, package-
    version-unavailable, package-no-compatible-file, package-all-yanked). Markers after ``;`` are not evaluated.
    With packages the run's bound grows by one more run bound (9.5 s at the default ``timeout``).

    Returns:
        A ``Diagnosis``: ``ok``; ``verdict`` (the first failing layer: ``layer``, ``cause``, ``summary``,
        ``remedy`` with the real names filled in) or ``None``; ``checks``. It prints readably, renders as a
        table in Jupyter, and ``to_json()`` gives ``{"ok", "verdict", "checks"}``. No token ever appears in
        it.

    Raises:
        InvalidInput: (a ``ValueError``) before any network call, for a bad argument. Every other failure is a
        check in the result, never an exception.

    Cause codes (stable): credentials-missing, credentials-expired, api-dns-failed, api-endpoint-unreachable,
    api-connection-refused, tls-untrusted, access-denied-identity-policy, access-denied-vpc-endpoint-policy,
    access-denied-scp, access-denied-permissions-boundary, access-denied-resource-policy,
    access-denied-session-policy, access-denied, domain-not-found, repository-not-found, throttled,
    repositories-endpoint-unreachable, repository-auth-failed, repository-forbidden, pip-not-configured,
    pip-config-overridden, pip-token-expired; and more (see the README).
    """
    return _run(
        domain=domain,
        repository=repository,
        domain_owner=domain_owner,
        region=region,
        endpoint_url=endpoint_url,
        repository_endpoint_url=repository_endpoint_url,
        profile=profile,
        timeout=timeout,
        packages=([package] if package else []) + list(packages or []),
        endpoint_type=endpoint_type,
    )
