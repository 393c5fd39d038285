"""The face people see (issue 10) and an honest status (issue 9, item 3): short errors, interrupts, one look for
every result, the public API's shape, the CLI's fast path and colour, and the IPython extension through a real
kernel with a real pip."""

from __future__ import annotations

import _thread
import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import ca_login
import pytest
from conftest import assert_exit, assert_no_token
from kernels import ANSI, kernel_environ, run_cells, uninstall_demo_package

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")


@pytest.fixture(autouse=True)
def _no_refresher_left():
    yield
    ca_login.stop_refresh()


def token_of(result) -> str:
    return result.index_url.get_secret_value().split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def token_calls(standin) -> int:
    return sum(1 for c in standin.calls if c.get("operation") == "GetAuthorizationToken")


# --- the public API's shape ---------------------------------------------------------------------------------


def test_exception_classes_built_by_hand_have_their_attributes_with_defaults():
    e = ca_login.AccessDenied("x")
    assert (e.cause, e.hint, e.action, e.resource, e.principal, e.policy_type) == (None,) * 6
    assert e.explicit is False
    assert ca_login.EndpointUnreachable("x").host is None
    assert ca_login.InvalidInput("x").field is None and isinstance(ca_login.InvalidInput("x"), ValueError)
    assert ca_login.ConfigError("x").path is None
    assert ca_login.Throttled("x").retry_after is None
    s = ca_login.ServiceError("x")
    assert (s.code, s.status, s.host) == (None, None, None)
    assert issubclass(ca_login.Interrupted, KeyboardInterrupt)


def test_dir_of_the_package_lists_only_the_public_api():
    names = dir(ca_login)
    for private in ("os", "sys", "datetime", "warnings", "_core", "_display"):
        assert private not in names
    assert set(ca_login.__all__) <= set(names)
    for public in ("login", "status", "diagnose", "Check", "Verdict", "Interrupted", "LoginResult"):
        assert public in names


def test_login_result_properties_are_real_typed_properties():
    for name in ("repository_endpoint", "index_url", "expires_at", "tool", "domain", "region", "warnings"):
        prop = getattr(ca_login.LoginResult, name)
        assert isinstance(prop, property) and prop.fget.__doc__, name
        assert "return" in prop.fget.__annotations__, name


# --- short errors and interrupts ----------------------------------------------------------------------------


def test_an_access_denied_error_renders_as_a_short_block_with_cause_fix_commands_and_next_step(lib_env):
    lib_env.set_fault("access-denied-identity")
    with pytest.raises(ca_login.AccessDenied) as info:
        ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    lines = [ANSI.sub("", line) for line in info.value._render_traceback_()]
    block = "\n".join(lines)
    # the commands (here a policy document written by a here-document) are indented under "run:"; the rest
    # stays short, and the prose does not repeat the long command the block shows
    prose = [line for line in lines if not line.startswith("    ")]
    assert len(prose) <= 12, block
    assert block.count("aws iam put-role-policy") == 1, block
    assert "cat > policy.json <<'EOF'" in block
    assert lines[0].startswith("AccessDenied: ")
    assert "cause:" in block and info.value.cause in block
    assert "run:" in block and "aws iam put-role-policy" in block
    assert "next: ca_login.diagnose() checks each layer" in block
    assert "%xmode Verbose" in block
    assert "Traceback" not in block and "_core_args" not in block
    assert all(len(line) <= 100 for line in lines), block


def test_invalid_input_renders_its_argument_and_points_at_help():
    with pytest.raises(ca_login.InvalidInput) as info:
        ca_login.login(DOMAIN, REPO, duration_seconds=5)
    block = "\n".join(ANSI.sub("", line) for line in info.value._render_traceback_())
    assert "argument:" in block and "duration_seconds" in block
    assert "help(ca_login.login)" in block


