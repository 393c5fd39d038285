"""The IPython extension: ``%load_ext ca_login``.

- The line magic ``%ca_login login|status|diagnose|logout|refresh [flags as the CLI]`` (``%ca_login --help``).
- Before a cell that runs pip (``%pip``, ``!pip``, ``!python -m pip``, ``%%bash``/``%%sh`` cells calling pip), and,
  when uv is among the configured tools (``ca-login configure --tool pip,uv``), before a cell that runs uv
  (``%uv``, ``!uv pip install``, ``!uv add``, ``!uv sync``, ``!python -m uv ...``, ``!uvx``; see :func:`runs_uv`),
  the token is renewed with :func:`ca_login.ensure_login` when it has less than an hour left (no network call
  otherwise), with one line saying so. Its settings and tools come from the environment and the ca-login
  config, as for ``ca_login.login()`` without arguments.

Loaded by ``%load_ext ca_login``, or in every kernel by the startup file ``ca-login configure
--ipython-extension`` writes (it calls :func:`kernel_start`); nothing of this is imported by ``import ca_login``.
"""

from __future__ import annotations

import re
from typing import Any, Optional

# A line that runs pip: `%pip ...`, `!pip ...`, `!pip3 ...`, `!python -m pip ...`, `!{sys.executable} -m pip`;
# in a %%bash / %%sh cell, a line `pip ...` or `python -m pip ...`.
_BANG_PIP = re.compile(r"^\s*(?:%pip\b|!\s*(?:(?:\S*python[0-9.]*|\{sys\.executable\})\s+-m\s+)?pip3?\b)")
_SHELL_PIP = re.compile(r"^\s*(?:\S*python[0-9.]*\s+-m\s+)?pip3?\s")
_SHELL_CELL = re.compile(r"^\s*%%(?:bash|sh|script\s+(?:ba)?sh)\b")
# uv's commands that read the index: `uv pip install|compile|sync`, `uv add|remove|sync|lock|run|export|tree`,
# `uv tool install|run|upgrade`, and `uvx`; global flags (`uv -q`, `uv --no-cache`) may come first. uv is `uv`,
# a path ending in `/uv`, `python -m uv` or `{sys.executable} -m uv`; IPython's `%uv` magic runs `python -m uv`.
_UV_SUB = (
    r"(?:\s+-[-\w=.:/]*)*\s+(?:pip\s+(?:install|compile|sync)|add|remove|sync|lock|run|export|tree"
    r"|tool\s+(?:install|run|upgrade))\b"
)
_UV_CMD = rf"(?:(?:(?:\S*python[0-9.]*|\{{sys\.executable\}})\s+-m\s+|\S*/)?uv{_UV_SUB}|(?:\S*/)?uvx\s)"
_BANG_UV = re.compile(rf"^\s*(?:%uv{_UV_SUB}|!\s*{_UV_CMD})")
_SHELL_UV = re.compile(rf"^\s*{_UV_CMD}")
MIN_REMAINING = 3600  # seconds: renew before pip when less is left
_state: dict[str, Any] = {"shell": None}


def runs_pip(cell: str) -> bool:
    """Whether a cell's source runs pip."""
    lines = cell.splitlines()
    if lines and _SHELL_CELL.match(lines[0]):
        return any(_SHELL_PIP.match(line) for line in lines[1:])
    return any(_BANG_PIP.match(line) for line in lines)


def runs_uv(cell: str) -> bool:
    """Whether a cell's source runs a uv command that reads the package index (``uv pip list`` does not)."""
    lines = cell.splitlines()
    if lines and _SHELL_CELL.match(lines[0]):
        return any(_SHELL_UV.match(line) for line in lines[1:])
    return any(_BANG_UV.match(line) for line in lines)


def installer_of(cell: str) -> Optional[str]:
    """``"pip"`` or ``"uv"`` for a cell that runs that installer (pip when it runs both), else None."""
    if runs_pip(cell):
        return "pip"
    if runs_uv(cell):
        return "uv"
    return None


