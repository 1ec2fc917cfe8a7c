"""A download's progress as one line on stderr, rewritten in place."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """One line on stderr, rewritten in place: bar, bytes, percent, speed."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled = name, enabled
        self.total: int | None = None
        self.first, self.t0, self.shown = 0, 0.0, 0.0

    def start(self, total: int | None, done: int) -> None:
        self.total, self.first, self.t0, self.shown = total, done, time.monotonic(), 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.shown < 0.1 and not final):
            return
        self.shown = now
        speed = (done - self.first) / max(now - self.t0, 1e-6)
        line = f"{self.name}: {_human(done)}"
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(20 * frac)
            line = f"{self.name}: [{bar:<20}] {_human(done)}/{_human(self.total)} {frac:4.0%}"
        sys.stderr.write(f"\r{line} {_human(speed)}/s ")
        sys.stderr.flush()

    def close(self, done: int) -> None:
        if self.enabled:
            self.update(done, final=True)
            sys.stderr.write("\n")


def _human(n: float) -> str:
    unit = 0
    while n >= 1000 and unit < 3:
        n, unit = n / 1000, unit + 1
    return f"{n:.0f} B" if unit == 0 else f"{n:.1f} {('KB', 'MB', 'GB')[unit - 1]}"