def test_ca_login_traceback_brings_back_the_full_traceback_in_ipython(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.instance()
    try:
        with pytest.raises(ca_login.InvalidInput) as info:
            ca_login.login(DOMAIN, REPO, duration_seconds=5)
        short = info.value._render_traceback_()
        monkeypatch.setenv("CA_LOGIN_TRACEBACK", "1")
        full = "\n".join(ANSI.sub("", line) for line in info.value._render_traceback_())
        assert len(full.splitlines()) > len(short)
        assert "ca_login.login(DOMAIN, REPO, duration_seconds=5)" in full  # the caller's frame
    finally:
        InteractiveShell.clear_instance()


def test_an_interrupted_login_raises_interrupted_a_keyboard_interrupt_and_leaves_pip_config_alone(
    lib_env, tmp_path
):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ntimeout = 5\n")
    lib_env.set_fault("hang", seconds=30)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ca_login.Interrupted) as info:
            ca_login.login(DOMAIN, REPO, domain_owner=OWNER, config_file=conf)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5
    assert isinstance(info.value, KeyboardInterrupt)
    assert str(info.value) == "interrupted: pip's configuration was not changed"
    assert conf.read_text() == "[global]\ntimeout = 5\n"
    block = "\n".join(ANSI.sub("", line) for line in info.value._render_traceback_())
    assert "interrupted: pip's configuration was not changed" in block and len(block.splitlines()) <= 3


# --- an honest status ---------------------------------------------------------------------------------------


def test_status_is_not_ok_when_pip_index_url_wins_and_its_headline_names_it(lib_env, monkeypatch):
    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    assert ca_login.status().ok
    assert str(ca_login.status()).startswith("ca-login status: OK: pip uses the token")
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple/")
    st = ca_login.status()
    assert st.valid and not st.ok
    head = st.headline()
    assert head == "NOT USED: valid token, but pip uses PIP_INDEX_URL (environment) instead"
    assert str(st).splitlines()[0] == f"ca-login status: {head}"
    assert head in st._repr_html_()
    d = st.to_dict()
    assert d["ok"] is False and d["headline"] == head and d["config_file"] == d["file"]
    cli = subprocess.run(
        [CA_LOGIN, "status"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert_exit(cli, 1, token_of(r), what="ca-login status")
    assert "NOT USED" in cli.stdout and "PIP_INDEX_URL" in cli.stdout
    cli_json = subprocess.run(
        [CA_LOGIN, "status", "--json"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert_exit(cli_json, 1, token_of(r), what="ca-login status --json")
    assert json.loads(cli_json.stdout)["ok"] is False
    assert_no_token(token_of(r), cli.stdout, cli_json.stdout, str(st), st._repr_html_())


def test_ca_login_status_exits_zero_when_ok(lib_env):
    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    cli = subprocess.run(
        [CA_LOGIN, "status"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert_exit(cli, 0, token_of(r), what="ca-login status")
    assert cli.stdout.startswith("ca-login status: OK: pip uses the token for mydomain/isolatedsm")


def test_ensure_login_that_made_no_call_says_still_valid_no_call_made(lib_env):
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    calls = token_calls(lib_env)
    again = ca_login.ensure_login(DOMAIN, REPO, domain_owner=OWNER)
    assert not again.fresh and token_calls(lib_env) == calls
    assert "still valid, no call made" in str(again)
    assert "still valid, no call made" in again._repr_html_()
    assert "logged in" not in again._repr_html_()
    assert again.to_dict()["fresh"] is False


# --- one look for every result ------------------------------------------------------------------------------


def _pretty(obj) -> str:
    from IPython.lib.pretty import pretty

    return pretty(obj)


def test_every_public_result_has_text_html_pretty_and_to_dict_within_the_widths(lib_env, tmp_path):
    conf = tmp_path / "pip.conf"
    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, config_file=conf)
    dry = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, config_file=tmp_path / "other.conf", dry_run=True)
    ensured = ca_login.ensure_login(DOMAIN, REPO, domain_owner=OWNER, config_file=conf)
    st = ca_login.status(config_file=conf)
    refresher = ca_login.start_refresh(DOMAIN, REPO, domain_owner=OWNER, config_file=conf)
    stopped = ca_login.stop_refresh()
    lib_env.set_fault("access-denied-identity")
    diag = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2)
    lib_env.clear_faults()
    out = ca_login.logout(config_file=conf)
    assert stopped is not None and diag.verdict is not None
    results = [r, dry, ensured, st, refresher, stopped, diag, diag.verdict, diag.checks[0], out]
    texts = []
    for obj in results:
        text, page, pretty = str(obj), obj._repr_html_(), _pretty(obj)
        texts += [text, page, pretty, json.dumps(obj.to_dict(), default=str)]
        assert pretty == text, type(obj).__name__
        # within 100 columns, but for the dry run's preview: the file's lines as they are
        verbatim = {"    " + line for line in dry.preview.splitlines()}
        long_lines = [line for line in text.splitlines() if len(line) > 100 and line not in verbatim]
        assert not long_lines, (type(obj).__name__, text)
        assert "max-width:760px" in page, type(obj).__name__
        assert "#b91c1c" not in page and "#15803d" not in page  # the old colours that fail in the dark theme
    for obj in (r, ensured, st, out, stopped):
        assert "config_file" in obj.to_dict(), type(obj).__name__
    assert st.file == st.config_file and out.file == out.config_file
    assert "would read (token masked)" in str(dry) and "would read" in dry._repr_html_()
    assert "put-role-policy" in diag._repr_html_()
    assert "<pre" in diag._repr_html_()  # the fix as a code block
    assert_no_token(token_of(r), *texts, what="rendering")
    assert_no_token(token_of(ensured), *texts, what="rendering")


def test_a_long_policy_document_goes_to_a_file_by_a_here_document():
    from ca_login._display import shell_block

    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["a"] * 12}]})
    cmd = f"aws iam put-role-policy --role-name R --policy-name P --policy-document '{doc}'"
    block = shell_block(cmd)
    assert block.startswith("cat > policy.json <<'EOF'\n")
    assert "--policy-document file://policy.json" in block
    assert all(len(line) <= 96 for line in block.splitlines())
    assert json.loads(block.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0]) == json.loads(doc)


