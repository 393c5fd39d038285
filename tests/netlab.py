"""A network lab built from Linux network namespaces (needs root and iproute2).

It replays the seed's network on one machine, with nothing sent to the host's
networks:

    notebook namespace  --veth--  endpoint namespace
    (hosts file maps names,       (servers bind the endpoint addresses;
     fake IMDS at                  nftables models the security group)
     169.254.169.254 on lo)

Both namespaces live on a private /24 (10.213.0.0/24 by default) that exists
only inside them: the veth pair is created directly inside the namespaces, no
address or route is added to the host's root namespace, and neither namespace
has a default route, so a packet can go nowhere but to the other namespace.

Usage::

    with Lab() as lab:
        api = lab.add_endpoint_address()            # e.g. 10.213.0.10
        lab.map_host("codeartifact.us-east-1.amazonaws.com", api)
        server = lab.popen("endpoint", [sys.executable, "-m", "http.server",
                                        "443", "--bind", api], timeout=60)
        lab.wait_tcp("endpoint", api, 443, timeout=10)
        out = lab.run("notebook", ["curl", "..."], timeout=10)

Pieces that model failures:

* ``add_blackhole_address()``: an address in the subnet whose packets are
  silently dropped (static neighbour entry to a MAC no one owns), so connect()
  times out: "no endpoint".
* ``block_port(addr, port, mode="drop")``: the endpoint's security group; a drop
  times out, ``mode="reject"`` answers with a TCP reset (connection refused).
* names not in the hosts file fail fast: the namespace's resolv.conf points at
  127.0.0.1:53 where nothing listens.

Cleanup: ``__exit__`` (also when the body raised), a failure inside
``__enter__``, SIGTERM/SIGHUP to the owning process and interpreter exit all
kill tracked processes and every process left in the namespaces, delete the
namespaces (which removes the veth pair and nftables state) and remove
``/etc/netns/<name>``. ``cleanup_stale()`` removes what a killed run left
(names carry the owner's pid).
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_PREFIX",
    "IMDS_ADDRESS",
    "Lab",
    "NetlabError",
    "cleanup_stale",
    "minimal_env",
]

DEFAULT_PREFIX = "cal-"
IMDS_ADDRESS = "169.254.169.254"
DEFAULT_SUBNET = "10.213.0.0/24"
# A locally administered unicast MAC that no interface in the lab owns.
NOBODY_MAC = "02:00:00:00:00:99"
NB_IF = "nb0"  # veth end inside the notebook namespace
EP_IF = "ep0"  # veth end inside the endpoint namespace
NFT_TABLE = "calnetlab"
NETNS_ETC = "/etc/netns"
NETNS_RUN = "/var/run/netns"

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NetlabError(RuntimeError):
    """A lab operation failed; the message names the command and has a hint."""


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + _SBIN_PATH
    return shutil.which(name, path=path)


def minimal_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A small environment for processes in the lab: PATH and LANG only, plus `extra`.

    Nothing else is inherited (no PIP_*, SSL_*, AWS_*), so a test states what it hands over.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin") + os.pathsep + _SBIN_PATH,
        "LANG": "C.UTF-8",
    }
    if extra:
        env.update(extra)
    return env


def _ip() -> str:
    ip = _which("ip")
    if ip is None:
        raise NetlabError(
            "netlab: the `ip` command (iproute2) was not found on PATH or in /usr/sbin\n"
            "hint: apt-get install -y iproute2"
        )
    return ip


def _sh(
    argv: Sequence[str], *, timeout: float = 15.0, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run a lab-management command (ip, nft) in the root namespace."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=minimal_env(),
        )
    except subprocess.TimeoutExpired as exc:
        raise NetlabError(
            f"netlab: `{' '.join(argv)}` did not finish within {timeout} s\n"
            "hint: the machine may be overloaded; retry"
        ) from exc
    if check and proc.returncode != 0:
        raise NetlabError(
            f"netlab: `{' '.join(argv)}` failed (exit {proc.returncode}): "
            f"{proc.stderr.strip() or proc.stdout.strip()}\n"
            "hint: netlab needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2; "
            "run the tests as root on Linux"
        )
    return proc


def _pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (an orphan may wait unreaped under some inits)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _list_netns() -> list[str]:
    proc = _sh([_ip(), "netns", "list"], check=False)
    names = []
    for line in proc.stdout.splitlines():
        if line.strip():
            names.append(line.split()[0])
    return names


def _netns_pids(name: str) -> list[int]:
    proc = _sh([_ip(), "netns", "pids", name], check=False)
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def _kill_netns_processes(name: str, grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL, every process whose network namespace is `name`."""
    pids = [p for p in _netns_pids(name) if p != os.getpid()]
    if not pids:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not [p for p in pids if _pid_alive(p)]:
            break
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _remove_netns(name: str) -> None:
    """Kill what runs in it, delete it, remove /etc/netns/<name>. Never raises."""
    try:
        _kill_netns_processes(name)
    except Exception:
        pass
    try:
        if os.path.exists(os.path.join(NETNS_RUN, name)):
            _sh([_ip(), "netns", "delete", name], check=False)
    except Exception:
        pass
    shutil.rmtree(os.path.join(NETNS_ETC, name), ignore_errors=True)