def before_pip(installer: str = "pip") -> Optional[str]:
    """Renew the token if it is close to expiring; the one line to show, or None when nothing was done.

    The login recorded for pip's default file is renewed as it was made (same repository and endpoint), for the
    configured tools (the ca-login config's ``tools``, else pip); without one, a login recorded for uv, Poetry or
    twine, for the tools recorded; without any, a login from the environment and the ca-login config, if they
    name a repository. A file whose index-url someone replaced since
    is left alone. ``installer`` (``"pip"`` or ``"uv"``) only names the cell's installer in the line shown."""
    import ca_login

    try:
        st = ca_login.status()
        if st.state == "replaced":
            return None
        rec: Any = st
        tools: Any = None  # the configured tools
        if st.domain is None or st.repository is None:
            # No login recorded for pip: one recorded for uv, Poetry or twine is renewed as it was made, for the
            # tools recorded (a uv-only login made with arguments, which no config names).
            others = [s for s in ca_login.status(tool=None) if s.tool != "pip" and s.domain and s.repository]
            rec = others[0] if others else None
            tools = [s.tool for s in others] or None
        if rec is None:
            try:
                r = ca_login.ensure_login(min_remaining=MIN_REMAINING)
            except ca_login.InvalidInput:  # nothing recorded, nothing configured: pip is not ours to log in
                return None
        else:
            r = ca_login.ensure_login(
                rec.domain,
                rec.repository,
                domain_owner=rec.domain_owner,
                region=rec.region,
                repository_endpoint_url=rec.repository_endpoint,
                min_remaining=MIN_REMAINING,
                tool=tools,
            )
    except ca_login.Error as e:
        what = str(e).partition("\n")[0]
        return (
            f"ca_login: could not renew the token before {installer} ({getattr(e, 'cause', None)}): {what}; "
            "%ca_login diagnose names the broken piece"
        )
    if not r.fresh:
        return None
    from ._display import when

    return f"ca_login: renewed the CodeArtifact token before {installer} (expires {when(r.expires_at)})"


def _uv_configured() -> bool:
    """Whether uv is among the tools a login without ``tool=`` configures. A config that cannot be read counts
    as yes: the renewal then says what is wrong with it."""
    from . import _core

    try:
        return "uv" in _core.configured_tools()
    except Exception:  # ca_login.Error and OSError alike: let before_pip report it
        return True


def _pre_run_cell(info: Any) -> None:
    cell = getattr(info, "raw_cell", None) or ""
    installer = installer_of(cell)
    if installer is None or (installer == "uv" and not _uv_configured()):
        return
    line = before_pip(installer)
    if line is not None:
        print(line, flush=True)


# The container-credential variables a Studio lifecycle script hands over (kernels do not inherit them).
_HANDED_OVER = "~/.config/ca-login/container-env"


def _take_handed_over_env() -> None:
    import os

    try:
        with open(os.path.expanduser(_HANDED_OVER), encoding="utf-8") as f:
            text = f.read(65536)
    except OSError:
        return
    for line in text.splitlines():
        k, _, v = line.partition("=")
        if k.startswith("AWS_CONTAINER_") or k in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            os.environ.setdefault(k, v)


def kernel_start(get_ipython: Any = None) -> None:
    """What the startup file of ``ca-login configure --ipython-extension`` runs in every kernel: the variables a
    Studio lifecycle script handed over in ``~/.config/ca-login/container-env`` (where the kernel lacks them),
    then the extension, loaded as ``%load_ext ca_login`` loads it. Never raises (a kernel must start whatever
    happens); prints one line if the extension could not be loaded."""
    try:
        _take_handed_over_env()
        ip = get_ipython() if get_ipython is not None else None
        if ip is not None:
            ip.extension_manager.load_extension("ca_login")
    except Exception as e:  # a kernel must start whatever happens
        why = (str(e).splitlines() or [type(e).__name__])[0][:200]
        print(f"ca_login: the IPython extension was not loaded at kernel start: {why}")


def _parser() -> Any:
    import argparse

    from .cli import _add_target_flags

    parser = argparse.ArgumentParser(prog="%ca_login", description="ca_login from a notebook cell")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("login", help="get a token and write pip's config")
    _add_target_flags(p)
    p.add_argument("--duration-seconds", type=int)
    p.add_argument("--config-file")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--if-expiring-within", type=int, metavar="SECONDS")
    p = sub.add_parser("status", help="token expiry and what pip will use")
    p.add_argument("--config-file")
    p = sub.add_parser("logout", help="put back the index-url from before the first login")
    p.add_argument("--config-file")
    p = sub.add_parser("diagnose", help="find the broken piece between pip and CodeArtifact")
    _add_target_flags(p)
    p.add_argument("--timeout", type=float, default=3.0)
    p = sub.add_parser("refresh", help="keep the token fresh in the background (--stop: stop it)")
    _add_target_flags(p)
    p.add_argument("--duration-seconds", type=int)
    p.add_argument("--config-file")
    p.add_argument("--every", type=float, metavar="SECONDS")
    p.add_argument("--stop", action="store_true")
    return parser


