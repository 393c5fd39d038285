"""Token lifetime: status, ensure_login, the background refresher, logout. The logic is in the Rust core
(``src/lifetime.rs``, ``src/refresh.rs``); this module shapes its answers for Python and renders them."""

from __future__ import annotations

import atexit
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, Optional, Union, overload

from . import LoginResult, _call, _core, _core_args, _to_result, _warn
from ._display import (
    View,
    _Shown,
    ensured_view,
    html,
    iso,
    pretty,
    status_headline,
    status_view,
    statuses_headline,
    statuses_view,
    text,
    tool_status_headline,
    tool_status_view,
    when,
)


def _dt(epoch: Optional[float]) -> Optional[datetime]:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def _fmt(dt: Optional[datetime], expiry: bool = False) -> str:
    """The time and how far it is from now; past times say "expired ... ago" only for an expiry."""
    return when(dt, expiry)


def _recorded_login(d: dict[str, Any]) -> dict[str, Any]:
    """The recorded login's fields of a status dict from the core, as :class:`Status` and :class:`ToolStatus` hold
    them."""
    return {
        "repository_endpoint": d["repository_endpoint"],
        "domain": d["domain"],
        "domain_owner": d["domain_owner"],
        "repository": d["repository"],
        "region": d["region"],
        "expires_at": _dt(d["expires_at"]),
        "issued_at": _dt(d["issued_at"]),
        "remaining": None if d["remaining"] is None else timedelta(seconds=d["remaining"]),
    }


def _recorded_login_dict(s: Union[Status, ToolStatus]) -> dict[str, Any]:
    """Those fields JSON-ready, in the order both ``to_dict`` give them."""
    return {
        "repository_endpoint": s.repository_endpoint,
        "domain": s.domain,
        "domain_owner": s.domain_owner,
        "repository": s.repository,
        "region": s.region,
        "expires_at": iso(s.expires_at),
        "issued_at": iso(s.issued_at),
        "remaining_seconds": None if s.remaining is None else int(s.remaining.total_seconds()),
    }


@dataclass(frozen=True)
class RefresherInfo(_Shown):
    """The background refresher of this process (see :func:`start_refresh`). Times are aware UTC datetimes;
    ``tools`` are the tools it renews."""

    running: bool
    config_file: Path
    domain: str
    repository: str
    started_at: datetime
    every: Optional[timedelta]
    renewals: int
    consecutive_failures: int
    last_run_at: Optional[datetime]
    last_ok: Optional[bool]
    last_result: Optional[str]
    last_error_cause: Optional[str]
    next_run_at: Optional[datetime]
    expires_at: Optional[datetime]
    tools: tuple[str, ...] = ("pip",)

    @classmethod
    def _from(cls, d: Optional[dict[str, Any]]) -> Optional[RefresherInfo]:
        if d is None:
            return None
        return cls(
            running=d["running"],
            config_file=Path(d["config_file"]),
            domain=d["domain"],
            repository=d["repository"],
            started_at=datetime.fromtimestamp(d["started_at"], tz=timezone.utc),
            every=None if d["every"] is None else timedelta(seconds=d["every"]),
            renewals=d["renewals"],
            consecutive_failures=d["consecutive_failures"],
            last_run_at=_dt(d["last_run_at"]),
            last_ok=d["last_ok"],
            last_result=d["last_result"],
            last_error_cause=d["last_error_cause"],
            next_run_at=_dt(d["next_run_at"]),
            expires_at=_dt(d["expires_at"]),
            tools=tuple(d.get("tools", ("pip",))),
        )

    def summary(self) -> str:
        """One line: running or stopped, the tools it renews, renewals, last result, next run."""
        head = "running" if self.running else "stopped"
        parts = [
            f"{head} for {self.domain}/{self.repository} ({', '.join(self.tools)})",
            f"{self.renewals} renewal(s)",
        ]
        if self.last_result is not None:
            last = self.last_result.splitlines()[0]
            parts.append(f"last: {'ok' if self.last_ok else 'FAILED'} at {_fmt(self.last_run_at)}: {last}")
        if self.consecutive_failures:
            parts.append(f"{self.consecutive_failures} failure(s) in a row")
        if self.next_run_at is not None:
            parts.append(f"next: {_fmt(self.next_run_at)}")
        return "; ".join(parts)

    def _view(self) -> View:
        head = "running" if self.running else "stopped"
        rows = [
            ("config_file", str(self.config_file)),
            ("tools", ", ".join(self.tools)),
            ("renewals", str(self.renewals)),
        ]
        if self.every is not None:
            rows.append(("every", f"{self.every.total_seconds():g} s at least"))
        if self.last_result is not None:
            rows.append(("last run", f"{'ok' if self.last_ok else 'FAILED'} at {_fmt(self.last_run_at)}"))
            rows.append(("last result", self.last_result.splitlines()[0]))
        if self.consecutive_failures:
            rows.append(("failures", f"{self.consecutive_failures} in a row"))
        if self.next_run_at is not None:
            rows.append(("next run", _fmt(self.next_run_at)))
        if self.expires_at is not None:
            rows.append(("expires", _fmt(self.expires_at, expiry=True)))
        failing = self.last_ok is False
        tone = "fail" if failing else ("ok" if self.running else "info")
        return View(f"ca_login refresher: {head} for {self.domain}/{self.repository}", tone, tuple(rows))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "running": self.running,
            "config_file": str(self.config_file),
            "domain": self.domain,
            "repository": self.repository,
            "started_at": iso(self.started_at),
            "every_seconds": None if self.every is None else self.every.total_seconds(),
            "renewals": self.renewals,
            "consecutive_failures": self.consecutive_failures,
            "last_run_at": iso(self.last_run_at),
            "last_ok": self.last_ok,
            "last_result": self.last_result,
            "last_error_cause": self.last_error_cause,
            "next_run_at": iso(self.next_run_at),
            "expires_at": iso(self.expires_at),
            "tools": list(self.tools),
        }


