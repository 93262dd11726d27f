"""The model that is saved, registered and served: preprocessing + segmenter + persona names.

:class:`SegmentationModel` assigns customer feature rows to segments. It is logged to MLflow
as a pyfunc model (:class:`SegmentationPyfunc`) whose output per customer is the segment id,
the persona name, a confidence and an outlier flag; loading it needs only this package (shipped
with the model as code) and the pinned requirements.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from clustering.errors import DataError
from clustering.inputs.checks import QualityPolicy

OUTPUT_COLUMNS = ["segment", "segment_name", "persona", "confidence", "is_outlier"]


def _lookup(names: dict[int, str], ids: np.ndarray) -> pd.Categorical:
    """``names`` per segment id (a lookup table: O(n), no sorting)."""
    ids = np.asarray(ids, dtype=np.int64)
    hi = max(max(names, default=0), int(ids.max(initial=0)))
    return categorical(ids + 1, [names.get(i, f"segment {i}") for i in range(-1, hi + 1)])


def categorical(codes: np.ndarray, categories: list) -> pd.Categorical:
    """Integer ``codes`` into ``categories`` (-1: empty) as a pandas categorical of the
    distinct texts that occur, sorted: one byte a customer where text held each row's
    characters, and no Python string per row (pandas 3 turned each 1M-row array of them into
    Arrow text, 0.5 s a column). The texts that occur are counted, not sorted out (pandas'
    ``remove_unused_categories`` took 0.15 s a million)."""
    codes = np.asarray(codes, dtype=np.int64)
    texts, first = np.unique(np.array([str(c) for c in categories] + [""], dtype=object),
                             return_inverse=True)  # one code per distinct text
    mapped = np.append(first[:-1], -1)[np.where(codes >= 0, codes, len(categories))]
    keep = np.flatnonzero(np.bincount(mapped[mapped >= 0], minlength=len(texts)))
    renumber = np.full(len(texts) + 1, -1, dtype=np.int64)  # [-1] stays empty
    renumber[keep] = np.arange(len(keep))
    return pd.Categorical.from_codes(renumber[mapped], pd.Index(texts[keep], dtype="str"))


def text_from_codes(codes: np.ndarray, categories: list[str]) -> pd.Series:
    """A text column from integer codes into ``categories`` (-1: empty), as a categorical
    (:func:`categorical`); files get text (:func:`clustering.files.plain_text`)."""
    return pd.Series(categorical(codes, categories))


def text_column(values, rows: np.ndarray, others: tuple[np.ndarray, str] | None = None
                ) -> pd.Series:
    """``values`` (one per True of ``rows``) as a text column as long as ``rows``, empty
    elsewhere, or ``others``' text where its mask is True (one more code, not a second pass
    over a million rows)."""
    codes, uniques = pd.factorize(np.asarray(values) if not isinstance(values, pd.Series)
                                  else values)
    full = np.full(len(rows), -1, dtype=np.int64)
    full[rows] = codes
    categories = list(uniques)
    if others is not None and others[0].any():
        full[others[0]] = len(categories)
        categories.append(others[1])
    return text_from_codes(full, categories)


@contextmanager
def _needs(table: pd.DataFrame, who: str):
    """A column that a baseline or signal of the model reads and ``table`` lacks: a one-line
    error naming it, not a KeyError from inside the baseline."""
    from clustering.features.customer import FEATURE_SOURCES

    try:
        yield
    except KeyError as exc:
        col = exc.args[0] if exc.args else None
        if not isinstance(col, str) or col in table.columns or (
                col not in FEATURE_SOURCES and col != "cycles_missed"):
            raise  # not a feature column the table lacks: a bug, shown as one
        raise DataError(
            f"feature column '{col}' missing: {who} of this model reads it (the training data "
            "had it: costs or data.margins give profit_total, an events table the activity "
            "features). Score from transactions mapped as in training, or give a feature table "
            "with the training run's columns.") from None


class SegmentationModel(BaseEstimator):
    """A fitted segmentation that assigns new customers (feature rows) to named segments.

    Parameters
    ----------
    pipeline:
        Fitted ``Pipeline([("preprocess", ...), ("segment", ...)])``.
    segment_names:
        Segment id -> persona name, fixed at training time so scoring returns the same names.
    id_map:
        Segmenter id -> published segment id (keeps ids stable across retrains); None: same.
    lookback_days:
        The feature window the model was trained with (scoring from transactions reuses it).
    checks:
        The data checks' policy of the training run (deduplication, quarantine ceiling,
        currency rates): scoring from transactions checks and converts alike.
    baselines:
        Baseline name -> the baseline fitted on the training customers, so every labelled
        customer also carries the practitioners' labels (RFM cell, ABC-XYZ, ...).
    relationship_names:
        Persona name of customers who cannot be segmented: ``prospect`` (never bought) and
        ``former`` (bought, but not in the feature window).
    signals:
        The fitted :class:`clustering.features.signals.CustomerSignals` (potential, overdue flag): every
        labelled customer carries them too.
    margins:
        The training data's margin rates per category (``data.margins``), if profit came from
        them: scoring transactions computes profit alike when the scoring data gives none.
    segment_personas:
        Segment id -> the persona (the marketer's level) its segment belongs to; models saved
        before the two levels have none, and their persona is the segment's name.
    """

    def __init__(self, pipeline: Pipeline, segment_names: dict[int, str],
                 id_map: dict[int, int] | None = None, lookback_days: int = 1095,
                 checks: QualityPolicy | None = None, baselines: dict | None = None,
                 relationship_names: dict[str, str] | None = None, signals=None,
                 margins: dict[str, float] | None = None,
                 segment_personas: dict[int, str] | None = None):
        self.pipeline = pipeline
        self.segment_personas = segment_personas
        self.margins = margins
        self.signals = signals
        self.segment_names = segment_names
        self.id_map = id_map
        self.lookback_days = lookback_days
        self.checks = checks
        self.baselines = baselines
        self.relationship_names = relationship_names

    def __getstate__(self):
        """Pickled without the baselines' training labels (an object array per baseline, one
        string per customer: seconds to save and to load at a million customers, and never
        used to label new customers)."""
        import copy

        state = super().__getstate__()
        if state.get("baselines"):
            slim = {}
            for name, est in state["baselines"].items():
                est = copy.copy(est)
                est.__dict__.pop("labels_", None)
                slim[name] = est
            state["baselines"] = slim
        return state

    #: parameters added after the first models were registered: older pickles lack them
    LATER_PARAMS = ("checks", "baselines", "relationship_names", "signals", "margins")

    def __setstate__(self, state):
        """A model saved before a parameter existed loads with its default (None), so that
        repr, ``get_params`` and ``clone`` work on it too."""
        for name in self.LATER_PARAMS:
            state.setdefault(name, None)
        super().__setstate__(state)

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.pipeline.feature_names_in_

    @property
    def segmenter(self):
        return self.pipeline[-1]

    def check_columns(self, X: pd.DataFrame) -> None:
        """Fail with the names of missing feature columns (and close matches)."""
        import difflib

        from clustering.features.customer import FEATURE_SOURCES
        from clustering.features.potential import COLUMNS as POTENTIAL

        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            def why(m: str) -> str:  # what the data lacks for it: a column, or the customers table
                close = difflib.get_close_matches(m, list(map(str, X.columns)), n=1)
                if close:
                    return f" (found '{close[0]}')"
                if m in FEATURE_SOURCES:
                    cols = [c for c in FEATURE_SOURCES[m] if c not in ("customer_id", "timestamp")]
                    setting = {"signup_date": "data.customers_path with "
                                              "data.customer_columns.signup_date",
                               "profit": "data.columns.cost or data.margins",
                               "events": "data.events_path"}
                    return (f" (computed from the {', '.join(cols)} column: give "
                            f"{setting.get(cols[0], 'data.columns.' + cols[0])})" if cols else "")
                if m in POTENTIAL or m == "cycles_missed":  # computed from other features
                    return ""
                return (" (a customer attribute: give data.customers_path and data.attributes as "
                        "in training)")

            raise DataError(f"feature column(s) missing: {', '.join(repr(m) + why(m) for m in missing)}"
                            f". The model needs: {', '.join(self.feature_names_in_)}")

    def _publish(self, ids: np.ndarray) -> np.ndarray:
        if not self.id_map:
            return ids
        lut = np.arange(max(max(self.id_map), int(ids.max(initial=0))) + 2)
        for old, new in self.id_map.items():
            lut[old] = new
        out = ids.copy()
        ok = ids >= 0
        out[ok] = lut[ids[ok]]
        return out

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        self.check_columns(X)
        Xs = self.pipeline[:-1].transform(X[list(self.feature_names_in_)])
        if not np.isfinite(Xs).all():
            raise DataError("NaN or infinite values after preprocessing; check the input features")
        return Xs

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment id per customer (-1: fits no segment)."""
        return self._publish(np.asarray(self.segmenter.predict(self._transform(X))))

    def names_of(self, ids: np.ndarray) -> np.ndarray:
        """Segment name per segment id (a lookup table: O(n), no sorting)."""
        return _lookup(self.segment_names, ids)

    def personas_of(self, ids: np.ndarray) -> np.ndarray:
        """Persona (the marketer's level) per segment id."""
        return _lookup(getattr(self, "segment_personas", None) or self.segment_names, ids)

    def predict_names(self, X: pd.DataFrame) -> np.ndarray:
        return self.names_of(self.predict(X))

    def label_frame(self, X: pd.DataFrame, transformed: np.ndarray | None = None
                    ) -> pd.DataFrame:
        """Segment, its name, its persona, confidence (0..1) and outlier flag per row of
        ``X`` (``transformed``: those rows already preprocessed, as training holds them)."""
        if transformed is not None and len(transformed) != len(X):
            raise ValueError(f"{len(transformed)} preprocessed rows for {len(X)} customers")
        labels, conf, outlier = self.segmenter.membership(
            self._transform(X) if transformed is None else transformed)
        ids = self._publish(np.asarray(labels))
        return pd.DataFrame({"segment": ids.astype(np.int64), "segment_name": self.names_of(ids),
                             "persona": self.personas_of(ids),
                             "confidence": np.asarray(conf, dtype=np.float64),
                             "is_outlier": np.asarray(outlier, dtype=bool)}, index=X.index)

    def answer(self, X: pd.DataFrame) -> pd.DataFrame:
        """What serving returns per feature row: the label frame, the relationship (a feature
        row is a current customer's) and the labels of every baseline the row's features
        allow (RFM, ABC-XYZ, BCG, lifecycle, ...; one needing another column is left out)."""
        out = self.label_frame(X)
        out.insert(0, "relationship", "current")
        for name, baseline in (getattr(self, "baselines", None) or {}).items():
            try:
                cols = baseline.label_columns(X, name)
            except Exception:  # noqa: BLE001 - needs a column or a model the rows do not carry
                continue
            for c in cols.columns:
                out[c] = np.asarray(cols[c], dtype=object)
        return out

    def customer_labels(self, table: pd.DataFrame, id_column: str = "customer_id",
                        transformed: np.ndarray | None = None,
                        current: pd.DataFrame | None = None) -> pd.DataFrame:
        """A label for every customer of a feature table: ``relationship`` (prospect, current,
        former), segment (empty for prospects and former customers), its name, the persona
        (the marketer's level; prospects and former customers are their own), confidence,
        outlier flag, the signals (potential, overdue) and each baseline's labels (empty for
        prospects, who have no history).
        Rows without ``is_buyer`` / ``is_prospect`` columns count as current customers.
        ``transformed``: the current customers' rows already preprocessed, in order (training
        has them; a million rows took 1 s to preprocess again); ``current``: those customers'
        rows of ``table`` (training holds them: not copied again, 500 MB at a million)."""
        n = len(table)
        buyer = table["is_buyer"].to_numpy(bool) if "is_buyer" in table else np.ones(n, bool)
        prospect = (table["is_prospect"].to_numpy(bool) if "is_prospect" in table
                    else np.zeros(n, bool)) & ~buyer
        kinds = ["current", "prospect", "former"]
        kind = np.where(buyer, 0, np.where(prospect, 1, 2))
        names = {"prospect": "Prospects", "former": "Former customers",
                 **(getattr(self, "relationship_names", None) or {})}
        segment = np.zeros(n, dtype=np.int64)
        confidence, outlier = np.full(n, np.nan), np.zeros(n, bool)
        personas = [names.get(k, k) for k in kinds]
        persona = kind.copy()  # codes into ``personas``
        segment_names, segment_name = list(personas), kind.copy()
        if buyer.any():
            self.check_columns(table)  # then only the model's columns are copied
            if transformed is not None:  # only the number of rows is read
                rows = pd.DataFrame(index=pd.RangeIndex(int(buyer.sum())))
            else:
                rows = (current if current is not None else table.loc[buyer])[
                    list(self.feature_names_in_)]
            lab = self.label_frame(rows, transformed)
            codes, uniques = pd.factorize(lab["persona"])
            persona[buyer] = codes + len(personas)
            personas += list(uniques)
            codes, uniques = pd.factorize(lab["segment_name"])
            segment_name[buyer] = codes + len(segment_names)
            segment_names += list(uniques)
            segment[buyer] = lab["segment"].to_numpy()
            confidence[buyer] = lab["confidence"].to_numpy()
            outlier[buyer] = lab["is_outlier"].to_numpy()
        out = {"customer_id": table[id_column].array,
               "relationship": text_from_codes(kind, kinds),
               "segment": pd.arrays.IntegerArray(segment, ~buyer),
               "segment_name": text_from_codes(segment_name, segment_names),
               "persona": text_from_codes(persona, personas),
               "confidence": confidence, "is_outlier": outlier}
        signals = getattr(self, "signals", None)
        if signals is not None:
            with _needs(table, "the signals (potential, overdue, activity)"):
                signal_columns = list(signals.label_columns(table.head(0)).columns)
                if not set(signal_columns) <= set(table.columns):  # training passes them computed
                    table = signals.add_to(table)
            for c in signal_columns:  # as they are (categoricals stay one byte a row)
                out[c] = table[c].array
        # the baselines label the customers segmented (text columns); a former customer (no
        # purchase in the window) is "former" in each, never a prospect or a hibernating RFM cell
        baselines = getattr(self, "baselines", None) or {}
        past = (table if not baselines or buyer.all() else current if current is not None
                else table[buyer])
        former = kind == 2
        for name, baseline in baselines.items():
            with _needs(table, f"the {name} baseline"):
                cols = baseline.label_columns(past, name)
            for c in cols.columns:
                out[c] = text_column(cols[c], buyer, (former, "former"))
        return pd.DataFrame(out, index=pd.RangeIndex(n))

    def distances(self, X: pd.DataFrame) -> pd.DataFrame:
        """Distance to every segment centre, columns named by published segment id."""
        d = self.segmenter.transform(self._transform(X))
        ids = self._publish(np.arange(d.shape[1]))
        return pd.DataFrame(d, columns=[f"distance_{i}" for i in ids], index=X.index)


#: modules that held pickled classes before they moved: models registered earlier still load
MOVED_MODULES = {"clustering.segment": "clustering.segmenters",
                 "clustering.density": "clustering.segmenters.density",
                 # the flat modules before the wings (models pickled until December 2026)
                 "clustering.preprocess": "clustering.features.preprocess",
                 "clustering.potential": "clustering.features.potential",
                 "clustering.signals": "clustering.features.signals",
                 "clustering.checks": "clustering.inputs.checks",
                 "clustering.segmenters.spark": "clustering.spark.segmenter"}


def load_pickled(path: str | Path) -> SegmentationModel:
    """``joblib.load`` that also finds classes pickled under their former modules."""
    import importlib
    import sys

    for old, new in MOVED_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))
    return joblib.load(path)
