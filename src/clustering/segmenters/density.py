"""Density clustering: HDBSCAN on a PCA embedding, and assigning new customers to its segments.


Both the hdbscan library and fast_hdbscan describe their result by a condensed tree (rows of
parent, child, lambda_val, child_size), point labels and core distances. ``DensityPredictor``
keeps only what assignment needs (a KD-tree over the training embedding, core distances, the
tree's per-point lambdas and, per segment, its birth and peak lambda) and follows hdbscan's
``approximate_predict``: a new customer joins its nearest training customer in mutual
reachability distance, unless at that distance the neighbour's segment did not yet exist, in
which case it is noise (-1). Membership strength is lambda over the segment's peak lambda.
A customer identical to a training customer takes that customer's label and strength, so
the training data is labelled exactly as the clustering did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.decomposition import PCA

from clustering.errors import ConfigError, DataError
from clustering.segmenters.base import Segmenter


def selected_clusters(tree: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Map each label to the condensed-tree node that is its segment.

    The segment of label L is the topmost node whose subtree holds only L's points (cluster
    ids grow from the root downwards, so that is the smallest such id).
    """
    n = len(labels)
    parent = np.asarray(tree["parent"], dtype=np.int64)
    child = np.asarray(tree["child"], dtype=np.int64)
    points = child < n
    direct = pd.DataFrame({"node": parent[points], "label": labels[child[points]]})
    below: dict[int, set[int]] = {int(k): set(v) for k, v in
                                  direct.groupby("node")["label"].unique().items()}
    clusters = ~points
    up = dict(zip(child[clusters].tolist(), parent[clusters].tolist(), strict=True))
    for node in sorted(up, reverse=True):  # children before parents
        below.setdefault(up[node], set()).update(below.get(node, set()))
    out: dict[int, int] = {}
    for node in sorted(below):
        s = below[node]
        if len(s) == 1:
            (label,) = s
            if label >= 0 and label not in out:
                out[int(label)] = node
    return out


