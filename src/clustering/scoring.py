"""Batch scoring: labels for new customers from a registered model.

Input is either raw transactions (the same loading, feature code and snapshot logic as
training, with the model's own lookback window) or a ready feature table. Output: one row per
scored customer with segment id, persona, confidence, outlier flag, model name and version and
the snapshot date, written atomically (temporary name, then rename).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from clustering.engines import Engine, LocalEngine
from clustering.errors import DataError
from clustering.files import read_frame, write_frame
from clustering.inputs.checks import QualityPolicy
from clustering.inputs.sources import DataSources
from clustering.inputs.tables import TableSource
from clustering.model import SegmentationModel
from clustering.tracking.pyfunc import load_segmentation_model
from clustering.tracking.registry import model_identity, resolve_model_uri


@dataclass
class ScoreResult:
    labels: pd.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)
    snapshot_date: dt.date | None = None
    model_name: str = ""
    model_version: str = ""
    notes: list[str] = field(default_factory=list)  # what the data checks said, as in training
    quarantine_path: Path | None = None
    delimiter: str = ","  # how the scored transactions were written: the labels CSV follows
    decimal: str = "."


def score_features(model: SegmentationModel, features: pd.DataFrame,
                   id_column: str = "customer_id") -> pd.DataFrame:
    """Label a feature table (one row per customer; with ``is_buyer`` / ``is_prospect``
    columns, prospects and former customers get their relationship's label)."""
    if id_column not in features:
        raise DataError(f"feature table has no '{id_column}' column; set id_column=<column>")
    ids = features[id_column]
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):  # each would get two label rows, and a join downstream doubles them
        raise DataError(f"feature table: {repeated.nunique():,} {id_column} values appear more "
                        f"than once ({len(repeated):,} rows; e.g. {repeated.iloc[0]!r}): one row "
                        "per customer is scored; aggregate or deduplicate the table first")
    model.check_columns(features)
    numeric = features[list(model.feature_names_in_)].select_dtypes("number")
    values = numeric.to_numpy(dtype=float, na_value=np.nan)
    infinite = numeric.columns[np.isinf(values).any(axis=0)]
    if len(infinite):  # NaN is imputed as in training; an infinity is a broken value
        raise DataError(f"feature table: infinite values in {', '.join(map(str, infinite))} "
                        f"({int(np.isinf(values).sum()):,} "
                        "cells): a division by zero upstream? Replace them with empty cells")
    return model.customer_labels(features.reset_index(drop=True), id_column)


def score_transactions(model: SegmentationModel, engine: Engine,
                       snapshot_date=None) -> tuple[pd.DataFrame, dict[str, int], dt.date]:
    """Build features as of the snapshot with the model's lookback and label every customer.

    Customers without a purchase in the window cannot be segmented: they are labelled by
    their relationship (prospect, former) and counted in the second value.
    """
    fr = engine.features_at(pd.Timestamp(snapshot_date).date() if snapshot_date else None)
    not_segmented = {
        "prospect (never bought)": fr.n_prospects,
        f"former (no purchase in the {model.lookback_days}-day window)": fr.n_lapsed,
    }
    return score_features(model, fr.table), not_segmented, fr.snapshot_date


def write_labels(labels: pd.DataFrame, path: str | Path, delimiter: str = ",",
                 decimal: str = ".") -> Path:
    """Parquet, CSV (in ``delimiter`` and ``decimal``) or Excel by extension, via a temporary
    file and an atomic rename."""
    return write_frame(labels, path, delimiter, decimal)


def score(model_ref: str, *, sources: DataSources | None = None,
          features_path: str | None = None, id_column: str = "customer_id",
          snapshot_date: str | None = None, data_dir: str | None = None,
          quarantine_path: str | Path | None = None) -> ScoreResult:
    """Score customers with a model given as models:/name@alias, models:/name/version, a run id
    or runs:/ URI, from transactions (``sources``: read and checked as in training, with the
    training run's checks, currency rates, margin rates and lookback; a ``max_share`` raised
    above the training run's applies) or a ready feature table. The rows the checks set aside
    go to ``quarantine_path`` (Parquet). DuckDB spills beyond its memory limit into
    ``data_dir`` (default: the system's temporary folder)."""
    notes, quarantined, dialect = [], None, (",", ".")
    uri = resolve_model_uri(model_ref)
    name, version = model_identity(uri)
    model = load_segmentation_model(uri)
    if features_path:
        p = Path(features_path)
        if not p.exists():
            raise DataError(f"feature table '{features_path}' does not exist")
        table = read_frame(p, (id_column,))
        labels, skipped, snap = score_features(model, table, id_column), {}, None
    else:
        if sources is None:
            raise DataError("nothing to score: give transactions or a feature table")
        sources = _as_trained(model, sources, uri)
        engine = LocalEngine(sources, lookback_days=model.lookback_days,
                             snapshot_date=snapshot_date,
                             data_dir=data_dir or tempfile.gettempdir())
        try:
            notes = engine.loaded.describe()
            dialect = (engine.loaded.delimiter, engine.loaded.decimal)
            labels, skipped, snap = score_transactions(model, engine, snapshot_date)
            if quarantine_path is not None:
                quarantined = engine.write_quarantine(Path(quarantine_path))
        finally:
            engine.close()
    labels["model_name"] = name
    labels["model_version"] = version
    labels["snapshot_date"] = pd.Timestamp(snap) if snap else pd.NaT
    return ScoreResult(labels, skipped, snap, name, version, notes, quarantined, *dialect)


