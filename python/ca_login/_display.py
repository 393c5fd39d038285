"""One look for every result: plain text (within 100 columns), HTML for notebooks (JupyterLab's theme variables,
never wider than 760 px) and IPython's pretty printer. No logic the core needs lives here.

Every result builds a :class:`View` (a headline with a tone, rows of key and value, code blocks of commands,
notes) and renders it through :func:`text` and :func:`html`, so all of them look alike.
"""

from __future__ import annotations

import time

# Neither `typing` nor `datetime` at run time (the CLI's fast path renders through this module): annotations are
# strings, times are datetimes or epoch seconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime, timedelta
    from typing import Any, Optional, Union

WIDTH = 100
# JupyterLab's theme variables with fallbacks for other front ends (classic Notebook, VS Code, nbconvert on white).
# Text is drawn only in colours that reach 4.5:1 in JupyterLab's light and dark themes and as fallbacks on white:
# --jp-ui-font-color0/1 and --jp-error-color1 (#d32f2f light, #f44336 dark). JupyterLab's success and warn colours
# do not (#388e3c and #f57c00 on white: 4.1 and 2.9), so those tones mark a stripe and a glyph, not the text.
_TONE_COLOR = {
    "ok": "var(--jp-success-color1, #2e7d32)",
    "fail": "var(--jp-error-color1, #b71c1c)",
    "warn": "var(--jp-warn-color1, #e65100)",
    "info": "var(--jp-border-color1, #757575)",
    "skip": "var(--jp-border-color1, #757575)",
}
_ERROR_TEXT = "var(--jp-error-color1, #b71c1c)"
_FG = "var(--jp-ui-font-color0, #1f1f1f)"
_MUTED = "var(--jp-ui-font-color1, #3b3b3b)"
_CODE_BG = "var(--jp-layout-color2, #eeeeee)"
_BORDER = "var(--jp-border-color2, #bdbdbd)"
_MONO = "var(--jp-code-font-family, monospace)"
_FONT = "var(--jp-ui-font-family, sans-serif)"
_GLYPH = {"ok": "\u2714", "fail": "\u2716", "warn": "\u26a0", "info": "", "skip": "\u2013"}


class View:
    """What a result shows: a headline and its tone (ok, fail, warn, info), rows of key and value, code blocks
    (label, text, whether it is shell commands), notes, and a checklist table (headings, rows)."""

    __slots__ = ("code", "notes", "rows", "table", "title", "tone")

    def __init__(
        self,
        title: str,
        tone: str = "info",
        rows: tuple[tuple[str, str], ...] = (),
        code: tuple[tuple[str, str, bool], ...] = (),
        notes: tuple[str, ...] = (),
        table: Optional[tuple[tuple[str, ...], tuple[tuple[str, str, str, str, str], ...]]] = None,
    ) -> None:
        self.title, self.tone, self.rows, self.code, self.notes, self.table = (
            title,
            tone,
            rows,
            code,
            notes,
            table,
        )


def _seconds(delta: Union[timedelta, float]) -> float:
    return float(delta) if isinstance(delta, (int, float)) else delta.total_seconds()


def human_delta(delta: Union[timedelta, float]) -> str:
    """``in 11 h 59 min``, ``in 42 s``; ``expired 5 min ago`` for negative deltas (a timedelta or seconds)."""
    secs = int(_seconds(delta))
    past = secs < 0
    secs = abs(secs)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    if h:
        text = f"{h} h {m} min"
    elif m:
        text = f"{m} min {s} s"
    else:
        text = f"{s} s"
    return f"expired {text} ago" if past else f"in {text}"


def when(t: Union[datetime, float, None], expiry: bool = True) -> str:
    """The time in UTC and how far it is from now (an aware datetime or epoch seconds); past times say
    "expired ... ago" only for an expiry."""
    if t is None:
        return "-"
    epoch = float(t) if isinstance(t, (int, float)) else t.timestamp()
    delta = epoch - time.time()
    rel = human_delta(delta)
    if not expiry and delta < 0:
        rel = rel.replace("expired ", "")
    return f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(epoch))} ({rel})"


