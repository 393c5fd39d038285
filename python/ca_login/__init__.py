"""ca_login: log pip in to AWS CodeArtifact through private VPC endpoints, and say why it can't.

In a notebook cell::

    %load_ext ca_login
    import ca_login
    ca_login.login("mydomain", "isolatedsm", domain_owner="111122223333")
    %pip install requests

(``%load_ext ca_login`` renews the token before any cell that runs pip when it is about to expire, and adds
the ``%ca_login`` magic; ``ca_login.configure(domain=..., repository=..., ipython_extension=True)`` writes the
settings once and loads the extension in every new kernel.)

Values not given come from ``CA_LOGIN_DOMAIN``, ``CA_LOGIN_REPOSITORY``, ``CA_LOGIN_DOMAIN_OWNER``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, then the ca-login config file (``~/.config/ca-login/config``), then the
AWS profile. Credentials come from the AWS default chain (on a notebook instance: its execution role).

Importing this package is kept cheap (a lifecycle script or cron job pays for it on every run): the status,
refresh and diagnosis modules load on first use, and nothing here imports ``dataclasses``, ``typing``,
``pathlib`` or ``logging`` up front.
"""

from __future__ import annotations

import os
import sys
import warnings

from . import _core
from ._core import (
    AccessDenied,
    ConfigError,
    CredentialsError,
    EndpointUnreachable,
    Error,
    Interrupted,
    InvalidInput,
    NotFound,
    SecretUrl,
    ServiceError,
    Throttled,
)

# typing.TYPE_CHECKING without importing typing (mypy and pyright honour the name): type checkers see the lazy
# names' real types.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta
    from pathlib import Path
    from typing import Any

    from ._configure import ConfigureResult, configure
    from ._diagnosis import Check, Diagnosis, Verdict, diagnose
    from ._lifetime import (
        EnsuredLogin,
        LogoutResult,
        RefresherInfo,
        Status,
        Statuses,
        ToolStatus,
        ensure_login,
        logout,
        start_refresh,
        status,
        stop_refresh,
    )

__version__ = _core.__version__

__all__ = [
    "AccessDenied",
    "Check",
    "ConfigError",
    "ConfigureResult",
    "CredentialsError",
    "Diagnosis",
    "EndpointUnreachable",
    "EnsuredLogin",
    "Error",
    "Interrupted",
    "InvalidInput",
    "LoginResult",
    "LoginWarning",
    "LogoutResult",
    "NotFound",
    "RefresherInfo",
    "SecretUrl",
    "ServiceError",
    "Status",
    "Statuses",
    "Throttled",
    "ToolFile",
    "ToolStatus",
    "Verdict",
    "configure",
    "diagnose",
    "ensure_login",
    "login",
    "logout",
    "start_refresh",
    "status",
    "stop_refresh",
]

