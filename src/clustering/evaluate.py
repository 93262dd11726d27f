"""Quality of a segmentation: internal indices, size balance, revenue split, planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from clustering.segment import criterion_scores


def score_segmentation(
    X: np.ndarray,
    labels: np.ndarray,
    revenue: np.ndarray,
    sample_size: int = 10_000,
    seed: int = 0,
    truth: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of one partition of the customers.

    ``silhouette`` uses a random sample of ``sample_size`` customers (the full matrix is
    O(n^2)); Calinski-Harabasz and Davies-Bouldin use everyone. ``min_share``/``max_share``
    are the smallest and largest segment as a share of customers; ``revenue_top_share`` is the
    share of revenue held by the segment with most revenue. With ``truth`` (planted types on
    generated data) also ARI and NMI against it.
    """
    labels = np.asarray(labels)
    metrics = criterion_scores(X, labels, sample_size, seed)
    counts = np.bincount(labels[labels >= 0])
    counts = counts[counts > 0]
    rev = pd.Series(revenue).groupby(labels).sum()
    metrics |= {
        "n_segments": float(len(counts)),
        "min_share": float(counts.min() / len(labels)),
        "max_share": float(counts.max() / len(labels)),
        "revenue_top_share": float(rev.max() / rev.sum()) if rev.sum() else float("nan"),
    }
    if truth is not None:
        metrics["ari_truth"] = float(adjusted_rand_score(truth, labels))
        metrics["nmi_truth"] = float(normalized_mutual_info_score(truth, labels))
    return metrics


def checklist_metrics(
    labels: np.ndarray, revenue: np.ndarray, min_share: float = 0.02,
    persona_fit: float | None = None,
) -> dict[str, float]:
    """The practitioners' checklist as numbers.

    small_segment_share
        Share of customers in segments smaller than ``min_share`` of the base (sizeable:
        lower is better).
    business_separation
        Share of the variance of log revenue per customer explained by the segments (eta
        squared, 0..1): how differently the segments are worth.
    persona_fit
        Size-weighted mean fit of the segments to their personas (describable), when given.
    """
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    shares = counts / len(labels)
    out = {"small_segment_share": float(shares[inverse][shares[inverse] < min_share].size
                                        / len(labels))}
    y = np.sign(revenue) * np.log1p(np.abs(np.asarray(revenue, float)))
    total = float(((y - y.mean()) ** 2).sum())
    means = np.bincount(inverse, weights=y) / counts
    between = float((counts * (means - y.mean()) ** 2).sum())
    out["business_separation"] = between / total if total > 0 else float("nan")
    if persona_fit is not None:
        out["persona_fit"] = float(persona_fit)
    return out
