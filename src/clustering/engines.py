"""Engines: where the data work runs. DuckDB in-process by default, Spark SQL beyond one machine.

An engine loads and checks the configured sources once, then answers what the stages after
loading need: customer features as of a date, what customers did in a hold-out window, and the
quarantined rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd

from clustering.evaluation.holdout import holdout_outcomes
from clustering.features.customer import CustomerSample, FeatureResult, build_customer_features
from clustering.inputs.checks import write_quarantine
from clustering.inputs.sources import DataSources, LoadedData, load_local

#: each customer's purchase value per category in the features' window
#: (:func:`clustering.features.customer.keep_categories`), for the segment mix
CATEGORIES = "customer_categories"


class Engine(Protocol):
    name: str
    loaded: LoadedData

    def features_at(self, day: dt.date | None,
                    sample: CustomerSample | None = None) -> FeatureResult: ...

    def prefetch(self, day: dt.date, days: int, sample: CustomerSample | None = None) -> None: ...

    def outcomes(self, customer_ids: pd.Series, split: dt.date, days: int,
                 sample: CustomerSample | None = None) -> pd.DataFrame: ...

    def write_quarantine(self, path: Path) -> Path | None: ...

    def release(self, day: dt.date) -> None: ...

    def release_lines(self) -> None: ...

    def top_categories(self, customers: pd.DataFrame, since: dt.date, until: dt.date,
                       top: int = 3) -> dict[int, str]: ...

    def close(self) -> None: ...

    def interrupt(self) -> None: ...


def duckdb_connection(memory_limit: str, data_dir: str,
                      threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB that spills to disk past ``memory_limit``: files larger than
    memory are streamed and aggregated within a bounded footprint. Times with a zone are read
    in UTC, not in the machine's zone, so a run gives the same dates on every machine.

    The allocator's background threads give freed query memory back to the system while the
    Python stages run; without them it stays held until the next query frees it (1M
    customers: the peak 2.7-3.3 GB -> 2.7-2.9 GB, and 0.5-1 s faster: no purging in the
    queries' own threads)."""
    spill = Path(data_dir) / ".duckdb_tmp"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill),
                                 "allocator_background_threads": True})
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def interrupt(con: duckdb.DuckDBPyConnection) -> None:
    """Stop the query ``con`` is running, if any (it raises in the thread that runs it)."""
    try:
        con.interrupt()
    except duckdb.ConnectionException:  # closed already: nothing runs
        pass


