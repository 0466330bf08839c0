"""A local Pixlee Content API v2: synthetic account, CDN cache, rate limits, faults, truth.

The other side of the wire for the client's tests and benchmarks; it imports nothing from the
rest of ``pixlee``. See "The local Pixlee simulator" in README.md.
"""

from .config import (
    DEMO_API_KEY,
    DEMO_PRIVATE_API_KEY,
    DEMO_SECRET_KEY,
    FakeClock,
    SimulatorConfig,
)
from .server import Simulator
from .stats import RequestRecord, Stats
from .world import World

__all__ = [
    "DEMO_API_KEY",
    "DEMO_PRIVATE_API_KEY",
    "DEMO_SECRET_KEY",
    "FakeClock",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "Stats",
    "World",
]