# Public names that live in modules loaded on first use (PEP 562).
_LAZY = {
    "EnsuredLogin": "_lifetime",
    "LogoutResult": "_lifetime",
    "RefresherInfo": "_lifetime",
    "Status": "_lifetime",
    "Statuses": "_lifetime",
    "ToolStatus": "_lifetime",
    "ensure_login": "_lifetime",
    "logout": "_lifetime",
    "start_refresh": "_lifetime",
    "status": "_lifetime",
    "stop_refresh": "_lifetime",
    "ConfigureResult": "_configure",
    "configure": "_configure",
    "Check": "_diagnosis",
    "Diagnosis": "_diagnosis",
    "Verdict": "_diagnosis",
    "diagnose": "_diagnosis",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ca_login' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Only the public API (not ``os``, ``sys``, the private modules)."""
    return sorted([*__all__, "__version__"])


def _render_traceback_(self: BaseException) -> list[str]:
    """IPython's hook: a short block (what failed and where, the cause, the fix as commands, where to look
    next) instead of a traceback through our own code. ``%xmode Verbose`` or ``CA_LOGIN_TRACEBACK=1`` brings the
    full traceback back."""
    from ._display import render_traceback

    return render_traceback(self)


Error._render_traceback_ = _render_traceback_  # type: ignore[attr-defined]
Interrupted._render_traceback_ = _render_traceback_  # type: ignore[attr-defined]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ca_login``: the ``%ca_login`` magic, and ``ensure_login`` before every cell that runs pip."""
    from ._ipython import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from ._ipython import unload

    unload(ipython)


class LoginWarning(UserWarning):
    """pip will not use what ca_login wrote (an environment variable or another file wins)."""


class ToolFile:
    """A file a login wrote for a tool other than pip's config: ``tool`` (``"uv"``, ``"poetry"``, ``"twine"``,
    ``"netrc"``), ``config_file`` (``pathlib.Path``), ``token_store`` (``"url"``: the token is in this file;
    ``"netrc"``: it holds the URL only), ``preview`` (its text, passwords masked). Read-only."""

    __slots__ = ("_config_file", "_preview", "_token_store", "_tool")

    def __init__(
        self, *, tool: str, config_file: str | os.PathLike[str], token_store: str, preview: str = ""
    ) -> None:
        object.__setattr__(self, "_tool", tool)
        object.__setattr__(self, "_config_file", os.fspath(config_file))
        object.__setattr__(self, "_token_store", token_store)
        object.__setattr__(self, "_preview", preview)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolFile) and (self._tool, self._config_file, self._token_store) == (
            other._tool,
            other._config_file,
            other._token_store,
        )

    def __hash__(self) -> int:
        return hash((self._tool, self._config_file, self._token_store))

    def __repr__(self) -> str:
        return f"ToolFile(tool={self._tool!r}, config_file={self._config_file!r}, token_store={self._token_store!r})"

    @property
    def tool(self) -> str:
        """``"uv"``, ``"poetry"``, ``"twine"`` or ``"netrc"``."""
        return self._tool

    @property
    def config_file(self) -> Path:
        """The file written (``pathlib.Path``)."""
        from pathlib import Path

        return Path(self._config_file)

    @property
    def token_store(self) -> str:
        """``"url"`` or ``"netrc"``."""
        return self._token_store

    @property
    def preview(self) -> str:
        """The file's text after the login, passwords masked."""
        return self._preview