def _as_trained(model: SegmentationModel, sources: DataSources, uri: str) -> DataSources:
    """The sources read with the training run's checks and margin rates."""
    checks = getattr(model, "checks", None)  # models saved before it carried its checks
    if checks is not None:  # the ceiling may be raised for a file, as its message says
        sources = dataclasses.replace(sources, policy=_scoring_policy(checks, sources.policy,
                                                                      uri))
    margins = getattr(model, "margins", None)
    if margins and not sources.transactions.margins:  # profit as in training
        sources = dataclasses.replace(sources, transactions=dataclasses.replace(
            sources.transactions, margins=dict(margins)))
    return sources


@dataclass
class History:
    """The model scored at each snapshot: one row per customer and snapshot."""

    labels: pd.DataFrame  # customer_id, snapshot, relationship, segment, segment_name, persona
    model_name: str
    model_version: str
    snapshots: list[dt.date]
    notes: list[str] = field(default_factory=list)


HISTORY_COLUMNS = ["customer_id", "relationship", "segment", "segment_name", "persona"]


def score_history(model_ref: str, sources: DataSources, dates: list[dt.date] | None,
                  data_dir: str | None = None, say=print, last: int = 12,
                  every: str = "month") -> History:
    """The model ``model_ref`` at each of ``dates`` (None: ``last`` snapshots ``every`` month,
    quarter, ... up to the day after the last transaction): features as of each date from
    what happened before it only, with the model's lookback, checks and margin rates. A
    snapshot before anyone bought is left out, and said."""
    from clustering.evaluation.drift import last_snapshots

    uri = resolve_model_uri(model_ref)
    name, version = model_identity(uri)
    model = load_segmentation_model(uri)
    engine = LocalEngine(_as_trained(model, sources, uri), lookback_days=model.lookback_days,
                         data_dir=data_dir or tempfile.gettempdir())
    frames = []
    try:
        notes = engine.loaded.describe()
        if dates is None:
            dates = last_snapshots(engine.loaded.quality.snapshot_date, every, last)
        kept = []
        for i, d in enumerate(dates, 1):
            try:
                fr = engine.features_at(d)
            except DataError as exc:
                if "no customer bought" not in str(exc):
                    raise DataError(f"snapshot {d}: {exc}") from None
                say(f"snapshot {d} ({i}/{len(dates)}): no purchase in its window yet, left out")
                continue
            kept.append(d)
            labels = score_features(model, fr.table)[HISTORY_COLUMNS]
            engine.release(d)  # a snapshot's features are not needed again
            frames.append(labels.assign(snapshot=d))
            say(f"snapshot {d} ({i}/{len(dates)}): {len(labels):,} customers, "
                f"{int((labels['relationship'] == 'current').sum()):,} segmented")
    finally:
        engine.close()
    if len(kept) < 2:
        raise DataError(f"a history needs two snapshots with purchases; {len(kept)} of "
                        f"{len(dates)} have any: choose from= and to= within the data's dates")
    long = pd.concat(frames, ignore_index=True)[["snapshot", *HISTORY_COLUMNS]]
    return History(long, name, version, kept, notes)


def _scoring_policy(checks: QualityPolicy, given: QualityPolicy, uri: str) -> QualityPolicy:
    """The training run's checks for scoring: a raised ceiling and the scoring data's own
    rates apply; amounts in another currency than the model's need rates to convert them."""
    model_currency = getattr(checks, "currency", None)  # models saved before it: unknown
    rates = given.currency_rates or checks.currency_rates
    if (model_currency and given.currency and not rates
            and given.currency.strip().upper() != model_currency.strip().upper()):
        raise DataError(f"the data is in {given.currency} (data.currency), the model {uri} was "
                        f"trained on {model_currency} amounts: give data.currency_rates="
                        f"{{{given.currency}: <{model_currency} per {given.currency}>}} to convert "
                        f"them, or data.currency={model_currency} if the amounts are "
                        f"{model_currency}")
    return dataclasses.replace(checks, max_share=max(checks.max_share, given.max_share),
                               currency_rates=rates,
                               currency=model_currency or given.currency)


