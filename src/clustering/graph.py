"""The run as a graph of stages: each stage a function with declared inputs and outputs,
started as soon as its inputs exist, so independent stages share the cores.

A stage reads the values it ``needs`` (keyword arguments of the same names) and returns the
values it ``gives`` (one value, or a tuple in the order given). Results never depend on the
order in which stages finish: a stage sees only its inputs, and every value is written once.
The heavy work inside a stage (NumPy, scikit-learn, DuckDB) releases the GIL, so threads are
enough; stages that must not overlap (one DuckDB connection) are serialised by their engine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class Stage:
    """One step of the run: ``fn(**{n: values[n] for n in needs})`` gives ``gives``."""

    name: str
    fn: Callable[..., Any]
    needs: tuple[str, ...] = ()
    gives: tuple[str, ...] = ()
    quiet: bool = False  # bookkeeping: neither announced nor timed
    urgent: bool = False  # before stages of a longer chain (its end lets memory go)


def check_graph(stages: Iterable[Stage], given: Iterable[str]) -> None:
    """Every input is given once, by the caller or by one stage, and the graph has no cycle."""
    stages, have = list(stages), set(given)
    producers: dict[str, str] = {}
    for s in stages:
        for g in s.gives:
            if g in have or g in producers:
                raise ValueError(f"stage '{s.name}' gives '{g}', which is already given")
            producers[g] = s.name
    for s in stages:
        missing = [n for n in s.needs if n not in have and n not in producers]
        if missing:
            raise ValueError(f"stage '{s.name}' needs {missing}, which nothing gives")
    done, left = set(have), list(stages)
    while left:
        ready = [s for s in left if all(n in done for n in s.needs)]
        if not ready:
            raise ValueError(f"stages wait on each other: {[s.name for s in left]}")
        for s in ready:
            done.update(s.gives)
            left.remove(s)


def run_stages(stages: list[Stage], given: Mapping[str, Any], *, workers: int,
               start: Callable[[str], None] = lambda name: None,
               finish: Callable[[str, float], None] = lambda name, seconds: None,
               keep: Iterable[str] | None = None,
               around: Callable[[], AbstractContextManager] = nullcontext,
               abort: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Run ``stages`` on ``workers`` threads as their inputs become available; returns every
    value (``given`` and what the stages gave), or with ``keep`` only those: the others are
    let go as soon as no stage still to run needs them (a million customers' intermediate
    tables are hundreds of MB each). The first stage to fail stops the run: stages not yet
    started are dropped, running ones are waited for, then its error is raised. ``start`` and
    ``finish`` are told each stage's name (and seconds) as it starts and ends; each stage runs
    inside ``around()`` (thread limits are per thread); on Ctrl-C, ``abort()`` stops what it
    can (a query) and the run leaves without waiting for the stages still running."""
    check_graph(stages, given)
    values = dict(given)
    pending = list(stages)
    running: dict[Future, Stage] = {}
    kept = None if keep is None else set(keep) | set(given)

    def release() -> None:
        if kept is not None:
            wanted = kept.union(*(s.needs for s in pending), *(s.needs for s in running.values()))
            for name in [n for n in values if n not in wanted]:
                del values[name]

    def call(stage: Stage, kwargs: dict[str, Any]) -> tuple[Any, float]:
        if not stage.quiet:
            start(stage.name)
        t = time.perf_counter()
        try:
            with around():
                out = stage.fn(**kwargs)
        except Exception as exc:
            try:
                exc._stage_index = stages.index(stage)  # which stage failed, for the report
            except AttributeError:  # an exception type without attributes: reported as is
                pass
            raise
        return out, time.perf_counter() - t

    if workers <= 1:  # in this thread, in the order declared (profilers and debuggers see it)
        while pending:
            s = next(s for s in pending if all(n in values for n in s.needs))
            pending.remove(s)
            out, seconds = call(s, {n: values[n] for n in s.needs})
            values.update(_outputs(s, out))
            release()
            if not s.quiet:
                finish(s.name, seconds)
        return values
    pool = ThreadPoolExecutor(workers, thread_name_prefix="stage")
    rank = chain_lengths(stages)
    try:
        while pending or running:
            ready = [s for s in pending if all(n in values for n in s.needs)]
            for s in _first(ready, rank, workers - len(running)):
                pending.remove(s)
                running[pool.submit(call, s, {n: values[n] for n in s.needs})] = s
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: stages.index(running[f])):
                s = running.pop(fut)
                out, seconds = fut.result()  # a failed stage raises here
                values.update(_outputs(s, out))
                release()
                if not s.quiet:
                    finish(s.name, seconds)
    except Exception as first:
        pending.clear()
        error = _first_declared(first, running, stages)
        pool.shutdown(wait=True)
        raise error from None
    except BaseException:  # KeyboardInterrupt: stop what has not started, then leave at once
        pending.clear()
        abort()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return values