# --- commands ------------------------------------------------------------------------------------------------

_STARTS = ("aws ", "ca-login ", "pip ", "unset ", "export ", "%env ", "ca_login.", "%ca_login ")


def commands_in(text: str) -> list[str]:
    """The commands a hint or remedy names in its prose (``... : aws iam put-role-policy ... '{...}'``): each
    from its first word to the end of the sentence, a closing parenthesis or backtick outside quotes."""
    found: list[str] = []
    i, n = 0, len(text)
    while i < n:
        starts = [j for j in (text.find(s, i) for s in _STARTS) if j >= 0]
        starts = [j for j in starts if j == 0 or text[j - 1] in " (`:\n"]
        if not starts:
            break
        j = min(starts)
        depth, quote, k = 0, "", j
        while k < n:
            c = text[k]
            if quote:
                if c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (c in "`;\n" or (c == "," and k + 1 < n and text[k + 1] == " ")):
                break
            elif depth == 0 and c == " " and text.startswith((" then ", " or ", " and ", " (", " if "), k):
                break
            k += 1
        cmd = text[j:k].strip().rstrip(".")
        if len(cmd.split()) >= 2 and "..." not in cmd and cmd not in found:
            found.append(cmd)
        i = max(k, j + 1)
    return found


def without_commands(text: str, commands: list[str]) -> str:
    """The prose of a fix without the long commands the code block shows (each replaced by a pointer to it), so
    a command is shown once, where it can be copied."""
    for i, cmd in enumerate(commands):
        if len(cmd) > 60:
            text = text.replace(cmd, f"command {i + 1} below" if len(commands) > 1 else "the command below")
    return text


def _split_words(cmd: str) -> list[str]:
    """Shell words, quotes kept (a quoted argument stays one word)."""
    words: list[str] = []
    cur, quote = "", ""
    for c in cmd:
        if quote:
            cur += c
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
            cur += c
        elif c == " ":
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        words.append(cur)
    return words


def shell_block(cmd: str, width: int = WIDTH - 4) -> str:
    """A command as a block that pastes and runs as it is, within ``width`` columns: long words of JSON go to a
    file written by a here-document (pretty-printed), the rest wraps with backslashes."""
    if len(cmd) <= width:
        return cmd
    import json

    words = _split_words(cmd)
    before: list[str] = []
    for idx, w in enumerate(words):
        if len(w) > 40 and w[:1] == "'" and w[-1:] == "'":
            try:
                doc = json.loads(w[1:-1])
            except ValueError:
                continue
            name = "policy.json" if idx and "policy" in words[idx - 1] else f"arg{idx}.json"
            before.append(f"cat > {name} <<'EOF'\n{json.dumps(doc, indent=2)}\nEOF")
            words[idx] = f"file://{name}"
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width - 2:
            lines.append(cur + " \\")
            cur = "    " + w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return "\n".join([*before, "\n".join(lines)])


# --- text ----------------------------------------------------------------------------------------------------


def _wrap_line(para: str, width: int) -> list[str]:
    """Words filled into lines of at most ``width`` (longer words cut), split on spaces only (a no-break space
    keeps its words together). Hand-rolled: ``textwrap`` would cost the CLI's fast path an import."""
    lines: list[str] = []
    cur = ""
    for w in (w for w in para.split(" ") if w):
        while len(w) > width:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(w[:width])
            w = w[width:]
        if not cur:
            cur = w
        elif len(cur) + 1 + len(w) <= width:
            cur = f"{cur} {w}"
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    return lines or [""]


def _wrap(value: str, width: int, indent: str) -> list[str]:
    out: list[str] = []
    for para in value.splitlines() or [""]:
        out += _wrap_line(para, width)
    return [out[0]] + [indent + line for line in out[1:]]


