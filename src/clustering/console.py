"""Console progress: each stage says what it does and how long it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Console:
    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.timings: dict[str, float] = {}
        self._t0 = time.perf_counter()

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=self.stream, flush=True)

    def detail(self, msg: str) -> None:
        self.say(f"    {msg}")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.say(f"[{time.perf_counter() - self._t0:6.1f}s] {name} ...")
        t = time.perf_counter()
        yield
        dt = time.perf_counter() - t
        self.timings[name] = dt
        self.detail(f"done in {dt:.2f}s")
