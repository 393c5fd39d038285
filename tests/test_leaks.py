"""No secret leaks (issue 13 part 4): with PIP_EXTRA_INDEX_URL holding two token URLs, HTTPS_PROXY with a password
and a pip.conf holding another index's password, nothing ca-login prints (login --dry-run, login, status,
diagnose, --json, -v), no error through a proxy with a password, and no Python result's str/repr/_repr_html_ or
exception text shows one of them. Every URL in play is on 127.0.0.1."""

from __future__ import annotations

import configparser
import logging
import subprocess
import sys
from pathlib import Path

import ca_login
import pytest
from conftest import assert_no_token
from standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
CA_LOGIN = str(Path(sys.executable).parent / "ca-login")

TOKEN_A = "eyJhbGciOiJ0b2tlbkEifQ.extraA-secret_part.sigA"
TOKEN_B = "eyJhbGciOiJ0b2tlbkIifQ.extraB-secret_part.sigB"
PROXY_PW = "pr0xy-P@ss"
MIRROR_PW = "m1rror-pw-secret"
SECRETS = (TOKEN_A, TOKEN_B, PROXY_PW, "pr0xy-P", MIRROR_PW)

EXTRA = f"http://aws:{TOKEN_A}@127.0.0.1:9/pypi/a/simple/ http://aws:{TOKEN_B}@127.0.0.1:9/pypi/b/simple/"
PROXY = f"http://alice:{PROXY_PW}@127.0.0.1:9"


def write_user_pip_conf(home: Path) -> Path:
    conf = home / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"[global]\nextra-index-url = http://bob:{MIRROR_PW}@127.0.0.1:9/simple/\ntimeout = 5\n")
    return conf


def our_token(conf: Path) -> str:
    parser = configparser.RawConfigParser()
    parser.read_string(conf.read_text())
    return parser.get("global", "index-url").split("aws:", 1)[1].split("@", 1)[0]


def assert_clean(*texts: str, extra: tuple[str, ...] = (), what: str) -> None:
    __tracebackhide__ = True
    for secret in (*SECRETS, *extra):
        assert_no_token(secret, *texts, what=what)


@pytest.fixture
def leaky_env(aws_env, _clean_env):
    env = dict(aws_env, PIP_EXTRA_INDEX_URL=EXTRA, HTTPS_PROXY=PROXY, NO_PROXY="127.0.0.1,localhost")
    return env, write_user_pip_conf(_clean_env)


def ca(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CA_LOGIN, *args], env=env, capture_output=True, text=True, timeout=90)


TARGET = ("--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPO)


def test_cli_output_never_shows_a_secret(standin, leaky_env):
    env, conf = leaky_env
    dry = ca(env, "-v", "login", *TARGET, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert_clean(dry.stdout, dry.stderr, what="login --dry-run")
    assert "bob:****@127.0.0.1:9" in dry.stdout
    outs = [ca(env, "-v", "login", *TARGET), ca(env, "-v", "login", *TARGET, "--json")]
    token = our_token(conf)
    outs += [
        ca(env, "-v", "status"),
        ca(env, "status", "--json"),
        ca(env, "-v", "diagnose", *TARGET, "--timeout", "1"),
        ca(env, "diagnose", *TARGET, "--timeout", "1", "--json"),
    ]
    for i, out in enumerate(outs):
        assert_clean(out.stdout, out.stderr, extra=(token,), what=f"ca-login run #{i}")
    assert outs[0].returncode == 0


def test_errors_through_a_proxy_with_a_password_are_masked(standin, leaky_env):
    env, _ = leaky_env
    # The stand-in is plain http: HTTP_PROXY applies; nothing listens on the proxy's port.
    env = dict(env, HTTP_PROXY=PROXY, NO_PROXY="")
    login = ca(env, "-v", "login", *TARGET)
    assert login.returncode != 0
    diag = ca(env, "-v", "diagnose", *TARGET, "--timeout", "1", "--json")
    for out in (login, diag):
        assert_clean(out.stdout, out.stderr, what="ca-login through a proxy")


def test_python_results_and_exceptions_never_show_a_secret(standin, monkeypatch, _clean_env, caplog):
    for k, v in {
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
        "AWS_REGION": standin.region,
        "AWS_ENDPOINT_URL_CODEARTIFACT": standin.api_url,
        "AWS_ENDPOINT_URL_STS": standin.api_url,
        "PIP_EXTRA_INDEX_URL": EXTRA,
        "HTTPS_PROXY": PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        monkeypatch.setenv(k, v)
    conf = write_user_pip_conf(_clean_env)
    caplog.set_level(logging.DEBUG)
    texts = []
    dry = ca_login.login(DOMAIN, REPO, domain_owner=OWNER, dry_run=True)
    r = ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    token = our_token(conf)
    st = ca_login.status()
    d = ca_login.diagnose(DOMAIN, REPO, domain_owner=OWNER, timeout=1.0)
    for obj in (dry, r, st, d):
        texts += [str(obj), repr(obj), obj._repr_html_()]
    texts += [d.to_json(), repr(r.index_url), str(r.index_url)]
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(ca_login.Error) as info:
        ca_login.login(DOMAIN, REPO, domain_owner=OWNER)
    e = info.value
    texts += [str(e), repr(e), str(e.hint), str(vars(e))]
    texts += [rec.getMessage() for rec in caplog.records]
    assert_clean(*texts, extra=(token,), what="Python result, exception or log record")
    assert "bob:****@127.0.0.1:9" in dry.preview


def test_core_mask_url_is_exposed_to_python():
    text = f"PIP_EXTRA_INDEX_URL={EXTRA} HTTPS_PROXY=alice:{PROXY_PW}@127.0.0.1:9"
    masked = ca_login._core.mask_url(text)
    assert_clean(masked, what="mask_url's answer")
    assert masked.count(":****@127.0.0.1:9") == 3
