"""The ``ca-login`` command line: for lifecycle-config scripts, terminals and cron.

Exit codes (also in the README):
0 ok; 1 other failure (diagnose: a check failed; status: missing or expired token, or pip uses another index;
several tools: any one of them not ok);
2 bad usage or invalid input;
3 endpoint unreachable; 4 access denied; 5 not found; 6 credentials; 7 config file; 8 throttled.
"""

from __future__ import annotations

import sys

import ca_login

# Cold start matters (cron, lifecycle scripts): `ca-login status` and `ca-login login --if-expiring-within N` take
# a hand-rolled fast path (see `_fast`) that imports neither argparse, json, logging nor typing; every other form
# goes through argparse. Modules below are imported where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Optional

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_ACCESS_DENIED = 4
EXIT_NOT_FOUND = 5
EXIT_CREDENTIALS = 6
EXIT_CONFIG = 7
EXIT_THROTTLED = 8

_EXIT_BY_CLASS = [
    (ca_login.InvalidInput, EXIT_USAGE),
    (ca_login.EndpointUnreachable, EXIT_UNREACHABLE),
    (ca_login.AccessDenied, EXIT_ACCESS_DENIED),
    (ca_login.NotFound, EXIT_NOT_FOUND),
    (ca_login.CredentialsError, EXIT_CREDENTIALS),
    (ca_login.ConfigError, EXIT_CONFIG),
    (ca_login.Throttled, EXIT_THROTTLED),
]


def exit_code_for(exc: BaseException) -> int:
    for cls, code in _EXIT_BY_CLASS:
        if isinstance(exc, cls):
            return code
    return EXIT_FAILED


def _add_target_flags(p: argparse.ArgumentParser) -> None:
    """The flags `aws codeartifact login` names, shared by login and diagnose."""
    p.add_argument("--domain", help="CodeArtifact domain (else CA_LOGIN_DOMAIN or the ca-login config)")
    p.add_argument("--domain-owner", help="12-digit account ID that owns the domain")
    p.add_argument("--repository", help="repository pip installs from")
    p.add_argument("--region", help="AWS Region, e.g. us-west-2")
    p.add_argument("--endpoint-url", help="codeartifact.api VPC endpoint URL (when its private DNS is off)")
    p.add_argument(
        "--repository-endpoint-url",
        help="codeartifact.repositories endpoint URL or bare vpce-… name (when its private DNS is off)",
    )
    p.add_argument("--profile", help="AWS profile")


def _add_endpoint_type_flag(p: argparse.ArgumentParser) -> None:
    """`aws codeartifact login --endpoint-type`: which repository endpoint GetRepositoryEndpoint names."""
    p.add_argument(
        "--endpoint-type",
        choices=("ipv4", "dualstack"),
        help="repository endpoint: ipv4 (default) or dualstack (DOMAIN-OWNER.codeartifact.REGION.on.aws); "
        "else CA_LOGIN_ENDPOINT_TYPE or the ca-login config's endpoint_type",
    )


