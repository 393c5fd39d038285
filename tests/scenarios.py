"""The seed's network, replayed in network namespaces, for tests/test_scenarios.py and the benchmarks.

    notebook namespace                                endpoint namespace
    /etc/hosts: codeartifact.us-west-2.amazonaws.com -> api address      the stand-in, HTTPS on :443 of
                mydomain-111122223333.d.codeartifact...  -> repo address  every address there (api, repo),
                sts.us-west-2.amazonaws.com          -> api address      certificate from a test CA
    fake IMDSv2 on 169.254.169.254:80 (the notebook's role credentials)   nftables = the security group

The library runs on its default path there: no keys and no endpoint variables in the environment,
credentials from the instance metadata service, the real AWS host names, AWS_CA_BUNDLE = the test CA.
Nothing here reaches a network outside the two namespaces.

Usage::

    with netlab.Lab() as lab:
        net = SeedNetwork(lab, workdir).start()
        net.healthy()                       # endpoints present, no fault
        net.no_endpoint()                   # every AWS name resolves to an address that drops packets
        net.fault("access-denied-identity") # a stand-in fault (control call from the endpoint namespace)
        proc = net.run(home, [CA_LOGIN, "login", ...], timeout=30)
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import netlab  # noqa: E402
from standin import DEFAULT_ACCESS_KEY, make_certs  # noqa: E402

REGION = "us-west-2"
DOMAIN = "mydomain"
OWNER = "111122223333"
REPOSITORY = "isolatedsm"
ROLE = "GeneralIsolatedNotebook"
API_HOST = f"codeartifact.{REGION}.amazonaws.com"
REPO_HOST = f"{DOMAIN}-{OWNER}.d.codeartifact.{REGION}.amazonaws.com"
STS_HOST = f"sts.{REGION}.amazonaws.com"
ENDPOINT_BASE = f"https://{REPO_HOST}"
IMDS_ACCESS_KEY = DEFAULT_ACCESS_KEY  # what the fake IMDS hands out as the role's credentials

VENV_BIN = ROOT / ".venv" / "bin"
CA_LOGIN = str(VENV_BIN / "ca-login")
PYTHON = str(VENV_BIN / "python")
AWS_CLI = str(VENV_BIN / "aws")

# Where the AWS names point when a subnet has no endpoint: public addresses (documentation range, routed
# nowhere outside the lab), dropped inside the notebook namespace.
PUBLIC_BLACKHOLE_NET = "203.0.113.0/24"
PUBLIC_API, PUBLIC_REPO, PUBLIC_STS = "203.0.113.10", "203.0.113.20", "203.0.113.30"

TARGET_FLAGS = ("--domain", DOMAIN, "--domain-owner", OWNER, "--repository", REPOSITORY)

# Runs in the endpoint namespace: one control request to the stand-in over loopback (its certificate names
# 127.0.0.1), prints the JSON answer.
_CONTROL = r"""
import json, ssl, sys, urllib.request, urllib.error
method, path, body, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
req = urllib.request.Request("https://127.0.0.1:443/_standin/" + path, method=method,
                             data=body.encode() if body else None)
ctx = ssl.create_default_context(cafile=ca)
try:
    with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
        print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
"""

# Runs in the notebook namespace: the fake IMDSv2 on the link-local address, until killed.
_IMDS = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
from standin import FakeIMDS
FakeIMDS(sys.argv[2], int(sys.argv[3]), region=sys.argv[4], account=sys.argv[5], role=sys.argv[6]).start()
print("ready", flush=True)
threading.Event().wait()
"""


class ScenarioError(RuntimeError):
    """The replayed network could not be set up; the message says which piece and has a hint."""


