"""Type stubs for the private extension ``ca_login._core`` (Rust, pyo3). Use the public ``ca_login`` API instead."""

from os import PathLike
from typing import Any, Callable, Optional, Union, final

_Path = Union[str, PathLike[str]]

__version__: str

class Error(Exception):
    cause: Optional[str] = None
    hint: Optional[str] = None

class InvalidInput(Error, ValueError):
    field: Optional[str] = None

class ConfigError(Error):
    path: Optional[str] = None

class CredentialsError(Error): ...

class EndpointUnreachable(Error):
    host: Optional[str] = None
    # dns | connect | tls | response | body | unknown
    phase: Optional[str] = None

class AccessDenied(Error):
    action: Optional[str] = None
    resource: Optional[str] = None
    principal: Optional[str] = None
    policy_type: Optional[str] = None
    explicit: bool = False

class NotFound(Error):
    what: Optional[str] = None

class Throttled(Error):
    retry_after: Optional[float] = None

class ServiceError(Error):
    code: Optional[str] = None
    status: Optional[int] = None
    host: Optional[str] = None

class Interrupted(KeyboardInterrupt):
    """The call was interrupted; the message says what was left as it was."""

@final
class SecretUrl:
    """A URL holding a token: ``str()``/``repr()`` print it masked."""

    @property
    def masked(self) -> str: ...
    def get_secret_value(self) -> str: ...

def login(
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
    config_file: Optional[_Path] = None,
    dry_run: bool = False,
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
    state_file: Optional[_Path] = None,
    endpoint_type: Optional[str] = None,
) -> dict[str, Any]: ...

# Token lifetime (issue 5)
def status(
    tool: str = ...,
    config_file: Optional[_Path] = None,
    *,
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    state_file: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
) -> dict[str, Any]: ...
def statuses(
    tool: str | list[str] | None = None,
    config_file: Optional[_Path] = None,
    *,
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    state_file: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
) -> list[dict[str, Any]]: ...
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
    config_file: Optional[_Path] = None,
    dry_run: bool = False,
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
    state_file: Optional[_Path] = None,
    endpoint_type: Optional[str] = None,
    min_remaining: int = 3600,
) -> dict[str, Any]: ...
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
    config_file: Optional[_Path] = None,
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
    state_file: Optional[_Path] = None,
    endpoint_type: Optional[str] = None,
    every: Optional[float] = None,
    backoff_base: float = 2.0,
    backoff_cap: float = 300.0,
) -> dict[str, Any]: ...
def stop_refresh() -> Optional[dict[str, Any]]: ...
def refresher() -> Optional[dict[str, Any]]: ...
def logout(
    tool: str = ...,
    config_file: Optional[_Path] = None,
    *,
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    state_file: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
) -> dict[str, Any]: ...

# SageMaker / `ca-login configure` (issue 6)
def write_ca_config(
    values: list[tuple[str, Optional[str]]],
    *,
    path: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
    dry_run: bool = False,
) -> dict[str, Any]: ...
def configured_tools(
    *,
    user_home: Optional[_Path] = None,
    as_user: Optional[tuple[int, int, list[int]]] = None,
    profile: Optional[str] = None,
) -> list[str]: ...
def set_ipython_extension(
    ipython_dir: _Path, on: bool, *, as_user: Optional[tuple[int, int, list[int]]] = None
) -> dict[str, Any]: ...

# diagnose (issue 4): returns the report as JSON text; `on_check` gets each check's dict as it finishes.
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
    sys_prefix: Optional[_Path] = None,
    user_home: Optional[_Path] = None,
    state_file: Optional[_Path] = None,
    on_check: Optional[Callable[[dict[str, Any]], None]] = None,
    packages: Optional[list[str]] = None,
    python_version: Optional[str] = None,
    tags: Optional[list[str]] = None,
    face: str = "python",
    endpoint_type: Optional[str] = None,
    tools: Optional[list[str]] = None,
) -> str: ...
def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``****``."""
    ...
