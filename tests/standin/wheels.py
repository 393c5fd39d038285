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
    requires_python: str | None = None

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
    tag: str = "py3-none-any",
    requires_python: str = ">=3.7",
) -> Wheel:
    """Write NAME-VERSION-TAG.whl (TAG py3-none-any unless given) holding `files` (archive path -> text) into
    out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name)
    dist_info = f"{dist}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary or name + ' (test package of the CodeArtifact stand-in)'}",
        f"Requires-Python: {requires_python}",
    ]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    entries = dict(files)
    entries[f"{dist_info}/METADATA"] = "\n".join(metadata) + "\n\n"
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: standin-wheels\nRoot-Is-Purelib: true\n"
        + "".join(
            f"Tag: {p}-{a}-{pl}\n"
            for p in tag.split("-")[0].split(".")
            for a in tag.split("-")[1].split(".")
            for pl in tag.split("-")[2].split(".")
        )
    )
    entries[f"{dist_info}/top_level.txt"] = "".join(
        t + "\n" for t in sorted({p.split("/")[0].removesuffix(".py") for p in files})
    )
    record_name = f"{dist_info}/RECORD"
    record_lines = []
    path = out_dir / f"{dist}-{version}-{tag}.whl"
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
    return Wheel(
        path, normalize(name), version, hashlib.sha256(path.read_bytes()).hexdigest(), requires_python
    )


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
        w = Wheel(
            p, normalize(name), version, hashlib.sha256(p.read_bytes()).hexdigest(), _requires_python(p)
        )
        out.setdefault(w.project, []).append(w)
    return out


def _requires_python(path: Path) -> str | None:
    """A wheel's Requires-Python (from its METADATA), else None."""
    if path.suffix != ".whl":
        return None
    with zipfile.ZipFile(path) as zf:
        for n in zf.namelist():
            if n.endswith(".dist-info/METADATA"):
                for line in zf.read(n).decode("utf-8", "replace").splitlines():
                    if line.startswith("Requires-Python:"):
                        return line.split(":", 1)[1].strip() or None
                    if not line:
                        break
    return None


def build_package_wheels(local_dir, public_dir, python: tuple[int, int]) -> dict[str, str]:
    """The package layer's cases, relative to the interpreter `python` (major, minor) the tests run under.

    In `local_dir` (stored in the repository): ca-nextpy-only 1.0 (py3) and 2.0 (only cpNEXT wheels), ca-newglibc
    1.0 (py3) and 2.0 (manylinux_2_40 only), ca-newpython 1.0 and 2.0 (requires-python >= NEXT), ca-yanked-only 1.0
    (to be yanked), ca-archived 1.0 and 2.0 (2.0 to be Archived). In `public_dir` (only on "public PyPI", reached
    through an external connection): ca-public-only 1.0 and ca-blocked 1.0 (its origin to be set to
    upstream=BLOCK). Returns the file names the caller marks (yanked, archived)."""
    major, minor = python
    nxt = f"cp{major}{minor + 1}"
    mod = {"ca_pkg_case/__init__.py": "VALUE = 1\n"}
    machine = os.uname().machine
    b = build_wheel
    b(local_dir, "ca-nextpy-only", "1.0", mod)
    b(local_dir, "ca-nextpy-only", "2.0", mod, tag=f"{nxt}-{nxt}-manylinux_2_17_{machine}")
    b(local_dir, "ca-newglibc", "1.0", mod)
    b(local_dir, "ca-newglibc", "2.0", mod, tag=f"py3-none-manylinux_2_40_{machine}")
    b(local_dir, "ca-newpython", "1.0", mod)
    b(local_dir, "ca-newpython", "2.0", mod, requires_python=f">={major}.{minor + 1}")
    yanked = b(local_dir, "ca-yanked-only", "1.0", mod)
    b(local_dir, "ca-archived", "1.0", mod)
    b(local_dir, "ca-archived", "2.0", mod)
    b(public_dir, "ca-public-only", "1.0", mod)
    b(public_dir, "ca-blocked", "1.0", mod)
    return {"yanked": yanked.filename}
