"""The example notebooks, executed headless (nbclient) against the stand-in, with a kernel from the test venv."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from conftest import assert_no_token, redacted
from kernels import kernel_environ, uninstall_demo_package
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kernel_env(standin, _clean_env, tmp_path):
    env = kernel_environ(
        standin.api_url,
        _clean_env,
        CA_LOGIN_DOMAIN="mydomain",
        CA_LOGIN_DOMAIN_OWNER="111122223333",
        CA_LOGIN_REPOSITORY="isolatedsm",
        CA_LOGIN_DEMO_STANDIN_CONTROL=standin.control_url,
    )
    yield env
    # %pip install went into this venv: leave it as it was.
    uninstall_demo_package(env)


def run_notebook(name: str, env: dict[str, str], cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=env)
    return nb


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for v in out.get("data", {}).values():
                parts.append(v if isinstance(v, str) else str(v))
    return "\n".join(parts)


def pip_conf_token(home: Path) -> str:
    import configparser

    p = configparser.RawConfigParser()
    p.read(home / ".config" / "pip" / "pip.conf")
    return p.get("global", "index-url").split("aws:", 1)[1].split("@", 1)[0]


def test_quickstart_notebook_logs_in_installs_and_shows_status(kernel_env, tmp_path, _clean_env, standin):
    nb = run_notebook("01-quickstart.ipynb", kernel_env, tmp_path)
    text = outputs_text(nb)
    token = pip_conf_token(_clean_env)
    assert_no_token(token, text, what="notebook outputs")  # first: the asserts below print the outputs
    assert "Successfully installed ca-demo-pkg-1.0.0" in text
    assert "Hello, SageMaker, from ca-demo-pkg 1.0.0" in text
    assert "aws:****@" in text
    # ensure_login() in the last cell made no call: one token request in all
    assert len([c for c in standin.calls if c.get("operation") == "GetAuthorizationToken"]) == 1


def test_when_pip_hangs_notebook_names_each_broken_piece(kernel_env, tmp_path, _clean_env):
    nb = run_notebook("02-when-pip-hangs.ipynb", kernel_env, tmp_path)
    text = outputs_text(nb)
    token = pip_conf_token(_clean_env)
    assert_no_token(token, text, what="notebook outputs")  # first: the asserts below print the outputs
    assert "put-role-policy" in text
    assert "modify-vpc-endpoint" in text
    for cause in (
        "access-denied-identity-policy",
        "access-denied-vpc-endpoint-policy",
        "repository-forbidden",
    ):
        assert f"FAILED, {cause}" in text, cause
    assert '"ok": true' in text


def test_lifetime_and_extension_notebook_runs_in_order_with_one_token_call(
    kernel_env, tmp_path, _clean_env, standin
):
    nb = run_notebook("03-lifetime-and-extension.ipynb", kernel_env, tmp_path)
    text = outputs_text(nb)
    # the last cell logs out (pip.conf no longer holds the token): no URL password or token-shaped string at all
    clean = redacted(text) == text
    assert clean, "a token or URL password in the notebook outputs"
    assert "ca-login status: OK: pip uses the token for mydomain/isolatedsm" in text
    assert "Token still valid, no call made" in text
    assert "ca_login refresher: running" in text and "ca_login refresher: stopped" in text
    assert "Successfully installed ca-demo-pkg-1.0.0" in text
    assert "ca_login logout:" in text
    assert "aws:****@" in text
    # the %pip cell found the token fresh: the login in the first cell is the only token request
    assert len([c for c in standin.calls if c.get("operation") == "GetAuthorizationToken"]) == 1


# --- the rendered outputs in a real browser (headless Chromium) -----------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# JupyterLab 4's theme variables that our HTML uses (opaque equivalents of its rgba text colours).
THEMES = {
    "light": {
        "--jp-layout-color0": "#ffffff",
        "--jp-layout-color2": "#eeeeee",
        "--jp-ui-font-color0": "#000000",
        "--jp-ui-font-color1": "#212121",
        "--jp-error-color1": "#d32f2f",
        "--jp-success-color1": "#388e3c",
        "--jp-warn-color1": "#f57c00",
        "--jp-border-color1": "#bdbdbd",
        "--jp-border-color2": "#e0e0e0",
    },
    "dark": {
        "--jp-layout-color0": "#111111",
        "--jp-layout-color2": "#424242",
        "--jp-ui-font-color0": "#ffffff",
        "--jp-ui-font-color1": "#dedede",
        "--jp-error-color1": "#f44336",
        "--jp-success-color1": "#4caf50",
        "--jp-warn-color1": "#ff9800",
        "--jp-border-color1": "#616161",
        "--jp-border-color2": "#424242",
    },
    "none": {},
}

MEASURE = """
<script>
function rgb(c) { const m = c.match(/[\\d.]+/g).map(Number); return m.length > 3 && m[3] === 0 ? null : m.slice(0, 3); }
function lum(c) {
  const a = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2]; }
