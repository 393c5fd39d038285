"""Text and HTML renderings for notebooks and the terminal. No logic the core needs lives here."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone


def human_delta(delta: timedelta) -> str:
    """``11 h 59 min``, ``42 s``; ``expired 5 min ago`` for negative deltas."""
    secs = int(delta.total_seconds())
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


def _when(dt: datetime) -> str:
    return f"{dt.strftime('%Y-%m-%d %H:%M:%S UTC')} ({human_delta(dt - datetime.now(timezone.utc))})"


def login_text(r) -> str:
    verb = "Would write" if r.dry_run else "Logged pip in to"
    lines = [
        f"{verb} CodeArtifact {r.domain}/{r.repository} ({r.region})",
        f"  index-url: {r.index_url}",
        f"  config:    {r.config_file}",
        f"  expires:   {_when(r.expires_at)}",
    ]
    lines += [f"  warning:   {w}" for w in r.warnings]
    return "\n".join(lines)


def login_html(r) -> str:
    e = html.escape
    rows = [
        ("Repository", f"{e(r.domain)}/{e(r.repository)} ({e(r.region)})"),
        ("index-url", f"<code>{e(str(r.index_url))}</code>"),
        ("Config file", f"<code>{e(str(r.config_file))}</code>"),
        ("Expires", e(_when(r.expires_at))),
    ]
    for w in r.warnings:
        rows.append(("⚠ Warning", f"<span style='color:#b45309'>{e(w)}</span>"))
    title = "ca_login: dry run" if r.dry_run else "ca_login: logged in"
    body = "".join(
        f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>" for k, v in rows
    )
    return f"<div><strong>{title}</strong><table>{body}</table></div>"