class LocalEngine:
    """DuckDB: the sources are read, checked and held in one in-process connection."""

    name = "local"
    samples_customers = True  # features_at and outcomes honour a CustomerSample

    def __init__(self, sources: DataSources, *, lookback_days: int,
                 include: list[str] | None = None, snapshot_date=None,
                 memory_limit: str = "8GB", data_dir: str = "./data", threads: int | None = None,
                 con: duckdb.DuckDBPyConnection | None = None):
        self.lookback_days = lookback_days
        self.include = include or None
        self._features: dict = {}
        self._outcomes: dict = {}
        self._pool: ThreadPoolExecutor | None = None
        self._background: dict = {}  # (day, sample) -> (its connection, its stop flag)
        self._categories: tuple | None = None  # the window CATEGORIES holds, once kept
        self._lines = True  # until release_lines
        # stages run side by side, and a DuckDB connection serves one thread at a time
        self._lock = threading.RLock()
        # ``con``: made by the caller, who may interrupt the loading from another thread
        self.con = con or duckdb_connection(memory_limit, data_dir, threads)
        try:
            self.loaded = load_local(self.con, sources, snapshot_date)
        except BaseException:
            self.con.close()
            raise

    def features_at(self, day: dt.date | None,
                    sample: CustomerSample | None = None) -> FeatureResult:
        """Features as of ``day`` (None: the snapshot), of the ``sample``'s customers when
        given; computed once per day and sample, as choosing k and validating on the hold-out
        both ask for the calibration date."""
        key = (day, sample)
        with self._lock:
            kept = self._features.get(key)
            if isinstance(kept, Future):  # started by prefetch: its errors are raised here
                try:
                    self._features[key], (okey, outcome) = kept.result()
                    self._outcomes[okey] = outcome
                finally:
                    self._end(key, kept)
            elif kept is None:
                # the first pass of every customer keeps their categories for the segment mix
                keep = sample is None and self._categories is None
                fr = self._features[key] = build_customer_features(
                    self.con, self.loaded, day, self.lookback_days, self.include, sample,
                    categories=CATEGORIES if keep else None)
                if keep:
                    self._categories = (fr.window_start, fr.snapshot_date)
            return self._features[key]

    def prefetch(self, day: dt.date, days: int, sample: CustomerSample | None = None) -> None:
        """Start the features as of ``day`` and its buyers' outcomes over the next ``days`` on
        a second connection, in a background thread, while the caller goes on with work in
        Python (which holds one core at most; DuckDB shares both). :meth:`features_at` waits
        for it; :meth:`release` and :meth:`close` stop it."""
        key = (day, sample)
        if key in self._features:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="features")
        cur = self.con.cursor()  # a DuckDB connection is used by one thread at a time
        cur.execute("SET TimeZone = 'UTC'")  # a setting of the connection, not inherited
        stop = threading.Event()  # interrupt() stops a running query only, so checked between

        def work() -> tuple[FeatureResult, tuple]:
            if stop.is_set():
                raise CancelledError
            fr = build_customer_features(cur, self.loaded, day, self.lookback_days, self.include,
                                         sample)
            if stop.is_set():
                raise CancelledError
            return fr, ((day, days), holdout_outcomes(cur, fr.buyers["customer_id"], day, days,
                                                      sample))

        self._background[key] = (cur, stop)
        self._features[key] = self._pool.submit(work)

    def _end(self, key, pending: Future) -> None:
        """Stop the background pass of ``key`` (if it still runs), wait for it, close its
        connection."""
        cur, stop = self._background.pop(key, (None, None))
        if cur is None:
            return
        if not pending.done():
            stop.set()
            if not pending.cancel():
                cur.interrupt()
                pending.exception()  # returns once the interrupted query has ended
        cur.close()

    def outcomes(self, customer_ids: pd.Series, split: dt.date, days: int,
                 sample: CustomerSample | None = None) -> pd.DataFrame:
        """Hold-out outcomes of ``customer_ids`` (the ``sample``'s when given); kept for the
        same customers and window, as choosing k and validating both ask for the calibration
        buyers'."""
        key = (split, days)
        with self._lock:
            cached = self._outcomes.get(key)
            if cached is None or not cached["customer_id"].equals(
                    customer_ids.reset_index(drop=True)):
                self._outcomes[key] = holdout_outcomes(self.con, customer_ids, split, days, sample)
            return self._outcomes[key]

    def write_quarantine(self, path: Path) -> Path | None:
        with self._lock:
            return write_quarantine(self.con, path)

    def release(self, day: dt.date) -> None:
        """Forget the features and outcomes kept for ``day`` (the calibration date, once the
        hold-out validation is done: 700 MB at a million customers)."""
        with self._lock:
            for key in [k for k in self._features if k[0] == day]:
                kept = self._features.pop(key)
                if isinstance(kept, Future):  # started and never read: stopped
                    self._end(key, kept)
            self._outcomes = {k: v for k, v in self._outcomes.items() if k[0] != day}

    def release_lines(self) -> None:
        """Drop the checked lines and the events once no stage reads them (the features and
        the hold-out's calibration pass are done; the segment mix reads the categories the
        features kept): 0.9 GB at a million customers, which set the run's peak while the
        final model was fitted. The quarantine stays for the report."""
        with self._lock:
            self._lines = False
            tables = {t for (t,) in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
            for table in ("transactions", "events"):
                if table in tables:
                    self.con.execute(f"DROP TABLE {table}")

    def top_categories(self, customers: pd.DataFrame, since: dt.date, until: dt.date,
                       top: int = 3) -> dict[int, str]:
        """Per segment (``customers``: customer_id, segment), its ``top`` product categories by
        share of the segment's purchase value in [since, until): 'dairy 31%, bakery 22%'."""
        if "category" not in self.loaded.available:
            return {}
        with self._lock:
            rows = self._top_categories(customers, since, until, top)
        out: dict[int, list[str]] = {}
        for segment, category, share in rows:
            out.setdefault(int(segment), []).append(f"{category} {share:.0%}")
        return {s: ", ".join(c) for s, c in out.items()}

    def _top_categories(self, customers: pd.DataFrame, since: dt.date, until: dt.date,
                        top: int) -> list[tuple]:
        self.con.register("_segments", customers[["customer_id", "segment"]])
        # each customer's categories, kept by the features for this window (2M rows at a
        # million customers, against 10M lines), else the lines
        kept = self._categories == (since, until)
        if not (kept or self._lines):
            return []  # another window, once the lines are gone: no categories to show
        values = (f"SELECT customer_id, category, value FROM {CATEGORIES}" if kept else
                  """SELECT customer_id, category, amount AS value FROM transactions
                     WHERE ts >= $since::TIMESTAMP AND ts < $until::TIMESTAMP AND amount > 0
                       AND NOT is_return AND category IS NOT NULL""")
        params = {"top": top} | ({} if kept else {"since": since, "until": until})
        rows = self.con.execute(f"""
            WITH v AS (
              SELECT s.segment, t.category, sum(t.value) AS value
              FROM ({values}) t JOIN _segments s USING (customer_id)
              GROUP BY ALL)
            SELECT segment, category, value / sum(value) OVER (PARTITION BY segment) AS share
            FROM v QUALIFY row_number() OVER (PARTITION BY segment ORDER BY value DESC,
                                                         category) <= $top
            ORDER BY segment, share DESC""", params).fetchall()
        self.con.unregister("_segments")
        return rows

    def interrupt(self) -> None:
        """Stop the query a stage is running (Ctrl-C): it raises in that stage's thread."""
        interrupt(self.con)

    def close(self) -> None:
        """Stop a background pass still running (an interrupted or failed run) and close,
        once no stage uses the connection (an interrupted query ends in moments)."""
        for key in list(self._background):
            self._end(key, self._features.pop(key))
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.interrupt()
        with self._lock:
            self.con.close()


def open_engine(engine, sources: DataSources, *, lookback_days: int, include: list[str],
                snapshot_date, data_dir: str, threads: int | None,
                con: duckdb.DuckDBPyConnection | None = None) -> Engine:
    """The configured engine (:class:`clustering.config.EngineConfig`) with the data loaded
    (``con``: the local engine's DuckDB connection, when the caller made it)."""
    if engine.name == "spark":
        from clustering.spark.engine import SparkEngine  # pyspark only when Spark is asked for

        return SparkEngine(sources, lookback_days=lookback_days, snapshot_date=snapshot_date,
                           master=engine.master, driver_memory=engine.driver_memory,
                           conf=dict(engine.conf))
    return LocalEngine(sources, lookback_days=lookback_days, include=include,
                       snapshot_date=snapshot_date, memory_limit=engine.memory_limit,
                       data_dir=data_dir, threads=threads, con=con)
