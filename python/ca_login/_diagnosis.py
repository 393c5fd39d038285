"""The result of ``ca_login.diagnose()``: the checks layer by layer, and the verdict (the first failing
layer).

No logic the core needs lives here: the Rust core runs the checks and chooses the verdict; this is its Python
face (plain text, HTML for notebooks, JSON for scripts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from ._display import View, _Shown, commands_in, html, table_text, text, without_commands

STATUSES = ("ok", "fail", "warn", "skip")
# The layers in the order they are checked and shown (src/diagnose/mod.rs, Layer).
LAYERS = (
    "config",
    "credentials",
    "identity",
    "dns",
    "tcp",
    "tls",
    "api",
    "repository",
    "pip",
    "tool",
)
_HEADS = ("status", "layer", "check", "detail", "time")


def layer_order(layer: str) -> int:
    """Where a layer sorts in the checklist (unknown layers last)."""
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


@dataclass(frozen=True)
class Check(_Shown):
    """One check: ``name``, ``layer``, ``status`` (ok, fail, warn, skip), ``detail``, ``duration_ms``; a tool
    check (layer ``tool``: ``uv``, ``poetry``, ``twine``) that fails or warns also has its ``cause`` code and the
    ``commands`` of its fix (else ``None`` and ``()``)."""

    name: str
    layer: str
    status: str
    detail: str
    duration_ms: int
    cause: Optional[str] = None
    commands: tuple[str, ...] = ()

    @classmethod
    def _from(cls, c: dict[str, Any]) -> Check:
        fix = c.get("fix") or {}
        return cls(
            c["name"],
            c["layer"],
            c["status"],
            c["detail"],
            int(c["duration_ms"]),
            fix.get("cause"),
            tuple(fix.get("commands", ())),
        )

    def _row(self) -> tuple[str, str, str, str, str]:
        return (self.status, self.layer, self.name, self.detail, f"{self.duration_ms} ms")

    def _view(self) -> View:
        return View(f"{self.status}: {self.layer} {self.name}", self.status, table=(_HEADS, (self._row(),)))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "layer": self.layer,
            "status": self.status,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
        }
        if self.cause is not None:
            d["fix"] = {"cause": self.cause, "commands": list(self.commands)}
        return d


@dataclass(frozen=True)
class Verdict(_Shown):
    """The first failing layer: its ``cause`` code, a one-sentence ``summary`` and the exact ``remedy``."""

    layer: str
    cause: str
    summary: str
    remedy: str
    commands: tuple[str, ...] = ()

    def fix_commands(self) -> list[str]:
        """The commands of the fix, to paste as they are (the verdict's own ``commands`` when the core gives
        them, else those the remedy names)."""
        return list(self.commands) if self.commands else commands_in(self.remedy)

    def _parts(self) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, bool], ...]]:
        cmds = self.fix_commands()
        rows = (("why", self.summary), ("fix", without_commands(self.remedy, cmds)))
        return rows, ((("run", "\n".join(cmds), True),) if cmds else ())

    def _view(self) -> View:
        rows, code = self._parts()
        return View(f"Verdict: {self.cause} (layer {self.layer})", "fail", rows, code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "cause": self.cause,
            "summary": self.summary,
            "remedy": self.remedy,
            "commands": list(self.commands),
        }


def format_check(c: Check) -> str:
    """A check's lines: ``FAIL  tcp          tcp-repositories         detail (12 ms)``, a long detail wrapped and
    aligned under its column."""
    return "\n".join(table_text((c._row(),)))


def format_verdict(ok: bool, verdict: Optional[Verdict], checks: Sequence[Check] = ()) -> str:
    if ok or verdict is None:
        return f"Verdict: all checks passed; {_who_can(checks)}."
    return str(verdict)


def _who_can(checks: Sequence[Check]) -> str:
    """``pip can install from this repository``, or, with the tool layer, each tool checked (pip's checks are
    skipped when pip was not asked for)."""
    tools = [c.name for c in checks if c.layer == "tool" and c.status != "skip"]
    if not tools:
        return "pip can install from this repository"
    pip = [] if any(c.name == "pip-index-url" and c.status == "skip" for c in checks) else ["pip"]
    names = pip + tools
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{who} can use this repository"


@dataclass(frozen=True)
class Diagnosis(_Shown):
    """What ``ca_login.diagnose()`` found.

    Attributes:
        ok: ``True`` when no check failed (warnings allowed).
        verdict: ``None`` when ok; else the first failing layer's ``Verdict`` (layer, cause, summary, remedy).
        checks: every check in layer order (configuration, credentials, identity, dns, tcp, tls, api,
            repository, pip, tool).
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
            checks=tuple(Check._from(c) for c in d["checks"]),
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

    def _view(self) -> View:
        checks = tuple(c._row() for c in sorted(self.checks, key=lambda c: layer_order(c.layer)))
        if self.ok or self.verdict is None:
            title = f"ca_login diagnosis: OK, all checks passed; {_who_can(self.checks)}"
            return View(title, "ok", table=(_HEADS, checks))
        rows, code = self.verdict._parts()
        title = f"ca_login diagnosis: FAILED, {self.verdict.cause} (layer {self.verdict.layer})"
        return View(title, "fail", rows, code, table=(_HEADS, checks))


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
    out: list[str] = []
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


