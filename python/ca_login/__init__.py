"""ca_login: log pip in to AWS CodeArtifact through private VPC endpoints, and say why it can't.

In a notebook cell::

    import ca_login
    ca_login.login("mydomain", "isolatedsm", domain_owner="111122223333")
    %pip install requests

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
from collections.abc import Sequence
from datetime import datetime, timezone

from . import _core
from ._core import (
    AccessDenied,
    ConfigError,
    CredentialsError,
    EndpointUnreachable,
    Error,
    InvalidInput,
    NotFound,
    SecretUrl,
    ServiceError,
    Throttled,
)

__version__ = _core.__version__

__all__ = [
    "AccessDenied",
    "ConfigError",
    "CredentialsError",
    "Diagnosis",
    "EndpointUnreachable",
    "EnsuredLogin",
    "Error",
    "InvalidInput",
    "LoginResult",
    "LoginWarning",
    "LogoutResult",
    "NotFound",
    "RefresherInfo",
    "SecretUrl",
    "ServiceError",
    "Status",
    "Throttled",
    "ToolFile",
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
    "ensure_login": "_lifetime",
    "logout": "_lifetime",
    "start_refresh": "_lifetime",
    "status": "_lifetime",
    "stop_refresh": "_lifetime",
    "Diagnosis": "_diagnosis",
    "diagnose": "_diagnosis",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ca_login' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and (self._tool, self._config_file, self._token_store) == (
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
    def config_file(self):
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

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _asdict(self) -> dict:
        return {f: getattr(self, f"_{f}") for f in LoginResult._FIELDS}

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._asdict() == other._asdict()

    def __hash__(self) -> int:
        return hash((type(self), self._repository_endpoint, self._expires_at, os.fspath(self._config_file)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in LoginResult._FIELDS if f != "preview")
        return f"{type(self).__name__}({shown})"

    repository_endpoint = property(lambda self: self._repository_endpoint)
    index_url = property(lambda self: self._index_url)
    expires_at = property(lambda self: self._expires_at)
    tool = property(lambda self: self._tool)
    domain = property(lambda self: self._domain)
    domain_owner = property(lambda self: self._domain_owner)
    repository = property(lambda self: self._repository)
    region = property(lambda self: self._region)
    dry_run = property(lambda self: self._dry_run)
    preview = property(lambda self: self._preview)
    warnings = property(lambda self: self._warnings)

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
    def config_file(self):
        """The pip config file written (``pathlib.Path``)."""
        from pathlib import Path

        return Path(self._config_file)

    @property
    def remaining(self):
        """Time left before the token expires (a ``timedelta``; negative once expired)."""
        return self.expires_at - datetime.now(timezone.utc)

    def __str__(self) -> str:
        from ._display import login_text

        return login_text(self)

    def _repr_html_(self) -> str:
        from ._display import login_html

        return login_html(self)


def _to_result(d: dict) -> LoginResult:
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


def _core_args(params: dict) -> dict:
    """A public function's parameters (its ``locals()`` on entry) as keyword arguments of the matching ``_core``
    function, which reads login's arguments from one list: paths as str, and this interpreter's ``sys.prefix``
    (it decides which pip config file is the default)."""
    args = dict(params)
    if args.get("config_file") is not None:
        args["config_file"] = os.fspath(args["config_file"])
    args["sys_prefix"] = sys.prefix
    return args


def _warn(result: LoginResult, stacklevel: int = 3) -> None:
    for w in result.warnings:
        warnings.warn(w, LoginWarning, stacklevel=stacklevel)


def login(
    domain: str | None = None,
    repository: str | None = None,
    *,
    domain_owner: str | None = None,
    region: str | None = None,
    tool: str | Sequence[str] = "pip",
    token_store: str | None = None,
    extra_index: bool = False,
    poetry_source: str | None = None,
    duration_seconds: int | None = None,
    endpoint_url: str | None = None,
    repository_endpoint_url: str | None = None,
    profile: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
) -> LoginResult:
    """Get a CodeArtifact token and write it into pip's config for this interpreter.

    Args:
        domain: the CodeArtifact domain (else ``CA_LOGIN_DOMAIN`` or the ca-login config).
        repository: the repository pip should install from.
        domain_owner: the 12-digit account that owns the domain.
        region: the AWS Region (else ``AWS_REGION``, the config, the profile, instance metadata).
        tool: ``"pip"``, ``"uv"``, ``"poetry"``, ``"twine"``, or several (a list, or ``"pip,uv"``).
        token_store: ``"url"`` (the token in the tool's file) or ``"netrc"`` (only in ``~/.netrc``, ``NETRC``
            honoured; pip's file then holds the URL only). Default: url for pip, netrc for uv (always).
        extra_index: add the repository to uv's index list without ``default`` instead of replacing the index
            (two indexes allow dependency confusion).
        poetry_source: the Poetry source name (default ``codeartifact``).
        duration_seconds: token lifetime, 0 (the role session's) or 900..43200; CodeArtifact's default is 43200.
        endpoint_url: the ``codeartifact.api`` VPC endpoint's URL when its private DNS is off.
        repository_endpoint_url: the ``codeartifact.repositories`` endpoint (URL or bare ``vpce-…`` name) when
            its private DNS is off.
        profile: the AWS profile to use.
        config_file: the pip config file to write (default: the one ``pip config set`` would write).
        dry_run: show what would be written (token masked) and write nothing.

    Raises:
        InvalidInput: (a ``ValueError``) before any network call, for a bad argument.
        EndpointUnreachable, AccessDenied, NotFound, CredentialsError, Throttled, ConfigError, ServiceError.
        Each message ends with a ``hint:`` line; ``cause`` holds the same code ``diagnose()`` uses.
    """
    d = _core.login(**_core_args(locals()))
    result = _to_result(d)
    _warn(result)
    return result