@dataclass(frozen=True)
class Status(_Shown):
    """Where the token stands for one pip configuration file, and what pip will use.

    ``ok`` is True only when the token is valid and pip will use it for ``pip install`` in this interpreter.
    ``state`` is ``"valid"``, ``"expired"``, ``"missing"`` (no login recorded for the file) or ``"replaced"``
    (recorded, but the file no longer holds the index-url ca-login wrote); ``valid`` is ``state == "valid"``.
    ``index_url`` is pip's effective index-url for ``pip install`` in this interpreter (masked),
    ``index_url_source`` says where it comes from, ``index_url_is_ours`` whether it is the one ca-login wrote to
    ``config_file``.
    """

    config_file: Path
    state: str
    valid: bool
    repository_endpoint: Optional[str]
    domain: Optional[str]
    domain_owner: Optional[str]
    repository: Optional[str]
    region: Optional[str]
    expires_at: Optional[datetime]
    issued_at: Optional[datetime]
    remaining: Optional[timedelta]
    file_holds_ours: bool
    index_url: Optional[str]
    index_url_source: str
    index_url_is_ours: bool
    no_index: bool = False
    problems: tuple[str, ...] = ()
    refresher: Optional[RefresherInfo] = field(default=None)
    ok: bool = False
    tool: str = "pip"

    @property
    def file(self) -> Path:
        """The old name of ``config_file``."""
        return self.config_file

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Status:
        return cls(
            ok=d["ok"],
            config_file=Path(d["config_file"]),
            state=d["state"],
            valid=d["valid"],
            **_recorded_login(d),
            file_holds_ours=d["file_holds_ours"],
            index_url=d["effective_index_url"],
            index_url_source=d["effective_source"],
            index_url_is_ours=d["effective_is_ours"],
            no_index=d["no_index"],
            problems=tuple(d["problems"]),
            refresher=RefresherInfo._from(d["refresher"]),
        )

    def headline(self) -> str:
        """One line that follows ``ok``: OK, or what is wrong, naming what wins when something else does."""
        return status_headline(self)

    def _view(self) -> View:
        return status_view(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``ca-login status --json`` prints). Never holds a token. ``file`` is the old name of
        ``config_file``."""
        return {
            "ok": self.ok,
            "headline": self.headline(),
            "config_file": str(self.config_file),
            "file": str(self.config_file),
            "state": self.state,
            "valid": self.valid,
            **_recorded_login_dict(self),
            "file_holds_ours": self.file_holds_ours,
            "index_url": self.index_url,
            "index_url_source": self.index_url_source,
            "index_url_is_ours": self.index_url_is_ours,
            "no_index": self.no_index,
            "problems": list(self.problems),
            "refresher": None if self.refresher is None else self.refresher.to_dict(),
        }


@dataclass(frozen=True)
class ToolStatus(_Shown):
    """Where the login stands for uv, Poetry or twine, and whether that tool will use it.

    ``ok`` is True only when the token is valid and nothing wins over what ca-login wrote (``overrides`` is
    empty): for uv ``UV_INDEX_URL``, ``UV_DEFAULT_INDEX``, ``UV_INDEX``, ``UV_EXTRA_INDEX_URL``,
    ``UV_CONFIG_FILE``, ``UV_NO_CONFIG`` or a project's ``uv.toml`` / ``pyproject.toml`` ``[tool.uv]`` (in the
    working directory or a parent) that names indexes of its own; for Poetry ``POETRY_HTTP_BASIC_<SOURCE>_*``; for
    twine ``TWINE_USERNAME``, ``TWINE_PASSWORD``, ``TWINE_REPOSITORY_URL``; or a file read elsewhere than the one
    written (``XDG_CONFIG_HOME``, ``POETRY_CONFIG_DIR``, ``NETRC`` changed). ``state`` is ``"valid"``,
    ``"expired"``, ``"missing"``, ``"replaced"`` (the tool's file, or with ``token_store == "netrc"`` the netrc
    entry for the repository host, no longer holds what ca-login wrote) or ``"unknown"``.
    """

    tool: str
    config_file: Path
    state: str
    valid: bool
    ok: bool
    token_store: str
    netrc_file: Optional[Path]
    repository_endpoint: Optional[str]
    domain: Optional[str]
    domain_owner: Optional[str]
    repository: Optional[str]
    region: Optional[str]
    expires_at: Optional[datetime]
    issued_at: Optional[datetime]
    remaining: Optional[timedelta]
    file_holds_ours: bool
    netrc_holds_ours: bool
    overrides: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    extra_index: bool = False
    source: Optional[str] = None

    @property
    def uses(self) -> bool:
        """Nothing wins over what ca-login wrote: the tool takes its index (uv) or credentials from it."""
        return not self.overrides

    @classmethod
    def _from(cls, d: dict[str, Any]) -> ToolStatus:
        return cls(
            tool=d["tool"],
            config_file=Path(d["config_file"]),
            state=d["state"],
            valid=d["valid"],
            ok=d["ok"],
            token_store=d["token_store"],
            netrc_file=None if d["netrc_file"] is None else Path(d["netrc_file"]),
            **_recorded_login(d),
            file_holds_ours=d["file_holds_ours"],
            netrc_holds_ours=d["netrc_holds_ours"],
            overrides=tuple(d["overrides"]),
            problems=tuple(d["problems"]),
            extra_index=d["extra_index"],
            source=d["source"],
        )

    def headline(self) -> str:
        """One line that follows ``ok``: OK, or what is wrong, naming what wins when something else does."""
        return tool_status_headline(self)

    def _view(self) -> View:
        return tool_status_view(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready. Never holds a token."""
        return {
            "tool": self.tool,
            "ok": self.ok,
            "headline": self.headline(),
            "config_file": str(self.config_file),
            "state": self.state,
            "valid": self.valid,
            "token_store": self.token_store,
            "netrc_file": None if self.netrc_file is None else str(self.netrc_file),
            **_recorded_login_dict(self),
            "file_holds_ours": self.file_holds_ours,
            "netrc_holds_ours": self.netrc_holds_ours,
            "uses": self.uses,
            "overrides": list(self.overrides),
            "problems": list(self.problems),
            "extra_index": self.extra_index,
            "source": self.source,
        }


