"""Tests of the network-namespace lab (tests/netlab.py). Needs root and iproute2; block_port needs nftables.

Every subprocess here has an explicit timeout, so each test is bounded in time.
Traffic goes only between the lab's own namespaces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab

# A name the notebook will resolve through its hosts file only (never via real DNS).
API_NAME = "codeartifact.us-east-1.amazonaws.com"

# Runs in a namespace: one TCP connect with a short timeout, prints what happened as JSON.
CONNECT_PROBE = r"""
import json, socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
try:
    socket.create_connection((host, port), timeout=limit).close()
    kind = "connected"
except socket.timeout:
    kind = "timeout"
except ConnectionRefusedError:
    kind = "refused"
except socket.gaierror as e:
    kind = "dns-failed: " + str(e)
except OSError as e:
    kind = "other: " + repr(e)
print(json.dumps({"kind": kind, "elapsed": time.monotonic() - t0}))
"""


def connect_from(lab: netlab.Lab, ns: str, host: str, port: int, limit: float = 1.5) -> dict:
    proc = lab.run(ns, [sys.executable, "-c", CONNECT_PROBE, host, str(port), str(limit)], timeout=limit + 10)
    assert proc.returncode == 0, f"probe failed: {proc.stderr[-500:]}"
    return json.loads(proc.stdout)


def start_http_server(lab: netlab.Lab, ns: str, addr: str, port: int) -> subprocess.Popen:
    server = lab.popen(ns, [sys.executable, "-m", "http.server", str(port), "--bind", addr], timeout=60)
    lab.wait_tcp(ns, addr, port, timeout=10)
    return server


def lab_names_left(lab: netlab.Lab) -> list[str]:
    return [n for n in netlab._iter_lab_names(lab.prefix) if n in (lab.notebook, lab.endpoint)]


@pytest.fixture
def lab():
    with netlab.Lab() as lab:
        yield lab


def test_notebook_fetches_from_endpoint_server_by_name_through_hosts_file(lab):
    api = lab.add_endpoint_address()
    lab.map_host(API_NAME, api)
    start_http_server(lab, "endpoint", api, 443)
    fetch = (
        "import urllib.request, sys\n"
        f"r = urllib.request.urlopen('http://{API_NAME}:443/', timeout=5)\n"
        "print(r.status); print(r.read().decode()[:2000])\n"
    )
    proc = lab.run("notebook", [sys.executable, "-c", fetch], timeout=15)
    assert proc.returncode == 0, proc.stderr[-1000:]
    status, _, body = proc.stdout.partition("\n")
    assert status == "200"
    assert "Directory listing" in body


def test_hosts_change_is_seen_by_processes_started_after_it(lab):
    first, second = lab.add_endpoint_address(), lab.add_endpoint_address()
    resolve = [sys.executable, "-c", f"import socket; print(socket.gethostbyname({API_NAME!r}))"]
    lab.map_host(API_NAME, first)
    assert lab.run("notebook", resolve, timeout=10).stdout.strip() == first
    lab.map_host(API_NAME, second)
    assert lab.run("notebook", resolve, timeout=10).stdout.strip() == second
    lab.unmap_host(API_NAME)
    gone = lab.run("notebook", resolve, timeout=10)
    assert gone.returncode != 0 and "gaierror" in gone.stderr


def test_name_not_in_hosts_file_fails_fast_instead_of_leaving_namespace(lab):
    probe = connect_from(lab, "notebook", "vpce-0abc-def.api.codeartifact.us-east-1.vpce.amazonaws.com", 443)
    assert probe["kind"].startswith("dns-failed"), probe
    assert probe["elapsed"] < 3.0, f"lookup of an unknown name took {probe['elapsed']:.1f} s"


def test_blackhole_address_makes_connect_time_out_not_refuse(lab):
    hole = lab.add_blackhole_address()
    lab.map_host(API_NAME, hole)
    probe = connect_from(lab, "notebook", API_NAME, 443, limit=1.5)
    assert probe["kind"] == "timeout", probe
    assert probe["elapsed"] >= 1.4


def test_closed_port_on_endpoint_address_is_refused(lab):
    # The baseline the security-group tests are compared with: nothing listens, no rule.
    api = lab.add_endpoint_address()
    assert connect_from(lab, "notebook", api, 443)["kind"] == "refused"


def test_block_port_drop_times_out_and_unblock_restores_the_connection(lab):
    api = lab.add_endpoint_address()
    start_http_server(lab, "endpoint", api, 443)
    assert connect_from(lab, "notebook", api, 443)["kind"] == "connected"

    lab.block_port(api, 443, mode="drop")
    probe = connect_from(lab, "notebook", api, 443, limit=1.5)
    assert probe["kind"] == "timeout", probe

    lab.unblock_port(api, 443)
    assert connect_from(lab, "notebook", api, 443)["kind"] == "connected"


def test_block_port_reject_refuses_connection_although_server_listens(lab):
    api = lab.add_endpoint_address()
    start_http_server(lab, "endpoint", api, 443)
    lab.block_port(api, 443, mode="reject")
    probe = connect_from(lab, "notebook", api, 443)
    # "refused" (a reset), not a time-out: the kind says it; no wall-clock bound needed.
    assert probe["kind"] == "refused", probe


def test_block_port_touches_only_that_address(lab):
    blocked, other = lab.add_endpoint_address(), lab.add_endpoint_address()
    start_http_server(lab, "endpoint", "0.0.0.0", 443)
    lab.block_port(blocked, 443, mode="drop")
    assert connect_from(lab, "notebook", blocked, 443, limit=1.0)["kind"] == "timeout"
    assert connect_from(lab, "notebook", other, 443)["kind"] == "connected"


def test_fake_imds_address_is_bindable_in_notebook_namespace_only(lab):
    start_http_server(lab, "notebook", lab.imds_address, 80)
    assert connect_from(lab, "notebook", lab.imds_address, 80)["kind"] == "connected"

    root_addrs = subprocess.run(
        ["ip", "-o", "addr", "show"], capture_output=True, text=True, timeout=10, env=netlab.minimal_env()
    ).stdout
    root_routes = subprocess.run(
        ["ip", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
        timeout=10,
        env=netlab.minimal_env(),
    ).stdout
    assert lab.imds_address not in root_addrs
    assert str(lab.subnet.network_address)[:-1] not in root_addrs + root_routes, (
        "the lab's subnet leaked into the host's root namespace"
    )


def test_exit_removes_namespaces_etc_dirs_and_background_processes():
    with netlab.Lab() as lab:
        server = lab.popen("endpoint", ["sleep", "300"], timeout=60)
        assert sorted(lab_names_left(lab)) == sorted([lab.notebook, lab.endpoint])
        assert os.path.isfile(f"/etc/netns/{lab.notebook}/hosts")
    assert lab_names_left(lab) == []
    assert not os.path.exists(f"/etc/netns/{lab.notebook}")
    assert not os.path.exists(f"/etc/netns/{lab.endpoint}")
    assert server.poll() is not None, "background process survived the lab"


def test_exit_cleans_up_when_the_body_raises():
    with pytest.raises(RuntimeError, match="scenario failed"):
        with netlab.Lab() as lab:
            lab.popen("notebook", ["sleep", "300"], timeout=60)
            raise RuntimeError("scenario failed")
    assert lab_names_left(lab) == []


def test_processes_escaping_the_tracked_group_are_killed_too():
    with netlab.Lab() as lab:
        # setsid: a new session, so killing the tracked process group alone would miss it.
        lab.run("endpoint", ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"], timeout=10)
        pids = netlab._netns_pids(lab.endpoint)
        assert pids, "the escaped process should run in the endpoint namespace"
    time.sleep(0.1)
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ")[1][0] != "Z":
                    alive.append(pid)
        except FileNotFoundError:
            pass
    assert alive == []
    assert lab_names_left(lab) == []


def test_run_timeout_kills_the_command_and_raises():
    with netlab.Lab() as lab:
        t0 = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            lab.run("notebook", ["sleep", "30"], timeout=0.5)
        assert time.monotonic() - t0 < 5
        assert netlab._netns_pids(lab.notebook) == []


def test_run_hands_over_only_the_environment_given(lab, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://should-not-leak.invalid/")
    out = lab.run("notebook", ["env"], timeout=10).stdout
    assert "PIP_INDEX_URL" not in out
    out = lab.run("notebook", ["env"], env=netlab.minimal_env({"X_NETLAB": "1"}), timeout=10).stdout
    assert "X_NETLAB=1" in out


def test_two_labs_at_once_have_distinct_names_and_separate_networks():
    with netlab.Lab() as a, netlab.Lab() as b:
        assert {a.notebook, a.endpoint}.isdisjoint({b.notebook, b.endpoint})
        addr_a = a.add_endpoint_address()
        start_http_server(a, "endpoint", addr_a, 443)
        b.add_endpoint_address(addr_a)  # same address, other lab: nothing listens there
        assert connect_from(a, "notebook", addr_a, 443)["kind"] == "connected"
        assert connect_from(b, "notebook", addr_a, 443)["kind"] == "refused"


OWNER_SCRIPT = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import netlab
lab = netlab.Lab().__enter__()
lab.popen("endpoint", ["sleep", "300"], timeout=60)
print(json.dumps([lab.notebook, lab.endpoint]), flush=True)
time.sleep(60)
"""


