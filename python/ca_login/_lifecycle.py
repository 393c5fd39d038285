"""``ca-login lifecycle-script``: the SageMaker lifecycle scripts, real shell files in ``lifecycle/`` with
``@@NAME@@`` placeholders that this fills in (each value literal inside double quotes: no expansion).
Used by ``cli.py``."""

from __future__ import annotations

import os
import re
import stat
from typing import Optional

from . import _core
from ._sagemaker import _invalid

# SageMaker's limit for one lifecycle configuration script (NotebookInstanceLifecycleHook.Content).
MAX_SCRIPT_CHARS = 16_384
# A wheel bigger than this is not ours (the script refuses it too).
MAX_WHEEL_BYTES = 64 * 1024 * 1024

# Per target: the shell file and its placeholders' defaults. Those named in RAW are bash text (they name
# other CAL_* variables); every other value is a literal.
TARGETS = {
    "notebook-instance": {
        "FILE": "notebook-instance.sh",
        "USER": "ec2-user",
        "HOME": "/home/ec2-user",
        "CONDA": "/home/ec2-user/anaconda3",
        "CLI_ENV": "$CAL_CONDA/envs/JupyterSystemEnv",
        "WHEEL": "/home/ec2-user/SageMaker/ca-login/ca_login-*.whl",
        "WORK": "/var/lib/ca-login",  # root's own (not /var/tmp, where a user could plant it first)
        "LOG": "/var/log/ca-login-lifecycle.log",
        "IPYTHON_EXTENSION": "",  # left as the user set it
        "RAW": ("CLI_ENV",),
    },
    "studio": {
        "FILE": "studio.sh",
        "USER": "sagemaker-user",
        "HOME": "/home/sagemaker-user",
        "CONDA": "/opt/conda",
        "WHEEL": "$CAL_HOME/ca-login/ca_login-*.whl",
        "WORK": "$CAL_HOME/.local/state/ca-login-lifecycle",
        "LOG": "$CAL_WORK/lifecycle.log",
        "IPYTHON_EXTENSION": "1",  # as earlier Studio scripts: every kernel keeps the token fresh
        "RAW": ("WHEEL", "WORK", "LOG"),
    },
}

_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[^\s\"'`$\\]+\.whl$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _dq(value: str) -> str:
    """``value`` safe inside double quotes in bash (literal: no expansion)."""
    return re.sub(r'(["$`\\])', r"\\\1", value)


def wheel_sha256(path: str) -> str:
    """The sha256 of the wheel at ``path`` (a regular file here, at most 64 MiB)."""
    import hashlib  # here: cli.py imports this module for every command

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise _invalid(
            "wheel_file", f"cannot open the wheel {path}: {e.strerror}", "give the path of the ca_login wheel"
        ) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_WHEEL_BYTES:
            raise _invalid(
                "wheel_file",
                f"{path} is not a wheel (not a regular file, or over 64 MiB)",
                "give the ca_login-*.whl that `make wheel` built",
            )
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_wheel(wheel: str) -> None:
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


def _template(name: str) -> str:
    from importlib import resources

    return resources.files("ca_login").joinpath("lifecycle", name).read_text(encoding="utf-8")


def _without_inner_comments(text: str) -> str:
    """``text`` without its whole-line comments past the header (SageMaker counts every character; the
    packaged file keeps them for readers). Shellcheck directives and here-documents stay as they are."""
    out, body, heredoc = [], False, False
    for line in text.splitlines(keepends=True):
        if heredoc:
            heredoc = line.rstrip("\n") != "EOF"
        elif "<<EOF" in line:
            heredoc = True
        elif not line.startswith("#"):
            body = True
        if body and not heredoc and line.lstrip().startswith("# ") and "shellcheck" not in line:
            continue
        out.append(line)
    return "".join(out)


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
    wheel_file: Optional[str] = None,
    wheel_sha256_hex: Optional[str] = None,
    refresh_within: int = 7200,
    tools: Optional[str] = None,
    ipython_extension: Optional[bool] = None,
) -> str:
    """The lifecycle script for ``target``; every value is checked as ``login()`` would check it.

    The script installs only a wheel with a known sha256: ``wheel_file`` (a wheel here, hashed now; without
    ``wheel`` the script expects that file name in the target's default folder), ``wheel_sha256_hex``, or
    ``wheel`` itself when it names a file that exists here (a script made on the instance).

    ``tools`` (``"pip,uv"``) goes into the user's ca-login config (``CAL_TOOLS``); ``ipython_extension``: True
    turns the IPython extension on for every kernel of the user, False off, None the target's default (on in
    Studio, left as it is on a notebook instance) (``CAL_IPYTHON_EXTENSION`` 1, 0 or empty)."""
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
    _core.write_ca_config([(k, v) for k, v in {**settings, "tools": tools}.items() if v], dry_run=True)
    t = dict(TARGETS[target])
    if ipython_extension is not None:
        t["IPYTHON_EXTENSION"] = "1" if ipython_extension else "0"
    raw = t.pop("RAW")
    file = t.pop("FILE")
    sh = {k: (v if k in raw else _dq(v)) for k, v in t.items()}  # bash text inside double quotes
    if wheel:
        _check_wheel(wheel)
        sh["WHEEL"] = _dq(wheel)
    if wheel_file and wheel_sha256_hex:
        raise _invalid("wheel_sha256", "both --wheel-file and --wheel-sha256 given", "give one of them")
    if wheel_sha256_hex is not None and not _SHA256.match(wheel_sha256_hex):
        raise _invalid(
            "wheel_sha256", f"{wheel_sha256_hex!r} is not a sha256 (64 hex digits)", "use `sha256sum WHEEL`"
        )
    if wheel_file:
        if not wheel_file.endswith(".whl"):
            raise _invalid("wheel_file", f"{wheel_file!r} is not a .whl file", "give the ca_login-*.whl file")
        wheel_sha256_hex = wheel_sha256(wheel_file)
        if not wheel:
            sh["WHEEL"] = sh["WHEEL"].rsplit("/", 1)[0] + "/" + _dq(os.path.basename(wheel_file))
    elif wheel_sha256_hex is None and wheel and not wheel.startswith("s3://") and os.path.isfile(wheel):
        wheel_sha256_hex = wheel_sha256(wheel)
    if wheel_sha256_hex is None:
        raise _invalid(
            "wheel_sha256",
            "the lifecycle script installs only a wheel whose sha256 it knows",
            "pass --wheel-file dist/ca_login-*.whl (the wheel you stage; it is hashed now) or --wheel-sha256 HEX",
        )
    if not 60 <= refresh_within <= 43200:
        raise _invalid("refresh_within", f"{refresh_within} s is out of range", "use 60..43200 seconds")
    subs = {
        "VERSION": _core.__version__,
        "REFRESH_WITHIN": str(refresh_within),
        "WHEEL_SHA256": wheel_sha256_hex.lower(),
        **{f"S_{k.upper()}": _dq(v or "") for k, v in {**settings, "tools": tools}.items()},
        **sh,
    }
    text = _without_inner_comments(_template(file))
    for k, v in subs.items():
        text = text.replace(f"@@{k}@@", v)
    leftover = re.search(r"@@[A-Z_0-9]+@@", text)
    if leftover:  # a template bug, not the user's
        raise RuntimeError(f"lifecycle template placeholder left unfilled: {leftover.group(0)}")
    if len(text) > MAX_SCRIPT_CHARS:
        raise _invalid(
            "lifecycle_script",
            f"the script is {len(text)} characters; SageMaker accepts at most {MAX_SCRIPT_CHARS}",
            "shorten the values (paths, URLs)",
        )
    return text
