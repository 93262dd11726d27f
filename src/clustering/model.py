"""The model that is saved and served: preprocessing + segmenter + persona names."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline


class SegmentationModel(BaseEstimator):
    """A fitted segmentation that assigns new customers (feature rows) to named segments.

    Parameters
    ----------
    pipeline:
        Fitted ``Pipeline([("preprocess", ...), ("segment", ...)])``.
    segment_names:
        Segment id -> persona name, fixed at training time so scoring returns the same names.
    """

    def __init__(self, pipeline: Pipeline, segment_names: dict[int, str]):
        self.pipeline = pipeline
        self.segment_names = segment_names

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.pipeline.feature_names_in_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment id per customer."""
        return np.asarray(self.pipeline.predict(X[list(self.feature_names_in_)]))

    def predict_names(self, X: pd.DataFrame) -> np.ndarray:
        ids = self.predict(X)
        return np.array([self.segment_names.get(int(i), f"segment {i}") for i in ids], dtype=object)
