"""The Spark engine: the same checks and feature definitions as the local engine, on a Spark
session (local mode or a cluster). It answers what :class:`clustering.engines.Engine` asks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from clustering.features.customer import CustomerSample, FeatureResult
from clustering.inputs.sources import DataSources, resolve_files
from clustering.inputs.tables import LoadedData
from clustering.spark.features import (
    build_customer_features_spark,
    holdout_outcomes_spark,
    read_customers,
    read_transactions,
    spark_session,
)


class SparkEngine:
    """Spark SQL: the same checks and feature definitions on a Spark session (local mode or a
    cluster at ``master``)."""

    name = "spark"
    samples_customers = False  # computes every customer's calibration pass (it scales out)

    def __init__(self, sources: DataSources, *, lookback_days: int, snapshot_date=None,
                 master: str = "local[2]", driver_memory: str = "2g",
                 conf: dict[str, str] | None = None):
        self.lookback_days = lookback_days
        self.session = spark_session(master, driver_memory, dict(conf or {}))
        tx = sources.transactions
        self.snapshot, available, warnings = read_transactions(self.session, tx, snapshot_date)
        self.customers = None
        self.loaded = LoadedData(files=resolve_files(tx.path, tx.fmt), available=available,
                                 missing_optional=[], warnings=warnings)
        if sources.customers is not None:
            self.customers = read_customers(self.session, sources.customers, sources.attributes)
            self.loaded.customer_files = self.customers.files
            self.loaded.attributes = self.customers.attributes
            self.loaded.has_signup = self.customers.has_signup

    def features_at(self, day: dt.date | None,
                    sample: CustomerSample | None = None) -> FeatureResult:
        """Every customer's features (a ``sample`` is a speed-up of the local engine: Spark
        computes the whole calibration pass, as it scales out)."""
        return build_customer_features_spark(self.session, day or self.snapshot,
                                             self.loaded.available, self.lookback_days,
                                             self.customers)

    def prefetch(self, day: dt.date, days: int, sample: CustomerSample | None = None) -> None:
        """Spark plans its work lazily: nothing to start ahead."""

    def outcomes(self, customer_ids: pd.Series, split: dt.date, days: int,
                 sample: CustomerSample | None = None) -> pd.DataFrame:
        return holdout_outcomes_spark(self.session, customer_ids, split, days)

    def write_quarantine(self, path: Path) -> Path | None:
        return None  # the Spark checks count nothing per row yet

    def release_lines(self) -> None:
        """Nothing to drop: Spark reads the lines from the files."""

    def release(self, day: dt.date) -> None:
        """Nothing is kept per date on Spark."""

    def top_categories(self, customers: pd.DataFrame, since: dt.date, until: dt.date,
                       top: int = 3) -> dict[int, str]:
        return {}  # the local engine's report detail; not computed on Spark yet

    def interrupt(self) -> None:
        """Cancel the Spark jobs a stage is running (Ctrl-C)."""
        self.session.sparkContext.cancelAllJobs()

    def close(self) -> None:
        """Drop what the run cached; the session stays up for the caller (tests and notebooks
        reuse it)."""
        self.session.catalog.clearCache()
