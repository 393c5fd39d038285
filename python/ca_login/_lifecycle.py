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

# SageMaker takes a lifecycle script base64-encoded, at most 16,384 characters of it
# (NotebookInstanceLifecycleHook.Content, CreateStudioLifecycleConfig's StudioLifecycleConfigContent;
# docs/PLATFORMS.md cites them): a script of at most 12,288 bytes.
MAX_CONTENT_BASE64 = 16_384
MAX_SCRIPT_BYTES = MAX_CONTENT_BASE64 // 4 * 3
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


_QUOTES = {"'": "sq", '"': "dq", "`": "bq"}
_OPENERS = {"$((": "arith", "((": "arith", "$(": "cmd", "${": "param", "$'": "ansi"}
_HEREDOC = re.compile(r"""<<(-?)[ \t]*(['"]?)(\w+)\2""")


class _Line:
    """What _scan found in one line: where a comment starts (None: no comment), whether it ends with a
    backslash-newline, and the here-document it opens (its terminator; ``-``: tabs allowed before it)."""

    def __init__(self) -> None:
        self.comment: Optional[int] = None
        self.joins = False
        self.heredoc: Optional[tuple[str, str]] = None


def _scan(line: str, stack: list[str]) -> _Line:
    """Lex one line of bash, updating ``stack``: the quotes and expansions open at its end (``sq``, ``dq``,
    ``bq``, ``ansi`` for $'..', ``cmd`` for $(..) and a ( inside it, ``param`` for ${..}, ``dparam`` for
    ${..} inside double quotes, ``arith`` for ((..))). A comment is a ``#`` that starts a word in code."""
    got, i, n = _Line(), 0, len(line)
    while i < n:
        c, top = line[i], (stack[-1] if stack else "code")
        code = top in ("code", "cmd")
        if top == "sq" or (top == "ansi" and c != "\\"):
            if c == "'":
                stack.pop()
        elif c == "\\":
            if i + 1 == n and code:
                got.joins = True
            i += 1
        elif top in ("dq", "dparam") and c == "'":
            pass
        elif (c == '"' and top == "dq") or (c == "`" and top == "bq"):
            stack.pop()
        elif (c in "$(" and top != "arith") and (
            op := next((o for o in _OPENERS if line.startswith(o, i) and (o[0] == "$" or code)), None)
        ):
            kind = _OPENERS[op]
            if op == "$'" and top in ("dq", "dparam"):
                kind = ""  # not a quote inside double quotes
            elif kind == "param" and top == "dq":
                kind = "dparam"
            if kind:
                stack.append(kind)
                i += len(op) - 1
        elif c in _QUOTES:
            stack.append(_QUOTES[c])
        elif top in ("param", "dparam"):
            if c == "}":
                stack.pop()
        elif top == "arith":
            if line.startswith("))", i):
                stack.pop()
                i += 1
        elif top == "cmd" and c in "()":
            stack.append("cmd") if c == "(" else stack.pop()
        elif code and c == "<" and (m := _HEREDOC.match(line, i)) and not line.startswith("<<<", i):
            got.heredoc = (m.group(3), m.group(1))
            i = m.end() - 1
        elif code and c == "#" and (i == 0 or line[i - 1] in " \t;&|()<>"):
            got.comment = i
            return got
        i += 1
    return got


def _compact(text: str) -> str:
    """``text`` as bash reads it, shorter (SageMaker limits the script's size; the packaged .sh keeps every
    comment for readers): its header up to the first bare ``#`` line and one shellcheck directive with the
    codes of all of them, then the body without comments, blank lines and indentation; here-documents and a
    line that ends inside a quote stay as they are, a line that starts inside one keeps its start.
    tests/test_lifecycle.py checks that bash reads both texts the same."""
    lines = text.splitlines()
    body = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    head = lines[:body]
    short = head.index("#") if "#" in head else body
    out = head[:short]
    codes = [c for ln in head[short:] if ln.startswith("# shellcheck ") for c in _disabled(ln)]
    stack: list[str] = []
    heredoc: Optional[tuple[str, str]] = None
    joined = False  # the line before ended with a backslash-newline
    for line in lines[body:]:
        if heredoc:
            out.append(line)
            if (line.lstrip("\t") if heredoc[1] else line) == heredoc[0]:
                heredoc = None
            continue
        inside = bool(stack)
        got = _scan(line, stack)
        heredoc = got.heredoc
        code = (line if got.comment is None else line[: got.comment]).rstrip()
        if stack:  # ends inside a quote
            out.append(line)
        elif inside:  # starts inside one: its start is part of the string
            out.append(code)
        elif not code and line.lstrip().startswith("# shellcheck "):
            codes += [c for c in _disabled(line) if c not in codes]
        elif code.strip() or joined:  # after a backslash-newline even an empty line ends the command
            out.append((" " if joined and code[:1].isspace() else "") + code.lstrip())
        joined = got.joins
    if codes:
        out.insert(short, "# shellcheck disable=" + ",".join(codes))
    return "\n".join(out) + "\n"


def _disabled(line: str) -> list[str]:
    """The codes of a ``# shellcheck disable=SC1,SC2`` line (any other directive: a template bug)."""
    m = re.match(r"\s*# shellcheck disable=(SC\d+(?:,SC\d+)*)(?:\s+#.*)?$", line)
    if not m:
        raise RuntimeError(f"lifecycle template: only `# shellcheck disable=` directives are kept: {line!r}")
    return m.group(1).split(",")


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
    text = _compact(_template(file))
    for k, v in subs.items():
        text = text.replace(f"@@{k}@@", v)
    leftover = re.search(r"@@[A-Z_0-9]+@@", text)
    if leftover:  # a template bug, not the user's
        raise RuntimeError(f"lifecycle template placeholder left unfilled: {leftover.group(0)}")
    size = len(text.encode("utf-8"))
    encoded = base64_length(size)
    if encoded > MAX_CONTENT_BASE64:
        raise _invalid(
            "lifecycle_script",
            f"the {target} script is {size} bytes, {encoded} characters in base64; SageMaker takes at most "
            f"{MAX_CONTENT_BASE64} characters of base64 (a script of {MAX_SCRIPT_BYTES} bytes)",
            f"shorten the values by {size - MAX_SCRIPT_BYTES} bytes: the wheel's path or S3 URL, the endpoint "
            "URLs, the domain and repository names",
        )
    return text


def base64_length(size: int) -> int:
    """The length of the base64 of ``size`` bytes (padded, no newlines: `base64 -w0`)."""
    return (size + 2) // 3 * 4
