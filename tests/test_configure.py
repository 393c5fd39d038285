"""ca_login.configure(): the ca-login config and the IPython extension from Python, with one result object
(ConfigureResult: str, HTML, pretty, to_dict), every value checked before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import ca_login
import pytest

DOMAIN, OWNER, REPO = "mydomain", "111122223333", "isolatedsm"
STARTUP = Path("profile_default") / "startup" / "50-ca-login.py"


@pytest.fixture
def cfg(monkeypatch, tmp_path) -> Path:
    path = tmp_path / "ca-login" / "config"
    monkeypatch.setenv("CA_LOGIN_CONFIG", str(path))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return path


def test_configure_writes_only_the_given_keys_keeps_comments_and_login_then_needs_no_arguments(lib_env, cfg):
    cfg.parent.mkdir(parents=True)
    cfg.write_text("# mine\n[default]\nregion = us-west-2\n\n[other]\nx = 1\n")
    r = ca_login.configure(domain=DOMAIN, domain_owner=OWNER, repository=REPO, tool=["pip", "uv"])
    assert isinstance(r, ca_login.ConfigureResult)
    assert r.config_file == cfg and r.ipython_startup_file is None and r.ipython_action is None
    text = cfg.read_text()
    assert text.startswith("# mine\n[default]\nregion = us-west-2\n") and "[other]\nx = 1\n" in text
    for line in (f"domain = {DOMAIN}", f"domain_owner = {OWNER}", f"repository = {REPO}", "tools = pip,uv"):
        assert line in text
    assert r.text == text
    assert oct(cfg.stat().st_mode & 0o777) == "0o600"
    login = ca_login.login(dry_run=True)
    assert login.tools == ("pip", "uv") and REPO in login.repository_endpoint


def test_configure_result_has_one_look_text_html_pretty_and_to_dict(cfg):
    r = ca_login.configure(domain=DOMAIN, ipython_extension=True)
    shown = str(r)
    assert shown.startswith("ca_login configure: wrote the ca-login config; IPython extension written")
    assert str(cfg) in shown
    assert all(len(line) <= 100 for line in shown.splitlines()), shown
    assert str(cfg) in r._repr_html_() and "<" in r._repr_html_()
    from IPython.lib.pretty import pretty

    assert pretty(r) == shown
    d = r.to_dict()
    assert d == {
        "config_file": str(cfg),
        "text": cfg.read_text(),
        "ipython_startup_file": str(Path(os.environ["IPYTHONDIR"]) / STARTUP),
        "ipython_action": "written",
    }


def test_configure_ipython_extension_writes_then_leaves_then_removes_the_startup_file(cfg):
    startup = Path(os.environ["IPYTHONDIR"]) / STARTUP
    assert ca_login.configure(ipython_extension=True).ipython_action == "written"
    assert startup.is_file() and oct(startup.stat().st_mode & 0o777) == "0o600"
    again = ca_login.configure(ipython_extension=True)
    assert again.ipython_action == "unchanged" and again.config_file is None and not cfg.exists()
    assert ca_login.configure(ipython_extension=False).ipython_action == "removed"
    assert not startup.exists()


def test_configure_with_nothing_given_names_the_python_call_in_its_hint(cfg):
    with pytest.raises(ca_login.InvalidInput) as ei:
        ca_login.configure()
    assert "ca_login.configure(" in (ei.value.hint or "") and "--" not in (ei.value.hint or "")
    assert not cfg.exists()


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"endpoint_type": "ipv6"}, "endpoint_type"),
        ({"tool": "pip,npm"}, "tool"),
        ({"domain_owner": "12"}, None),
    ],
)
def test_configure_with_a_bad_value_writes_nothing(cfg, kw, field):
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[default]\ndomain = kept\n")
    with pytest.raises(ca_login.InvalidInput) as ei:
        ca_login.configure(repository=REPO, **kw)
    if field is not None:
        assert ei.value.field == field, str(ei.value)
    assert cfg.read_text() == "[default]\ndomain = kept\n"
