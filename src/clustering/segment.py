"""Segmenters: scikit-learn style estimators that assign customers to segments.

Every segmenter has ``fit``, ``predict``, ``labels_``, ``n_clusters_`` and ``cluster_centers_``
(the mean of each segment in the model's feature space), and ``membership(X)`` that returns
labels, a confidence in [0, 1] and an outlier flag, so the rest of the pipeline never branches
on the algorithm. Segment ids are ordered by size (0 = largest); -1 means "fits no segment"
(HDBSCAN noise). ``predict`` on the training data reproduces ``labels_``.

Where the number of segments is not given it is chosen over ``k_range`` by a criterion; the
whole curve is kept in ``k_curve_``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, MiniBatchKMeans, kmeans_plusplus
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
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
}


def nearest_center(X: np.ndarray, centers: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Index of the nearest centre for every row: chunked matrix products, small enough
    chunks to stay in cache (a KD-tree is several times slower in 12 dimensions)."""
    cc = np.einsum("ij,ij->i", centers, centers)
    out = np.empty(len(X), dtype=np.int64)
    for lo in range(0, len(X), chunk):
        g = X[lo:lo + chunk] @ centers.T
        g *= -2
        g += cc
        out[lo:lo + chunk] = g.argmin(axis=1)
    return out


def _distances_to(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row to every centre."""
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


def criterion_scores(
    X: np.ndarray, labels: np.ndarray, sample_size: int, seed: int
) -> dict[str, float]:
    """Internal indices of one partition, ignoring customers labelled -1 (no segment);
    silhouette on a sample (O(sample^2), not O(n^2))."""
    keep = labels >= 0
    X, labels = X[keep], labels[keep]
    names = ("silhouette", "calinski_harabasz", "davies_bouldin")
    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return {k: float("nan") for k in names}
    n = X.shape[0]
    size = min(sample_size, n) if sample_size else n
    sil = silhouette_score(X, labels, sample_size=size if size < n else None, random_state=seed)
    return {
        "silhouette": float(sil),
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


def stability_ari(
    estimator: BaseEstimator, X: np.ndarray, n_runs: int = 4, fraction: float = 0.8,
    max_samples: int = 20_000, seed: int = 0, n_clusters: int | None = None,
) -> float:
    """Mean pairwise ARI between refits on random subsamples, compared on a common set.

    Each run fits a copy of ``estimator`` (with ``n_clusters``, by default the fitted or set
    number of segments) on ``fraction`` of the customers (at most ``max_samples``) and predicts
    a fixed evaluation sample; 1 = the same segments every time.
    Customers a refit leaves unassigned (-1, HDBSCAN's noise) are left out of that pair's ARI,
    so it compares segments, not agreement on noise; a refit that finds no segment at all is
    skipped.
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    evaluation = X[rng.choice(n, size=min(n, max_samples), replace=False)]
    k = n_clusters or getattr(estimator, "n_clusters_", None) or estimator.n_clusters
    # built from the parameters rather than cloned: clone would deep-copy a progress callback
    params = {**estimator.get_params(deep=False), "n_clusters": k, "progress": None}
    preds = []
    for _ in range(n_runs):
        idx = rng.choice(n, size=min(int(fraction * n), max_samples), replace=False)
        m = type(estimator)(**params)
        try:
            preds.append(m.fit(X[idx]).predict(evaluation))
        except DataError:
            continue
    pairs = []
    for i in range(len(preds)):
        for j in range(i + 1, len(preds)):
            both = (preds[i] >= 0) & (preds[j] >= 0)
            if both.sum() >= 2:
                pairs.append(adjusted_rand_score(preds[i][both], preds[j][both]))
    return float(np.mean(pairs)) if pairs else float("nan")


#: customers per refit of the per-k stability curve (kept small: it refits runs x k times)
STABILITY_CURVE_SAMPLE = 2_000


class Segmenter(ClusterMixin, BaseEstimator):
    """Shared machinery: k selection, size-ordered ids, centres, membership.

    With ``stability_runs`` > 1 (or the criterion ``stability``) the k curve also carries the
    stability of every k: the mean ARI of that many refits on random subsamples (80% of the
    customers, at most ``STABILITY_CURVE_SAMPLE``; 20,000 when stability chooses k).
    """

    progress: Callable[[str], None] | None = None
    n_clusters: int | None = None
    k_range: tuple[int, int] = (3, 10)
    criterion: str = "calinski_harabasz"
    sample_size: int = 10_000
    random_state: int = 0
    stability_runs: int = 0

    # -- subclasses implement ----------------------------------------------------------
    def _fit_k(self, X: np.ndarray, k: int):
        """Fit for one k; return (labels on X, fitted state, extra curve columns)."""
        raise NotImplementedError

    def _set_state(self, state) -> None:
        raise NotImplementedError

    def _raw_predict(self, X: np.ndarray) -> np.ndarray:
        """Labels in the algorithm's own numbering (before size ordering)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        if self.progress:
            self.progress(msg)

    def _candidates(self, n: int) -> list[int]:
        if self.n_clusters is not None:
            ks = [int(self.n_clusters)]
            if ks[0] < 1:
                raise ConfigError(f"model.k must be a positive integer, got {ks[0]}")
        else:
            lo, hi = (int(v) for v in self.k_range)
            if lo < 2 or hi < lo:
                raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {lo}, {hi}")
            ks = list(range(lo, hi + 1))
        if self.criterion not in CRITERIA:
            raise ConfigError(f"unknown criterion '{self.criterion}'; choose one of {sorted(CRITERIA)}")
        if n < ks[0]:
            raise DataError(f"{n} customers cannot form {ks[0]} segments: lower model.k")
        return [k for k in ks if k <= n]

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self._prepare(X)
        rows, best, best_score, best_state, states = [], None, None, None, {}
        higher = CRITERIA[self.criterion]
        ks = self._candidates(X.shape[0])
        Xk = X
        limit = getattr(self, "selection_sample", None)
        if len(ks) > 1 and limit and X.shape[0] > limit:
            # the k curve on a random sample, then one fit of the chosen k on everyone:
            # linear in customers instead of (number of k) full fits
            idx = np.random.default_rng(self.random_state).choice(X.shape[0], limit, replace=False)
            Xk = X[np.sort(idx)]
            self._say(f"choosing k on a random sample of {limit:,} of {X.shape[0]:,} customers")
        for k in ks:
            labels, state, extra = self._fit_k(Xk, k)
            scores = criterion_scores(Xk, labels, self.sample_size, self.random_state) | extra
            runs = self.stability_runs if self.stability_runs > 1 else 0
            if self.criterion == "stability":
                runs = runs or 4
            if runs and len(ks) > 1:
                # deciding k deserves stability_ari's full 20,000-customer refits; a curve
                # that is only reported gets small ones (runs x k refits)
                size = 20_000 if self.criterion == "stability" else STABILITY_CURVE_SAMPLE
                scores["stability"] = stability_ari(self, Xk, n_runs=runs, max_samples=size,
                                                    seed=self.random_state, n_clusters=k)
            if len(ks) > 1 and self.criterion not in scores:
                raise ConfigError(f"criterion '{self.criterion}' is not computed by "
                                  f"{type(self).__name__}; choose one of {sorted(scores)} "
                                  "or stability")
            rows.append({"k": k, **scores})
            s = scores[self.criterion] if len(ks) > 1 else float("nan")
            if best is None or (not np.isnan(s) and (best_score is None or np.isnan(best_score)
                                                     or (s > best_score if higher else s < best_score))):
                best, best_score, best_state = k, s, state
            if self.criterion == "stability":
                states[k] = state
            self._say(f"k={k}: {self.criterion}={s:.4f}")
        self.k_curve_ = pd.DataFrame(rows)
        if self.criterion == "stability" and len(ks) > 1:
            # k=2 is nearly always stable: take the largest k within 0.02 of the most stable
            stab = self.k_curve_.set_index("k")["stability"]
            best = int(stab[stab >= stab.max() - 0.02].index.max())
            best_state = states[best]
        if Xk is not X:
            best_state = self._fit_k(X, best)[1]
        self._set_state(best_state)
        raw = self._train_raw(X)
        # k-means / GMM can leave their highest-numbered component empty: count the model's own
        n_raw = max(int(raw.max()) + 1 if (raw >= 0).any() else 0, self._n_components())
        self.mapping_ = size_order(raw, n_raw)
        self.labels_ = self._map(raw)
        self.n_clusters_ = int(len(np.unique(self.labels_[self.labels_ >= 0])))
        if self.n_clusters_ == 0:
            raise DataError("no segment found: every customer was left unassigned; for HDBSCAN "
                            "lower model.params.min_cluster_size")
        self.cluster_centers_ = np.vstack([X[self.labels_ == s].mean(axis=0)
                                           for s in range(self.n_clusters_)])
        d1 = self._distances(X)[np.arange(len(X)), np.maximum(self.labels_, 0)]
        self.outlier_distance_ = float(np.quantile(d1[self.labels_ >= 0], 0.999)) if len(d1) else 0.0
        return self

    def _prepare(self, X: np.ndarray) -> None:
        """Hook for work done once before the k loop (e.g. a tree)."""

    def _train_raw(self, X: np.ndarray) -> np.ndarray:
        """Raw labels of the training customers (algorithms that keep them skip predicting)."""
        return self._raw_predict(X)

    def _n_components(self) -> int:
        """Components of the fitted algorithm, empty ones included (0: follow the labels)."""
        return 0

    def _map(self, raw: np.ndarray) -> np.ndarray:
        out = np.full(raw.shape, -1, dtype=int)
        ok = raw >= 0
        out[ok] = self.mapping_[raw[ok]]
        return out

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "mapping_")
        return self._map(self._raw_predict(np.asarray(X, dtype=np.float64)))

    def _distances(self, X: np.ndarray) -> np.ndarray:
        return _distances_to(X, self.cluster_centers_)

    def transform(self, X) -> np.ndarray:
        """Distance to every segment centre (columns in segment-id order)."""
        check_is_fitted(self, "cluster_centers_")
        return self._distances(np.asarray(X, dtype=np.float64))

    def membership(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, confidence in [0, 1] and outlier flags for new customers.

        Centroid methods: confidence = 1 - d1/d2 (the distance margin between the nearest and
        the second-nearest centre); outlier = farther from its centre than 99.9% of the
        training customers were. Unassigned customers (-1) get confidence 0.
        """
        X = np.asarray(X, dtype=np.float64)
        labels = self.predict(X)
        d = self._distances(X)
        own = d[np.arange(len(X)), np.maximum(labels, 0)]
        if d.shape[1] > 1:
            d2 = np.partition(d, 1, axis=1)[:, 1]
            conf = np.clip(1 - own / np.maximum(d2, 1e-12), 0, 1)
        else:
            conf = np.ones(len(X))
        conf[labels < 0] = 0.0
        outlier = (labels < 0) | (own > self.outlier_distance_)
        return labels, conf, outlier

    def __getstate__(self):
        # the progress callback belongs to the training session, not to the saved model
        state = self.__dict__.copy()
        state["progress"] = None
        return state


class KMeansSegmenter(Segmenter):
    """k-means (or mini-batch k-means for large data), k given or chosen over ``k_range``."""

    def __init__(self, n_clusters: int | None = None, k_range: tuple[int, int] = (3, 10),
                 criterion: str = "calinski_harabasz", n_init: int = 4, max_iter: int = 300,
                 minibatch: bool = False, sample_size: int = 10_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None, stability_runs: int = 0,
                 selection_sample: int | None = 200_000):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.n_init = n_init
        self.max_iter = max_iter
        self.minibatch = minibatch
        self.selection_sample = selection_sample
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress
        self.stability_runs = stability_runs

    def _fit_k(self, X, k):
        if self.minibatch:
            m = MiniBatchKMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter,
                                random_state=self.random_state, batch_size=4096)
        else:
            m = KMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter,
                       random_state=self.random_state)
        m.fit(X)
        return m.predict(X), m, {"inertia": float(m.inertia_)}

    def _set_state(self, state):
        self.model_ = state
        self.inertia_ = float(state.inertia_)

    def _n_components(self) -> int:
        return len(self.model_.cluster_centers_)

    def _distances(self, X):
        d = np.empty((len(X), len(self.mapping_)))
        d[:, self.mapping_] = self.model_.transform(X)
        return d

    def _raw_predict(self, X):
        return self.model_.predict(X)

    def membership(self, X):
        """One distance computation for labels, margin and outlier flag (the scoring path)."""
        X = np.asarray(X, dtype=np.float64)
        d = np.empty((len(X), len(self.mapping_)))
        d[:, self.mapping_] = self.model_.transform(X)
        labels = d.argmin(axis=1)
        own = d[np.arange(len(X)), labels]
        if d.shape[1] > 1:
            conf = np.clip(1 - own / np.maximum(np.partition(d, 1, axis=1)[:, 1], 1e-12), 0, 1)
        else:
            conf = np.ones(len(X))
        return labels, conf, own > self.outlier_distance_