def _first(ready: list[Stage], rank: dict[str, int], free: int) -> list[Stage]:
    """The ``free`` ready stages to start: urgent ones, then the longest chain of stages
    after it first (a summary nothing waits for does not hold a core the segmentation needs);
    ties in the order declared."""
    return sorted(ready, key=lambda s: (not s.urgent, -rank[s.name]))[:max(free, 0)]


def chain_lengths(stages: list[Stage]) -> dict[str, int]:
    """Per stage, the most stages that still have to run one after another once it is done
    (timed stages count one, bookkeeping none): the runner starts the longest chains first."""
    users: dict[str, list[Stage]] = {}
    for s in stages:
        for n in s.needs:
            users.setdefault(n, []).append(s)
    length: dict[str, int] = {}

    def of(s: Stage) -> int:  # the graph has no cycle (check_graph)
        if s.name not in length:
            length[s.name] = max((of(t) + (not t.quiet) for g in s.gives
                                  for t in users.get(g, [])), default=0)
        return length[s.name]

    for s in stages:
        of(s)
    return length


def _first_declared(error: Exception, running: dict[Future, Stage],
                    stages: list[Stage]) -> Exception:
    """The error to report when a stage failed: the stages still running are waited for, and
    of all that failed the one declared first wins, so the message does not depend on which
    thread was faster (a sequential run would have stopped at that stage)."""
    for fut in running:
        fut.cancel()
    wait(running)
    failed = [(stages.index(s), f.exception()) for f, s in running.items()
              if not f.cancelled() and f.exception() is not None]
    failing = getattr(error, "_stage_index", None)
    candidates = failed + ([(failing, error)] if failing is not None else [])
    return min(candidates, key=lambda c: c[0])[1] if candidates else error


def _outputs(stage: Stage, out: Any) -> dict[str, Any]:
    if len(stage.gives) == 0:
        return {}
    if len(stage.gives) == 1:
        return {stage.gives[0]: out}
    if not isinstance(out, tuple) or len(out) != len(stage.gives):
        raise TypeError(f"stage '{stage.name}' must return {len(stage.gives)} values "
                        f"({', '.join(stage.gives)})")
    return dict(zip(stage.gives, out, strict=True))


def stage_order(stages: list[Stage], given: Iterable[str]) -> list[list[str]]:
    """The stages by level: each level needs only what the levels before it give (what could
    run side by side); for the docs' picture and the console's plan."""
    done, left, levels = set(given), list(stages), []
    while left:
        ready = [s for s in left if all(n in done for n in s.needs)]
        levels.append([s.name for s in ready])
        for s in ready:
            done.update(s.gives)
            left.remove(s)
    return levels