def _start_owner():
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, os.path.dirname(os.path.abspath(__file__))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=netlab.minimal_env(),
    )
    line = owner.stdout.readline()
    if not line:
        owner.kill()
        raise AssertionError(f"owner process failed: {owner.stderr.read()[-1000:]}")
    return owner, json.loads(line)


def _present(names):
    return [n for n in netlab._iter_lab_names() if n in names]


def test_sigterm_to_the_owning_process_removes_its_lab():
    owner, names = _start_owner()
    try:
        assert sorted(_present(names)) == sorted(names)
        owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=15) == -signal.SIGTERM
    finally:
        owner.kill()
        owner.wait(timeout=5)
    assert _present(names) == []


def test_cleanup_stale_removes_leftovers_of_a_killed_run_only():
    owner, names = _start_owner()
    with netlab.Lab() as live:
        try:
            owner.kill()  # SIGKILL: no handler runs, the lab is left behind
            owner.wait(timeout=5)
            assert sorted(_present(names)) == sorted(names)
            removed = netlab.cleanup_stale()
            assert set(names) <= set(removed)
            assert _present(names) == []
            # The lab of a live process (this one) is untouched.
            assert sorted(lab_names_left(live)) == sorted([live.notebook, live.endpoint])
        finally:
            for n in names:
                netlab._remove_netns(n)


