"""Console progress: each stage says what it does and how long it took.

Stages of one run may run side by side (:mod:`clustering.graph`): lines are printed whole,
and a stage's end names the stage, so interleaved stages stay readable."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Console:
    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.timings: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()

    def say(self, msg: str) -> None:
        if not self.quiet:
            with self._lock:
                print(msg, file=self.stream, flush=True)

    def detail(self, msg: str) -> None:
        self.say(f"    {msg}")

    def start(self, name: str) -> None:
        """A stage begins."""
        self.say(f"[{time.perf_counter() - self._t0:6.1f}s] {name} ...")

    def finish(self, name: str, seconds: float) -> None:
        """A stage ended after ``seconds``."""
        with self._lock:
            self.timings[name] = seconds
        self.detail(f"{name}: done in {seconds:.2f}s")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.start(name)
        t = time.perf_counter()
        yield
        self.finish(name, time.perf_counter() - t)