@dataclass(frozen=True)
class Statuses(_Shown):
    """The status of several tools (:func:`status` with a list, ``"pip,uv"``, or ``tool=None``): one
    :class:`Status` (pip) or :class:`ToolStatus` per tool, in order; ``ok`` only when every one is ok.
    ``statuses["uv"]`` is one tool's."""

    items: tuple[Union[Status, ToolStatus], ...]

    @property
    def ok(self) -> bool:
        """Every tool's token is valid and that tool will use it."""
        return all(s.ok for s in self.items)

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools, in order."""
        return tuple(s.tool for s in self.items)

    def __getitem__(self, tool: str) -> Union[Status, ToolStatus]:
        for s in self.items:
            if s.tool == tool:
                return s
        raise KeyError(tool)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def _from(cls, ds: list[dict[str, Any]]) -> Statuses:
        return cls(tuple(Status._from(d) if d["tool"] == "pip" else ToolStatus._from(d) for d in ds))

    def headline(self) -> str:
        """One line: OK when every tool is, else the tools that are not and why in a word."""
        return statuses_headline(self.items)

    def _view(self) -> View:
        return statuses_view(self.items)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``ca-login status --json`` prints for several tools). Never holds a token."""
        tools = [{"tool": s.tool, **s.to_dict()} for s in self.items]
        return {"ok": self.ok, "headline": self.headline(), "tools": tools}