class GaussianMixtureSegmenter(Segmenter):
    """Gaussian mixture: soft membership; k chosen by BIC by default."""

    def __init__(self, n_clusters: int | None = None, k_range: tuple[int, int] = (3, 10),
                 criterion: str = "bic", covariance_type: str = "full", n_init: int = 1,
                 sample_size: int = 10_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None, stability_runs: int = 0,
                 selection_sample: int | None = 200_000):
        self.selection_sample = selection_sample
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress
        self.stability_runs = stability_runs

    def _fit_k(self, X, k):
        m = GaussianMixture(n_components=k, covariance_type=self.covariance_type,
                            n_init=self.n_init, random_state=self.random_state).fit(X)
        return m.predict(X), m, {"bic": float(m.bic(X))}

    def _set_state(self, state):
        self.model_ = state

    def _n_components(self) -> int:
        return int(self.model_.n_components)

    def fit(self, X, y=None):
        super().fit(X, y)
        ll = self.model_.score_samples(np.asarray(X, dtype=np.float64))
        self.outlier_loglik_ = float(np.quantile(ll, 0.001))
        return self

    def _raw_predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """Membership probability per segment (columns in segment-id order)."""
        p = self.model_.predict_proba(np.asarray(X, dtype=np.float64))
        out = np.zeros_like(p)
        out[:, self.mapping_] = p
        return out

    def membership(self, X):
        X = np.asarray(X, dtype=np.float64)
        p = self.predict_proba(X)
        labels = self.predict(X)
        outlier = self.model_.score_samples(X) < self.outlier_loglik_
        return labels, p.max(axis=1), outlier


