"""The stage runner: stages start once their inputs exist, side by side; errors stop the run."""

from __future__ import annotations

import threading
import time

import pytest

from clustering.graph import Stage, chain_lengths, check_graph, run_stages, stage_order


def test_values_flow_from_stage_to_stage_and_tuples_unpack():
    stages = [
        Stage("double", lambda x: 2 * x, ("x",), ("y",)),
        Stage("split", lambda y: (y - 1, y + 1), ("y",), ("lo", "hi")),
        Stage("sum", lambda lo, hi, x: lo + hi + x, ("lo", "hi", "x"), ("total",)),
    ]
    out = run_stages(stages, {"x": 5}, workers=2)
    assert out == {"x": 5, "y": 10, "lo": 9, "hi": 11, "total": 25}


def test_independent_stages_overlap_on_two_workers():
    """Two stages that need only the input run at the same time: each waits for the other to
    have started, which deadlocks (and times out) if they ran one after another."""
    barrier = threading.Barrier(2, timeout=5)

    def meet(x):
        barrier.wait()
        return x

    stages = [Stage("a", meet, ("x",), ("a",)), Stage("b", meet, ("x",), ("b",))]
    assert run_stages(stages, {"x": 1}, workers=2) == {"x": 1, "a": 1, "b": 1}


def test_the_longest_chain_starts_first_when_workers_are_few():
    """A summary that nothing waits for is declared first, but the stage that the rest of the
    run waits on gets the free worker (as choosing k did, behind the feature summary); one
    worker kept busy until the end leaves one for the others, so the order is certain."""
    started, release = [], threading.Event()
    stages = [
        Stage("hold", lambda: release.wait(5), (), ("h",)),
        Stage("source", lambda: 1, (), ("x",)),
        Stage("summary", lambda x: x, ("x",), ("s",)),
        Stage("segment", lambda x: x, ("x",), ("seg",)),
        Stage("profile", lambda seg: seg, ("seg",), ("p",)),
        Stage("report", lambda p: release.set() or p, ("p",), ("r",)),
    ]
    assert chain_lengths(stages) == {"hold": 0, "source": 3, "summary": 0, "segment": 2,
                                     "profile": 1, "report": 0}
    out = run_stages(stages, {}, workers=2, start=started.append)
    assert out["r"] == 1
    assert set(started[:2]) == {"hold", "source"}
    assert started[2:] == ["segment", "profile", "summary", "report"]


def test_one_worker_runs_in_declaration_order():
    seen = []
    stages = [Stage(n, lambda n=n: seen.append(n) or n, (), (n,)) for n in "abc"]
    run_stages(stages, {}, workers=1)
    assert seen == ["a", "b", "c"]


def test_a_failed_stage_stops_the_run_and_its_dependants_never_start():
    started = []

    def boom(x):
        raise ValueError("bad input")

    stages = [Stage("boom", boom, ("x",), ("y",)),
              Stage("after", lambda y: started.append("after"), ("y",), ("z",)),
              Stage("slow", lambda x: time.sleep(0.2) or x, ("x",), ("w",))]
    with pytest.raises(ValueError, match="bad input"):
        run_stages(stages, {"x": 1}, workers=2)
    assert started == []


def test_timings_are_reported_for_every_announced_stage():
    seen = {}
    stages = [Stage("a", lambda: 1, (), ("a",)), Stage("q", lambda a: a, ("a",), ("q",), quiet=True)]
    run_stages(stages, {}, workers=1, finish=lambda n, s: seen.setdefault(n, s))
    assert list(seen) == ["a"] and seen["a"] >= 0


@pytest.mark.parametrize("stages, given, message", [
    ([Stage("a", lambda x: x, ("x",), ("y",))], {}, "needs \\['x'\\]"),
    ([Stage("a", lambda: 1, (), ("y",)), Stage("b", lambda: 2, (), ("y",))], {}, "already given"),
    ([Stage("a", lambda: 1, (), ("x",))], {"x": 0}, "already given"),
    ([Stage("a", lambda b: b, ("b",), ("a",)), Stage("b", lambda a: a, ("a",), ("b",))], {},
     "wait on each other"),
])
def test_a_malformed_graph_is_refused_before_anything_runs(stages, given, message):
    with pytest.raises(ValueError, match=message):
        check_graph(stages, given)


def test_wrong_number_of_outputs_names_the_stage():
    with pytest.raises(TypeError, match="stage 'a' must return 2 values"):
        run_stages([Stage("a", lambda: 1, (), ("x", "y"))], {}, workers=1)