def _read_line(proc: subprocess.Popen, timeout: float, what: str, log: Path | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line:
                return line
        if proc.poll() is not None:
            break
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ScenarioError(
        f"scenarios: {what} printed no start-up line within {timeout} s (exit {proc.poll()}): {tail}\n"
        "hint: run it by hand inside `ip netns exec` to see why"
    )


class SeedNetwork:
    """The seed's VPC in a Lab: the stand-in behind the two endpoints, the fake IMDS, the hosts file."""

    def __init__(self, lab: netlab.Lab, workdir: Path, packages: Path | None = None):
        self.lab = lab
        self.workdir = Path(workdir)
        self.packages = packages
        self.certs = None
        self.api_addr = self.repo_addr = ""
        self.api_hole = self.repo_hole = self.sts_hole = ""
        self.standin: subprocess.Popen | None = None
        self.info: dict = {}

    @property
    def ca_pem(self) -> str:
        return str(self.certs.ca_pem)

    def start(self, lifetime: float = 900) -> SeedNetwork:
        lab = self.lab
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.certs = make_certs(self.workdir / "certs", REGION, DOMAIN, OWNER)
        self.api_addr = lab.add_endpoint_address()
        self.repo_addr = lab.add_endpoint_address()
        self._public_blackholes()
        argv = [
            PYTHON,
            str(HERE / "standin"),
            "--host",
            "0.0.0.0",
            "--port",
            "443",
            "--https",
            "--certs",
            str(self.certs.dir),
            "--endpoint-base",
            ENDPOINT_BASE,
            "--region",
            REGION,
            "--domain",
            DOMAIN,
            "--owner",
            OWNER,
            "--repository",
            REPOSITORY,
        ]
        if self.packages:
            argv += ["--packages", str(self.packages)]
        log = self.workdir / "standin.log"
        # 0.0.0.0 inside the endpoint namespace: only the lab's addresses and its own loopback.
        self.standin = lab.popen(
            "endpoint",
            argv,
            timeout=lifetime,
            env=netlab.minimal_env(),
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        self.info = json.loads(_read_line(self.standin, 60, "the stand-in", log))
        imds = lab.popen(
            "notebook",
            [PYTHON, "-c", _IMDS, str(HERE), lab.imds_address, "80", REGION, OWNER, ROLE],
            timeout=lifetime,
            env=netlab.minimal_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        _read_line(imds, 30, "the fake IMDS")
        self.healthy()
        lab.wait_tcp("notebook", self.api_addr, 443, timeout=15)
        lab.wait_tcp("notebook", self.repo_addr, 443, timeout=15)
        lab.wait_tcp("notebook", lab.imds_address, 80, timeout=15)
        return self

    def _public_blackholes(self) -> None:
        """Public addresses (TEST-NET-3) that drop packets: what the AWS names resolve to without an endpoint.

        In the seed, a subnet without the VPC endpoint resolves the names to AWS's public addresses, which it
        cannot reach; a diagnosis tells that apart from a private address whose security group drops 443.
        The notebook routes 203.0.113.0/24 via a lab blackhole address (a neighbour entry to a MAC no one
        owns), so the packets go into the veth and vanish there; the route lives only in the notebook
        namespace.
        """
        gateway = self.lab.add_blackhole_address()
        ip = shutil.which("ip", path=netlab.minimal_env()["PATH"]) or "/usr/sbin/ip"
        argv = [
            ip,
            "-n",
            self.lab.notebook,
            "route",
            "add",
            PUBLIC_BLACKHOLE_NET,
            "via",
            gateway,
            "dev",
            "nb0",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=15, env=netlab.minimal_env())
        if proc.returncode != 0:
            raise ScenarioError(
                f"scenarios: `{' '.join(argv)}` failed: {proc.stderr.strip()}\n"
                "hint: needs root and iproute2 (as netlab does)"
            )
        self.api_hole, self.repo_hole, self.sts_hole = PUBLIC_API, PUBLIC_REPO, PUBLIC_STS

    # -- network states ----------------------------------------------------------------------------

    def map_names(self, api: str, repo: str, sts: str | None = None) -> None:
        self.lab.map_host(API_HOST, api)
        self.lab.map_host(REPO_HOST, repo)
        self.lab.map_host(STS_HOST, sts or api)

    def healthy(self) -> None:
        """Both endpoints present with private DNS, security group open, no fault."""
        self.map_names(self.api_addr, self.repo_addr, self.api_addr)
        for addr in (self.api_addr, self.repo_addr):
            self.lab.unblock_port(addr, 443)
        self.clear_faults()

    def no_endpoint(self) -> None:
        """No VPC endpoint: the AWS names resolve to (public) addresses the subnet cannot reach."""
        self.map_names(self.api_hole, self.repo_hole, self.sts_hole)

    def security_group_blocks(self) -> None:
        """Endpoints present, their security group drops inbound 443."""
        for addr in (self.api_addr, self.repo_addr):
            self.lab.block_port(addr, 443, mode="drop")

    def no_repositories_endpoint(self) -> None:
        """The api endpoint exists, the repositories endpoint does not."""
        self.lab.map_host(REPO_HOST, self.repo_hole)

    # -- stand-in control (from inside the endpoint namespace) -------------------------------------

    def control(self, method: str, path: str, body: dict | None = None):
        proc = self.lab.run(
            "endpoint",
            [PYTHON, "-c", _CONTROL, method, path, json.dumps(body) if body is not None else "", self.ca_pem],
            timeout=20,
            env=netlab.minimal_env(),
        )
        status, _, text = proc.stdout.partition("\n")
        if proc.returncode != 0 or status != "200":
            raise ScenarioError(
                f"scenarios: stand-in control {method} /_standin/{path} failed "
                f"({status or proc.returncode}): "
                f"{text.strip()} {proc.stderr.strip()[-800:]}\nhint: see {self.workdir / 'standin.log'}"
            )
        return json.loads(text)

    def fault(self, spec: str) -> dict:
        return self.control("POST", "fault", {"spec": spec})

    def clear_faults(self) -> dict:
        return self.control("DELETE", "fault")

    def calls(self) -> list[dict]:
        return self.control("GET", "calls")

    # -- processes in the notebook -----------------------------------------------------------------

    def env(self, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The notebook's environment: no keys, no endpoint variables; the metadata service is on."""
        home = Path(home)
        aws = home / ".aws"
        aws.mkdir(parents=True, exist_ok=True)
        for name in ("config", "credentials"):
            (aws / name).touch()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AWS_CA_BUNDLE": self.ca_pem,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
            "PIP_CERT": self.ca_pem,
        }
        env.update(extra or {})
        return env

    def run(
        self, home: Path, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return self.lab.run("notebook", argv, timeout=timeout, env=self.env(home, env), cwd=str(home))

    def login(self, home: Path, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.run(home, [CA_LOGIN, "login", *TARGET_FLAGS, *extra], timeout=timeout)

    def diagnose(self, home: Path, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.run(
            home, [CA_LOGIN, "diagnose", *TARGET_FLAGS, "--region", REGION, "--json", *extra], timeout=timeout
        )


def parse_diagnosis(proc: subprocess.CompletedProcess) -> dict:
    """The JSON `ca-login diagnose --json` printed; a failure message with its stderr if it printed none."""
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"`ca-login diagnose --json` printed no JSON (exit {proc.returncode}); "
            f"stdout: {proc.stdout[-1500:]!r} stderr: {proc.stderr[-1500:]!r}"
        ) from None


def cleanup_stale() -> list[str]:
    return netlab.cleanup_stale()


def is_root() -> bool:
    return os.geteuid() == 0
