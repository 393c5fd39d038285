"""Local CodeArtifact stand-in for tests (standard library only). See the README, section "Testing without AWS"."""

from .certs import Certs, make_certs
from .faults import FAULTS, parse_spec
from .imds import FakeIMDS
from .server import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, StandIn
from .wheels import Wheel, build_demo_wheels, build_wheel, normalize

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "FAULTS",
    "Certs",
    "FakeIMDS",
    "StandIn",
    "Wheel",
    "build_demo_wheels",
    "build_wheel",
    "make_certs",
    "normalize",
    "parse_spec",
]