class FuzzyCMeansSegmenter(Segmenter):
    """Fuzzy c-means (scikit-fuzzy): every customer belongs to every segment to a degree.

    ``m`` (> 1) sets the fuzziness: near 1 it is k-means. With a dozen features the textbook
    2 flattens the memberships towards 1/k and pulls the centres together (on the sample data,
    ARI against the planted types 0.63 at m=2, 0.73 at m=1.5; k-means 0.74). The search starts
    from k-means++ seeds. The label is the segment of highest membership, which for Euclidean
    c-means is the nearest centre, so ``predict`` is exact; ``predict_proba`` and the membership confidence are the fuzzy
    memberships. k is chosen by any of the shared criteria or by the fuzzy partition
    coefficient (``criterion: fpc``, 1 = crisp segments), which finds the planted k on
    separated segments but falls with k on overlapping data.
    """

    def __init__(self, n_clusters: int | None = None, k_range: tuple[int, int] = (3, 10),
                 criterion: str = "calinski_harabasz", m: float = 1.5, max_iter: int = 300,
                 tol: float = 1e-5, sample_size: int = 10_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None, stability_runs: int = 0,
                 selection_sample: int | None = 200_000):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.m = m
        self.max_iter = max_iter
        self.tol = tol
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress
        self.stability_runs = stability_runs
        self.selection_sample = selection_sample

    def _fit_k(self, X, k):
        import skfuzzy

        if not self.m > 1:
            raise ConfigError(f"model.params.m (fuzziness) must be > 1, got {self.m}")
        # start from k-means++ seeds: scikit-fuzzy's random start lands in poor local optima
        seeds, _ = kmeans_plusplus(X, k, random_state=self.random_state)
        init = np.maximum(_distances_to(X, seeds), 1e-12) ** (-2.0 / (self.m - 1))
        init /= init.sum(axis=1, keepdims=True)
        centers, _, _, _, _, _, fpc = skfuzzy.cluster.cmeans(
            X.T, c=k, m=self.m, error=self.tol, maxiter=self.max_iter, init=init.T)
        return nearest_center(X, centers), centers, {"fpc": float(fpc)}

    def _set_state(self, state):
        self.centers_raw_ = state

    def _n_components(self) -> int:
        return len(self.centers_raw_)

    def _raw_predict(self, X):
        return nearest_center(X, self.centers_raw_)

    def predict_proba(self, X) -> np.ndarray:
        """Fuzzy memberships, columns in segment-id order (rows sum to 1)."""
        X = np.asarray(X, dtype=np.float64)
        d = np.empty((len(X), len(self.mapping_)))
        d[:, self.mapping_] = _distances_to(X, self.centers_raw_)
        d = np.maximum(d, 1e-12) ** (-2.0 / (self.m - 1))
        return d / d.sum(axis=1, keepdims=True)

    def membership(self, X):
        X = np.asarray(X, dtype=np.float64)
        p = self.predict_proba(X)
        labels = p.argmax(axis=1)
        own = self._distances(X)[np.arange(len(X)), labels]
        return labels, p.max(axis=1), own > self.outlier_distance_


