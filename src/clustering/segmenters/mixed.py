"""Mixed data: k-prototypes (Huang 1998) on numeric features plus categorical attributes.

A segment's prototype is the mean of its numeric features and the mode of each categorical
attribute; a customer's cost to it is the squared Euclidean distance on the numeric features
plus ``gamma`` times the attributes that differ. The input is the preprocessed matrix: the
first ``n_numeric`` columns scaled numbers, the rest the attributes' one-hot blocks (found on
the training rows: a block ends where every row has exactly one 1 in it).

Written here, vectorised, rather than taken from the ``kmodes`` package: its k-prototypes
assigns customers in a Python loop, 4.1 s for 20,000 customers (a million: minutes); this
takes matrix products, as k-means does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clustering.segmenters.base import Segmenter, check_k


def onehot_blocks(C: np.ndarray) -> list[slice]:
    """The one-hot blocks of ``C``'s columns: a block ends where the row sums of its columns
    are all 1 (each attribute's categories were seen in training, so no shorter run is)."""
    blocks, start, run = [], 0, np.zeros(len(C))
    for j in range(C.shape[1]):
        run += C[:, j]
        if np.all(run == 1.0):
            blocks.append(slice(start, j + 1))
            start, run = j + 1, np.zeros(len(C))
    if start != C.shape[1]:
        # a resample may lack a category: its column is all zeros, and at the very end it
        # belongs to the last block (elsewhere it joins the next block harmlessly)
        if blocks and not C[:, start:].any():
            blocks[-1] = slice(blocks[-1].start, C.shape[1])
        else:
            raise ValueError("the columns after the numeric ones are not one-hot blocks")
    return blocks


class KPrototypesSegmenter(Segmenter):
    """k-prototypes with ``n_clusters`` segments; ``gamma`` weighs a differing attribute
    against the numeric distance (None: twice the mean variance of the numeric columns, what
    two customers differ by in one numeric column on average; Huang's half a standard
    deviation let the attributes barely count: ARI 0.35 on planted mixed segments, 0.84 so). Beyond ``fit_sample`` customers the ``n_init`` starts race on a
    seeded sample and the best is refined on everyone."""

    def __init__(self, n_clusters: int = 8, n_numeric: int | None = None,
                 gamma: float | None = None, n_init: int = 4, max_iter: int = 100,
                 random_state: int = 0, fit_sample: int | None = 200_000,
                 progress: Callable[[str], None] | None = None):
        self.n_clusters = n_clusters
        self.n_numeric = n_numeric
        self.gamma = gamma
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.fit_sample = fit_sample
        self.progress = progress

    def _split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = X.shape[1] if self.n_numeric is None else int(self.n_numeric)
        return X[:, :p], X[:, p:]

    def _cost(self, num: np.ndarray, cat: np.ndarray, centers: np.ndarray,
              modes: np.ndarray) -> np.ndarray:
        """Every customer's cost to every prototype (n x k)."""
        d = ((num ** 2).sum(axis=1)[:, None] - 2.0 * num @ centers.T
             + (centers ** 2).sum(axis=1)[None, :])
        if cat.shape[1]:
            d += self.gamma_ * (len(self.blocks_) - cat @ modes.T)
        return np.maximum(d, 0.0)

    def _modes(self, cat: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
        """Each segment's most common category per attribute, as one-hot rows."""
        counts = np.column_stack([np.bincount(labels, weights=cat[:, j], minlength=k)
                                  for j in range(cat.shape[1])])
        modes = np.zeros_like(counts)
        for b in self.blocks_:
            modes[np.arange(k), b.start + counts[:, b].argmax(axis=1)] = 1.0
        return modes

    def _seed(self, num, cat, k, rng) -> tuple[np.ndarray, np.ndarray]:
        """k-means++ on the k-prototypes cost: each next prototype a customer drawn with
        probability proportional to its cost to the nearest one chosen."""
        first = int(rng.integers(len(num)))
        centers, modes = num[[first]], cat[[first]]
        best = self._cost(num, cat, centers, modes)[:, 0]
        for _ in range(1, k):
            p = best / best.sum() if best.sum() > 0 else None
            i = int(rng.choice(len(num), p=p))
            centers, modes = np.vstack([centers, num[i]]), np.vstack([modes, cat[i]])
            best = np.minimum(best, self._cost(num, cat, num[[i]], cat[[i]])[:, 0])
        return centers, modes

    def _lloyd(self, num, cat, centers, modes, k, rng):
        """Assign and update until no customer moves; (labels, centres, modes, cost)."""
        labels = None
        for _ in range(self.max_iter):
            cost = self._cost(num, cat, centers, modes)
            new = cost.argmin(axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            sizes = np.bincount(labels, minlength=k)
            empty = np.flatnonzero(sizes == 0)
            if len(empty):  # empty segments restart at the worst-fitting customers, one each
                worst = np.argsort(cost[np.arange(len(num)), labels])[::-1][:len(empty)]
                labels[worst] = empty[:len(worst)]
            sizes = np.maximum(np.bincount(labels, minlength=k), 1)
            centers = np.vstack([np.bincount(labels, weights=num[:, j], minlength=k)
                                 for j in range(num.shape[1])]).T / sizes[:, None]
            modes = self._modes(cat, labels, k) if cat.shape[1] else modes
        cost = self._cost(num, cat, centers, modes)
        labels = cost.argmin(axis=1)
        return labels, centers, modes, float(cost[np.arange(len(num)), labels].sum())

    def _fit_raw(self, X):
        k = check_k(self.n_clusters, len(X))
        num, cat = self._split(X)
        self.blocks_ = onehot_blocks(cat) if cat.shape[1] else []
        # two customers differ by 2 variances per numeric column on average: by default a
        # differing attribute weighs as much as one numeric column does
        self.gamma_ = float(self.gamma) if self.gamma is not None else (
            2.0 * float(num.var(axis=0).mean()) if num.shape[1] else 1.0)
        rng = np.random.default_rng(self.random_state)
        rows = np.arange(len(X))
        if self.fit_sample and len(X) > self.fit_sample and self.n_init > 1:
            rows = np.sort(rng.choice(len(X), self.fit_sample, replace=False))
        best = None
        for _ in range(max(1, self.n_init)):
            start = self._seed(num[rows], cat[rows], k, rng)
            fit = self._lloyd(num[rows], cat[rows], *start, k, rng)
            if best is None or fit[3] < best[3]:
                best = fit
        if len(rows) < len(X):  # the sample's best, refined on everyone
            best = self._lloyd(num, cat, best[1], best[2], k, rng)
        _, self.centers_, self.modes_, self.inertia_ = best
        self.fit_scores_ = {"inertia": self.inertia_}

    def _n_components(self) -> int:
        return len(self.centers_)

    def _raw_predict(self, X):
        num, cat = self._split(X)
        return self._cost(num, cat, self.centers_, self.modes_).argmin(axis=1)

    def _distances(self, X):
        """The square root of the k-prototypes cost, columns in segment-id order."""
        num, cat = self._split(X)
        d = np.empty((len(X), len(self.mapping_)))
        d[:, self.mapping_] = np.sqrt(self._cost(num, cat, self.centers_, self.modes_))
        return d