def mermaid(stages: list[Stage], given: Iterable[str]) -> str:
    """The graph as a Mermaid flowchart: an arrow from each stage to the stages that need what
    it gives (bookkeeping stages folded into the edges they carry)."""
    producer = {g: s for s in stages for g in s.gives}

    def sources(stage: Stage, seen: frozenset = frozenset()) -> set[str]:
        out = set()
        for n in stage.needs:
            p = producer.get(n)
            if p is None or p.name in seen:
                continue
            out |= sources(p, seen | {p.name}) if p.quiet else {p.name}
        return out

    shown = [s for s in stages if not s.quiet]
    direct = {s.name: sources(s) for s in shown}

    def reach(name: str) -> set[str]:  # every stage upstream of ``name``
        out = set()
        for d in direct[name]:
            out |= {d} | reach(d)
        return out

    ids = {s.name: f"s{i}" for i, s in enumerate(shown)}
    lines = ["flowchart TD"] + [f'  {ids[s.name]}["{s.name}"]' for s in shown]
    for s in shown:  # transitive reduction: no arrow that a longer path already draws
        deps = direct[s.name]
        keep = [d for d in deps if not any(d in reach(o) for o in deps if o != d)]
        lines += [f"  {ids[d]} --> {ids[s.name]}" for d in sorted(keep, key=list(ids).index)]
    return "\n".join(lines)


def one_openmp_thread() -> AbstractContextManager:
    """OpenMP (scikit-learn's k-means) on one thread in this thread. On two cores, k-means on
    50,000 customers took 0.63 s on OpenMP's two threads and 0.27 s on one, and 13 such fits
    side by side in two threads beat them in a row on two; the same chunks summed in the same
    order also make the labels identical for any number of cores."""
    return threadpool_limits(limits=1, user_api="openmp")


def one_blas_thread() -> AbstractContextManager:
    """BLAS (NumPy's OpenBLAS) on one thread, for the whole process: the stages run side by
    side and each calls BLAS, and OpenBLAS's own threads on top of them oversubscribed the
    cores and spun while they waited (a million customers on two cores: 69 s of CPU in 40 s,
    62 s in 37 s with one BLAS thread). One thread also sums in one order on any machine."""
    return threadpool_limits(limits=1, user_api="blas")


def cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def map_side_by_side(fn: Callable[[Any], Any], items: Iterable[Any],
                     workers: int | None = None) -> list[Any]:
    """``[fn(x) for x in items]`` on ``workers`` threads (the cores by default), each with one
    OpenMP thread; results in the order of ``items`` whatever the order they finish in."""
    items = list(items)
    workers = min(workers or cores(), len(items))
    if workers <= 1:
        with one_openmp_thread():
            return [fn(x) for x in items]

    def call(x):
        with one_openmp_thread():
            return fn(x)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, items))


class Background:
    """``fn()`` started now on a thread; :meth:`result` waits for it. When the caller fails
    first it :meth:`abandon`\ s the work: ``stop()`` is called until the thread ends (a DuckDB
    query interrupted: native code must not be running when the process exits), and a value
    that arrives anyway goes to ``discard``. ``inline``: run ``fn`` in :meth:`result` on the
    caller's thread instead."""

    def __init__(self, fn: Callable[[], Any], discard: Callable[[Any], None] = lambda v: None,
                 name: str = "background", inline: bool = False,
                 stop: Callable[[], None] = lambda: None):
        self._future: Future = Future()
        self._lock, self._state, self._discard, self._stop = threading.Lock(), "running", \
            discard, stop
        self._inline = fn if inline else None
        self._thread = None
        if not inline:
            self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
            self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            value = fn()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller by result()
            self._future.set_exception(exc)
            return
        with self._lock:
            abandoned = self._state == "abandoned"
        if abandoned:
            self._discard(value)
        else:
            self._future.set_result(value)

    def result(self) -> Any:
        with self._lock:
            self._state = "claimed"
        if self._inline is not None:
            self._run(self._inline)
            self._inline = None
        return self._future.result()

    def abandon(self, timeout: float = 60.0) -> None:
        """The caller will not claim the value: stop the work, wait for the thread (at most
        ``timeout`` seconds), and discard the value if one came."""
        with self._lock:
            if self._state == "claimed":
                return
            self._state = "abandoned"
        deadline = time.monotonic() + timeout
        while self._thread is not None and self._thread.is_alive() and \
                time.monotonic() < deadline:
            self._stop()  # again and again: an interrupt stops the query running, not the next
            self._thread.join(0.1)
        if self._future.done() and self._future.exception() is None:
            self._discard(self._future.result())