class LoginResult:
    """What a login configured. ``index_url`` prints masked; ``index_url.get_secret_value()`` gives the URL.

    Attributes: ``repository_endpoint``, ``index_url`` (:class:`SecretUrl`), ``expires_at`` (aware UTC
    ``datetime``), ``config_file`` (``pathlib.Path`` written), ``tool``, ``domain``, ``domain_owner``,
    ``repository``, ``region``, ``dry_run``, ``preview`` (the file's text after the login, token masked),
    ``warnings`` (why pip would not use it), ``tools`` (the tools configured), ``files`` (:class:`ToolFile` for
    each file written besides pip's), ``next_steps`` (commands to run next, e.g. ``poetry source add ...``).
    Read-only.
    """

    _FIELDS = (
        "repository_endpoint",
        "index_url",
        "expires_at",
        "config_file",
        "tool",
        "domain",
        "domain_owner",
        "repository",
        "region",
        "dry_run",
        "preview",
        "warnings",
        "tools",
        "files",
        "next_steps",
    )
    __slots__ = tuple(f"_{f}" for f in _FIELDS)
    _repository_endpoint: str
    _index_url: SecretUrl
    _expires_at: datetime
    _config_file: str | os.PathLike[str]
    _tool: str
    _domain: str
    _domain_owner: str | None
    _repository: str
    _region: str
    _dry_run: bool
    _preview: str
    _warnings: tuple[str, ...]
    _tools: tuple[str, ...]
    _files: tuple[ToolFile, ...]
    _next_steps: tuple[str, ...]

    def __init__(
        self,
        *,
        repository_endpoint: str,
        index_url: SecretUrl,
        expires_at: datetime,
        config_file: str | os.PathLike[str],
        tool: str,
        domain: str,
        domain_owner: str | None,
        repository: str,
        region: str,
        dry_run: bool = False,
        preview: str = "",
        warnings: tuple[str, ...] = (),
        tools: tuple[str, ...] = ("pip",),
        files: tuple[ToolFile, ...] = (),
        next_steps: tuple[str, ...] = (),
    ) -> None:
        values = dict(locals())
        for f in LoginResult._FIELDS:
            object.__setattr__(self, f"_{f}", values[f])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _asdict(self) -> dict[str, Any]:
        return {f: getattr(self, f"_{f}") for f in LoginResult._FIELDS}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LoginResult) and type(self) is type(other) and self._asdict() == other._asdict()
        )

    def __hash__(self) -> int:
        return hash((type(self), self._repository_endpoint, self._expires_at, os.fspath(self._config_file)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in LoginResult._FIELDS if f != "preview")
        return f"{type(self).__name__}({shown})"

    @property
    def repository_endpoint(self) -> str:
        """The repository's endpoint URL (no token)."""
        return self._repository_endpoint

    @property
    def index_url(self) -> SecretUrl:
        """The index URL pip uses, token inside: prints masked."""
        return self._index_url

    @property
    def expires_at(self) -> datetime:
        """When the token expires (aware UTC)."""
        return self._expires_at

    @property
    def tool(self) -> str:
        """The tool configured (``"pip"``)."""
        return self._tool

    @property
    def domain(self) -> str:
        """The CodeArtifact domain."""
        return self._domain

    @property
    def domain_owner(self) -> str | None:
        """The account that owns the domain, when given."""
        return self._domain_owner

    @property
    def repository(self) -> str:
        """The repository."""
        return self._repository

    @property
    def region(self) -> str:
        """The AWS Region."""
        return self._region

    @property
    def dry_run(self) -> bool:
        """Nothing was written (a preview)."""
        return self._dry_run

    @property
    def preview(self) -> str:
        """The file's text after the login, token masked."""
        return self._preview

    @property
    def warnings(self) -> tuple[str, ...]:
        """Why pip would not use it (empty when it will)."""
        return self._warnings

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools configured, in order (``("pip",)`` by default)."""
        return self._tools

    @property
    def files(self) -> tuple[ToolFile, ...]:
        """The files written for tools other than pip's config (uv.toml, auth.toml, .pypirc, .netrc)."""
        return self._files

    @property
    def next_steps(self) -> tuple[str, ...]:
        """Commands to run next: ``poetry source add ...`` in a project, ``twine upload -r codeartifact ...``."""
        return self._next_steps

    @property
    def config_file(self) -> Path:
        """The pip config file written (``pathlib.Path``)."""
        from pathlib import Path

        return Path(self._config_file)

    @property
    def remaining(self) -> timedelta:
        """Time left before the token expires (a ``timedelta``; negative once expired)."""
        from datetime import datetime, timezone

        return self.expires_at - datetime.now(timezone.utc)

    def __str__(self) -> str:
        from ._display import login_text

        return login_text(self)

    def _repr_html_(self) -> str:
        from ._display import login_html

        return login_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from ._display import pretty

        pretty(self, p, cycle)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``ca-login login --json`` prints); ``index_url`` masked, times ISO 8601."""
        d = self._asdict()
        d["index_url"] = str(self._index_url)
        d["expires_at"] = self._expires_at.isoformat()
        d["config_file"] = os.fspath(self._config_file)
        d["warnings"] = list(self._warnings)
        d["tools"] = list(self._tools)
        d["files"] = [
            {"tool": f.tool, "config_file": os.fspath(f.config_file), "token_store": f.token_store}
            for f in self._files
        ]
        d["next_steps"] = list(self._next_steps)
        return d


def _to_result(d: dict[str, Any]) -> LoginResult:
    from datetime import datetime, timezone

    return LoginResult(
        repository_endpoint=d["repository_endpoint"],
        index_url=d["index_url"],
        expires_at=datetime.fromtimestamp(d["expires_at"], tz=timezone.utc),
        config_file=d["config_file"],
        tool=d["tool"],
        domain=d["domain"],
        domain_owner=d["domain_owner"],
        repository=d["repository"],
        region=d["region"],
        dry_run=d["dry_run"],
        preview=d["preview"],
        warnings=tuple(d["warnings"]),
        tools=tuple(d.get("tools", ("pip",))),
        files=tuple(ToolFile(**f) for f in d.get("files", ())),
        next_steps=tuple(d.get("next_steps", ())),
    )


def _core_args(params: dict[str, Any]) -> dict[str, Any]:
    """A public function's parameters (its ``locals()`` on entry) as keyword arguments of the matching ``_core``
    function, which reads login's arguments from one list: paths as str, and this interpreter's ``sys.prefix``
    (it decides which pip config file is the default)."""
    args = dict(params)
    if args.get("config_file") is not None:
        args["config_file"] = os.fspath(args["config_file"])
    args["sys_prefix"] = sys.prefix
    return args


def _call(fn: Any, args: dict[str, Any]) -> Any:
    """A ``_core`` call that may wait for retries: in a notebook, with one line shown while it waits."""
    if "ipykernel" in sys.modules:
        from ._ipython import retry_notice

        with retry_notice():
            return fn(**args)
    return fn(**args)


def _warn(result: LoginResult, stacklevel: int = 3) -> None:
    for w in result.warnings:
        warnings.warn(w, LoginWarning, stacklevel=stacklevel)


def login(
    domain: str | None = None,
    repository: str | None = None,
    *,
    domain_owner: str | None = None,
    region: str | None = None,
    tool: str | Sequence[str] | None = None,
    token_store: str | None = None,
    extra_index: bool = False,
    poetry_source: str | None = None,
    duration_seconds: int | None = None,
    endpoint_url: str | None = None,
    repository_endpoint_url: str | None = None,
    profile: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    endpoint_type: str | None = None,
) -> LoginResult:
    """Get a CodeArtifact token and write it into pip's config for this interpreter.

    Args:
        domain: the CodeArtifact domain (else ``CA_LOGIN_DOMAIN`` or the ca-login config).
        repository: the repository pip should install from.
        domain_owner: the 12-digit account that owns the domain.
        region: the AWS Region (else ``AWS_REGION``, the config, the profile, instance metadata).
        tool: ``"pip"``, ``"uv"``, ``"poetry"``, ``"twine"``, or several (a list, or ``"pip,uv"``); None: the
            ca-login config's ``tools`` (``ca-login configure --tool pip,uv``), else ``"pip"``.
        token_store: ``"url"`` (the token in the tool's file) or ``"netrc"`` (only in ``~/.netrc``, ``NETRC``
            honoured; pip's file then holds the URL only). Default: url for pip, netrc for uv (always).
        extra_index: add the repository as an extra index instead of replacing the index: pip's ``[global]
            extra-index-url`` (its other entries kept), uv's index list without ``default``. Two indexes allow
            dependency confusion: a :class:`LoginWarning` says so.
        poetry_source: the Poetry source name (default ``codeartifact``).
        duration_seconds: token lifetime, 0 (the role session's) or 900..43200; CodeArtifact's default is 43200.
        endpoint_url: the ``codeartifact.api`` VPC endpoint's URL when its private DNS is off.
        repository_endpoint_url: the ``codeartifact.repositories`` endpoint (URL or bare ``vpce-…`` name) when
            its private DNS is off.
        profile: the AWS profile to use.
        config_file: the pip config file to write (default: the one ``pip config set`` would write).
        dry_run: show what would be written (token masked) and write nothing.
        endpoint_type: ``"ipv4"`` (the default) or ``"dualstack"``: which repository endpoint GetRepositoryEndpoint
            names (dual-stack hosts are ``DOMAIN-OWNER.codeartifact.REGION.on.aws``); else
            ``CA_LOGIN_ENDPOINT_TYPE`` or the ca-login config's ``endpoint_type``.

    Raises:
        InvalidInput: (a ``ValueError``) before any network call, for a bad argument.
        EndpointUnreachable, AccessDenied, NotFound, CredentialsError, Throttled, ConfigError, ServiceError.
        Each message ends with a ``hint:`` line; ``cause`` holds the same code ``diagnose()`` uses.
    """
    d = _call(_core.login, _core_args(locals()))
    result = _to_result(d)
    _warn(result)
    return result
