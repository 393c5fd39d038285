"""Interrupts (issue 10): a Jupyter "interrupt" through a real kernel ends a waiting login with our short text, a
KeyboardInterrupt, and pip's file as it was; and whatever moment an interrupt lands on, before, while or after the
login writes its files, what it says matches pip's file byte for byte."""

from __future__ import annotations

import _thread
import fcntl
import os
import random
import re
import threading
import time
from pathlib import Path

import ca_login
import pytest
from conftest import redacted
from jupyter_client.manager import KernelManager
from kernels import ANSI, kernel_environ

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
BEFORE = b"[global]\ntimeout = 5\n# the user's own comment\n"
NOT_CHANGED = "interrupted: pip's configuration was not changed"


def written(conf: Path) -> str:
    return f"interrupted after pip's configuration was written: the new token is in {conf}"


def holds_a_new_login(text: bytes) -> bool:
    """pip's file as a login leaves it: the user's bytes, plus our comment and a token URL for the stand-in's
    repository in [global]."""
    lines = text.decode().splitlines(keepends=True)
    ours = [line for line in lines if line.startswith(("# ca-login: token for ", "index-url = "))]
    rest = b"".join(line.encode() for line in lines if line not in ours)
    return (
        rest == BEFORE
        and len(ours) == 2
        and ours[0].startswith("# ca-login: token for mydomain/isolatedsm expires ")
        and re.fullmatch(
            r"index-url = https?://aws:[^@\s]+@127\.0\.0\.1:\d+/pypi/isolatedsm/simple/\n", ours[1]
        )
        is not None
    )


# --- through a real kernel ------------------------------------------------------------------------------------


@pytest.fixture
def kernel(standin, _clean_env, tmp_path):
    env = kernel_environ(standin.api_url, _clean_env)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run_cell(kc, code: str, timeout: float) -> tuple[list[dict], dict]:
    """Execute `code`; its iopub messages up to idle, and its execute reply."""
    msg_id = kc.execute(code)
    msgs = []
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
    return msgs, reply


def test_interrupting_the_kernel_during_a_hanging_login_prints_our_short_text_and_leaves_pip_conf_alone(
    kernel, standin, tmp_path
):
    km, kc = kernel
    conf = tmp_path / "pip.conf"
    conf.write_bytes(BEFORE)
    standin.set_fault("hang", seconds=60)
    standin.reset_calls()
    # Started on the kernel's shell channel; the interrupt comes once the stand-in holds the token request.
    msg_id = kc.execute(
        "import ca_login\n"
        f"ca_login.login({DOMAIN!r}, {REPO!r}, domain_owner={OWNER!r}, config_file={str(conf)!r})\n"
    )
    deadline = time.monotonic() + 30
    while not any(c.get("fault") == "hang" for c in standin.calls):
        assert time.monotonic() < deadline, "the login never reached the stand-in"
        time.sleep(0.05)
    interrupted_at = time.monotonic()
    km.interrupt_kernel()
    msgs = []
    while True:
        msg = kc.get_iopub_msg(timeout=15)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    ended_after = time.monotonic() - interrupted_at
    reply = kc.get_shell_msg(timeout=15)["content"]
    assert ended_after < 5, f"the cell ended {ended_after:.1f} s after the interrupt"
    assert reply["status"] == "error" and reply["ename"] == "Interrupted", redacted(str(reply))
    errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
    assert len(errors) == 1, redacted(str(msgs))
    shown = "\n".join(ANSI.sub("", line) for line in errors[0]["traceback"])
    assert NOT_CHANGED in shown, shown
    assert len(shown.splitlines()) <= 3, shown
    for frame_sign in ("Traceback", 'File "', "ca_login/", "_core.login", ".py"):
        assert frame_sign not in shown, shown
    assert not [m for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"], msgs
    assert conf.read_bytes() == BEFORE
    # The kernel raised a KeyboardInterrupt (`Interrupted` is one) and lives on.
    msgs, reply = run_cell(
        kc, "import sys\nprint(issubclass(sys.last_type, KeyboardInterrupt), sys.last_type.__name__)", 30
    )
    out = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    assert out.strip() == "True Interrupted", out


# --- interrupts at every moment of a login --------------------------------------------------------------------


class HeldLock:
    """pip's lock held by "another process" (this one, through flock) for `seconds`, then released."""

    def __init__(self, conf: Path, seconds: float):
        self.fd = os.open(conf.parent / f".{conf.name}.ca-login.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.timer = threading.Timer(seconds, self.release)
        self.timer.start()

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        self.timer.join()
        self.release()


def login_interrupted_after(conf: Path, delay: float) -> tuple[str, str | None]:
    """A login with a SIGINT (as Jupyter sends it) `delay` s in: ("interrupted", its message), "completed" (the
    interrupt came after), or "late" (a plain KeyboardInterrupt in Python code around the core's call)."""
    timer = threading.Timer(delay, _thread.interrupt_main)
    try:
        try:
            timer.start()
            ca_login.login(DOMAIN, REPO, domain_owner=OWNER, config_file=conf)
        finally:
            timer.cancel()
            timer.join()
        time.sleep(0.02)  # an interrupt that came after the login returned is raised here
        return "completed", None
    except ca_login.Interrupted as e:
        return "interrupted", str(e)
    except KeyboardInterrupt:
        return "late", None


def test_an_interrupt_at_any_moment_of_a_login_says_what_pip_conf_holds(lib_env, tmp_path):
    """20 logins against the loopback stand-in (each answer 0.25 s late), each interrupted at a random moment; every
    other one finds pip's lock held for 0.6 s, so the interrupt often lands while the login writes."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    lib_env.set_fault("slow", seconds=0.25)
    conf = tmp_path / "pip.conf"
    # (window the interrupt is drawn from, lock held): before the answer; while the write waits for the lock;
    # around the answer and the write's start; anywhere.
    strata = [((0.0, 0.15), False), ((0.3, 0.55), True), ((0.15, 0.35), True), ((0.0, 0.5), False)]
    seen = []
    for i in range(20):
        (lo, hi), held = strata[i % len(strata)]
        delay = rng.uniform(lo, hi)
        conf.write_bytes(BEFORE)
        started = time.monotonic()
        if held:
            with HeldLock(conf, 0.6):
                outcome, message = login_interrupted_after(conf, delay)
        else:
            outcome, message = login_interrupted_after(conf, delay)
        took = time.monotonic() - started
        time.sleep(0.2)  # a write that went on behind the interrupt (the lock is free now) lands by then
        after = conf.read_bytes()
        where = f"login {i} (seed {seed}, interrupt at {delay:.3f} s, lock held: {held}, took {took:.2f} s)"
        if outcome == "interrupted":
            known = message in (NOT_CHANGED, written(conf))
            assert known, f"{where}: {redacted(message or '')}"
            if message == NOT_CHANGED:
                unchanged = after == BEFORE
                assert unchanged, f"{where}: said not changed, but pip.conf is {redacted(after.decode())}"
            else:
                new_login = holds_a_new_login(after)
                assert new_login, f"{where}: said written, but pip.conf is {redacted(after.decode())}"
        else:
            # No claim was made: pip.conf is whole, either as it was or with the new login.
            whole = after == BEFORE or holds_a_new_login(after)
            assert whole, f"{where}: {outcome}: {redacted(after.decode())}"
        assert took < 5, where
        seen.append(message if outcome == "interrupted" else outcome)
    assert NOT_CHANGED in seen, seen
    assert written(conf) in seen, seen