function bg(el) { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
  if (c) return c; } return [255, 255, 255]; }
const page = document.getElementById('page').getBoundingClientRect();
const out = {wide: [], low: [], text: document.getElementById('page').innerText};
for (const el of document.querySelectorAll('#page *')) {
  const r = el.getBoundingClientRect();
  const spills = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible';
  if (r.width > 0 && (r.right > page.left + 760.5 || spills))
    out.wide.push(el.tagName + ' ' + Math.round(r.right - page.left));
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const f = rgb(getComputedStyle(el).color), b = bg(el);
  const l1 = lum(f), l2 = lum(b), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  if (ratio < 4.5) out.low.push(el.tagName + ' ' + ratio.toFixed(2) + ' ' + el.textContent.trim().slice(0, 40));
}
document.getElementById('result').textContent = JSON.stringify(out);
</script>
"""


def rendered_page(nb, theme: dict[str, str]) -> str:
    """The notebook's outputs as a 760-px page (HTML outputs as they are, text in <pre>), in one theme."""
    import html

    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                parts.append(data["text/html"])
            elif "text/plain" in data or "text" in out:
                # as JupyterLab shows text outputs: wrapped (.jp-OutputArea-output pre)
                text = html.escape(data.get("text/plain", out.get("text", "")))
                parts.append(f"<pre style='white-space:pre-wrap;word-break:break-all'>{text}</pre>")
    variables = "".join(f"{k}:{v};" for k, v in theme.items())
    background = theme.get("--jp-layout-color0", "#ffffff")
    color = theme.get("--jp-ui-font-color0", "#000000")
    return (
        f"<html><body style='margin:0;{variables}background:{background};color:{color}'>"
        f"<div id='page' style='width:760px'>{''.join(parts)}</div><pre id='result'></pre>{MEASURE}</body></html>"
    )


def in_chromium(page: Path) -> dict:
    import json

    p = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1000,800",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(page.parent)},
    )
    assert p.returncode == 0, p.stderr[-2000:]
    import html

    raw = p.stdout.split('<pre id="result">', 1)[1].split("</pre>", 1)[0]
    return json.loads(html.unescape(raw))


def test_rendered_outputs_in_chromium_show_verdicts_and_fixes_fit_760px_and_reach_4_5_contrast(
    kernel_env, tmp_path, _clean_env
):
    nb = run_notebook("02-when-pip-hangs.ipynb", kernel_env, tmp_path)
    token = pip_conf_token(_clean_env)
    for name, theme in THEMES.items():
        page = tmp_path / f"{name}.html"
        page.write_text(rendered_page(nb, theme))
        got = in_chromium(page)
        assert_no_token(token, got["text"], page.read_text(), what=f"page in the {name} theme")
        assert "FAILED, access-denied-identity-policy" in got["text"], name
        assert "aws iam put-role-policy" in got["text"] and "modify-vpc-endpoint" in got["text"], name
        assert got["wide"] == [], (name, got["wide"][:10])
        assert got["low"] == [], (name, got["low"][:10])
