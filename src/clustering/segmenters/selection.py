"""Choosing the number of segments: :class:`SelectK`, a meta-estimator in the spirit of
``GridSearchCV`` that fits a family at every k of a range, keeps the criterion curve (with the
stability of every k) and refits the chosen k; and :func:`stability_ari`, the refit stability
of one fitted model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.validation import check_is_fitted

from clustering.errors import ConfigError, DataError
from clustering.evaluation.metrics import internal_indices
from clustering.segmenters.base import CRITERIA

#: customers per refit of the per-k stability curve (kept small: it refits runs x k times)
STABILITY_CURVE_SAMPLE = 2_000
#: customers per refit when stability decides k, and for the chosen model's stability_ari
STABILITY_SAMPLE = 20_000


def stability_ari(
    estimator: BaseEstimator, X: np.ndarray, n_runs: int = 4, fraction: float = 0.8,
    max_samples: int = STABILITY_SAMPLE, seed: int = 0, n_clusters: int | None = None,
) -> float:
    """Mean pairwise ARI between refits on random subsamples, compared on a common set.

    Each run fits a copy of ``estimator`` (with ``n_clusters``, by default the fitted or set
    number of segments, for families that take one) on ``fraction`` of the customers (at most
    ``max_samples``) and predicts a fixed evaluation sample; 1 = the same segments every time.
    Customers a refit leaves unassigned (-1, HDBSCAN's noise) are left out of that pair's ARI,
    so it compares segments, not agreement on noise; a refit that finds no segment at all is
    skipped.
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    evaluation = X[rng.choice(n, size=min(n, max_samples), replace=False)]
    # built from the parameters rather than cloned: clone would deep-copy a progress callback
    params = {**estimator.get_params(deep=False), "progress": None}
    if "n_clusters" in params:
        params["n_clusters"] = (n_clusters or getattr(estimator, "n_clusters_", None)
                                or estimator.n_clusters)
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


class SelectK(ClusterMixin, BaseEstimator):
    """Fit ``estimator`` at every k of ``k_range`` and keep the best by ``criterion``.

    ``k_curve_`` holds the internal indices (silhouette on ``sample_size`` customers,
    Calinski-Harabasz, Davies-Bouldin), what the family computes about its own fit (inertia,
    BIC, fpc) and, with ``stability_runs`` > 1 or the criterion ``stability``, the stability of
    every k (refits on 80% subsamples of at most 2,000 customers; 20,000 when stability decides,
    where the largest k within 0.02 of the most stable wins: k=2 is nearly always stable).
    With ``selection_sample`` the curve is computed on a random sample of that many customers
    and the chosen k is refitted on everyone: linear in customers instead of one full fit per k.
    ``best_estimator_`` is the fitted family (what the saved model keeps); ``labels_``,
    ``n_clusters_`` and ``predict`` delegate to it.
    """

    def __init__(self, estimator: BaseEstimator, k_range: tuple[int, int],
                 criterion: str = "calinski_harabasz", stability_runs: int = 0,
                 selection_sample: int | None = None, sample_size: int = 5_000,
                 random_state: int = 0, progress: Callable[[str], None] | None = None):
        self.estimator = estimator
        self.k_range = k_range
        self.criterion = criterion
        self.stability_runs = stability_runs
        self.selection_sample = selection_sample
        self.sample_size = sample_size
        self.random_state = random_state
        self.progress = progress

    def _say(self, msg: str) -> None:
        if self.progress:
            self.progress(msg)

    def _candidates(self, n: int) -> list[int]:
        lo, hi = (int(v) for v in self.k_range)
        if lo < 2 or hi < lo:
            raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {lo}, {hi}")
        if self.criterion not in CRITERIA:
            raise ConfigError(f"unknown criterion '{self.criterion}'; choose one of {sorted(CRITERIA)}")
        if n < lo:
            raise DataError(f"{n} customers cannot form {lo} segments: lower model.k_min")
        return [k for k in range(lo, hi + 1) if k <= n]

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        ks = self._candidates(X.shape[0])
        Xk = X
        if len(ks) > 1 and self.selection_sample and X.shape[0] > self.selection_sample:
            idx = np.random.default_rng(self.random_state).choice(
                X.shape[0], self.selection_sample, replace=False)
            Xk = X[np.sort(idx)]
            self._say(f"choosing k on a random sample of {self.selection_sample:,} of "
                      f"{X.shape[0]:,} customers")
        runs = self.stability_runs if self.stability_runs > 1 else 0
        if self.criterion == "stability":
            runs = runs or 4
        size = STABILITY_SAMPLE if self.criterion == "stability" else STABILITY_CURVE_SAMPLE
        higher = CRITERIA[self.criterion]
        base = type(self.estimator)(**{**self.estimator.get_params(deep=False),
                                       "progress": self.progress})
        rows, fitted, best, best_score = [], {}, None, None
        for k, est in zip(ks, base.fit_path(Xk, ks), strict=True):
            scores = internal_indices(Xk, est.labels_, self.sample_size, self.random_state)
            scores |= est.fit_scores_
            if runs and len(ks) > 1:
                scores["stability"] = stability_ari(est, Xk, n_runs=runs, max_samples=size,
                                                    seed=self.random_state, n_clusters=k)
            if len(ks) > 1 and self.criterion not in scores:
                raise ConfigError(f"criterion '{self.criterion}' is not computed by "
                                  f"{type(est).__name__}; choose one of {sorted(scores)} "
                                  "or stability")
            rows.append({"k": k, **scores})
            s = scores[self.criterion] if len(ks) > 1 else float("nan")
            if best is None or (not np.isnan(s) and (best_score is None or np.isnan(best_score)
                                                     or (s > best_score if higher else s < best_score))):
                best, best_score = k, s
            fitted[k] = est
            self._say(f"k={k}: {self.criterion}={s:.4f}")
        self.k_curve_ = pd.DataFrame(rows)
        if self.criterion == "stability" and len(ks) > 1:
            stab = self.k_curve_.set_index("k")["stability"]
            best = int(stab[stab >= stab.max() - 0.02].index.max())
        chosen = fitted[best]
        if Xk is not X:
            chosen = type(base)(**{**base.get_params(deep=False), "n_clusters": best}).fit(X)
        elif not hasattr(chosen, "cluster_centers_"):  # a path that left the geometry to us
            chosen._finish_geometry(X)
        self.best_estimator_ = chosen.set_params(progress=None)
        return self

    @property
    def labels_(self) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.labels_

    @property
    def n_clusters_(self) -> int:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.n_clusters_

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)
