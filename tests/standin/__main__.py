"""python tests/standin --port 8080 [--https --certs DIR] [--fault NAME[:KEY=VALUE]...]... [--token-ttl S]

Prints one JSON line (api_url, control_url, ...) and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

if __package__ in (None, ""):
    # run as `python tests/standin`: make the package importable as `standin`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from standin import FAULTS, FakeIMDS, StandIn, parse_spec
else:
    from . import FAULTS, FakeIMDS, StandIn, parse_spec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python tests/standin",
        description="Local CodeArtifact stand-in for tests.",
        epilog="faults: " + ", ".join(sorted(FAULTS)),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    p.add_argument("--https", action="store_true", help="serve TLS with a test CA made at run time")
    p.add_argument("--certs", help="directory for (or with) ca.pem, server.pem, server.key")
    p.add_argument("--region", default="us-west-2")
    p.add_argument("--domain", default="mydomain")
    p.add_argument("--owner", default="111122223333")
    p.add_argument("--repository", action="append", help="repository name (repeatable; default isolatedsm)")
    p.add_argument("--access-key")
    p.add_argument("--secret-key")
    p.add_argument(
        "--endpoint-base",
        help="what GetRepositoryEndpoint returns before /pypi/REPO/, "
        "e.g. https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com",
    )
    p.add_argument("--token-ttl", type=int, default=43200, help="longest token lifetime in seconds")
    p.add_argument("--session-ttl", type=int, default=3600, help="token lifetime for duration=0")
    p.add_argument("--packages", help="directory of wheels to serve (default: the demo wheels)")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE]...",
        help="e.g. access-denied-identity, throttle:first=3, slow:seconds=5:operation=GetAuthorizationToken",
    )
    p.add_argument("--imds-host", help="also serve a fake IMDSv2 on this address (namespaces only)")
    p.add_argument("--imds-port", type=int, default=80)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)

    kw = {}
    if a.access_key:
        kw["access_key"] = a.access_key
    if a.secret_key:
        kw["secret_key"] = a.secret_key
    s = StandIn(
        a.host,
        a.port,
        https=a.https,
        certs=a.certs,
        region=a.region,
        domain=a.domain,
        owner=a.owner,
        repositories=tuple(a.repository or ("isolatedsm",)),
        repository_endpoint_base=a.endpoint_base,
        token_ttl=a.token_ttl,
        session_ttl=a.session_ttl,
        packages_dir=a.packages,
        verbose=a.verbose,
        **kw,
    )
    specs = []
    for spec in a.fault:
        try:
            name, params = parse_spec(spec)
            s.set_fault(name, **params)  # validates before we listen
        except ValueError as e:
            print(f"standin: bad --fault {spec!r}: {e}", file=sys.stderr)
            return 2
        specs.append(name)
    s.start()
    imds = None
    if a.imds_host:
        imds = FakeIMDS(
            a.imds_host,
            a.imds_port,
            region=a.region,
            account=a.owner,
            access_key=s.access_key,
            secret_key=s.secret_key,
        ).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    info = {
        "api_url": s.api_url,
        "control_url": s.control_url,
        "repository_endpoint": s.repository_endpoint(),
        "faults": specs,
        "pid": os.getpid(),
    }
    if s.https:
        info["ca_pem"] = str(s.certs.ca_pem)
    if imds:
        info["imds_url"] = imds.url
    print(json.dumps(info), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        if imds:
            imds.stop()
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
