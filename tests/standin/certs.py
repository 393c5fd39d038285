"""A test CA and a server certificate for the real CodeArtifact names, made with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certs:
    dir: Path
    ca_pem: Path  # the test CA's certificate (give this to clients as their CA bundle)
    ca_key_pem: Path
    cert_pem: Path  # the server's leaf certificate
    key_pem: Path  # the server's private key
    names: tuple[str, ...]


def server_names(
    region: str = "us-west-2", domain: str = "mydomain", owner: str = "111122223333", extra_names=()
) -> tuple[str, ...]:
    return (
        f"codeartifact.{region}.amazonaws.com",
        f"{domain}-{owner}.d.codeartifact.{region}.amazonaws.com",
        f"{domain}-{owner}.codeartifact.{region}.on.aws",
        f"*.api.codeartifact.{region}.vpce.amazonaws.com",
        f"*.d.codeartifact.{region}.vpce.amazonaws.com",
        f"sts.{region}.amazonaws.com",
        "localhost",
        "127.0.0.1",
        *extra_names,
    )


def _openssl(*args, cwd: Path) -> None:
    exe = shutil.which("openssl") or "/usr/bin/openssl"
    r = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(
            f"openssl {args[0]} failed in {cwd}: {r.stderr.strip()}\n"
            "hint: the stand-in's certificates need the openssl CLI (apt-get install openssl)"
        )


def make_certs(
    directory,
    region: str = "us-west-2",
    domain: str = "mydomain",
    owner: str = "111122223333",
    extra_names=(),
    days: int = 30,
) -> Certs:
    """Create ca.pem/ca.key and server.pem/server.key (EC P-256) in `directory` (reused if there)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    names = server_names(region, domain, owner, extra_names)
    certs = Certs(d, d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key", names)
    stamp = d / "names.txt"
    if (
        all(p.exists() for p in (certs.ca_pem, certs.cert_pem, certs.key_pem))
        and stamp.exists()
        and stamp.read_text() == "\n".join(names)
    ):
        return certs
    san = ",".join(("IP:" if n.replace(".", "").isdigit() or ":" in n else "DNS:") + n for n in names)
    (d / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        f"subjectAltName={san}\n"
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
    _openssl(
        "req",
        "-new",
        "-x509",
        "-key",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        str(days),
        "-subj",
        "/O=ca-login tests/CN=ca-login stand-in test CA",
        "-extensions",
        "v3_ca",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key.ec", cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "server.key.ec", "-out", "server.key", cwd=d)
    (d / "server.key.ec").unlink()
    _openssl("req", "-new", "-key", "server.key", "-out", "server.csr", "-subj", f"/CN={names[0]}", cwd=d)
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        str(days),
        "-sha256",
        "-extfile",
        "server.ext",
        cwd=d,
    )
    for p in (certs.key_pem, certs.ca_key_pem):
        p.chmod(0o600)
    stamp.write_text("\n".join(names))
    return certs