def _run(
    on_check: Optional[Callable[[dict[str, Any]], None]] = None,
    packages: Optional[list[str]] = None,
    **kwargs: Any,
) -> Diagnosis:
    import platform
    import sys

    from . import _core

    if packages:
        kwargs.update(
            packages=list(packages), python_version=platform.python_version(), tags=_interpreter_tags()
        )
    try:
        report = _core.diagnose(sys_prefix=sys.prefix, on_check=on_check, **kwargs)
    finally:
        close = getattr(on_check, "close", None)  # the live checklist: cleared when the result is out
        if close is not None:
            close()
    return Diagnosis.from_json(report)


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
    on_check: Optional[Callable[[Check], None]] = None,
    tool: Union[str, Sequence[str], None] = None,
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
    With packages the run's bound grows by one more run bound (9.5 s at the default ``timeout``). ``on_check`` is
    called with each :class:`Check` as it finishes (in finish order). Without it, in a notebook the checklist
    fills in, in layer order, in one display updated in place, which goes away when the result is shown.
    ``tool`` (``"uv"``, ``"pip,uv"`` or a list of pip, uv, poetry, twine; default: pip plus every tool the state
    file records a login for) chooses the tools checked: after pip's layer, one check each in the ``tool``
    layer says whether that tool will reach the repository with a valid credential (uv: our ``[[index]]`` in
    the user ``uv.toml``, what overrides it, the netrc entry; Poetry: ``http-basic.SOURCE`` in ``auth.toml``,
    ``POETRY_HTTP_BASIC_*``, the project's source; twine: ``~/.pypirc``, ``TWINE_*``); its ``cause`` and
    ``commands`` are on the check, and on the verdict when it is the first failure. Without pip among them,
    pip's checks are skipped.

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
    pip-config-overridden, pip-token-expired; the tool layer's uv-not-configured, uv-config-overridden,
    uv-index-shadowed, uv-token-expired, poetry-not-configured, poetry-config-overridden, poetry-token-expired,
    poetry-source-missing, twine-not-configured, twine-config-overridden, twine-token-expired,
    netrc-entry-missing, netrc-unreadable, netrc-permissions, credential-not-ours; and more (see the README).
    """
    return _run(
        on_check=_reporter(on_check),
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
        tools=_tool_list(tool),
    )


def _tool_list(tool: Union[str, Sequence[str], None]) -> Optional[list[str]]:
    """``tool=`` as the core takes it: a list of names (``None``: the default)."""
    if tool is None:
        return None
    return [tool] if isinstance(tool, str) else list(tool)


def _reporter(on_check: Optional[Callable[[Check], None]]) -> Optional[Callable[[dict[str, Any]], None]]:
    """What ``_core.diagnose`` calls with each check's dict: the caller's ``on_check`` (with a :class:`Check`),
    else in a notebook the live checklist (which ``_run`` closes), else nothing."""
    if on_check is not None:
        return lambda d: on_check(Check._from(d))
    return live_checklist()


class _Progress:
    """The checklist so far, in layer order (what the live display shows)."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = sorted(checks, key=lambda c: layer_order(c.layer))

    def _view(self) -> View:
        title = f"ca_login diagnosis: checking ({len(self.checks)} done so far)"
        return View(title, "info", table=(_HEADS, tuple(c._row() for c in self.checks)))

    def __repr__(self) -> str:
        return text(self._view())

    def _repr_html_(self) -> str:
        return html(self._view())


class _LiveChecklist:
    """One display in a notebook, updated in place as checks finish (called with each check's dict); cleared
    when the diagnosis ends."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.checks: list[Check] = []

    def __call__(self, d: dict[str, Any]) -> None:
        self.checks.append(Check._from(d))
        self.handle.update(_Progress(self.checks))

    def close(self) -> None:
        self.handle.update(_Cleared())


class _Cleared:
    """What the live display shows once the result is out: nothing."""

    def __repr__(self) -> str:
        return ""

    def _repr_html_(self) -> str:
        return ""


def in_kernel() -> bool:
    """Running in a Jupyter kernel (not a terminal, not a script): IPython's rich display reaches a front end."""
    import sys

    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def live_checklist() -> Optional[_LiveChecklist]:
    """A live checklist in a notebook, else None."""
    if not in_kernel():
        return None
    from IPython.display import display

    handle = display(_Progress([]), display_id=True)  # type: ignore[no-untyped-call,unused-ignore]
    return None if handle is None else _LiveChecklist(handle)
