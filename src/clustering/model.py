"""The model that is saved, registered and served: preprocessing + segmenter + persona names.

:class:`SegmentationModel` assigns customer feature rows to segments. It is logged to MLflow
as a pyfunc model (:class:`SegmentationPyfunc`) whose output per customer is the segment id,
the persona name, a confidence and an outlier flag; loading it needs only this package (shipped
with the model as code) and the pinned requirements.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from clustering.errors import DataError

OUTPUT_COLUMNS = ["segment", "persona", "confidence", "is_outlier"]


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
    """

    def __init__(self, pipeline: Pipeline, segment_names: dict[int, str],
                 id_map: dict[int, int] | None = None, lookback_days: int = 1095):
        self.pipeline = pipeline
        self.segment_names = segment_names
        self.id_map = id_map
        self.lookback_days = lookback_days

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.pipeline.feature_names_in_

    @property
    def segmenter(self):
        return self.pipeline[-1]

    def check_columns(self, X: pd.DataFrame) -> None:
        """Fail with the names of missing feature columns (and close matches)."""
        import difflib

        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            hints = {m: difflib.get_close_matches(m, list(map(str, X.columns)), n=1) for m in missing}
            said = ", ".join(f"'{m}'" + (f" (found '{h[0]}')" if h else "") for m, h in hints.items())
            raise DataError(f"feature column(s) missing: {said}. The model needs: "
                            f"{', '.join(self.feature_names_in_)}")

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
        """Persona name per segment id (a lookup table: O(n), no sorting)."""
        ids = np.asarray(ids, dtype=np.int64)
        hi = max(max(self.segment_names, default=0), int(ids.max(initial=0)))
        lut = np.array([self.segment_names.get(i, f"segment {i}") for i in range(-1, hi + 1)],
                       dtype=object)
        return lut[ids + 1]

    def predict_names(self, X: pd.DataFrame) -> np.ndarray:
        return self.names_of(self.predict(X))

    def label_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Segment, persona, confidence (0..1) and outlier flag per row of ``X``."""
        labels, conf, outlier = self.segmenter.membership(self._transform(X))
        ids = self._publish(np.asarray(labels))
        return pd.DataFrame({"segment": ids.astype(np.int64), "persona": self.names_of(ids),
                             "confidence": np.asarray(conf, dtype=np.float64),
                             "is_outlier": np.asarray(outlier, dtype=bool)}, index=X.index)

    def distances(self, X: pd.DataFrame) -> pd.DataFrame:
        """Distance to every segment centre, columns named by published segment id."""
        d = self.segmenter.transform(self._transform(X))
        ids = self._publish(np.arange(d.shape[1]))
        return pd.DataFrame(d, columns=[f"distance_{i}" for i in ids], index=X.index)


class SegmentationPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: feature rows in, ``segment, persona, confidence, is_outlier`` out."""

    def load_context(self, context):
        self.model = joblib.load(context.artifacts["segmentation"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.label_frame(model_input)


def save_for_mlflow(model: SegmentationModel, directory: Path) -> Path:
    path = Path(directory) / "segmentation.joblib"
    joblib.dump(model, path)
    return path


def load_segmentation_model(model_uri: str) -> SegmentationModel:
    """The :class:`SegmentationModel` inside a logged or registered pyfunc model."""
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    return pyfunc.unwrap_python_model().model