_OWNER_RE = re.compile(r"^(\d+)-")


def cleanup_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove namespaces and /etc/netns dirs named `<prefix><pid>-...` whose pid is dead.

    Returns the names removed. Labs of live processes (parallel runs) are left alone.
    """
    names = set(_list_netns())
    try:
        names.update(os.listdir(NETNS_ETC))
    except FileNotFoundError:
        pass
    removed = []
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        m = _OWNER_RE.match(name[len(prefix) :])
        if not m:
            continue
        if _pid_alive(int(m.group(1))):
            continue
        _remove_netns(name)
        removed.append(name)
    return removed


# ---------------------------------------------------------------------------
# Cleanup on signals and interpreter exit

_active_labs: weakref.WeakSet[Lab] = weakref.WeakSet()
_handlers_lock = threading.Lock()
_previous_handlers: dict[int, object] = {}


def _cleanup_all_active() -> None:
    for lab in list(_active_labs):
        try:
            lab.close()
        except Exception:
            pass


def _on_signal(signum, frame):  # pragma: no cover - exercised through a subprocess
    _cleanup_all_active()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still applies
    with _handlers_lock:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            current = signal.getsignal(signum)
            if current is _on_signal:
                continue
            _previous_handlers[signum] = current
            signal.signal(signum, _on_signal)


atexit.register(_cleanup_all_active)


# ---------------------------------------------------------------------------

_lab_counter = itertools.count()


class Lab:
    """Two network namespaces, "notebook" and "endpoint", joined by a veth pair.

    Attributes after ``__enter__``:
      notebook, endpoint         namespace names (also accepted by run/popen as
                                 "notebook"/"endpoint")
      subnet                     the private /24 (ipaddress.IPv4Network)
      notebook_address           the notebook's own address on the veth
      endpoint_address           the endpoint's primary address on the veth
      imds_address               169.254.169.254, on the notebook's loopback
      hosts                      dict name -> address written to the notebook's hosts file
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX, subnet: str = DEFAULT_SUBNET):
        self.prefix = prefix
        self.subnet = ipaddress.ip_network(subnet)
        if self.subnet.prefixlen != 24 or self.subnet.version != 4:
            raise ValueError(f"netlab: subnet must be an IPv4 /24, got {subnet}")
        n = next(_lab_counter)
        base = f"{prefix}{os.getpid()}-{n}"
        self.notebook = f"{base}-nb"
        self.endpoint = f"{base}-ep"
        hosts = list(self.subnet.hosts())
        self.endpoint_address = str(hosts[0])  # .1
        self.notebook_address = str(hosts[1])  # .2
        self.imds_address = IMDS_ADDRESS
        self.hosts: dict[str, str] = {}
        self._used = {self.endpoint_address, self.notebook_address}
        self._next_host = 10
        self._procs: list[subprocess.Popen] = []
        self._timers: list[threading.Timer] = []
        self._nft_ready = False
        self._rules: dict[tuple[str, int | None], int] = {}
        self._created: list[str] = []
        self._closed = False
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Lab:
        _install_handlers()
        _active_labs.add(self)
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab(notebook={self.notebook!r}, endpoint={self.endpoint!r}, subnet={str(self.subnet)!r})"

    def _create(self) -> None:
        ip = _ip()
        for name in (self.notebook, self.endpoint):
            proc = _sh([ip, "netns", "add", name], check=False)
            if proc.returncode != 0:
                raise NetlabError(
                    f"netlab: `ip netns add {name}` failed: {proc.stderr.strip()}\n"
                    "hint: network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); "
                    "run the tests as root, outside a container that forbids unshare/mount"
                )
            self._created.append(name)
        # Both ends are created directly inside their namespaces: nothing appears in the root namespace.
        _sh(
            [
                ip,
                "link",
                "add",
                NB_IF,
                "netns",
                self.notebook,
                "type",
                "veth",
                "peer",
                "name",
                EP_IF,
                "netns",
                self.endpoint,
            ]
        )
        prefixlen = self.subnet.prefixlen
        nb = [ip, "-n", self.notebook]
        ep = [ip, "-n", self.endpoint]
        _sh(nb + ["link", "set", "lo", "up"])
        _sh(ep + ["link", "set", "lo", "up"])
        _sh(nb + ["addr", "add", f"{self.notebook_address}/{prefixlen}", "dev", NB_IF])
        _sh(ep + ["addr", "add", f"{self.endpoint_address}/{prefixlen}", "dev", EP_IF])
        _sh(nb + ["link", "set", NB_IF, "up"])
        _sh(ep + ["link", "set", EP_IF, "up"])
        _sh(nb + ["addr", "add", f"{self.imds_address}/32", "dev", "lo"])
        for name in (self.notebook, self.endpoint):
            d = os.path.join(NETNS_ETC, name)
            os.makedirs(d, mode=0o755, exist_ok=True)
            self._write_etc(
                name,
                "resolv.conf",
                "# netlab: no DNS server is reachable; unknown names fail at once\n"
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            )
            self._write_etc(name, "nsswitch.conf", _NSSWITCH)
        self._write_hosts()
        self._write_etc(self.endpoint, "hosts", _HOSTS_HEADER)

    def close(self) -> None:
        """Kill tracked processes, delete both namespaces and their /etc/netns dirs. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for t in self._timers:
            t.cancel()
        for proc in self._procs:
            _kill_tree(proc)
        for name in (self.notebook, self.endpoint):
            _remove_netns(name)
        _active_labs.discard(self)

    # -- names -------------------------------------------------------------

    def _ns(self, ns: str) -> str:
        if ns == "notebook":
            return self.notebook
        if ns == "endpoint":
            return self.endpoint
        if ns in (self.notebook, self.endpoint):
            return ns
        raise ValueError(f"netlab: unknown namespace {ns!r}; use 'notebook' or 'endpoint'")

    def _write_etc(self, ns_name: str, filename: str, text: str) -> None:
        # Written in place (same inode): `ip netns exec` bind-mounts this file over
        # /etc/<filename>, so processes started afterwards, and running ones that
        # re-read it, see the new content.
        path = os.path.join(NETNS_ETC, ns_name, filename)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o644)

    def _write_hosts(self) -> None:
        lines = [_HOSTS_HEADER]
        for name, addr in self.hosts.items():
            lines.append(f"{addr}\t{name}\n")
        self._write_etc(self.notebook, "hosts", "".join(lines))

    def map_host(self, name: str, addr: str) -> None:
        """Make `name` resolve to `addr` in the notebook namespace (its /etc/hosts)."""
        ipaddress.ip_address(addr)
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError(f"netlab: not a host name: {name!r}")
        self.hosts[name] = addr
        self._write_hosts()

    def unmap_host(self, name: str) -> None:
        """Remove `name` from the notebook's hosts file (then it fails to resolve)."""
        self.hosts.pop(name, None)
        self._write_hosts()

    # -- addresses ---------------------------------------------------------

    def _allocate(self, addr: str | None) -> str:
        if addr is None:
            while True:
                if self._next_host > 254:
                    raise NetlabError(f"netlab: no free address left in {self.subnet}")
                cand = str(self.subnet.network_address + self._next_host)
                self._next_host += 1
                if cand not in self._used:
                    addr = cand
                    break
        a = ipaddress.ip_address(addr)
        if a not in self.subnet or a in (self.subnet.network_address, self.subnet.broadcast_address):
            raise ValueError(f"netlab: {addr} is not a host address of the lab subnet {self.subnet}")
        if addr in self._used:
            raise ValueError(f"netlab: {addr} is already in use in this lab")
        self._used.add(addr)
        return addr

    def add_endpoint_address(self, addr: str | None = None) -> str:
        """Add an address on the endpoint side (the next free one if `addr` is None); returns it."""
        addr = self._allocate(addr)
        _sh([_ip(), "-n", self.endpoint, "addr", "add", f"{addr}/{self.subnet.prefixlen}", "dev", EP_IF])
        return addr

    def add_blackhole_address(self, addr: str | None = None) -> str:
        """An address whose packets are silently dropped: connect() to it times out.

        The notebook gets a permanent neighbour entry to a MAC no one owns; frames
        go into the veth and the endpoint side discards them (not addressed to it).
        """
        addr = self._allocate(addr)
        _sh(
            [
                _ip(),
                "-n",
                self.notebook,
                "neigh",
                "replace",
                addr,
                "lladdr",
                NOBODY_MAC,
                "dev",
                NB_IF,
                "nud",
                "permanent",
            ]
        )
        return addr

    # -- security group (nftables in the endpoint namespace) -----------------

    def _nft(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        nft = _which("nft")
        if nft is None:
            raise NetlabError(
                "netlab: the `nft` command (nftables) was not found; block_port needs it\n"
                "hint: apt-get update && apt-get install -y nftables"
            )
        return _sh([_ip(), "netns", "exec", self.endpoint, nft, *args], check=check)

    def _ensure_nft(self) -> None:
        if self._nft_ready:
            return
        self._nft("add", "table", "inet", NFT_TABLE)
        self._nft(
            "add",
            "chain",
            "inet",
            NFT_TABLE,
            "input",
            "{ type filter hook input priority 0; policy accept; }",
        )
        self._nft_ready = True

    def block_port(self, addr: str, port: int | None = 443, mode: str = "drop") -> None:
        """Model a security group on the endpoint: traffic to addr:port (TCP) is dropped or rejected.

        mode="drop": packets vanish, connect() times out (what a security group does).
        mode="reject": a TCP reset answers, connect() is refused.
        port=None blocks every packet to `addr` (TCP and UDP; reject answers TCP with a reset).
        """
        if mode not in ("drop", "reject"):
            raise ValueError(f"netlab: mode must be 'drop' or 'reject', got {mode!r}")
        ipaddress.ip_address(addr)
        key = (addr, port)
        if key in self._rules:
            self.unblock_port(addr, port)
        self._ensure_nft()
        match = ["ip", "daddr", addr]
        if port is not None:
            match += ["tcp", "dport", str(int(port))]
        if mode == "drop":
            verdict = ["drop"]
        elif port is not None:
            verdict = ["reject", "with", "tcp", "reset"]
        else:
            verdict = ["reject"]  # ICMP port/admin unreachable for everything
        proc = self._nft("--echo", "--handle", "add", "rule", "inet", NFT_TABLE, "input", *match, *verdict)
        m = re.search(r"# handle (\d+)", proc.stdout)
        if not m:
            raise NetlabError(f"netlab: could not read the handle of the nft rule from: {proc.stdout!r}")
        self._rules[key] = int(m.group(1))

    def unblock_port(self, addr: str, port: int | None = 443) -> None:
        """Remove the rule block_port(addr, port) added (no error if there is none)."""
        handle = self._rules.pop((addr, port), None)
        if handle is not None:
            self._nft("delete", "rule", "inet", NFT_TABLE, "input", "handle", str(handle))

    # -- processes ---------------------------------------------------------

    def _argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        if isinstance(argv, (str, bytes)):
            raise TypeError("netlab: argv must be a list of arguments, not a string")
        return [_ip(), "netns", "exec", self._ns(ns), *map(str, argv)]

    def run(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = False,
        cwd: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv in namespace `ns` ("notebook"/"endpoint"); wait at most `timeout` seconds.

        env defaults to minimal_env() (nothing inherited). Output is captured as text.
        On timeout the whole process group is killed and subprocess.TimeoutExpired raised.
        """
        if timeout is None or timeout <= 0:
            raise ValueError("netlab: run() needs a positive timeout")
        full = self._argv(ns, argv)
        proc = subprocess.Popen(
            full,
            env=dict(env) if env is not None else minimal_env(),
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(full, timeout, output=out, stderr=err) from None
        except BaseException:
            _kill_tree(proc)
            raise
        result = subprocess.CompletedProcess(full, proc.returncode, out, err)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, full, out, err)
        return result

    def popen(
        self, ns: str, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None, **kwargs
    ) -> subprocess.Popen:
        """Start argv in the background in namespace `ns`; tracked and killed on close.

        `timeout` is the process's maximum lifetime in seconds: past it, its process
        group is killed even if the lab is still open. stdin defaults to DEVNULL and
        stdout/stderr to DEVNULL unless given; other kwargs go to subprocess.Popen.
        """
        if timeout is None or timeout <= 0:
            raise ValueError("netlab: popen() needs a positive timeout (maximum lifetime)")
        if self._closed:
            raise NetlabError("netlab: the lab is closed")
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        kwargs["start_new_session"] = True
        proc = subprocess.Popen(
            self._argv(ns, argv), env=dict(env) if env is not None else minimal_env(), **kwargs
        )
        self._procs.append(proc)
        timer = threading.Timer(timeout, _kill_tree, args=(proc,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return proc

    def wait_tcp(self, ns: str, host: str, port: int, *, timeout: float) -> None:
        """Wait until a TCP connect from namespace `ns` to host:port succeeds (for server start-up)."""
        script = (
            "import socket,sys,time\n"
            "host,port,deadline=sys.argv[1],int(sys.argv[2]),time.monotonic()+float(sys.argv[3])\n"
            "while True:\n"
            "    try:\n"
            "        socket.create_connection((host,port),timeout=0.5).close(); sys.exit(0)\n"
            "    except OSError as e:\n"
            "        if time.monotonic()>deadline: print(repr(e)); sys.exit(1)\n"
            "        time.sleep(0.05)\n"
        )
        proc = self.run(
            ns, [sys.executable, "-c", script, host, str(port), str(timeout)], timeout=timeout + 5
        )
        if proc.returncode != 0:
            raise NetlabError(
                f"netlab: nothing accepted TCP connections on {host}:{port} from the {ns} namespace "
                f"within {timeout} s: {proc.stdout.strip()} {proc.stderr.strip()}\n"
                "hint: check the server's log and that it binds an address added with add_endpoint_address()"
            )


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the process group started with start_new_session=True, then reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass


_HOSTS_HEADER = (
    "# netlab: hosts file of a test network namespace\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
)

# Only files and dns for hosts (no mdns/myhostname surprises); the rest as usual.
_NSSWITCH = (
    "passwd:         files\n"
    "group:          files\n"
    "shadow:         files\n"
    "gshadow:        files\n"
    "hosts:          files dns\n"
    "networks:       files\n"
    "protocols:      files\n"
    "services:       files\n"
    "ethers:         files\n"
    "rpc:            files\n"
    "netgroup:       files\n"
)


def _iter_lab_names(prefix: str = DEFAULT_PREFIX) -> Iterable[str]:
    """Names of existing namespaces or /etc/netns dirs with `prefix` (for tests and diagnostics)."""
    names = set(_list_netns())
    try:
        names.update(os.listdir(NETNS_ETC))
    except FileNotFoundError:
        pass
    return sorted(n for n in names if n.startswith(prefix))
