"""What every segmenter shares: criteria, nearest centre, size-ordered ids, the base estimator.

Every segmenter has ``fit``, ``predict``, ``labels_``, ``n_clusters_`` and ``cluster_centers_``
(the mean of each segment in the model's feature space), and ``membership(X)`` that returns
labels, a confidence in [0, 1] and an outlier flag, so the rest of the pipeline never branches
on the algorithm. Segment ids are ordered by size (0 = largest); -1 means "fits no segment"
(HDBSCAN noise). ``predict`` on the training data reproduces ``labels_``.

A family fits one given ``n_clusters``; choosing k over a range is
:class:`clustering.segmenters.selection.SelectK`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from clustering.errors import ConfigError, DataError

#: criterion -> True when larger is better
CRITERIA: dict[str, bool] = {
    "silhouette": True,
    "calinski_harabasz": True,
    "davies_bouldin": False,
    "bic": False,
    "fpc": True,  # fuzzy partition coefficient (fuzzy c-means only)
    "stability": True,  # the largest k within 0.02 of the best stability
    "future_auc": True,  # hold-out repeat-purchase AUC (chosen by the training run, not SelectK)
}


def nearest_center(X: np.ndarray, centers: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Index of the nearest centre for every row: chunked matrix products, small enough
    chunks to stay in cache (a KD-tree is several times slower in 12 dimensions; equal to
    ``sklearn.metrics.pairwise_distances_argmin``, tested)."""
    cc = np.einsum("ij,ij->i", centers, centers)
    out = np.empty(len(X), dtype=np.int64)
    for lo in range(0, len(X), chunk):
        g = X[lo:lo + chunk] @ centers.T
        g *= -2
        g += cc
        out[lo:lo + chunk] = g.argmin(axis=1)
    return out


