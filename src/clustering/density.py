"""Assigning new customers to HDBSCAN segments, whichever library built the clustering.

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
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.neighbors import KDTree


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
        self.kdtree = KDTree(np.asarray(embedding, dtype=np.float64))
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

    def predict(self, E: np.ndarray, chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
        """Labels (-1: noise) and membership strengths in [0, 1] for embedded customers."""
        E = np.asarray(E, dtype=np.float64)
        parts = [E[lo:lo + chunk] for lo in range(0, len(E), chunk)] or [E]
        # KDTree queries release the GIL: chunks run on all cores
        with ThreadPoolExecutor(max_workers=min(len(parts), os.cpu_count() or 1)) as pool:
            done = list(pool.map(self._predict_chunk, parts))
        return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])

    def _predict_chunk(self, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = min(2 * self.min_samples, len(self.labels))
        d, idx = self.kdtree.query(E, k=k)
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