def test_levels_group_what_could_run_side_by_side():
    stages = [Stage("f", lambda e: 1, ("e",), ("f",)), Stage("s", lambda f: 1, ("f",), ("s",)),
              Stage("b", lambda f: 1, ("f",), ("b",)), Stage("r", lambda s, b: 1, ("s", "b"), ("r",))]
    assert stage_order(stages, {"e"}) == [["f"], ["s", "b"], ["r"]]


def test_values_no_stage_needs_any_more_are_let_go():
    """With ``keep``, an intermediate value is dropped once every stage that needs it ran (it
    is not in the result), while what is kept and what was given stay."""
    import gc
    import weakref

    class Big:
        pass

    seen = {}

    def make():
        big = Big()
        seen["ref"] = weakref.ref(big)
        return big

    def later(small):
        gc.collect()
        seen["alive when later ran"] = seen["ref"]() is not None
        return small + 1

    stages = [Stage("make", make, (), ("big",)),
              Stage("use", lambda big, x: x, ("big", "x"), ("small",)),
              Stage("later", later, ("small",), ("result",))]
    out = run_stages(stages, {"x": 1}, workers=1, keep={"result"})
    assert out == {"x": 1, "result": 2}
    assert seen["alive when later ran"] is False


def test_of_two_stages_failing_side_by_side_the_first_declared_is_reported():
    """The error does not depend on which thread was faster: a sequential run would have
    stopped at the first declared stage, so its error is the one raised."""
    def slow_bad(x):
        time.sleep(0.3)
        raise ValueError("first declared")

    def fast_bad(x):
        raise RuntimeError("second declared")

    stages = [Stage("a", slow_bad, ("x",), ("a",)), Stage("b", fast_bad, ("x",), ("b",))]
    for _ in range(3):
        with pytest.raises(ValueError, match="first declared"):
            run_stages(stages, {"x": 1}, workers=2)


def test_ctrl_c_stops_what_it_can_and_does_not_wait_for_running_stages():
    """An interrupt leaves at once (the run is marked KILLED by its caller); ``abort`` is told
    so that a query in another stage's thread stops too."""
    aborted = []

    def interrupted(x):
        raise KeyboardInterrupt

    stages = [Stage("long", lambda x: time.sleep(2) or x, ("x",), ("a",)),
              Stage("ctrl-c", interrupted, ("x",), ("b",))]
    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_stages(stages, {"x": 1}, workers=2, abort=lambda: aborted.append(True))
    assert time.perf_counter() - t < 1.5 and aborted == [True]


def test_each_stage_runs_inside_around():
    """Thread limits (threadpoolctl's OpenMP one) hold per thread: each stage enters them."""
    import contextlib

    inside = threading.local()
    seen = []

    @contextlib.contextmanager
    def limits():
        inside.on = True
        yield
        inside.on = False

    stages = [Stage(n, lambda x: seen.append(getattr(inside, "on", False)) or x, ("x",), (n,))
              for n in "ab"]
    run_stages(stages, {"x": 1}, workers=2, around=limits)
    assert seen == [True, True]


def test_map_side_by_side_keeps_the_order_and_runs_openmp_on_one_thread():
    """The k curve's fits: results in the order asked whatever finishes first, on the threads
    there are, each with OpenMP (scikit-learn's k-means) on one thread."""
    from threadpoolctl import threadpool_info

    from clustering.graph import map_side_by_side

    def openmp_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]

    def work(x):
        time.sleep(0.05 * (3 - x))  # the first item finishes last
        return x * 10, threading.get_ident(), openmp_threads()

    out = map_side_by_side(work, range(4), workers=2)
    assert [r[0] for r in out] == [0, 10, 20, 30]
    assert len({r[1] for r in out}) == 2
    assert all(set(r[2]) <= {1} for r in out)
    assert [r[0] for r in map_side_by_side(work, range(4), workers=1)] == [0, 10, 20, 30]


def test_background_hands_its_value_once_and_discards_what_nobody_claims():
    from clustering.graph import Background

    assert Background(lambda: 42).result() == 42
    with pytest.raises(ValueError, match="bad data"):
        Background(lambda: (_ for _ in ()).throw(ValueError("bad data"))).result()
    discarded, release = [], threading.Event()
    late = Background(lambda: release.wait(5) and "engine", discarded.append, stop=release.set)
    t = time.perf_counter()
    late.abandon()  # the caller failed first (the store refused): stopped, waited for, closed
    assert discarded == ["engine"] and time.perf_counter() - t < 1
    done = Background(lambda: "engine", discarded.append)
    time.sleep(0.05)
    done.abandon()
    assert discarded == ["engine", "engine"]
    where = Background(lambda: threading.current_thread().name, inline=True)
    assert where.result() == threading.current_thread().name