#: the columns a transactions DataFrame is read by when none are mapped (the sample's names)
DEFAULT_COLUMNS = {"customer_id": "customer_id", "order_id": "order_id",
                   "timestamp": "timestamp", "amount": "amount", "quantity": "quantity",
                   "category": "category", "is_return": "is_return",
                   "payment_delay_days": "payment_delay_days",
                   "is_new_product": "is_new_product"}


def customer_features(transactions: pd.DataFrame, customers: pd.DataFrame | None = None, *,
                      columns: dict[str, str | None] | None = None,
                      customer_columns: dict[str, str | None] | None = None,
                      attributes: list[str] | None = None, snapshot_date=None,
                      model: SegmentationModel | None = None,
                      lookback_days: int = 1095) -> pd.DataFrame:
    """The feature table a model reads (one row per customer: recency, frequency, revenue,
    cycles, growth, returns, ...), from a transactions DataFrame and, optionally, a customers
    DataFrame: the same checks and features as `make train` and `make score` (DuckDB, in
    memory). With ``model``, its lookback, data checks and margin rates apply. ``columns`` maps
    the roles (customer_id, order_id, timestamp, amount, quantity, ...) to your column names;
    roles your data does not have map to None.

    >>> X = customer_features(tx, model=model)          # doctest: +SKIP
    >>> Pipeline([("segments", SegmentFeatures("models:/segmentation-sample@champion")),
    ...           ("clf", LogisticRegression())]).fit(X, y)  # doctest: +SKIP
    """
    given = {**DEFAULT_COLUMNS, **(columns or {})}
    mapped = {r: c for r, c in given.items() if c is None or c in transactions.columns}
    with tempfile.TemporaryDirectory(prefix="segmentation-frames-") as tmp:
        tx_path = Path(tmp) / "transactions.parquet"
        transactions.to_parquet(tx_path, index=False)
        cust = None
        if customers is not None:
            cust_path = Path(tmp) / "customers.parquet"
            customers.to_parquet(cust_path, index=False)
            cust = TableSource(str(cust_path), "parquet",
                               {"customer_id": "customer_id", **(customer_columns or {})})
        checks = getattr(model, "checks", None) or QualityPolicy()
        margins = getattr(model, "margins", None)
        sources = DataSources(TableSource(str(tx_path), "parquet", mapped, margins=margins),
                              cust, None, checks, list(attributes or []))
        engine = LocalEngine(sources, lookback_days=getattr(model, "lookback_days", lookback_days),
                             snapshot_date=snapshot_date, data_dir=tmp)
        try:
            return engine.features_at(pd.Timestamp(snapshot_date).date() if snapshot_date
                                      else None).table
        finally:
            engine.close()


class SegmentFeatures(TransformerMixin, BaseEstimator):
    """Adds a registered segmentation's output to a downstream scikit-learn ``Pipeline``.

    ``transform`` takes customer feature rows and returns the segment one-hot columns
    (``segment_<id>``), optionally the persona (categorical) and the distances to every
    segment centre; with ``passthrough`` the input columns are kept too.
    """

    def __init__(self, model_uri: str, onehot: bool = True, persona: bool = False,
                 distances: bool = True, passthrough: bool = False):
        self.model_uri = model_uri
        self.onehot = onehot
        self.persona = persona
        self.distances = distances
        self.passthrough = passthrough

    def fit(self, X: pd.DataFrame, y=None):
        self.model_ = load_segmentation_model(resolve_model_uri(self.model_uri))
        self.segments_ = sorted(self.model_.segment_names)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        lab = self.model_.label_frame(X)
        parts = [X.reset_index(drop=True)] if self.passthrough else []
        if self.onehot:
            seg = lab["segment"].to_numpy()
            parts.append(pd.DataFrame({f"segment_{s}": (seg == s).astype(float)
                                       for s in self.segments_}))
        if self.persona:
            personas = self.model_.personas_of(np.asarray(self.segments_))
            parts.append(pd.DataFrame({"persona": pd.Categorical(
                lab["persona"], categories=list(dict.fromkeys(personas)))}))
        if self.distances:
            parts.append(self.model_.distances(X).reset_index(drop=True))
        return pd.concat(parts, axis=1)