def distances_to(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row to every centre (``sklearn.metrics.euclidean_distances``
    without its input validation and copies)."""
    d = (np.einsum("ij,ij->i", X, X)[:, None] - 2 * X @ centers.T
         + np.einsum("ij,ij->i", centers, centers)[None, :])
    return np.sqrt(np.maximum(d, 0))


def size_order(labels: np.ndarray, n: int) -> np.ndarray:
    """Mapping old id -> new id that numbers segments by decreasing size (ties by old id)."""
    counts = np.bincount(labels[labels >= 0], minlength=n)
    order = np.lexsort((np.arange(n), -counts))
    mapping = np.empty(n, dtype=int)
    mapping[order] = np.arange(n)
    return mapping


def check_k(k: int, n: int) -> int:
    """A number of segments that ``n`` customers can form."""
    k = int(k)
    if k < 1:
        raise ConfigError(f"model.k must be a positive integer, got {k}")
    if n < k:
        raise DataError(f"{n} customers cannot form {k} segments: lower model.k")
    return k


class Segmenter(ClusterMixin, BaseEstimator):
    """Shared machinery of the families: size-ordered ids, centres, membership, diagnostics.

    A family implements ``_fit_raw`` (fit ``n_clusters`` segments, return the labels of the
    training customers in the algorithm's own numbering and keep what ``_raw_predict`` needs)
    and ``_raw_predict``. ``fit_scores_`` holds what the algorithm computes about its own fit
    (inertia, BIC, fuzzy partition coefficient) for choosing k.
    """

    progress: Callable[[str], None] | None = None

    # -- families implement ------------------------------------------------------------
    def _fit_raw(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_predict(self, X: np.ndarray) -> np.ndarray:
        """Labels in the algorithm's own numbering (before size ordering)."""
        raise NotImplementedError

    def _n_components(self) -> int:
        """Components of the fitted algorithm, empty ones included (0: follow the labels)."""
        return 0

    def _train_raw(self, X: np.ndarray) -> np.ndarray:
        """Raw labels of the training customers (algorithms that keep them skip predicting)."""
        return self._raw_predict(X)

    # -- shared --------------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        if self.progress:
            self.progress(msg)

    def fit(self, X, y=None):
        # row-major: a preprocessed pandas frame arrives column-major, and scikit-learn's
        # estimators copied it at every call (fit, predict, distances)
        X = np.asarray(X, dtype=np.float64, order="C")
        self.fit_scores_ = {}
        self._fit_raw(X)
        return self._finish(X)

    def fit_path(self, X: np.ndarray, ks: list[int]) -> Iterator[Segmenter]:
        """A fitted copy for every k in turn; families that can share work between the ks
        (a tree cut at several heights) override this."""
        params = self.get_params(deep=False)
        for k in ks:
            yield type(self)(**{**params, "n_clusters": k}).fit(X)

    def _finish(self, X: np.ndarray):
        """Size-ordered ids, centres and the outlier distance of the fitted model."""
        return self._finish_labels(X)._finish_geometry(X)

    def _finish_labels(self, X: np.ndarray):
        """Size-ordered ids of the training customers (all that choosing k needs)."""
        raw = self._train_raw(X)
        # k-means / GMM can leave their highest-numbered component empty: count the model's own
        n_raw = max(int(raw.max()) + 1 if (raw >= 0).any() else 0, self._n_components())
        self.mapping_ = size_order(raw, n_raw)
        self.labels_ = self._map(raw)
        self.n_clusters_ = int(len(np.unique(self.labels_[self.labels_ >= 0])))
        if self.n_clusters_ == 0:
            raise DataError("no segment found: every customer was left unassigned; for HDBSCAN "
                            "lower model.params.min_cluster_size")
        return self

    def _finish_geometry(self, X: np.ndarray):
        """Centres and the outlier distance (what assigning new customers needs)."""
        self.cluster_centers_ = np.vstack([X[self.labels_ == s].mean(axis=0)
                                           for s in range(self.n_clusters_)])
        d1 = self._distances(X)[np.arange(len(X)), np.maximum(self.labels_, 0)]
        self.outlier_distance_ = float(np.quantile(d1[self.labels_ >= 0], 0.999)) if len(d1) else 0.0
        return self

    def _map(self, raw: np.ndarray) -> np.ndarray:
        out = np.full(raw.shape, -1, dtype=int)
        ok = raw >= 0
        out[ok] = self.mapping_[raw[ok]]
        return out

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "mapping_")
        return self._map(self._raw_predict(np.asarray(X, dtype=np.float64, order="C")))

    def _distances(self, X: np.ndarray) -> np.ndarray:
        return distances_to(X, self.cluster_centers_)

    def transform(self, X) -> np.ndarray:
        """Distance to every segment centre (columns in segment-id order)."""
        check_is_fitted(self, "cluster_centers_")
        return self._distances(np.asarray(X, dtype=np.float64, order="C"))

    def membership(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, confidence in [0, 1] and outlier flags for new customers.

        Centroid methods: confidence = 1 - d1/d2 (the distance margin between the nearest and
        the second-nearest centre); outlier = farther from its centre than 99.9% of the
        training customers were. Unassigned customers (-1) get confidence 0.
        """
        X = np.asarray(X, dtype=np.float64, order="C")
        labels = self.predict(X)
        d = self._distances(X)
        own = d[np.arange(len(X)), np.maximum(labels, 0)]
        conf = margin_confidence(d, own)
        conf[labels < 0] = 0.0
        outlier = (labels < 0) | (own > self.outlier_distance_)
        return labels, conf, outlier

    def diagnostics(self, X: np.ndarray, seed: int = 0) -> dict[str, float]:
        """Metrics only this family knows (DBCV, noise, agreement with an exact tree)."""
        return {}

    def figures(self) -> dict[str, object]:
        """Plots only this family can draw (dendrogram, condensed tree), by artifact path."""
        return {}

    def __getstate__(self):
        # the progress callback belongs to the training session, not to the saved model
        state = self.__dict__.copy()
        state["progress"] = None
        return state


def margin_confidence(d: np.ndarray, own: np.ndarray) -> np.ndarray:
    """1 - d_own / d_second: the margin between the own and the next-nearest centre."""
    if d.shape[1] < 2:
        return np.ones(len(d))
    d2 = np.partition(d, 1, axis=1)[:, 1]
    return np.clip(1 - own / np.maximum(d2, 1e-12), 0, 1)
