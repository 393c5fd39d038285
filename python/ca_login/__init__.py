"""ca_login: log pip in to AWS CodeArtifact through private VPC endpoints, and say why it can't.

In a notebook cell::

    import ca_login
    ca_login.login("mydomain", "isolatedsm", domain_owner="111122223333")
    %pip install requests

Values not given come from ``CA_LOGIN_DOMAIN``, ``CA_LOGIN_REPOSITORY``, ``CA_LOGIN_DOMAIN_OWNER``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, then the ca-login config file (``~/.config/ca-login/config``), then the
AWS profile. Credentials come from the AWS default chain (on a notebook instance: its execution role).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

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
from ._display import login_html, login_text

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
    "diagnose",
    "ensure_login",
    "login",
    "logout",
    "start_refresh",
    "status",
    "stop_refresh",
]


class LoginWarning(UserWarning):
    """pip will not use what ca_login wrote (an environment variable or another file wins)."""


@dataclass(frozen=True)
class LoginResult:
    """What a login configured. ``index_url`` prints masked; ``index_url.get_secret_value()`` gives the URL."""

    repository_endpoint: str
    index_url: SecretUrl
    expires_at: datetime
    config_file: Path
    tool: str
    domain: str
    domain_owner: Optional[str]
    repository: str
    region: str
    dry_run: bool = False
    preview: str = field(default="", repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def remaining(self):
        """Time left before the token expires (a ``timedelta``; negative once expired)."""
        return self.expires_at - datetime.now(timezone.utc)

    def __str__(self) -> str:
        return login_text(self)

    def _repr_html_(self) -> str:
        return login_html(self)


def _to_result(d: dict) -> LoginResult:
    return LoginResult(
        repository_endpoint=d["repository_endpoint"],
        index_url=d["index_url"],
        expires_at=datetime.fromtimestamp(d["expires_at"], tz=timezone.utc),
        config_file=Path(d["config_file"]),
        tool=d["tool"],
        domain=d["domain"],
        domain_owner=d["domain_owner"],
        repository=d["repository"],
        region=d["region"],
        dry_run=d["dry_run"],
        preview=d["preview"],
        warnings=tuple(d["warnings"]),
    )


def _warn(result: LoginResult, stacklevel: int = 3) -> None:
    for w in result.warnings:
        warnings.warn(w, LoginWarning, stacklevel=stacklevel)


def login(
    domain: Optional[str] = None,
    repository: Optional[str] = None,
    *,
    domain_owner: Optional[str] = None,
    region: Optional[str] = None,
    tool: str = "pip",
    duration_seconds: Optional[int] = None,
    endpoint_url: Optional[str] = None,
    repository_endpoint_url: Optional[str] = None,
    profile: Optional[str] = None,
    config_file: Optional[str | Path] = None,
    dry_run: bool = False,
) -> LoginResult:
    """Get a CodeArtifact token and write it into pip's config for this interpreter.

    Args:
        domain: the CodeArtifact domain (else ``CA_LOGIN_DOMAIN`` or the ca-login config).
        repository: the repository pip should install from.
        domain_owner: the 12-digit account that owns the domain.
        region: the AWS Region (else ``AWS_REGION``, the config, the profile, instance metadata).
        tool: ``"pip"``.
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
    d = _core.login(
        domain,
        repository,
        domain_owner=domain_owner,
        region=region,
        tool=tool,
        duration_seconds=duration_seconds,
        endpoint_url=endpoint_url,
        repository_endpoint_url=repository_endpoint_url,
        profile=profile,
        config_file=None if config_file is None else str(config_file),
        dry_run=dry_run,
        sys_prefix=sys.prefix,
    )
    result = _to_result(d)
    _warn(result)
    return result

# Imported last: `_lifetime` (token lifetime, issue 5) builds on LoginResult above; `_diagnosis`: issue 4.
from ._diagnosis import Diagnosis, diagnose  # noqa: E402
from ._lifetime import (  # noqa: E402
    EnsuredLogin,
    LogoutResult,
    RefresherInfo,
    Status,
    ensure_login,
    logout,
    start_refresh,
    status,
    stop_refresh,
)