class DensityPredictor:
    """Approximate HDBSCAN prediction from a condensed tree (see the module docstring)."""

    def __init__(self, embedding: np.ndarray, tree: np.ndarray, labels: np.ndarray,
                 probabilities: np.ndarray, core_distances: np.ndarray, min_samples: int):
        n = len(labels)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.probabilities = np.asarray(probabilities, dtype=np.float64)
        self.core = np.asarray(core_distances, dtype=np.float64)
        self.min_samples = int(min_samples)
        self.kdtree = cKDTree(np.asarray(embedding, dtype=np.float64))
        parent = np.asarray(tree["parent"], dtype=np.int64)
        child = np.asarray(tree["child"], dtype=np.int64)
        lam = np.asarray(tree["lambda_val"], dtype=np.float64)
        self.point_lambda = np.zeros(n)
        points = child < n
        self.point_lambda[child[points]] = lam[points]
        n_labels = int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0
        self.birth = np.zeros(n_labels)
        self.peak = np.zeros(n_labels)
        birth_of = dict(zip(child[~points].tolist(), lam[~points].tolist(), strict=True))
        peak_of = pd.Series(lam).groupby(parent).max()
        for label, node in selected_clusters(tree, self.labels).items():
            self.birth[label] = birth_of.get(node, 0.0)  # the root is born at lambda 0
            self.peak[label] = float(peak_of.get(node, 0.0))

    def predict(self, E: np.ndarray, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
        """Labels (-1: noise) and membership strengths in [0, 1] for embedded customers
        (in chunks: the neighbour lists of a chunk take 320 bytes per customer)."""
        E = np.asarray(E, dtype=np.float64)
        parts = [E[lo:lo + chunk] for lo in range(0, len(E), chunk)] or [E]
        done = [self._predict_chunk(p) for p in parts]
        return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])

    def _neighbours(self, E: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.kdtree, cKDTree):  # scipy's tree queries on every core
            d, idx = self.kdtree.query(E, k=k, workers=-1)
            return d.reshape(len(E), k), idx.reshape(len(E), k)
        # models saved before kept scikit-learn's KDTree: the same neighbours, one core per chunk
        parts = np.array_split(E, max(1, min(os.cpu_count() or 1, len(E))))
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            done = list(pool.map(lambda p: self.kdtree.query(p, k=k), parts))
        return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])

    def _predict_chunk(self, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = min(2 * self.min_samples, len(self.labels))
        d, idx = self._neighbours(E, k)
        own_core = d[:, min(self.min_samples, k - 1)]
        mrd = np.maximum(np.maximum(self.core[idx], own_core[:, None]), d)
        best = mrd.argmin(axis=1)
        rows = np.arange(len(idx))
        nn = idx[rows, best]
        m = mrd[rows, best]
        lam = np.where(m > 0, 1.0 / np.where(m > 0, m, 1.0), np.finfo(np.float64).max)
        lab = self.labels[nn].copy()
        # hdbscan walks up the tree only when the neighbour itself left later than lambda
        walked = self.point_lambda[nn] > lam
        lab[(lab >= 0) & walked & (self.birth[np.maximum(lab, 0)] >= lam)] = -1
        ok = lab >= 0
        peak = self.peak[np.maximum(lab, 0)]
        strength = np.where(ok & (peak > 0),
                            np.minimum(lam, peak) / np.where(peak > 0, peak, 1.0), 0.0)
        strength[ok & (peak <= 0)] = 1.0
        same = d[:, 0] < 1e-9
        lab[same] = self.labels[idx[same, 0]]
        strength[same] = self.probabilities[idx[same, 0]]
        return lab, strength


class HDBSCANSegmenter(Segmenter):
    """HDBSCAN on a low-dimensional PCA embedding; noise customers get segment -1.

    Density clustering in 12+ dimensions is slow and unreliable, so the scaled features are
    first projected on ``n_components`` principal components (None: no projection). The
    number of segments follows from the data (``min_cluster_size``: customers, or below 1 a
    share of the customers, so a segment stays actionable at any size), not from k.
    ``backend``: "hdbscan" (the reference library), "fast_hdbscan" (a parallel Boruvka
    implementation, about 6x faster at 1M customers) or "auto" (fast_hdbscan from
    ``fast_above`` customers when it is installed). ``predict`` follows hdbscan's approximate
    prediction for either backend (``DensityPredictor``), noise -> -1.
    """

    def __init__(self, min_cluster_size: float = 0.0075, min_samples: int | None = 10,
                 n_components: int | None = 5, cluster_selection_method: str = "eom",
                 backend: str = "auto", fast_above: int = 50_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.n_components = n_components
        self.cluster_selection_method = cluster_selection_method
        self.backend = backend
        self.fast_above = fast_above
        self.random_state = random_state
        self.progress = progress

    def _embed(self, X):
        return self.pca_.transform(X) if self.pca_ is not None else X

    def _min_size(self, n: int) -> int:
        size = self.min_cluster_size
        if size <= 0:
            raise ConfigError(f"model.params.min_cluster_size must be positive, got {size}")
        return max(5, round(size * n)) if size < 1 else int(size)

    def _backend(self, n: int) -> str:
        if self.backend not in ("auto", "hdbscan", "fast_hdbscan"):
            raise ConfigError(f"unknown HDBSCAN backend '{self.backend}'; "
                              "choose auto, hdbscan or fast_hdbscan")
        if self.backend != "auto":
            return self.backend
        try:
            import fast_hdbscan  # noqa: F401
        except ImportError:
            return "hdbscan"
        return "fast_hdbscan" if n >= self.fast_above else "hdbscan"

    def _fit_raw(self, X):
        from hdbscan.plots import CondensedTree

        if len(X) < self._min_size(len(X)):
            raise DataError(f"{len(X)} customers are fewer than model.params.min_cluster_size "
                            f"({self.min_cluster_size})")
        self.pca_ = (PCA(n_components=min(self.n_components, X.shape[1]),
                         random_state=self.random_state).fit(X)
                     if self.n_components else None)
        E = self._embed(X)
        self.min_cluster_size_ = self._min_size(len(E))
        min_samples = self.min_samples or self.min_cluster_size_
        self.backend_ = self._backend(len(E))
        self._say(f"HDBSCAN ({self.backend_}) on {E.shape[0]:,} customers x {E.shape[1]} dimensions, "
                  f"segments of at least {self.min_cluster_size_:,}")
        if self.backend_ == "fast_hdbscan":
            import fast_hdbscan

            m = fast_hdbscan.HDBSCAN(min_cluster_size=self.min_cluster_size_,
                                     min_samples=self.min_samples,
                                     cluster_selection_method=self.cluster_selection_method).fit(E)
            raw_tree, core = m._condensed_tree, m._core_distances
        else:
            import hdbscan

            m = hdbscan.HDBSCAN(min_cluster_size=self.min_cluster_size_, min_samples=self.min_samples,
                                cluster_selection_method=self.cluster_selection_method,
                                prediction_data=True, core_dist_n_jobs=1).fit(E)
            raw_tree, core = m.condensed_tree_._raw_tree, m.prediction_data_.core_distances
        labels = np.asarray(m.labels_, dtype=np.int64)
        self.condensed_tree_ = CondensedTree(raw_tree, labels)
        self.predictor_ = DensityPredictor(E, raw_tree, labels, m.probabilities_, core, min_samples)
        self.probabilities_ = self.predictor_.probabilities

    def _train_raw(self, X):
        return self.predictor_.labels

    def _raw_predict(self, X):
        return self.predictor_.predict(self._embed(X))[0]

    def _finish_geometry(self, X):
        super()._finish_geometry(X)
        self.outlier_distance_ = np.inf  # noise, not distance, marks HDBSCAN outliers
        return self

    def membership(self, X):
        X = np.asarray(X, dtype=np.float64)
        labels, strength = self.predictor_.predict(self._embed(X))
        labels = self._map(labels)
        return labels, np.asarray(strength, float), labels < 0

    def validity(self, X, sample: int = 2000, seed: int = 0) -> float:
        """DBCV (density-based cluster validity) on a sample of the embedded customers."""
        from hdbscan.validity import validity_index

        E = self._embed(np.asarray(X, dtype=np.float64))
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(E), size=min(sample, len(E)), replace=False)
        lab = self.labels_[idx]
        if len(np.unique(lab[lab >= 0])) < 2:
            return float("nan")
        try:
            return float(validity_index(E[idx].astype(np.float64), lab))
        except (ValueError, ZeroDivisionError):
            return float("nan")

    def diagnostics(self, X: np.ndarray, seed: int = 0) -> dict[str, float]:
        """Noise share, DBCV, the backend used and the mean membership of assigned customers."""
        labels = self.labels_
        return {"noise_share": float((labels < 0).mean()),
                "dbcv": self.validity(X, seed=seed),
                "hdbscan_fast_backend": float(self.backend_ == "fast_hdbscan"),
                "mean_membership": float(self.probabilities_[labels >= 0].mean())}

    def figures(self) -> dict[str, object]:
        from clustering.reporting.plots import plot_condensed_tree

        return {"plots/condensed_tree.png": plot_condensed_tree(self)}

    def __getstate__(self):
        # the condensed tree is for the training report's plot, not for assigning customers
        state = super().__getstate__()
        state.pop("condensed_tree_", None)
        return state
