"""``ca_login.configure()``: the ca-login config (the settings login() takes when not told) and the IPython
extension in every kernel, from Python; ``ca-login configure`` is the same from the shell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from . import _core, _sagemaker
from ._display import View, _Shown


@dataclass(frozen=True)
class ConfigureResult(_Shown):
    """What :func:`configure` wrote. ``config_file``: the ca-login config (``None`` when only
    ``ipython_extension`` was given) and ``text``, its new content (no secrets: the config holds names, URLs
    without credentials and a profile name); ``ipython_startup_file`` and ``ipython_action`` when
    ``ipython_extension`` was given: ``"written"``, ``"unchanged"``, ``"removed"``, ``"absent"`` (nothing to
    remove) or ``"not-ours"`` (a file of yours under that name, left as it is)."""

    config_file: Optional[Path]
    text: Optional[str]
    ipython_startup_file: Optional[Path]
    ipython_action: Optional[str]

    def _view(self) -> View:
        rows: list[tuple[str, str]] = []
        code: tuple[tuple[str, str, bool], ...] = ()
        if self.config_file is not None:
            rows.append(("config_file", str(self.config_file)))
            code = ((str(self.config_file), (self.text or "").rstrip("\n"), False),)
        notes: tuple[str, ...] = ()
        if self.ipython_startup_file is not None and self.ipython_action is not None:
            rows.append(("ipython_startup_file", str(self.ipython_startup_file)))
            rows.append(("ipython_action", self.ipython_action))
            notes = (
                _sagemaker.ipython_message(
                    {"path": str(self.ipython_startup_file), "action": self.ipython_action}
                ),
            )
        tone = "warn" if self.ipython_action == "not-ours" else "ok"
        return View("ca_login configure: " + _headline(self), tone, tuple(rows), code, notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_file": None if self.config_file is None else str(self.config_file),
            "text": self.text,
            "ipython_startup_file": None
            if self.ipython_startup_file is None
            else str(self.ipython_startup_file),
            "ipython_action": self.ipython_action,
        }


def _headline(r: ConfigureResult) -> str:
    parts: list[str] = []
    if r.config_file is not None:
        parts.append("wrote the ca-login config")
    if r.ipython_action is not None:
        parts.append(f"IPython extension {r.ipython_action}")
    return "; ".join(parts)


def configure(
    *,
    domain: Optional[str] = None,
    domain_owner: Optional[str] = None,
    repository: Optional[str] = None,
    region: Optional[str] = None,
    endpoint_url: Optional[str] = None,
    repository_endpoint_url: Optional[str] = None,
    endpoint_type: Optional[str] = None,
    duration_seconds: Optional[int] = None,
    profile: Optional[str] = None,
    tool: Union[str, Sequence[str], None] = None,
    ipython_extension: Optional[bool] = None,
    user: Optional[str] = None,
    replace: bool = False,
) -> ConfigureResult:
    """Write settings into ``[default]`` of the ca-login config (``$CA_LOGIN_CONFIG``, else
    ``~/.config/ca-login/config``), so that :func:`login`, :func:`ensure_login` and the refresher need no
    arguments. Only the keys given change; comments, other keys and sections are kept; the file is written
    atomically, mode 0600. ``replace=True`` also removes the settings not given.

    ``tool``: the tools a login configures when not told (``"pip,uv"`` or ``["pip", "uv"]``).
    ``ipython_extension``: ``True`` writes the IPython startup file that loads ``ca_login``'s extension in every
    new kernel (``$IPYTHONDIR/profile_default/startup/50-ca-login.py``, else ``~/.ipython``), ``False`` removes it
    if ca-login wrote it, ``None`` leaves it. ``user`` (as root): that user's files, written with their ids.

    Every value is checked before anything is written (:class:`InvalidInput`); nothing is sent anywhere."""
    values: dict[str, Any] = {
        "domain": domain,
        "domain_owner": domain_owner,
        "repository": repository,
        "region": region,
        "endpoint_url": endpoint_url,
        "repository_endpoint_url": repository_endpoint_url,
        "endpoint_type": endpoint_type,
        "duration_seconds": duration_seconds,
        "profile": profile,
    }
    if not replace and tool is None and ipython_extension is None and all(v is None for v in values.values()):
        raise _sagemaker._invalid(
            "configure",
            "nothing to configure: no setting given",
            'pass at least one setting, e.g. ca_login.configure(domain="mydomain", repository="myrepo"), '
            "or ca_login.configure(ipython_extension=True)",
        )
    out: dict[str, Any] = _sagemaker.configure(
        values, user=user, replace=replace, ipython_extension=ipython_extension, tool=tool
    )
    path: Optional[str] = out.get("path")
    written: Optional[str] = out.get("text")
    ipy: Optional[dict[str, str]] = out.get("ipython")
    return ConfigureResult(
        config_file=None if path is None else Path(path),
        text=None if written is None else _core.mask_url(written),
        ipython_startup_file=None if ipy is None else Path(ipy["path"]),
        ipython_action=None if ipy is None else ipy["action"],
    )
