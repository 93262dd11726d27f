"""Console progress: each stage says what it does and how long it took.

Stages of one run may run side by side (:mod:`clustering.graph`): lines are printed whole,
and a stage's end names the stage, so interleaved stages stay readable. By default a stage is
one line when it ends, and of the details only warnings are printed; ``verbose`` prints every
start, detail and end (``make train ARGS=--verbose``)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: details that are printed even when not verbose: what the user has to know
ALWAYS = ("warning", "note:", "registered ", "models:/", "champion of ")


class Console:
    def __init__(self, quiet: bool = False, stream=None, verbose: bool = True):
        self.quiet = quiet
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.timings: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()

    def say(self, msg: str) -> None:
        if not self.quiet:
            with self._lock:
                print(msg, file=self.stream, flush=True)

    def detail(self, msg: str) -> None:
        if self.verbose or msg.lstrip().startswith(ALWAYS):
            self.say(f"    {msg}")

    def note(self, msg: str) -> None:
        """A detail printed whatever the verbosity (what was read, what the checks found)."""
        self.say(f"    {msg}")

    def start(self, name: str) -> None:
        """A stage begins."""
        if self.verbose:
            self.say(f"[{time.perf_counter() - self._t0:6.1f}s] {name} ...")

    def finish(self, name: str, seconds: float) -> None:
        """A stage ended after ``seconds``."""
        with self._lock:
            self.timings[name] = seconds
        if self.verbose:
            self.detail(f"{name}: done in {seconds:.2f}s")
        else:
            self.say(f"[{time.perf_counter() - self._t0:6.1f}s] {name} ({seconds:.1f}s)")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.start(name)
        t = time.perf_counter()
        yield
        self.finish(name, time.perf_counter() - t)