def test_diagnose_calls_the_public_on_check_with_each_check(lib_env):
    seen = []
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2, on_check=seen.append)
    assert seen and all(isinstance(c, ca_login.Check) for c in seen)
    assert {c.name for c in seen} == {c.name for c in d.checks}


# --- the CLI ------------------------------------------------------------------------------------------------

HEAVY = ("argparse", "json", "logging", "typing", "dataclasses", "pathlib", "datetime", "textwrap")


def test_cli_status_and_if_expiring_within_import_none_of_the_heavy_modules(lib_env, monkeypatch):
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    for k, v in (("DOMAIN", DOMAIN), ("REPOSITORY", REPO), ("DOMAIN_OWNER", OWNER)):
        monkeypatch.setenv(f"CA_LOGIN_{k}", v)
    probe = (
        "import sys\nfrom ca_login.cli import main\nrc = main(sys.argv[1:])\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules), rc)\n"
    )
    for argv in (["status"], ["login", "--if-expiring-within", "60"]):
        p = subprocess.run(
            [sys.executable, "-c", probe, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ),
        )
        assert_exit(p, 0, what=" ".join(argv))
        assert "HEAVY [] 0" in p.stdout, (argv, p.stdout[-500:])
    again = subprocess.run(
        [CA_LOGIN, "login", "--if-expiring-within", "60"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert_exit(again, 0, what="login --if-expiring-within")
    assert "still valid, no call made" in again.stdout


def _run_in_pty(argv: list[str], env: dict[str, str]) -> str:
    """The output of a command whose stdout is a terminal."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=10)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_cli_paints_on_a_terminal_and_not_with_no_color_or_piped(lib_env):
    ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    env = dict(os.environ, TERM="xterm")
    assert "\x1b[32m" in _run_in_pty([CA_LOGIN, "status"], env)
    assert "\x1b[" not in _run_in_pty([CA_LOGIN, "status"], dict(env, NO_COLOR="1"))
    piped = subprocess.run([CA_LOGIN, "status"], capture_output=True, text=True, timeout=60, env=env)
    assert "\x1b[" not in piped.stdout


def test_cli_diagnose_prints_the_checklist_in_layer_order_with_wrapped_details_aligned(lib_env):
    from ca_login._diagnosis import layer_order

    lib_env.set_fault("access-denied-identity")
    p = subprocess.run(
        [
            CA_LOGIN,
            "diagnose",
            "--domain",
            DOMAIN,
            "--repository",
            REPO,
            "--domain-owner",
            OWNER,
            "--timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert_exit(p, 1, what="ca-login diagnose")
    rows = re.findall(r"^  (ok  |FAIL|warn|skip)  (\S+)", p.stdout, flags=re.M)
    assert len(rows) >= 5, p.stdout
    orders = [layer_order(layer) for _, layer in rows]
    assert orders == sorted(orders), p.stdout
    checklist = p.stdout.split("Verdict:", 1)[0].splitlines()[1:]
    for line in checklist:
        assert len(line) <= 100, line
        if not re.match(r"^  (ok  |FAIL|warn|skip)  ", line):
            assert line.startswith(" " * 45) and line[45] != " ", line  # a wrapped detail, under its column
    assert "\x1b[" not in p.stdout


# --- the IPython extension through a real kernel -----------------------------------------------------------


@pytest.fixture
def kernel_env(lib_env, _clean_env):
    env = kernel_environ(lib_env.api_url, _clean_env)
    yield env
    uninstall_demo_package(env)


def test_load_ext_renews_an_expired_token_before_pip_install_and_magic_and_errors_are_short(
    kernel_env, lib_env, tmp_path
):
    lib_env.set_fault("token-ttl", seconds=2)
    first = ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    delay = (first.expires_at - datetime.now(timezone.utc)).total_seconds() + 1.1
    time.sleep(max(0.0, delay))
    assert ca_login.status().state == "expired"
    lib_env.clear_faults()
    lib_env.reset_calls()
    cells = [
        "%load_ext ca_login",
        "%pip install --no-cache-dir ca-demo-pkg",
        "%ca_login status",
        "import ca_login\nca_login.login('mydomain', 'isolatedsm', duration_seconds=5)",
    ]
    out = run_cells(cells, kernel_env, tmp_path)
    assert_no_token(token_of(first), *out, what="cell output")
    assert "Successfully installed ca-demo-pkg-1.0.0" in out[1], out[1][-2000:]
    assert "ca_login: renewed the CodeArtifact token before pip" in out[1]
    ops = [c.get("operation") for c in lib_env.calls]
    assert "GetAuthorizationToken" in ops and "repository" in ops
    assert ops.index("GetAuthorizationToken") < ops.index("repository")
    assert "OK: pip uses the token" in out[2]
    error = [line for line in out[3].splitlines() if line.strip()]
    assert error[0].startswith("InvalidInput: ") and len(error) <= 12, out[3]
    assert "duration_seconds" in out[3] and "Traceback" not in out[3]


# --- live progress ------------------------------------------------------------------------------------------


class FakeHandle:
    """IPython's DisplayHandle: records what each update showed."""

    def __init__(self) -> None:
        self.shown: list[object] = []

    def update(self, obj: object) -> None:
        self.shown.append(obj)


def test_diagnose_in_a_notebook_fills_one_display_in_layer_order_and_clears_it(lib_env, monkeypatch):
    from ca_login import _diagnosis

    handle = FakeHandle()
    monkeypatch.setattr(_diagnosis, "live_checklist", lambda: _diagnosis._LiveChecklist(handle))
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=2)
    *progress, last = handle.shown
    assert len(progress) == len(d.checks)
    for i, p in enumerate(progress):
        layers = [_diagnosis.layer_order(c.layer) for c in p.checks]
        assert len(layers) == i + 1 and layers == sorted(layers)
        assert f"checking ({i + 1} done so far)" in repr(p) and "max-width:760px" in p._repr_html_()
    assert repr(last) == "" and last._repr_html_() == ""


def test_login_in_a_notebook_shows_one_line_while_it_waits_to_retry_and_clears_it(lib_env, monkeypatch):
    import IPython.display
    from ca_login import _ipython

    shown: list[object] = []
    handle = FakeHandle()

    def display(obj, display_id=False):
        shown.append(obj)
        return handle

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or object())
    lib_env.set_fault("throttle", first=1, retry_after=1)
    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, dry_run=True)
    assert r.dry_run
    assert len(shown) == 1, shown
    line = repr(shown[0])
    # The token and endpoint calls run side by side: whichever the stand-in throttles first is the one named.
    assert (
        line.startswith(
            ("ca_login: GetAuthorizationToken on 127.0.0.1", "ca_login: GetRepositoryEndpoint on 127.0.0.1")
        )
        and "attempt 1" in line
    ), line
    assert "retrying in 1.0 s" in line, line
    assert [repr(x) for x in handle.shown][-1] == ""  # gone once the login is done
    assert _ipython.retry_text("x") == "ca_login: x"