# --- hierarchical -----------------------------------------------------------------------

def weighted_linkage(centers: np.ndarray, weights: np.ndarray, method: str = "ward") -> np.ndarray:
    """Agglomerative tree over weighted points (micro-cluster centres), in scipy's format.

    Ward merges by the increase in within-cluster sum of squares of the *customers* (each
    centre stands for ``weights`` customers), so the tree is the one exact Ward would build on
    data where every micro-cluster collapsed to its centre. Average linkage weights by size;
    complete takes the maximum. Nearest-neighbour chain: O(M^2) time and memory for M centres.
    """
    M = len(centers)
    w = np.asarray(weights, dtype=np.float64).copy()
    sq = np.einsum("ij,ij->i", centers, centers)
    D = np.sqrt(np.maximum(sq[:, None] - 2 * centers @ centers.T + sq[None, :], 0))
    if method == "ward":
        D = np.sqrt(2 * w[:, None] * w[None, :] / (w[:, None] + w[None, :])) * D
    elif method not in ("average", "complete"):
        raise ConfigError(f"unknown linkage '{method}'; choose ward, average or complete")
    np.fill_diagonal(D, np.inf)
    active = np.ones(M, bool)
    leaves = np.ones(M)  # scipy counts original observations (centres), not customers
    merges = []
    chain: list[int] = []
    for _ in range(M - 1):
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        while True:
            a = chain[-1]
            b = int(np.argmin(D[a]))
            if len(chain) > 1 and D[a, chain[-2]] <= D[a, b]:
                b = chain[-2]
            if len(chain) > 1 and b == chain[-2]:
                break
            chain.append(b)
        a, b = chain.pop(), chain.pop()
        h = D[a, b]
        na, nb = w[a], w[b]
        if method == "ward":
            nk = w
            new = np.sqrt(np.maximum(((nk + na) * D[a] ** 2 + (nk + nb) * D[b] ** 2 - nk * h ** 2)
                                     / (nk + na + nb), 0))
        elif method == "average":
            new = (na * D[a] + nb * D[b]) / (na + nb)
        else:
            new = np.maximum(D[a], D[b])
        merges.append((a, b, h, leaves[a] + leaves[b]))
        leaves[b] += leaves[a]
        D[b, :] = new
        D[:, b] = new
        D[a, :] = np.inf
        D[:, a] = np.inf
        D[b, b] = np.inf
        active[a] = False
        w[b] = na + nb
    return _to_scipy_linkage(merges, M)