def _parser() -> argparse.ArgumentParser:
    import argparse

    from ca_login import _lifecycle

    parser = argparse.ArgumentParser(
        prog="ca-login",
        description="Log pip in to AWS CodeArtifact through private endpoints, and say why it can't.",
    )
    parser.add_argument("--version", action="version", version=f"ca-login {ca_login.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("login", help="get a token and write pip's config")
    _add_target_flags(p)
    _add_endpoint_type_flag(p)
    p.add_argument("--duration-seconds", type=int, help="token lifetime: 0 or 900..43200 (default 43200)")
    p.add_argument(
        "--config-file", help="pip config file to write (default: the one `pip config set` writes)"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_tool_flag(p, "tools to configure", "the ca-login config's tools, else pip")
    p.add_argument(
        "--token-store",
        choices=("url", "netrc"),
        help="url: the token in each tool's file; netrc: only in ~/.netrc (default: url for pip, netrc for uv)",
    )
    p.add_argument(
        "--extra-index-url",
        dest="extra_index",
        action="store_true",
        help="add the repository as an extra index (pip: to extra-index-url; uv: an index without default) "
        "instead of replacing the index; two indexes allow dependency confusion",
    )
    p.add_argument("--poetry-source", metavar="NAME", help="Poetry source name (default: codeartifact)")
    p.add_argument(
        "--user",
        metavar="NAME",
        help="as root: write NAME's files (~NAME/.config/pip/pip.conf by default) with NAME's ids, mode 0600; "
        "settings come from root's own ca-login config, never NAME's",
    )
    p.add_argument(
        "--if-expiring-within",
        type=int,
        metavar="SECONDS",
        help="log in only if the recorded token has SECONDS or less left (no network call otherwise)",
    )
    p.set_defaults(func=cmd_login)

    # Token lifetime (issue 5)
    p = sub.add_parser(
        "status",
        help="token expiry and what pip will use (exit 1: missing, expired, or pip uses another index)",
    )
    p.add_argument("--config-file", help="pip config file (default: the one `login` writes)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--user", metavar="NAME", help="as root: read NAME's files, with NAME's ids")
    _add_tool_flag(
        p,
        "tools to report on (exit 0 only if every one is ok; default: pip and every tool with a recorded login)",
    )
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("logout", help="put back the index-url from before the first login; forget the token")
    p.add_argument("--config-file", help="pip config file (default: the one `login` writes)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--user", metavar="NAME", help="as root: log NAME out, changing NAME's files with NAME's ids"
    )
    _add_tool_flag(p, "tools to log out (netrc: the ~/.netrc entry)")
    p.set_defaults(func=cmd_logout)
    # SageMaker (issue 6) ---------------------------------------------------------------------------------
    p = sub.add_parser("configure", help="write the ca-login config, so login() needs no arguments")
    _add_target_flags(p)
    _add_endpoint_type_flag(p)
    p.add_argument("--duration-seconds", type=int, help="token lifetime: 0 or 900..43200")
    p.add_argument("--user", metavar="NAME", help="as root: write NAME's ~/.config/ca-login/config")
    p.add_argument("--replace", action="store_true", help="remove the settings not given (else kept)")
    _add_tool_flag(p, "tools login, ensure_login and refresh configure when not told", "pip")
    p.add_argument(
        "--ipython-extension",
        action=argparse.BooleanOptionalAction,
        help="load the IPython extension in every kernel (a startup file in $IPYTHONDIR, else ~/.ipython, "
        "profile_default/startup/); --no-ipython-extension removes that file",
    )
    p.set_defaults(func=cmd_configure)
    p = sub.add_parser(
        "lifecycle-script",
        help="print a SageMaker on-start script: offline install, config, login and refresh for the user",
    )
    _add_target_flags(p)
    p.add_argument("--duration-seconds", type=int, help="token lifetime: 0 or 900..43200")
    p.add_argument(
        "--target",
        choices=sorted(_lifecycle.TARGETS),
        default="notebook-instance",
        help="notebook-instance (ec2-user) or studio (sagemaker-user)",
    )
    p.add_argument(
        "--wheel",
        metavar="PATH_OR_S3_URL",
        help="the ca_login wheel on the instance (a * picks the newest) or s3://BUCKET/KEY.whl "
        "(default: /home/ec2-user/SageMaker/ca-login/ca_login-*.whl)",
    )
    p.add_argument(
        "--wheel-file",
        metavar="LOCAL_WHL",
        help="the wheel you stage, here: the script installs only a wheel with its sha256 "
        "(without --wheel, it expects that file name in the default folder)",
    )
    p.add_argument("--wheel-sha256", metavar="HEX", help="instead of --wheel-file: the staged wheel's sha256")
    p.add_argument(
        "--refresh-within",
        type=int,
        default=7200,
        metavar="SECONDS",
        help="the scheduled refresh renews the token when less than this is left (default 7200)",
    )
    _add_tool_flag(p, "tools the user's logins configure", "pip")
    p.add_argument(
        "--ipython-extension",
        action=argparse.BooleanOptionalAction,
        help="load the IPython extension in every kernel of the user (default: on for studio; on a notebook "
        "instance left as the user set it)",
    )
    p.set_defaults(func=cmd_lifecycle_script)
    _add_diagnose_parser(sub)
    return parser


def _add_tool_flag(p, what: str, default: str = "pip") -> None:
    p.add_argument(
        "--tool",
        action="append",
        metavar="TOOL",
        help=f"{what}: pip, uv, poetry, twine; repeat or comma-separate (default: {default})",
    )


def _tools(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for t in (args.tool or ["pip"]) for n in t.split(",") if n.strip()]
    return names or ["pip"]


def _result_json(r: ca_login.LoginResult) -> dict:
    return {
        "repository_endpoint": r.repository_endpoint,
        "index_url": str(r.index_url),
        "expires_at": r.expires_at.isoformat(),
        "config_file": str(r.config_file),
        "tool": r.tool,
        "dry_run": r.dry_run,
        "warnings": list(r.warnings),
        "tools": list(r.tools),
        "files": [
            {"tool": f.tool, "config_file": str(f.config_file), "token_store": f.token_store} for f in r.files
        ],
        "next_steps": list(r.next_steps),
    }


def _login_kwargs(args: argparse.Namespace) -> dict:
    """`login`'s flags as keyword arguments of `_core.login` / `_core.ensure_login`."""
    from ca_login import _sagemaker

    return dict(
        domain=args.domain,
        repository=args.repository,
        domain_owner=args.domain_owner,
        region=args.region,
        duration_seconds=args.duration_seconds,
        endpoint_url=args.endpoint_url,
        repository_endpoint_url=args.repository_endpoint_url,
        profile=args.profile,
        config_file=args.config_file,
        dry_run=args.dry_run,
        endpoint_type=args.endpoint_type,
        tool=",".join(_tools(args)) if args.tool else None,  # None: the ca-login config's tools, else pip
        token_store=args.token_store,
        extra_index=args.extra_index,
        poetry_source=args.poetry_source,
        **_sagemaker.core_target(args.user, sys.prefix),
    )


def cmd_login(args: argparse.Namespace) -> int:
    """`ca-login login`; with --if-expiring-within, only when the recorded token is close to expiring."""
    if args.if_expiring_within is None:
        result = ca_login._to_result(ca_login._core.login(**_login_kwargs(args)))
        extra = {}
    else:
        from ._lifetime import _ensured

        d = ca_login._core.ensure_login(**_login_kwargs(args), min_remaining=args.if_expiring_within)
        result = _ensured(d)
        extra = {"fresh": result.fresh}
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps({**_result_json(result), **extra}, indent=2))
    else:
        print(result)  # a dry run's text holds the preview
        for f in result.files:
            verb = "would read" if result.dry_run else "now reads"
            print(f"\n--- {f.config_file} ({f.tool}) {verb} (passwords masked):\n{f.preview}", end="")
        for step in result.next_steps:
            print(f"next: {step}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from ca_login import _core, _sagemaker
    from ca_login._lifetime import Status, Statuses, ToolStatus

    target = _sagemaker.core_target(getattr(args, "user", None), sys.prefix)
    asked = None if not args.tool else ",".join(_tools(args))
    if asked == "pip":
        st = Status._from(_core.status("pip", args.config_file, **target))
    else:
        ds = _core.statuses(asked, args.config_file, **target)
        if len(ds) == 1:
            # pip alone (nothing else recorded), or the one tool asked: that tool's own status.
            st = Status._from(ds[0]) if ds[0]["tool"] == "pip" else ToolStatus._from(ds[0])
        else:
            st = Statuses._from(ds)
    if args.json:
        import json

        print(json.dumps(st.to_dict(), indent=2))
    else:
        print(_paint_status(str(st), st.ok))
    return EXIT_OK if st.ok else EXIT_FAILED


def cmd_logout(args: argparse.Namespace) -> int:
    tools = _tools(args)
    if tools != ["pip"]:
        import json

        from ca_login import _sagemaker

        for tool in tools:
            d = ca_login._core.logout(tool, args.config_file, **_sagemaker.core_target(args.user, sys.prefix))
            print(
                json.dumps({"tool": tool, "action": d["action"], "message": d["message"]})
                if args.json
                else d["message"]
            )
        return EXIT_OK
    if getattr(args, "user", None):
        from pathlib import Path

        from ca_login import _core, _sagemaker
        from ca_login._lifetime import LogoutResult

        d = _core.logout("pip", args.config_file, **_sagemaker.core_target(args.user, sys.prefix))
        r = LogoutResult(
            config_file=Path(d["config_file"]),
            action=d["action"],
            restored_index_url=d["restored_index_url"],
            had_state=d["had_state"],
            stopped_refresher=d["stopped_refresher"],
            message=d["message"],
        )
    else:
        r = ca_login.logout(config_file=args.config_file)
    if args.json:
        import json

        print(json.dumps(r.to_dict(), indent=2))
    else:
        print(r)
    return EXIT_OK


# -----------------------------------------------------------------------------------------------------------


# SageMaker (issue 6) -------------------------------------------------------------------------------------


def cmd_configure(args: argparse.Namespace) -> int:
    from ca_login import _sagemaker

    if args.profile is not None and args.profile.strip() == "":
        args.profile = None
    out = _sagemaker.configure(
        vars(args), user=args.user, replace=args.replace, ipython_extension=args.ipython_extension
    )
    if out["text"] is not None:
        print(f"wrote {out['path']}:\n{out['text']}", end="" if out["text"].endswith("\n") else "\n")
    if out.get("ipython") is not None:
        print(_sagemaker.ipython_message(out["ipython"]))
    return EXIT_OK


def cmd_lifecycle_script(args: argparse.Namespace) -> int:
    if args.profile:
        print("error: --profile has no meaning on a notebook instance (it uses its role)", file=sys.stderr)
        return EXIT_USAGE
    from ca_login import _lifecycle

    script = _lifecycle.lifecycle_script(
        domain=args.domain,
        repository=args.repository,
        domain_owner=args.domain_owner,
        region=args.region,
        endpoint_url=args.endpoint_url,
        repository_endpoint_url=args.repository_endpoint_url,
        duration_seconds=args.duration_seconds,
        target=args.target,
        wheel=args.wheel,
        wheel_file=args.wheel_file,
        wheel_sha256_hex=args.wheel_sha256,
        refresh_within=args.refresh_within,
        tools=",".join(_tools(args)) if args.tool else None,
        ipython_extension=args.ipython_extension,
    )
    sys.stdout.write(script)
    return EXIT_OK


# diagnose (issue 4) ------------------------------------------------------------------------------------------


def _add_diagnose_parser(sub) -> None:
    p = sub.add_parser(
        "diagnose",
        help="find the broken piece between pip and CodeArtifact, and its fix (exit 0: all is well, 1: not)",
    )
    _add_target_flags(p)
    _add_endpoint_type_flag(p)
    p.add_argument(
        "--timeout", type=float, default=3.0, metavar="SECONDS", help="bound of each check (default 3)"
    )
    p.add_argument("--json", action="store_true", help="print only the report as JSON (stable shape)")
    p.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="REQ",
        help="also say why pip cannot install REQ (a requirement such as 'pandas==2.2.3'); repeatable",
    )
    p.add_argument(
        "--tool",
        action="append",
        metavar="TOOL",
        help="tools to check: pip, uv, poetry, twine; repeat or comma-separate "
        "(default: pip and every tool logged in)",
    )
    p.set_defaults(func=cmd_diagnose)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from ca_login import _diagnosis
    from ca_login._display import table_text

    live = not args.json and sys.stderr.isatty()
    done: list[str] = []

    def progress(c: dict[str, str]) -> None:
        done.append(c["name"])
        sys.stderr.write(f"\r\x1b[K  checking: {len(done)} done (last: {c['name']} {c['status']})")
        sys.stderr.flush()

    if not args.json:
        print(f"ca-login diagnose: checking (each check is bounded by {args.timeout:.1f} s)", flush=True)
    try:
        d = _diagnosis._run(
            on_check=progress if live else None,
            domain=args.domain,
            repository=args.repository,
            domain_owner=args.domain_owner,
            region=args.region,
            endpoint_url=args.endpoint_url,
            repository_endpoint_url=args.repository_endpoint_url,
            profile=args.profile,
            endpoint_type=args.endpoint_type,
            timeout=args.timeout,
            packages=args.package,
            face="cli",
            tools=args.tool,
        )
    finally:
        if live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
    if args.json:
        print(d.to_json(indent=2))
        return EXIT_OK if d.ok else EXIT_FAILED
    # The checklist in layer order (checks finish in any order), details wrapped under their column.
    checks = sorted(d.checks, key=lambda c: _diagnosis.layer_order(c.layer))
    for line in table_text(tuple(c._row() for c in checks)):
        print(_paint_check(line))
    head, *rest = _diagnosis.format_verdict(d.ok, d.verdict, d.checks).split("\n")
    print(_paint(head, "32" if d.ok else "1;31"))
    for line in rest:
        print(line)
    return EXIT_OK if d.ok else EXIT_FAILED


# Colour on a terminal only: not when piped, not with NO_COLOR set (https://no-color.org).
def _colour() -> bool:
    import os

    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if _colour() else text


_MARK_COLOUR = {"ok  ": "32", "FAIL": "1;31", "warn": "33", "skip": "2"}


def _paint_check(line: str) -> str:
    mark = line[2:6]
    code = _MARK_COLOUR.get(mark)
    if code is None or not _colour():
        return line
    return f"{line[:2]}{_paint(mark, code)}{line[6:]}"


def _paint_status(text: str, ok: bool) -> str:
    head, _, rest = text.partition("\n")
    return _paint(head, "32" if ok else "1;31") + ("\n" + rest if rest else "")


# --- the fast path -------------------------------------------------------------------------------------------


def _fast(argv: list[str]) -> Optional[int]:
    """`status [--config-file F]` and `login --if-expiring-within N [--config-file F]`, without argparse: the
    exit code, or None for any other form (argparse takes it, with the same output)."""
    from ca_login import _core, _display

    opts = argv[1:]
    config_file = None
    if len(opts) >= 2 and opts[-2] == "--config-file" and not opts[-1].startswith("-"):
        config_file, opts = opts[-1], opts[:-2]
    if argv[:1] == ["status"] and not opts:
        # pip and every tool with a recorded login; pip alone prints as it always did.
        ds = _core.statuses(None, config_file, sys_prefix=sys.prefix)
        if any(d.get("refresher") is not None for d in ds):
            return None
        ok = all(d["ok"] for d in ds)
        if len(ds) == 1:
            view = _display.status_view(_display.StatusFields(ds[0]))
        else:
            view = _display.statuses_view([_display.fields_of(d) for d in ds])
        print(_paint_status(_display.text(view), ok))
        return EXIT_OK if ok else EXIT_FAILED
    if argv[:1] == ["login"] and len(opts) == 2 and opts[0] == "--if-expiring-within" and opts[1].isdigit():
        d = _core.ensure_login(min_remaining=int(opts[1]), config_file=config_file, sys_prefix=sys.prefix)
        r = _display.LoginFields(d)
        for w in r.warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(_display.text(_display.ensured_view(r, d["fresh"])))
        return EXIT_OK
    return None


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        fast = _fast(argv)
    except ca_login.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code_for(e)
    except KeyboardInterrupt as e:
        print(str(e) or "interrupted", file=sys.stderr)
        return 130
    if fast is not None:
        return fast
    import logging

    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="ca-login: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except ca_login.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code_for(e)
    except KeyboardInterrupt as e:
        print(str(e) or "interrupted", file=sys.stderr)
        return 130