class EnsuredLogin(LoginResult):
    """A :class:`LoginResult` from :func:`ensure_login`; ``fresh`` is False when the recorded token was still
    good and no call was made."""

    __slots__ = ("_fresh",)
    _fresh: bool

    def __init__(self, *, fresh: bool = True, **fields: Any) -> None:
        super().__init__(**fields)
        object.__setattr__(self, "_fresh", fresh)

    @property
    def fresh(self) -> bool:
        """A login happened (False: the recorded token was still good, no call was made)."""
        return self._fresh

    def _asdict(self) -> dict[str, Any]:
        return {**super()._asdict(), "fresh": self._fresh}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "fresh": self._fresh}

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, fresh={self._fresh!r})"

    def _view(self) -> View:
        return ensured_view(self, self.fresh)

    def __str__(self) -> str:
        return text(self._view())

    def _repr_html_(self) -> str:
        return html(self._view())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        pretty(self, p, cycle)


def _ensured(d: dict[str, Any]) -> EnsuredLogin:
    """`_core.ensure_login`'s answer as an :class:`EnsuredLogin`."""
    return EnsuredLogin(**_to_result(d)._asdict(), fresh=d["fresh"])


@dataclass(frozen=True)
class LogoutResult(_Shown):
    """What :func:`logout` did. ``action``: ``"restored"`` (the index-url from before the first login is
    back), ``"removed"`` (ours is gone; there was none before) or ``"unchanged"``."""

    config_file: Path
    action: str
    restored_index_url: Optional[str]
    had_state: bool
    stopped_refresher: bool
    message: str

    @property
    def file(self) -> Path:
        """The old name of ``config_file``."""
        return self.config_file

    def _view(self) -> View:
        rows = [("config_file", str(self.config_file)), ("action", self.action)]
        if self.stopped_refresher:
            rows.append(("refresher", "stopped"))
        return View(
            f"ca_login logout: {self.message}", "ok" if self.action != "unchanged" else "info", tuple(rows)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_file": str(self.config_file),
            "action": self.action,
            "restored_index_url": self.restored_index_url,
            "had_state": self.had_state,
            "stopped_refresher": self.stopped_refresher,
            "message": self.message,
        }


@overload
def status(tool: Literal["pip"] = "pip", config_file: Optional[str | Path] = None) -> Status: ...
@overload
def status(
    tool: Literal["uv", "poetry", "twine"], config_file: Optional[str | Path] = None
) -> ToolStatus: ...
@overload
def status(tool: Optional[list[str]], config_file: Optional[str | Path] = None) -> Statuses: ...
@overload
def status(tool: str, config_file: Optional[str | Path] = None) -> Union[Status, ToolStatus, Statuses]: ...
def status(
    tool: Union[str, list[str], None] = "pip", config_file: Optional[str | Path] = None
) -> Union[Status, ToolStatus, Statuses]:
    """Where the token stands: each tool's file, the repository, when the token expires, and whether the tool will
    use it.

    ``tool="pip"`` (the default): a :class:`Status` (pip's file, pip's effective index-url). ``tool="uv"``,
    ``"poetry"`` or ``"twine"``: a :class:`ToolStatus`. Several (a list, or ``"pip,uv"``), or ``tool=None`` for pip
    and every tool with a recorded login: a :class:`Statuses`. Makes no network call. ``config_file`` (pip's)
    defaults to the file :func:`login` writes for this interpreter. ``str(status())`` is a readable summary; in a
    notebook the cell shows a table. Never shows the token.
    """
    cf = None if config_file is None else str(config_file)
    if tool == "pip":
        return Status._from(_core.status(tool, cf, sys_prefix=sys.prefix))
    ds = _core.statuses(tool, cf, sys_prefix=sys.prefix)
    if isinstance(tool, str) and "," not in tool:
        d = ds[0]
        return Status._from(d) if d["tool"] == "pip" else ToolStatus._from(d)
    return Statuses._from(ds)