_TARGET = (
    "domain",
    "repository",
    "domain_owner",
    "region",
    "endpoint_url",
    "repository_endpoint_url",
    "profile",
)


def run_magic(line: str) -> Any:
    """``%ca_login COMMAND [flags]``: the result object (it renders as a table in the notebook)."""
    import shlex

    import ca_login

    try:
        args = _parser().parse_args(shlex.split(line))
    except SystemExit:  # argparse printed the usage or the help
        return None
    kw = {k: v for k, v in vars(args).items() if k != "command"}
    target = {k: kw[k] for k in _TARGET if k in kw}
    if args.command == "status":
        return ca_login.status(config_file=args.config_file)
    if args.command == "logout":
        return ca_login.logout(config_file=args.config_file)
    if args.command == "diagnose":
        return ca_login.diagnose(**target, timeout=args.timeout)
    if args.command == "refresh":
        if args.stop:
            return ca_login.stop_refresh()
        return ca_login.start_refresh(
            **target, duration_seconds=args.duration_seconds, config_file=args.config_file, every=args.every
        )
    common = dict(
        target, duration_seconds=args.duration_seconds, config_file=args.config_file, dry_run=args.dry_run
    )
    if args.if_expiring_within is not None:
        return ca_login.ensure_login(**common, min_remaining=args.if_expiring_within)
    return ca_login.login(**common)


def _magic(line: str) -> Any:
    return run_magic(line)


def load(ip: Any) -> None:
    """Register the magic and the pre-run hook (once per shell)."""
    if _state["shell"] is ip:
        return
    ip.register_magic_function(_magic, magic_kind="line", magic_name="ca_login")
    ip.events.register("pre_run_cell", _pre_run_cell)
    _state["shell"] = ip


def unload(ip: Any) -> None:
    if _state["shell"] is ip:
        ip.events.unregister("pre_run_cell", _pre_run_cell)
        _state["shell"] = None


# --- a line while login waits to retry (notebooks) ------------------------------------------------------------

_RETRY = re.compile(r"^(\S+) on (\S+): (\S+) \(attempt (\d+)\); retrying in (\d+) ms$")


def retry_text(message: str) -> str:
    """The core's retry log line as the one line a notebook shows while login waits."""
    m = _RETRY.match(message)
    if m is None:
        return f"ca_login: {message}"
    op, host, cause, attempt, ms = m.groups()
    return f"ca_login: {op} on {host}: {cause}, attempt {attempt} failed; retrying in {int(ms) / 1000:.1f} s"


class _Line:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class retry_notice:
    """While a login runs in a notebook: each retry the core logs (logger ``ca_login.aws``, INFO) shows as one
    line in one display, updated in place, which goes away when the call ends. The logger's level and what its
    handlers see stay as they were: records below its level are shown here and dropped."""

    def __enter__(self) -> retry_notice:
        import logging

        self.logger = logging.getLogger("ca_login.aws")
        self.level = self.logger.level
        self.wanted = self.logger.getEffectiveLevel()
        self.handle: Any = None
        if self.wanted > logging.INFO:
            self.logger.setLevel(logging.INFO)
        self.logger.addFilter(self._filter)
        return self

    def _filter(self, record: Any) -> bool:
        message = record.getMessage()
        if "retrying in" in message:
            from contextlib import suppress

            line = _Line(retry_text(message))
            with suppress(Exception):  # a display problem must not break the login
                if self.handle is None:
                    from IPython.display import display

                    self.handle = display(line, display_id=True)  # type: ignore[no-untyped-call,unused-ignore]
                else:
                    self.handle.update(line)
        return bool(record.levelno >= self.wanted)

    def __exit__(self, *exc: object) -> None:
        self.logger.removeFilter(self._filter)
        self.logger.setLevel(self.level)
        if self.handle is not None:
            self.handle.update(_Line(""))