def rows_text(rows: tuple[tuple[str, str], ...] | list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """``  key:  value`` lines, values wrapped and aligned under the first value column."""
    if not rows:
        return []
    keyw = min(max(len(k) for k, _ in rows) + 1, 14)
    pad = indent + " " * (keyw + 1)
    lines: list[str] = []
    for k, v in rows:
        head = f"{indent}{k + ':':<{keyw}} "
        # A key longer than the column pushes its first line right: wrap to the narrower of the two.
        wrapped = _wrap(v, WIDTH - max(len(head), len(pad)), pad)
        lines.append(head + wrapped[0])
        lines += wrapped[1:]
    return lines


def text(v: View) -> str:
    """The plain-text form (terminal, ``print``, logs): within 100 columns except for words longer than that."""
    lines = _wrap(v.title, WIDTH - 2, "  ")
    if v.table is not None:
        lines += table_text(v.table[1])
    lines += rows_text(v.rows)
    for label, body, shell in v.code:
        lines += ["  " + line for line in _wrap(f"{label}:", WIDTH - 4, "  ")]
        for cmd in body.split("\n"):
            lines += ["    " + line for line in (shell_block(cmd) if shell else cmd).split("\n")]
    for note in v.notes:
        lines += ["  " + line for line in _wrap(note, WIDTH - 4, "  ")]
    return "\n".join(lines)


_MARK = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip", "wait": "... "}


def table_text(checks: tuple[tuple[str, str, str, str, str], ...]) -> list[str]:
    """Checklist lines: ``FAIL  tcp          tcp-repositories         detail (12 ms)``, details wrapped and
    aligned under their column."""
    lines: list[str] = []
    pad = " " * 45
    for status, layer, name, detail, ms in checks:
        head = f"  {_MARK.get(status, status):<4}  {layer:<11} {name:<24} "
        if len(head) > len(pad):
            lines.append(head.rstrip())
            head = pad
        # the time stays with the last word (a no-break space)
        wrapped = _wrap(f"{detail} ({ms.replace(' ', chr(160))})" if ms else detail, WIDTH - len(pad), pad)
        lines.append(head + wrapped[0])
        lines += wrapped[1:]
    return lines


# --- HTML ----------------------------------------------------------------------------------------------------


def _code_html(body: str, shell: bool) -> str:
    import html as _html

    if shell:
        body = "\n".join(shell_block(c, 88) for c in body.split("\n"))
    return (
        f"<pre style='white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%;overflow-x:auto;margin:2px 0;"
        f"padding:6px 8px;background:{_CODE_BG};color:{_FG};border:1px solid {_BORDER};font-family:{_MONO};"
        f"font-size:12px'>{_html.escape(body)}</pre>"
    )


def html(v: View) -> str:
    """The notebook form: JupyterLab's theme colours, at most 760 px wide, code blocks that wrap. What was found
    and the fix come first, the checklist after them."""
    import html as _html

    e = _html.escape
    cell = "text-align:left;vertical-align:top;padding:1px 8px 1px 0"
    td = f"{cell};overflow-wrap:anywhere"  # the one column that wraps
    nw = f"{cell};white-space:nowrap"
    stripe = _TONE_COLOR.get(v.tone, _TONE_COLOR["info"])
    glyph = _GLYPH.get(v.tone, "")
    title_color = _ERROR_TEXT if v.tone == "fail" else _FG
    parts = [
        f"<div class='ca-login' style='max-width:760px;box-sizing:border-box;font-family:{_FONT};color:{_FG};"
        f"font-size:13px;border-left:4px solid {stripe};padding-left:8px;margin:4px 0 8px 0'>",
        f"<div style='font-weight:bold;color:{title_color}'>"
        f"{e(glyph + ' ' if glyph else '')}{e(v.title)}</div>",
    ]
    if v.rows:
        parts.append("<table style='border-collapse:collapse;table-layout:auto;max-width:760px'>")
        for k, val in v.rows:
            parts.append(
                f"<tr><th style='{nw};font-weight:bold'>{e(k)}</th><td style='{td}'>{e(val)}</td></tr>"
            )
        parts.append("</table>")
    for label, body, shell in v.code:
        parts.append(
            f"<div style='margin-top:4px;font-weight:bold'>{e(label)}</div>{_code_html(body, shell)}"
        )
    if v.table is not None:
        heads, checks = v.table
        parts.append("<table><tr>")
        parts += [f"<th style='{td if h == 'detail' else nw}'>{e(h)}</th>" for h in heads]
        parts.append("</tr>")
        for status, layer, name, detail, ms in checks:
            color = _ERROR_TEXT if status == "fail" else _FG
            mark = _GLYPH.get(status, "")
            parts.append(
                f"<tr><td style='{nw};font-weight:bold;color:{color}'>{e(mark + ' ' if mark else '')}{e(status)}"
                f"</td><td style='{nw}'>{e(layer)}</td><td style='{nw}'>{e(name)}</td>"
                f"<td style='{td}'>{e(detail)}</td><td style='{nw};text-align:right'>{e(ms)}</td></tr>"
            )
        parts.append("</table>")
    for note in v.notes:
        parts.append(f"<div style='color:{_MUTED}'>{e(note)}</div>")
    parts.append("</div>")
    return "".join(parts)


def pretty(obj: Any, p: Any, cycle: bool) -> None:
    """IPython's pretty printer (the terminal's ``obj`` at the prompt): the text form, not a repr wall."""
    p.text(f"{type(obj).__name__}(...)" if cycle else str(obj))


class _Shown:
    """``str``, ``_repr_html_`` and ``_repr_pretty_`` from one :class:`View` (``_view``)."""

    def _view(self) -> View:
        raise NotImplementedError

    def __str__(self) -> str:
        return text(self._view())

    def _repr_html_(self) -> str:
        return html(self._view())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        pretty(self, p, cycle)

    def __init_subclass__(cls, **kw: Any) -> None:
        # IPython takes a class's own __repr__ (dataclasses write one) over an inherited _repr_pretty_.
        super().__init_subclass__(**kw)
        cls._repr_pretty_ = _Shown._repr_pretty_  # type: ignore[method-assign]


def iso(dt: Optional[datetime]) -> Optional[str]:
    return None if dt is None else dt.isoformat()


# --- login ---------------------------------------------------------------------------------------------------


def login_view(r: Any, head: Optional[str] = None, state: Optional[str] = None) -> View:
    repo = f"{r.domain}/{r.repository} ({r.region})"
    title = head or (
        f"Would write CodeArtifact {repo}" if r.dry_run else f"Logged pip in to CodeArtifact {repo}"
    )
    if state is None:
        state = "dry run: nothing written, no token kept" if r.dry_run else "new: logged in"
    config_file = str(r.config_file)
    rows = [
        ("token", state),
        ("index-url", str(r.index_url)),
        ("config_file", config_file),
        ("expires", when(r.expires_at)),
    ]
    rows += [("warning", w) for w in r.warnings]
    code: tuple[tuple[str, str, bool], ...] = ()
    if r.dry_run and r.preview:
        code = (("config_file would read (token masked)", r.preview.rstrip("\n"), False),)
    return View(title, "warn" if r.warnings else "ok", tuple(rows), code)


def ensured_view(r: Any, fresh: bool) -> View:
    """ensure_login's result: a login's, or "still valid, no call made"."""
    if fresh:
        return login_view(r)
    head = f"Token still valid, no call made: CodeArtifact {r.domain}/{r.repository} ({r.region})"
    return login_view(r, head=head, state="recorded, still valid: no call made")


def login_text(r: Any) -> str:
    return text(login_view(r))


def login_html(r: Any) -> str:
    return html(login_view(r))


# --- errors in notebooks -------------------------------------------------------------------------------------

_RED, _BOLD, _DIM, _RESET = "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"


def _where(exc: BaseException) -> Optional[tuple[str, str]]:
    for attr, label in (("host", "host"), ("path", "file"), ("field", "argument"), ("resource", "resource")):
        value = getattr(exc, attr, None)
        if value:
            return label, str(value)
    return None


def _next_step(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "InvalidInput":
        return "help(ca_login.login) lists every argument"
    if name == "ConfigError":
        return "ca_login.status() shows which pip file is used and what it holds"
    return "ca_login.diagnose() checks each layer and names the broken one"


def error_view(exc: BaseException) -> View:
    """What failed and where, the cause code, the fix (prose and its commands), where to look next."""
    message = str(exc)
    what, _, hint = message.partition("\nhint: ")
    hint = getattr(exc, "hint", None) or hint
    rows: list[tuple[str, str]] = []
    cause = getattr(exc, "cause", None)
    if cause:
        rows.append(("cause", str(cause)))
    where = _where(exc)
    if where is not None:
        rows.append(where)
    commands = commands_in(hint) if hint else []
    if hint:
        rows.append(("fix", without_commands(hint, commands)))
    code = (("run", "\n".join(commands), True),) if commands else ()
    notes: tuple[str, ...] = ()
    if type(exc).__name__ != "Interrupted":
        notes = (f"next: {_next_step(exc)}", "the full traceback: %xmode Verbose, or CA_LOGIN_TRACEBACK=1")
    return View(f"{type(exc).__name__}: {what}", "fail", tuple(rows), code, notes)


def _full_traceback_wanted() -> Any:
    """The IPython shell when the full traceback is asked for (``%xmode Verbose``, ``CA_LOGIN_TRACEBACK=1``)."""
    import os

    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    if ip is None:
        return None
    mode = getattr(getattr(ip, "InteractiveTB", None), "mode", "")
    if os.environ.get("CA_LOGIN_TRACEBACK", "") not in ("", "0") or mode == "Verbose":
        return ip
    return None


def render_traceback(exc: BaseException) -> list[str]:
    """The lines IPython prints for one of our exceptions (``_render_traceback_``)."""
    ip = _full_traceback_wanted()
    if ip is not None:
        return list(ip.InteractiveTB.structured_traceback(type(exc), exc, exc.__traceback__))
    lines = text(error_view(exc)).split("\n")
    head = lines[0].replace(type(exc).__name__, f"{_BOLD}{_RED}{type(exc).__name__}{_RESET}", 1)
    return [head, *lines[1:]]


# --- status ----------------------------------------------------------------------------------------------------

_STATE_TEXT = {
    "valid": "valid",
    "expired": "expired",
    "missing": "no login recorded for this file",
    "replaced": "the file no longer holds the index-url ca-login wrote",
}


def _pip_line(s: Any) -> str:
    if s.index_url is None and not s.no_index:
        return "https://pypi.org/simple (pip's default: no index-url set anywhere)"
    url = s.index_url
    if s.no_index:
        return f"no index at all: no-index is set by {s.index_url_source}"
    if s.index_url_is_ours:
        return f"{url} (ours, from {s.index_url_source})"
    return f"{url} -- NOT ours: {s.index_url_source} wins"


def _winner(s: Any) -> str:
    """What pip uses instead of our token, in a few words."""
    src = s.index_url_source
    if s.no_index:
        return f"no index at all (no-index is set by {src})"
    if src.startswith("environment variable "):
        return f"{src.removeprefix('environment variable ')} (environment)"
    if s.index_url is None:
        return "pip's default, https://pypi.org/simple"
    return f"the index-url from {src}"


def status_headline(s: Any) -> str:
    """One line that follows ``ok``: OK, or what is wrong, naming what wins when something else does."""
    if s.ok:
        left = "" if s.expires_at is None else f", expires {when(s.expires_at)}"
        return f"OK: pip uses the token for {s.domain}/{s.repository}{left}"
    if s.valid:
        return f"NOT USED: valid token, but pip uses {_winner(s)} instead"
    if s.state == "expired":
        ago = human_delta(s.remaining or 0.0)
        return f"EXPIRED: the token for {s.domain}/{s.repository} {ago}"
    if s.state == "missing":
        return f"MISSING: no login recorded for {s.config_file}"
    return f"{s.state.upper()}: {_STATE_TEXT.get(s.state, s.state)}"


def _status_rows(s: Any) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("config_file", str(s.config_file)),
        ("token", str(_STATE_TEXT.get(s.state, s.state))),
    ]
    if s.domain is not None:
        rows.append(("repository", f"{s.domain}/{s.repository} ({s.region})"))
        rows.append(("endpoint", str(s.repository_endpoint)))
        rows.append(("expires", when(s.expires_at)))
    rows.append(("pip uses", _pip_line(s)))
    if s.refresher is not None:
        rows.append(("refresher", s.refresher.summary()))
    rows += [("problem", p) for p in s.problems]
    return rows


def status_view(s: Any) -> View:
    tone = "ok" if s.ok else ("warn" if s.valid else "fail")
    return View(f"ca-login status: {status_headline(s)}", tone, tuple(_status_rows(s)))


class StatusFields:
    """The core's status dict with :class:`Status`'s attribute names, for rendering without building a Status
    (the CLI's fast path: times stay epoch seconds). Only for a process without a refresher."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.ok, self.valid, self.state = d["ok"], d["valid"], d["state"]
        self.config_file = d["config_file"]
        self.domain, self.repository, self.region = d["domain"], d["repository"], d["region"]
        self.repository_endpoint = d["repository_endpoint"]
        self.expires_at, self.remaining = d["expires_at"], d["remaining"]
        self.index_url, self.index_url_source = d["effective_index_url"], d["effective_source"]
        self.index_url_is_ours, self.no_index = d["effective_is_ours"], d["no_index"]
        self.problems = tuple(d["problems"])
        self.refresher = None
        self.tool = d.get("tool", "pip")


class LoginFields:
    """The core's login dict with :class:`LoginResult`'s attribute names (``config_file`` a str, ``expires_at``
    epoch seconds), for the CLI's fast path."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.domain, self.repository, self.region = d["domain"], d["repository"], d["region"]
        self.index_url, self.config_file, self.expires_at = d["index_url"], d["config_file"], d["expires_at"]
        self.warnings, self.dry_run, self.preview = tuple(d["warnings"]), d["dry_run"], d["preview"]


# --- status of uv, Poetry, twine, and of several tools ------------------------------------------------------------

_TOOL_NAME = {"pip": "pip", "uv": "uv", "poetry": "Poetry", "twine": "twine"}
_TOOL_STATE_TEXT = {
    "valid": "valid",
    "expired": "expired",
    "missing": "no login recorded for this tool",
    "replaced": "the file (or the netrc entry) no longer holds what ca-login wrote",
    "unknown": "the state file cannot be read as ca-login's",
}


def tool_status_headline(s: Any) -> str:
    """One line that follows ``ok`` for uv, Poetry or twine."""
    name = _TOOL_NAME.get(s.tool, s.tool)
    if s.ok:
        return f"OK: {name} uses the token for {s.domain}/{s.repository}, expires {when(s.expires_at)}"
    if s.valid:
        return f"NOT USED: valid token, but {name} will not use it: {s.overrides[0].splitlines()[0]}"
    if s.state == "expired":
        return f"EXPIRED: {name}'s token for {s.domain}/{s.repository} {human_delta(s.remaining or 0.0)}"
    if s.state == "missing":
        return f"MISSING: no {name} login recorded ({s.config_file})"
    return f"{s.state.upper()}: {name}: {_TOOL_STATE_TEXT.get(s.state, s.state)}"


def _tool_store_line(s: Any) -> str:
    if s.netrc_file is None:
        return f"in {s.config_file}"
    held = (
        "our entry for the repository host"
        if s.netrc_holds_ours
        else "NO entry of ours for the repository host"
    )
    return f"netrc: {s.netrc_file} ({held})"


def _tool_rows(s: Any) -> list[tuple[str, str]]:
    name = _TOOL_NAME.get(s.tool, s.tool)
    rows = [("config_file", str(s.config_file)), ("token", _TOOL_STATE_TEXT.get(s.state, s.state))]
    rows.append(("stored", _tool_store_line(s)))
    if s.domain is not None:
        rows.append(("repository", f"{s.domain}/{s.repository} ({s.region})"))
        rows.append(("endpoint", str(s.repository_endpoint)))
        rows.append(("expires", when(s.expires_at)))
    if s.overrides:
        rows += [(f"{name} uses", f"NOT ours: {o}") for o in s.overrides]
    elif s.state != "missing":
        rows.append((f"{name} uses", "what ca-login wrote (nothing wins over it)"))
    rows += [("problem", p) for p in s.problems]
    return rows


def tool_status_view(s: Any) -> View:
    tone = "ok" if s.ok else ("warn" if s.valid else "fail")
    return View(f"ca-login status ({s.tool}): {tool_status_headline(s)}", tone, tuple(_tool_rows(s)))


def _headline_of(s: Any) -> str:
    return status_headline(s) if s.tool == "pip" else tool_status_headline(s)


def statuses_headline(items: Any) -> str:
    """One line for several tools: OK when every one is, else the ones that are not and why in a word."""
    if all(s.ok for s in items):
        return f"OK: {', '.join(s.tool for s in items)} use the token"
    bad = [f"{s.tool} {_headline_of(s).split(':', 1)[0]}" for s in items if not s.ok]
    good = [s.tool for s in items if s.ok]
    return f"NOT OK: {', '.join(bad)}" + (f" ({', '.join(good)} OK)" if good else "")


def statuses_view(items: Any) -> View:
    """Several tools: a headline, then each tool's headline and its rows, indented under it."""
    rows: list[tuple[str, str]] = []
    for s in items:
        rows.append((s.tool, _headline_of(s)))
        rows += [(f"  {k}", v) for k, v in (_status_rows(s) if s.tool == "pip" else _tool_rows(s))]
    ok = all(s.ok for s in items)
    tone = "ok" if ok else ("warn" if all(s.valid for s in items) else "fail")
    return View(f"ca-login status: {statuses_headline(items)}", tone, tuple(rows))


class ToolStatusFields:
    """The core's dict for uv, Poetry or twine with :class:`ToolStatus`'s attribute names (times epoch seconds),
    for the CLI's fast path."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.tool, self.ok, self.valid, self.state = d["tool"], d["ok"], d["valid"], d["state"]
        self.config_file, self.token_store, self.netrc_file = (
            d["config_file"],
            d["token_store"],
            d["netrc_file"],
        )
        self.domain, self.repository, self.region = d["domain"], d["repository"], d["region"]
        self.repository_endpoint = d["repository_endpoint"]
        self.expires_at, self.remaining = d["expires_at"], d["remaining"]
        self.netrc_holds_ours = d["netrc_holds_ours"]
        self.overrides, self.problems = tuple(d["overrides"]), tuple(d["problems"])


def fields_of(d: dict[str, Any]) -> Any:
    """:class:`StatusFields` for pip's dict, :class:`ToolStatusFields` for another tool's."""
    return StatusFields(d) if d.get("tool", "pip") == "pip" else ToolStatusFields(d)
