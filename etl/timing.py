"""Seconds per phase of a run, for its summary."""

from __future__ import annotations

import time


class PhaseClock:
    """Adds the seconds since the last lap to `phases[name]`."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases = phases
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now
