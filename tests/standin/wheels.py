"""Small real wheels, written with zipfile (no build backend, no network)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 project name normalization."""
    return _NORMALIZE.sub("-", name).lower()


@dataclass(frozen=True)
class Wheel:
    path: Path
    project: str  # normalized name
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.name


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(
    out_dir,
    name: str,
    version: str,
    files: dict[str, str],
    *,
    requires: tuple[str, ...] = (),
    summary: str = "",
) -> Wheel:
    """Write NAME-VERSION-py3-none-any.whl holding `files` (archive path -> text) into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name)
    dist_info = f"{dist}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary or name + ' (test package of the CodeArtifact stand-in)'}",
        "Requires-Python: >=3.7",
    ]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    entries = dict(files)
    entries[f"{dist_info}/METADATA"] = "\n".join(metadata) + "\n\n"
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: standin-wheels\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    entries[f"{dist_info}/top_level.txt"] = "".join(
        t + "\n" for t in sorted({p.split("/")[0].removesuffix(".py") for p in files})
    )
    record_name = f"{dist_info}/RECORD"
    record_lines = []
    path = out_dir / f"{dist}-{version}-py3-none-any.whl"
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arc, text in entries.items():
            data = text.encode("utf-8")
            info = zipfile.ZipInfo(arc, date_time=(2022, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            record_lines.append(f"{arc},{_record_hash(data)},{len(data)}")
        record_lines.append(f"{record_name},,")
        info = zipfile.ZipInfo(record_name, date_time=(2022, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, "\n".join(record_lines) + "\n")
    os.replace(tmp, path)
    return Wheel(path, normalize(name), version, hashlib.sha256(path.read_bytes()).hexdigest())


DEMO_PKG_SOURCE = '''"""ca-demo-pkg: served by the CodeArtifact stand-in."""

__version__ = "{version}"


def greet(name="SageMaker"):
    return "Hello, " + name + ", from ca-demo-pkg " + __version__
'''

DEMO_APP_SOURCE = '''"""ca-demo-app: depends on ca-demo-pkg."""

from ca_demo_pkg import greet


def main():
    return greet("ca-demo-app")
'''


def build_demo_wheels(out_dir) -> list[Wheel]:
    """ca-demo-pkg 1.0.0 (module ca_demo_pkg, greet()); ca-demo-app 1.0.0 needs ca-demo-pkg>=1.0."""
    return [
        build_wheel(
            out_dir,
            "ca-demo-pkg",
            "1.0.0",
            {"ca_demo_pkg/__init__.py": DEMO_PKG_SOURCE.format(version="1.0.0")},
        ),
        build_wheel(
            out_dir,
            "ca-demo-app",
            "1.0.0",
            {"ca_demo_app/__init__.py": DEMO_APP_SOURCE},
            requires=("ca-demo-pkg>=1.0",),
        ),
    ]


def scan(directory) -> dict[str, list[Wheel]]:
    """Wheels and sdists in a directory, grouped by normalized project name."""
    out: dict[str, list[Wheel]] = {}
    for p in sorted(Path(directory).iterdir()):
        if p.suffix == ".whl":
            parts = p.name[:-4].split("-")
            if len(parts) < 5:
                continue
            name, version = parts[0], parts[1]
        elif p.name.endswith(".tar.gz"):
            name, _, version = p.name[:-7].rpartition("-")
            if not name:
                continue
        else:
            continue
        w = Wheel(p, normalize(name), version, hashlib.sha256(p.read_bytes()).hexdigest())
        out.setdefault(w.project, []).append(w)
    return out
