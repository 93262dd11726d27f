"""Segmenters: scikit-learn style estimators that assign customers to segments.

Every segmenter has ``fit``, ``predict``, ``labels_`` and ``n_clusters_``; where the algorithm
knows them, ``cluster_centers_`` too. Segment ids are ordered by size (0 = largest) so that
the same data and seed always give the same ids.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.utils.validation import check_is_fitted

from clustering.errors import ConfigError, DataError

#: criterion -> True when larger is better
CRITERIA: dict[str, bool] = {
    "silhouette": True,
    "calinski_harabasz": True,
    "davies_bouldin": False,
}


def size_order(labels: np.ndarray, n: int) -> np.ndarray:
    """Mapping old id -> new id that numbers segments by decreasing size (ties by old id)."""
    counts = np.bincount(labels[labels >= 0], minlength=n)
    order = np.lexsort((np.arange(n), -counts))
    mapping = np.empty(n, dtype=int)
    mapping[order] = np.arange(n)
    return mapping


def criterion_scores(
    X: np.ndarray, labels: np.ndarray, sample_size: int, seed: int
) -> dict[str, float]:
    """Internal indices of one partition; silhouette on a sample (O(sample^2), not O(n^2))."""
    if len(np.unique(labels)) < 2:
        return {k: float("nan") for k in CRITERIA}
    n = X.shape[0]
    size = min(sample_size, n) if sample_size else n
    return {
        "silhouette": float(
            silhouette_score(X, labels, sample_size=size if size < n else None, random_state=seed)
        ),
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


class KMeansSegmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means with k given, or chosen over ``k_range`` by ``criterion``.

    Parameters
    ----------
    n_clusters:
        Number of segments; ``None`` chooses it from ``k_range``.
    k_range:
        Inclusive (min, max) of k tried when ``n_clusters`` is None.
    criterion:
        ``silhouette`` (on a sample of ``sample_size``), ``calinski_harabasz`` or
        ``davies_bouldin``. The whole curve is kept in ``k_curve_``.
    minibatch:
        Use mini-batch k-means (for large data).
    progress:
        Called with a message after each k (the training pipeline prints it).
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        k_range: tuple[int, int] = (3, 10),
        criterion: str = "silhouette",
        n_init: int = 4,
        max_iter: int = 300,
        minibatch: bool = False,
        sample_size: int = 10_000,
        random_state: int = 0,
        progress: Callable[[str], None] | None = None,
    ):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.n_init = n_init
        self.max_iter = max_iter
        self.minibatch = minibatch
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress

    def _make(self, k: int):
        if self.minibatch:
            return MiniBatchKMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter,
                                   random_state=self.random_state, batch_size=4096)
        return KMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter,
                      random_state=self.random_state)

    def _candidates(self, n: int) -> list[int]:
        if self.n_clusters is not None:
            ks = [int(self.n_clusters)]
        else:
            lo, hi = (int(v) for v in self.k_range)
            if lo < 2 or hi < lo:
                raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {lo}, {hi}")
            ks = list(range(lo, hi + 1))
        if ks[0] < 1:
            raise ConfigError(f"model.k must be a positive integer, got {ks[0]}")
        if self.criterion not in CRITERIA:
            raise ConfigError(f"unknown criterion '{self.criterion}'; choose one of {sorted(CRITERIA)}")
        if n < ks[0]:
            raise DataError(f"{n} customers cannot form {ks[0]} segments: lower model.k")
        return [k for k in ks if k <= n]

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        rows = []
        best, best_model, best_score = None, None, None
        higher = CRITERIA[self.criterion]
        for k in self._candidates(X.shape[0]):
            model = self._make(k).fit(X)
            scores = criterion_scores(X, model.labels_, self.sample_size, self.random_state)
            rows.append({"k": k, "inertia": float(model.inertia_), **scores})
            s = scores[self.criterion]
            better = best_score is None or (not np.isnan(s) and (s > best_score if higher else s < best_score))
            if better:
                best, best_model, best_score = k, model, s
            if self.progress:
                self.progress(f"k={k}: {self.criterion}={s:.4f} inertia={model.inertia_:.4g}")
        self.k_curve_ = pd.DataFrame(rows)
        mapping = size_order(best_model.labels_, best)
        centers = np.empty_like(best_model.cluster_centers_)
        centers[mapping] = best_model.cluster_centers_
        self.model_ = best_model
        self.mapping_ = mapping
        self.cluster_centers_ = centers
        self.labels_ = mapping[best_model.labels_]
        self.n_clusters_ = best
        self.inertia_ = float(best_model.inertia_)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "cluster_centers_")
        return self.mapping_[self.model_.predict(np.asarray(X, dtype=np.float64))]

    def transform(self, X) -> np.ndarray:
        """Distance to every segment centre (columns in segment-id order)."""
        check_is_fitted(self, "cluster_centers_")
        d = self.model_.transform(np.asarray(X, dtype=np.float64))
        out = np.empty_like(d)
        out[:, self.mapping_] = d
        return out

    def __getstate__(self):
        # the progress callback belongs to the training session, not to the saved model
        state = self.__dict__.copy()
        state["progress"] = None
        return state


SEGMENTERS: dict[str, type] = {"kmeans": KMeansSegmenter}


def make_segmenter(name: str, **params) -> BaseEstimator:
    if name not in SEGMENTERS:
        raise ConfigError(f"unknown model '{name}'; choose one of {sorted(SEGMENTERS)}")
    try:
        return SEGMENTERS[name](**params)
    except TypeError as exc:
        raise ConfigError(f"model '{name}': {exc}") from None