def ensure_login(
    domain: Optional[str] = None,
    repository: Optional[str] = None,
    *,
    domain_owner: Optional[str] = None,
    region: Optional[str] = None,
    tool: str | list[str] | None = None,
    token_store: Optional[str] = None,
    extra_index: bool = False,
    poetry_source: Optional[str] = None,
    duration_seconds: Optional[int] = None,
    endpoint_url: Optional[str] = None,
    repository_endpoint_url: Optional[str] = None,
    profile: Optional[str] = None,
    config_file: Optional[str | Path] = None,
    dry_run: bool = False,
    min_remaining: int = 3600,
) -> EnsuredLogin:
    """Log in only if needed: no network call while the recorded token for the target file has more than
    ``min_remaining`` seconds left, is for the same repository, and the file still holds its index-url. With
    several tools (``tool=["pip", "uv"]``), the same for every file the login would write (uv.toml, auth.toml,
    .pypirc, the netrc entry), each logged in the way asked now (token store, index mode, Poetry source).

    Takes the same arguments as :func:`login` (``domain_owner``, ``region``, ``duration_seconds``,
    ``config_file``, ...). Returns an :class:`EnsuredLogin` (a ``LoginResult``) whose ``fresh`` says whether a
    login happened. The check takes well under 5 ms (``benchmarks/ensure_login_fastpath.py``).
    """
    min_remaining = int(min_remaining)
    d = _call(_core.ensure_login, _core_args(locals()))
    result = _ensured(d)
    _warn(result)
    return result


_atexit_registered = False


def start_refresh(
    domain: Optional[str] = None,
    repository: Optional[str] = None,
    *,
    domain_owner: Optional[str] = None,
    region: Optional[str] = None,
    tool: str | list[str] | None = None,
    token_store: Optional[str] = None,
    extra_index: bool = False,
    poetry_source: Optional[str] = None,
    duration_seconds: Optional[int] = None,
    endpoint_url: Optional[str] = None,
    repository_endpoint_url: Optional[str] = None,
    profile: Optional[str] = None,
    config_file: Optional[str | Path] = None,
    every: Optional[float] = None,
) -> RefresherInfo:
    """Keep the token fresh for as long as this process lives: one background refresher per process.

    It runs on a Rust thread that does not hold the GIL, so it works while a cell runs. It logs in again at
    about 75% of each token's life (or at least every ``every`` seconds), retries failures with exponential
    backoff and jitter (2 s doubling up to 5 min), and logs through :mod:`logging` (logger ``ca_login``).
    Starting it again replaces the running one. Takes the same arguments as :func:`login`; invalid ones raise
    here, before anything runs in the background. :func:`status` shows it and its last result.

    Each run renews the tools asked and every other tool with a recorded login for the same repository, each the
    way it was logged in (``RefresherInfo.tools``). ``logout(tool=...)`` takes one out; the refresher stops when
    none is left.
    """
    global _atexit_registered
    d = _core.start_refresh(**_core_args(locals()))
    if not _atexit_registered:
        atexit.register(_core.stop_refresh)
        _atexit_registered = True
    info = RefresherInfo._from(d)
    assert info is not None
    return info


def stop_refresh() -> Optional[RefresherInfo]:
    """Stop the background refresher (within a second). Returns its last state, or None if none ran."""
    return RefresherInfo._from(_core.stop_refresh())


def logout(tool: str = "pip", config_file: Optional[str | Path] = None) -> LogoutResult:
    """Undo the login for a pip file: put back the index-url it had before the first login (or remove ours if
    it had none), leave every other byte as it is, and forget the recorded expiry. Without a record, removes an
    index-url carrying a CodeArtifact token under our ``# ca-login:`` comment; anything else is left alone.
    ``tool="uv"``, ``"poetry"``, ``"twine"`` or ``"netrc"`` takes that tool's files back instead.

    The background refresher stops renewing that tool (``stopped_refresher``); it keeps renewing the others and
    stops once no tool is left.
    """
    d = _core.logout(tool, None if config_file is None else str(config_file), sys_prefix=sys.prefix)
    return LogoutResult(
        config_file=Path(d["config_file"]),
        action=d["action"],
        restored_index_url=d["restored_index_url"],
        had_state=d["had_state"],
        stopped_refresher=d["stopped_refresher"],
        message=d["message"],
    )
