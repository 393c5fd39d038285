"""SageMaker set-up: writing another user's files as root (``--user``) and the ca-login config
(``configure``). Used by ``cli.py``; the lifecycle scripts are in ``_lifecycle.py``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import _core


def _invalid(field: str, message: str, hint: str) -> Exception:
    exc = _core.InvalidInput(f"{message}\nhint: {hint}")
    exc.field = field
    exc.hint = hint
    exc.cause = "invalid-input"
    return exc


@dataclass(frozen=True)
class UserTarget:
    """Whose files a command writes: a user's home, and the ids the core acts with (``as_user``; None: our own,
    when the user is the one running)."""

    name: str
    home: Path
    uid: int
    gid: int
    groups: tuple[int, ...]
    as_user: Optional[tuple[int, int, list[int]]]


def resolve_user(name: str) -> UserTarget:
    """Look ``name`` up (``pwd``, and its groups with ``os.getgrouplist``). Acting for another user needs root;
    naming yourself is allowed and acts as yourself. Root then reads, writes, locks and renames that user's files
    only with the user's uid, gid and groups."""
    import pwd

    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise _invalid(
            "user",
            f"cannot write files for user {name!r}: there is no such user on this machine",
            "check the name (`id NAME`): ec2-user on a notebook instance, sagemaker-user in Studio",
        ) from None
    euid = os.geteuid()
    if pw.pw_uid != euid and euid != 0:
        raise _invalid(
            "user",
            f"cannot write files for user {name!r}: ca-login runs as uid {euid}, not root",
            f"run it as root (sudo ca-login ... --user {name}), or leave out --user to write your own files",
        )
    groups = tuple(sorted(set(os.getgrouplist(name, pw.pw_gid))))
    as_user = None if pw.pw_uid == euid else (pw.pw_uid, pw.pw_gid, list(groups))
    return UserTarget(name, Path(pw.pw_dir), pw.pw_uid, pw.pw_gid, groups, as_user)


def core_target(user: Optional[str], sys_prefix: str) -> dict:
    """Keyword arguments for ``_core.login``/``ensure_login``/``status``/``logout``: this interpreter's files, or
    ``user``'s (done with the user's ids; settings come from root's own ca-login config, never the user's).

    For another user the site file of this interpreter is not theirs: no ``sys_prefix``, so the default
    target is ``~USER/.config/pip/pip.conf`` (the user file all their environments read) unless
    ``--config-file``.
    """
    if not user:
        return {"sys_prefix": sys_prefix}
    t = resolve_user(user)
    return {"sys_prefix": None, "user_home": str(t.home), "as_user": t.as_user}


# --- ca-login configure --------------------------------------------------------------------------------

CONFIG_FLAGS = (
    ("domain", "domain"),
    ("domain_owner", "domain_owner"),
    ("repository", "repository"),
    ("region", "region"),
    ("endpoint_url", "endpoint_url"),
    ("repository_endpoint_url", "repository_endpoint_url"),
    ("endpoint_type", "endpoint_type"),
    ("duration_seconds", "duration_seconds"),
    ("profile", "profile"),
)


def _tools_value(tool: object) -> Optional[str]:
    """``--tool pip --tool uv,twine`` (a list), ``"pip,uv"`` or ``["pip", "uv"]`` as one comma-separated value."""
    if tool is None:
        return None
    names = [tool] if isinstance(tool, str) else list(tool)  # type: ignore[call-overload]
    joined = ",".join(n.strip() for t in names for n in str(t).split(",") if n.strip())
    return joined or None


def ipython_dir(user: Optional[UserTarget] = None) -> Path:
    """The IPython directory whose default profile every kernel of the user loads: ``$IPYTHONDIR`` (IPython's
    own precedence: it wins over ``~/.ipython``), else ``~/.ipython``. For another user (root acting with
    ``--user``) always that user's ``~/.ipython``: root's own ``IPYTHONDIR`` is not theirs."""
    if user is not None and user.as_user is not None:
        return user.home / ".ipython"
    env = os.environ.get("IPYTHONDIR", "").strip()
    if env:
        return Path(os.path.expanduser(env))
    home = user.home if user is not None else Path(os.path.expanduser("~"))
    return home / ".ipython"


_IPYTHON_ACTIONS = {
    "written": "wrote {path}: every new kernel of this profile loads the ca_login IPython extension",
    "unchanged": "{path} already loads the ca_login IPython extension in every new kernel",
    "removed": "removed {path}: new kernels no longer load the ca_login IPython extension",
    "absent": "no {path}: new kernels do not load the ca_login IPython extension",
    "not-ours": "left {path} as it is: ca-login did not write it",
}


def ipython_message(d: dict) -> str:
    """The line ``ca-login configure`` prints for what ``set_ipython_extension`` did."""
    return _IPYTHON_ACTIONS[d["action"]].format(path=d["path"])


def configure(
    values: Optional[dict] = None,
    *,
    user: Optional[str] = None,
    replace: bool = False,
    ipython_extension: Optional[bool] = None,
    tool: object = None,
) -> dict:
    """Write the given settings into ``[default]`` of the ca-login config (for ``user`` when given).
    ``replace``: remove the settings not given. ``tool`` (or ``values["tool"]``; a str or a list): the ``tools``
    key, the tools a login, ensure_login or refresh uses when not told. ``ipython_extension``: True writes the
    IPython startup file that loads the extension in every kernel (``ipython_dir()``), False removes it if
    ca-login wrote it, None leaves it.
    Every value is checked before anything is written. Returns ``{"path", "text", "ipython"}`` (``text``:
    None when no setting was given; ``ipython``: ``{"path", "action"}`` or None)."""
    values = dict(values or {})
    if tool is not None:
        values["tool"] = tool
    pairs: list[tuple[str, Optional[str]]] = []
    for key, attr in CONFIG_FLAGS:
        v = values.get(attr)
        if v is not None and str(v).strip() != "":
            pairs.append((key, str(v)))
        elif replace:
            pairs.append((key, None))
    tools = _tools_value(values.get("tool"))
    if tools is not None:
        pairs.append(("tools", tools))
    elif replace:
        pairs.append(("tools", None))
    if not any(v is not None for _, v in pairs) and ipython_extension is None:
        raise _invalid(
            "configure",
            "nothing to configure: no setting given",
            "give at least one of --domain, --domain-owner, --repository, --region, --endpoint-url, "
            "--repository-endpoint-url, --endpoint-type, --duration-seconds, --profile, --tool, --ipython-extension",
        )
    t = resolve_user(user) if user else None
    home, as_user = (None, None) if t is None else (str(t.home), t.as_user)
    out: dict = {"path": None, "text": None, "ipython": None}
    if any(v is not None for _, v in pairs):
        # bad input: an error before anything is written
        _core.write_ca_config(pairs, user_home=home, as_user=as_user, dry_run=True)
        out.update(_core.write_ca_config(pairs, user_home=home, as_user=as_user))
    if ipython_extension is not None:
        out["ipython"] = _core.set_ipython_extension(
            str(ipython_dir(t)), bool(ipython_extension), as_user=as_user
        )
    return out