def _to_scipy_linkage(merges: list[tuple[int, int, float, float]], M: int) -> np.ndarray:
    """Sort NN-chain merges by height and renumber clusters as scipy expects."""
    order = sorted(range(len(merges)), key=lambda i: merges[i][2])
    parent = list(range(2 * M - 1))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    root_id = {i: i for i in range(M)}
    Z = np.zeros((len(merges), 4))
    for row, i in enumerate(order):
        a, b, h, n = merges[i]
        ra, rb = find(a), find(b)
        ia, ib = root_id[ra], root_id[rb]
        Z[row] = [min(ia, ib), max(ia, ib), h, n]
        parent[rb] = ra
        root_id[ra] = M + row
    return Z


class HierarchicalSegmenter(Segmenter):
    """Agglomerative clustering (Ward, average or complete linkage), cut by k or distance.

    Up to ``exact_max`` customers the exact tree is built (fastcluster's memory-saving Ward,
    O(n) memory; average/complete need the O(n^2) distance matrix, so their exact limit is
    10,000). Beyond that, customers are compressed into ``n_micro`` k-means micro-clusters and
    the tree is built over them with their sizes as weights (``weighted_linkage``); every
    customer takes its micro-cluster's segment. ``predict`` assigns new customers the same way:
    the nearest training customer (exact) or the nearest micro-cluster (compressed).
    """

    def __init__(self, n_clusters: int | None = None, k_range: tuple[int, int] = (3, 10),
                 criterion: str = "calinski_harabasz", linkage: str = "ward",
                 distance_threshold: float | None = None, exact_max: int = 20_000,
                 n_micro: int = 2000, sample_size: int = 10_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None, stability_runs: int = 0):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.linkage = linkage
        self.distance_threshold = distance_threshold
        self.exact_max = exact_max
        self.n_micro = n_micro
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress
        self.stability_runs = stability_runs

    #: average/complete linkage need the O(n^2) distance matrix: 10,000 customers is 400 MB
    dense_limit = 10_000

    def _exact_limit(self) -> int:
        return self.exact_max if self.linkage == "ward" else min(self.exact_max, self.dense_limit)

    def _prepare(self, X):
        import fastcluster

        if self.linkage not in ("ward", "average", "complete"):
            raise ConfigError(f"unknown linkage '{self.linkage}'; choose ward, average or complete")
        n = X.shape[0]
        self.exact_ = n <= self._exact_limit()
        if self.exact_:
            self._say(f"exact {self.linkage} tree on {n:,} customers")
            self.points_ = X
            self.tree_ = (fastcluster.linkage_vector(X, method="ward") if self.linkage == "ward"
                          else fastcluster.linkage(X, method=self.linkage))
            self.nn_ = NearestNeighbors(n_neighbors=1).fit(X)
            self.point_map_ = np.arange(n)
        else:
            m = min(self.n_micro, n)
            self._say(f"compressing {n:,} customers into {m:,} micro-clusters, "
                      f"then a weighted {self.linkage} tree")
            km = MiniBatchKMeans(n_clusters=m, n_init=1, batch_size=8192, max_iter=50,
                                 random_state=self.random_state).fit(X)
            # brute-force nearest centre (what predict uses too): far faster than a KD-tree here
            nearest = nearest_center(X, km.cluster_centers_)
            weights = np.bincount(nearest, minlength=m).astype(float)
            used = weights > 0
            self.points_, weights = km.cluster_centers_[used], weights[used]
            self.point_map_ = (np.cumsum(used) - 1)[nearest]
            self.nn_ = None
            self.tree_ = weighted_linkage(self.points_, weights, self.linkage)

    def _cut(self, k: int | None) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster

        if self.distance_threshold is not None and k is None:
            return fcluster(self.tree_, self.distance_threshold, criterion="distance") - 1
        return fcluster(self.tree_, k, criterion="maxclust") - 1

    def _candidates(self, n):
        if self.distance_threshold is not None and self.n_clusters is None:
            return [None]
        return super()._candidates(n)

    def _fit_k(self, X, k):
        point_labels = self._cut(k)
        return point_labels[self.point_map_], point_labels, {}

    def _set_state(self, state):
        self.point_labels_ = state

    def _train_raw(self, X):
        return self.point_labels_[self.point_map_]

    def _raw_predict(self, X):
        if self.nn_ is not None:
            idx = self.nn_.kneighbors(X, return_distance=False)[:, 0]
        else:
            idx = nearest_center(X, self.points_)
        return self.point_labels_[idx]

    def membership(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, confidence and outlier flags; the margin is taken where the label comes from.

        A hierarchical segment need not be convex, so its centre may not be a customer's
        nearest. The label follows the nearest point of the tree (training customer or
        micro-cluster centre); confidence = 1 - d_own / d_other with d_own the distance to the
        nearest point of the customer's segment and d_other to the nearest point of any other
        segment. A point at distance 0 (the customer itself, for the exact tree's training
        customers) is passed over, so training customers get a leave-one-out margin rather
        than a certain 1. Outliers as for centroid methods.
        """
        X = np.asarray(X, dtype=np.float64)
        labels, _, outlier = super().membership(X)
        point_seg = self._map(self.point_labels_)
        order = np.argsort(point_seg, kind="stable")
        points, starts = self.points_[order], np.searchsorted(point_seg[order],
                                                              np.arange(self.n_clusters_))
        if self.n_clusters_ < 2:
            return labels, np.ones(len(X)), outlier
        # squared distances less |x|^2 in small chunks (cache-sized GEMMs), minimum per
        # segment, then |x|^2 back and one square root on the (customers x segments) result
        pp = np.einsum("ij,ij->i", points, points)
        xx = np.einsum("ij,ij->i", X, X)
        per_segment = np.empty((len(X), self.n_clusters_))
        for lo in range(0, len(X), 1024):
            d = X[lo:lo + 1024] @ points.T
            d *= -2
            d += pp
            if self.exact_:  # the training customers are the points: pass over the customer
                d[d + xx[lo:lo + 1024, None] <= 1e-12] = np.inf
            per_segment[lo:lo + 1024] = np.minimum.reduceat(d, starts, axis=1)
        per_segment = np.sqrt(np.maximum(per_segment + xx[:, None], 0))
        rows = np.arange(len(X))
        own = per_segment[rows, labels]
        per_segment[rows, labels] = np.inf
        conf = np.clip(1 - own / np.maximum(per_segment.min(axis=1), 1e-12), 0, 1)
        return labels, conf, outlier

    def _exact_labels(self, X: np.ndarray) -> np.ndarray:
        import fastcluster
        from scipy.cluster.hierarchy import fcluster

        tree = (fastcluster.linkage_vector(X, method="ward") if self.linkage == "ward"
                else fastcluster.linkage(X, method=self.linkage))
        return fcluster(tree, self.n_clusters_, criterion="maxclust")

    def exact_agreement(self, X: np.ndarray, sample: int = 30_000, seed: int = 0,
                        perturbed: bool = False) -> dict[str, float]:
        """How closely this model follows the exact tree, beside how closely the exact tree
        follows itself.

        ``exact_agreement_ari``: ARI between this model's labels and the exact tree built on a
        random sample of customers, cut at the same number of segments.
        ``exact_self_agreement_ari``: the same comparison for the exact tree built on a second,
        disjoint sample (its labels carried to the first sample by nearest neighbour): the
        ceiling any approximation can reach, since on overlapping segments the exact tree's
        upper merges change from one sample of customers to the next.
        ``exact_agreement_sample``: customers in each sample. Small samples understate both
        figures (on the 1M bench data: 0.66 / 0.69 with 10,000 customers, 0.87 / 0.81 with
        30,000, 0.86 / 0.80 with 50,000).
        ``exact_perturbed_ari`` (with ``perturbed``, one more exact tree): the exact tree against
        itself rebuilt without a random 1% of the same sample, on the customers both keep; how
        reproducible the exact tree is on this data at all (0.84-0.91 on the 1M bench data,
        depending on the sample and the customers dropped).
        """
        X = np.asarray(X, dtype=np.float64)
        rng = np.random.default_rng(seed)
        m = min(sample if self.linkage == "ward" else min(sample, self.dense_limit), len(X) // 2)
        idx = rng.choice(len(X), size=2 * m, replace=False)
        a, b = X[idx[:m]], X[idx[m:]]
        exact_a = self._exact_labels(a)
        out = {"exact_agreement_ari": float(adjusted_rand_score(exact_a, self.predict(a))),
               "exact_agreement_sample": float(m)}
        exact_b = self._exact_labels(b)
        carried = exact_b[nearest_center(a, b)]
        out["exact_self_agreement_ari"] = float(adjusted_rand_score(exact_a, carried))
        if perturbed:
            keep = rng.random(m) >= 0.01
            out["exact_perturbed_ari"] = float(adjusted_rand_score(
                exact_a[keep], self._exact_labels(a[keep])))
        return out


class HDBSCANSegmenter(Segmenter):
    """HDBSCAN on a low-dimensional PCA embedding; noise customers get segment -1.

    Density clustering in 12+ dimensions is slow and unreliable, so the scaled features are
    first projected on ``n_components`` principal components (None: no projection). The
    number of segments follows from the data (``min_cluster_size``: customers, or below 1 a
    share of the customers, so a segment stays actionable at any size), not from k.
    ``backend``: "hdbscan" (the reference library), "fast_hdbscan" (a parallel Boruvka
    implementation, about 6x faster at 1M customers) or "auto" (fast_hdbscan from
    ``fast_above`` customers when it is installed). ``predict`` follows hdbscan's approximate
    prediction for either backend (``clustering.density``), noise -> -1.
    """

    def __init__(self, min_cluster_size: float = 100, min_samples: int | None = None,
                 n_components: int | None = 5, cluster_selection_method: str = "eom",
                 backend: str = "auto", fast_above: int = 50_000,
                 sample_size: int = 10_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None, stability_runs: int = 0, n_clusters=None,
                 k_range=(3, 10), criterion: str = "calinski_harabasz"):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.n_components = n_components
        self.cluster_selection_method = cluster_selection_method
        self.backend = backend
        self.fast_above = fast_above
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress
        self.stability_runs = stability_runs
        self.n_clusters = n_clusters  # ignored: kept for a uniform interface
        self.k_range = k_range
        self.criterion = criterion

    def _embed(self, X):
        return self.pca_.transform(X) if self.pca_ is not None else X

    def _min_size(self, n: int) -> int:
        size = self.min_cluster_size
        if size <= 0:
            raise ConfigError(f"model.params.min_cluster_size must be positive, got {size}")
        return max(5, round(size * n)) if size < 1 else int(size)

    def _candidates(self, n):
        if n < self._min_size(n):
            raise DataError(f"{n} customers are fewer than model.params.min_cluster_size "
                            f"({self.min_cluster_size})")
        return [None]

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

    def _fit_k(self, X, k):
        from hdbscan.plots import CondensedTree

        from clustering.density import DensityPredictor

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
        predictor = DensityPredictor(E, raw_tree, labels, m.probabilities_, core, min_samples)
        return labels, predictor, {}

    def _set_state(self, state):
        self.predictor_ = state
        self.probabilities_ = state.probabilities

    def _train_raw(self, X):
        return self.predictor_.labels

    def _raw_predict(self, X):
        return self.predictor_.predict(self._embed(X))[0]

    def fit(self, X, y=None):
        super().fit(X, y)
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

    def __getstate__(self):
        # the condensed tree is for the training report's plot, not for assigning customers
        state = super().__getstate__()
        state.pop("condensed_tree_", None)
        return state


SEGMENTERS: dict[str, type] = {
    "kmeans": KMeansSegmenter,
    "gmm": GaussianMixtureSegmenter,
    "fuzzy_cmeans": FuzzyCMeansSegmenter,
    "hierarchical": HierarchicalSegmenter,
    "hdbscan": HDBSCANSegmenter,
}


def make_segmenter(name: str, **params) -> Segmenter:
    from clustering.registry import build

    return build(SEGMENTERS, name, params, "model")


class SparkKMeansSegmenter(Segmenter):
    """k-means or bisecting k-means (divisive hierarchical) trained by Spark MLlib.

    MLlib learns the centres on a Spark DataFrame; customers are then assigned to the nearest
    centre with numpy, so the saved model needs no Spark to score and ``predict`` reproduces
    ``labels_``. (Bisecting k-means assigns through its tree; the nearest leaf centre agrees
    with it for all but borderline customers.)
    """

    def __init__(self, n_clusters: int | None = None, k_range: tuple[int, int] = (3, 10),
                 criterion: str = "calinski_harabasz", bisecting: bool = False,
                 max_iter: int = 50, sample_size: int = 10_000, random_state: int = 0,
                 progress: Callable[[str], None] | None = None, stability_runs: int = 0,
                 selection_sample: int | None = 200_000):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.bisecting = bisecting
        self.max_iter = max_iter
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress
        self.stability_runs = stability_runs
        self.selection_sample = selection_sample

    def _fit_k(self, X, k):
        from pyspark.ml.clustering import BisectingKMeans
        from pyspark.ml.clustering import KMeans as SparkKMeans
        from pyspark.ml.functions import array_to_vector

        from clustering.spark_engine import spark_session

        spark = spark_session()
        # MLlib's bisecting split perturbs the parent centre in proportion to its norm: on
        # standardised data the root centre is exactly 0 and nothing ever splits. Clustering
        # is translation invariant, so the data is shifted and the centres shifted back.
        shift = 1.0
        df = spark.createDataFrame(pd.DataFrame({"f": list(X + shift)})).select(
            array_to_vector("f").alias("features"))
        algo = (BisectingKMeans(k=k, seed=self.random_state, maxIter=self.max_iter)
                if self.bisecting else
                SparkKMeans(k=k, seed=self.random_state, maxIter=self.max_iter))
        centers = np.array(algo.fit(df).clusterCenters()) - shift
        d = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        return d.argmin(axis=1), centers, {}

    def _set_state(self, state):
        self.centers_ = state

    def _n_components(self) -> int:
        return len(self.centers_)

    def _raw_predict(self, X):
        sq = np.einsum("ij,ij->i", self.centers_, self.centers_)
        return (sq[None, :] - 2 * X @ self.centers_.T).argmin(axis=1)


SEGMENTERS["spark_kmeans"] = SparkKMeansSegmenter