def test_lab_outside_the_subnet_addresses_are_refused_by_the_api(lab):
    with pytest.raises(ValueError, match="not a host address"):
        lab.add_endpoint_address("192.168.1.10")
    with pytest.raises(ValueError, match="already in use"):
        lab.add_endpoint_address(lab.notebook_address)


def test_failure_while_building_the_lab_removes_what_was_made(monkeypatch):
    real_sh = netlab._sh

    def failing_sh(argv, **kw):
        if "veth" in argv:
            raise netlab.NetlabError("netlab: simulated failure creating the veth pair")
        return real_sh(argv, **kw)

    monkeypatch.setattr(netlab, "_sh", failing_sh)
    lab = netlab.Lab()
    with pytest.raises(netlab.NetlabError, match="simulated failure"):
        lab.__enter__()
    monkeypatch.undo()
    assert lab_names_left(lab) == []


def _drop_namespace_capabilities():  # runs in the child before exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_NET_ADMIN, CAP_SYS_ADMIN = 24, 12, 21
    for cap in (CAP_NET_ADMIN, CAP_SYS_ADMIN):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_without_privileges_lab_raises_a_clear_error_with_a_hint():
    # Root without CAP_SYS_ADMIN/CAP_NET_ADMIN (bounding set dropped before exec): like an unprivileged container.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import netlab\n"
        "try:\n"
        "    netlab.Lab().__enter__()\n"
        "except netlab.NetlabError as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, os.path.dirname(os.path.abspath(__file__))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=netlab.minimal_env(),
        preexec_fn=_drop_namespace_capabilities,
    ) as proc:
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 3, stderr[-1000:]
    assert "ip netns add" in stdout and "hint:" in stdout
    # nothing of that process's lab is left (names carry the owner's pid)
    assert [n for n in netlab._iter_lab_names() if n.startswith(f"cal-{proc.pid}-")] == []
