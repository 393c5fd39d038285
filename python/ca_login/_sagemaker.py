"""SageMaker set-up: writing another user's files as root (``--user``), the ca-login config
(``configure``), and the on-start lifecycle script (``lifecycle-script``). Used by ``cli.py``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import _core
from ._lifecycle_template import TEMPLATE

# SageMaker's limit for one lifecycle configuration script (NotebookInstanceLifecycleHook.Content).
MAX_SCRIPT_CHARS = 16_384


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
    ("duration_seconds", "duration_seconds"),
    ("profile", "profile"),
)


def configure(values: dict, *, user: Optional[str] = None, replace: bool = False) -> dict:
    """Write the given settings into ``[default]`` of the ca-login config (for ``user`` when given).
    ``replace``: remove the settings not given. Returns ``{"path", "text"}``."""
    pairs: list[tuple[str, Optional[str]]] = []
    for key, attr in CONFIG_FLAGS:
        v = values.get(attr)
        if v is not None and str(v).strip() != "":
            pairs.append((key, str(v)))
        elif replace:
            pairs.append((key, None))
    if not any(v is not None for _, v in pairs):
        raise _invalid(
            "configure",
            "nothing to configure: no setting given",
            "give at least one of --domain, --domain-owner, --repository, --region, --endpoint-url, "
            "--repository-endpoint-url, --duration-seconds, --profile",
        )
    if user:
        t = resolve_user(user)
        return _core.write_ca_config(pairs, user_home=str(t.home), as_user=t.as_user)
    return _core.write_ca_config(pairs)


# --- ca-login lifecycle-script ------------------------------------------------------------------------

TARGETS = {
    "notebook-instance": {
        "DESC": "notebook instance (Amazon Linux, user ec2-user)",
        "USER": "ec2-user",
        "HOME": "/home/ec2-user",
        "CONDA": "/home/ec2-user/anaconda3",
        "CLI_ENV": "$CAL_CONDA/envs/JupyterSystemEnv",
        "WHEEL": "/home/ec2-user/SageMaker/ca-login/ca_login-*.whl",
        "WORK": "/var/tmp/ca-login",  # noqa: S108 (a path on the instance)
        "LOG": "/var/log/ca-login-lifecycle.log",
    },
    "studio": {
        "DESC": "Studio space (user sagemaker-user)",
        "USER": "sagemaker-user",
        "HOME": "/home/sagemaker-user",
        "CONDA": "/opt/conda",
        "CLI_ENV": "$CAL_CONDA",
        "WHEEL": "/home/sagemaker-user/ca-login/ca_login-*.whl",
        "WORK": "/tmp/ca-login",  # noqa: S108
        "LOG": "/tmp/ca-login-lifecycle.log",  # noqa: S108
    },
}

_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[^\s\"'`$\\]+\.whl$")


def _dq(value: str) -> str:
    """``value`` safe inside double quotes in bash (literal: no expansion)."""
    return re.sub(r'(["$`\\])', r"\\\1", value)


def lifecycle_script(
    *,
    domain: str,
    repository: str,
    domain_owner: Optional[str] = None,
    region: Optional[str] = None,
    endpoint_url: Optional[str] = None,
    repository_endpoint_url: Optional[str] = None,
    duration_seconds: Optional[int] = None,
    target: str = "notebook-instance",
    wheel: Optional[str] = None,
    refresh_within: int = 7200,
) -> str:
    """The on-start script for ``target``; every value is checked as ``login()`` would check it."""
    if target not in TARGETS:
        raise _invalid("target", f"{target!r} is not a lifecycle target", "use notebook-instance or studio")
    settings = {
        "domain": domain,
        "domain_owner": domain_owner,
        "repository": repository,
        "region": region,
        "endpoint_url": endpoint_url,
        "repository_endpoint_url": repository_endpoint_url,
        "duration_seconds": None if duration_seconds is None else str(duration_seconds),
    }
    for required in ("domain", "repository"):
        if not settings[required]:
            raise _invalid(
                required,
                f"the lifecycle script needs --{required}",
                f"pass --{required} (it goes into the notebook user's ca-login config)",
            )
    _core.write_ca_config([(k, v) for k, v in settings.items() if v], dry_run=True)
    t = dict(TARGETS[target])
    if wheel:
        if wheel.startswith("s3://"):
            if not _S3_URL.match(wheel):
                raise _invalid(
                    "wheel",
                    f"{wheel!r} is not an S3 URL of a wheel",
                    "use s3://BUCKET/PATH/ca_login-VERSION-...-manylinux2014_x86_64.whl (pip needs the name)",
                )
        elif not (wheel.startswith("/") and wheel.endswith(".whl")):
            raise _invalid(
                "wheel",
                f"{wheel!r} is not an absolute path to a .whl file",
                "give the path on the instance, e.g. /home/ec2-user/SageMaker/ca-login/ca_login-0.1.0-"
                "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (a * picks the newest)",
            )
        t["WHEEL"] = wheel
    if not 60 <= refresh_within <= 43200:
        raise _invalid("refresh_within", f"{refresh_within} s is out of range", "use 60..43200 seconds")
    subs = {
        "VERSION": _core.__version__,
        "TARGET": target,
        "REFRESH_WITHIN": str(refresh_within),
        **{f"S_{k.upper()}": _dq(v or "") for k, v in settings.items()},
        **{k: (_dq(v) if k not in ("DESC", "CLI_ENV") else v) for k, v in t.items()},
    }
    text = TEMPLATE
    for k, v in subs.items():
        text = text.replace(f"@@{k}@@", v)
    leftover = re.search(r"@@[A-Z_]+@@", text)
    if leftover:  # a template bug, not the user's
        raise RuntimeError(f"lifecycle template placeholder left unfilled: {leftover.group(0)}")
    if len(text) > MAX_SCRIPT_CHARS:
        raise _invalid(
            "lifecycle_script",
            f"the script is {len(text)} characters; SageMaker accepts at most {MAX_SCRIPT_CHARS}",
            "shorten the values (paths, URLs)",
        )
    return text
