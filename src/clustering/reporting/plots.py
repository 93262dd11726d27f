"""Plots a person would rather look at than read. Each returns the figure; nothing is shown."""

from __future__ import annotations

import io
import os
import sys
import threading
import weakref

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

# figures are drawn off screen, by threads; matplotlib itself is imported where a figure is
# drawn (0.35 s that a run spends beside its data load instead of before it)
if "matplotlib" in sys.modules:
    sys.modules["matplotlib"].use("Agg")
else:
    os.environ["MPLBACKEND"] = "Agg"

#: pyplot keeps its figures in one registry that is not thread-safe: stages that draw (plots,
#: playbook, report) side by side hold this while they do
DRAWING = threading.RLock()
_PNG: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def png_bytes(fig) -> bytes:
    """The figure as PNG, rendered once: the report and the run's artifacts share it (each
    rendered its own before, a second or two at the end of a run)."""
    import matplotlib.pyplot as plt

    with DRAWING:
        if fig not in _PNG:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            plt.close(fig)  # out of pyplot's registry; the figure object stays usable
            _PNG[fig] = buf.getvalue()
        return _PNG[fig]


def render(figures: dict[str, object]) -> dict[str, bytes]:
    """Each figure of a run as PNG bytes, by artifact path."""
    return {path: png_bytes(fig) for path, fig in figures.items()}


def plot_projection(X: np.ndarray, labels: np.ndarray, max_points: int = 5000, seed: int = 0,
                    segment_names: dict[int, str] | None = None):
    """Customers on the first two principal components, coloured by segment (a sample),
    the legend naming each segment's persona."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(max_points, len(X)), replace=False)
    pca = PCA(n_components=2, random_state=seed).fit(X)
    P = pca.transform(X[idx])
    fig, ax = plt.subplots(figsize=(7, 6))
    for s in np.unique(labels):
        m = labels[idx] == s
        name = (segment_names or {}).get(int(s))
        ax.scatter(P[m, 0], P[m, 1], s=6, alpha=0.6,
                   label=f"{s}: {name}" if name else f"segment {s}")
    ev = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ev[1]:.0%} of variance)")
    ax.set_title(f"Customers by segment (PCA, {len(idx):,} of {len(X):,} shown)")
    ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def plot_k_curve(curve: pd.DataFrame, criterion: str, chosen: int):
    """The selection criterion per k (and inertia or BIC beside it), the chosen k marked;
    below it the stability per k when the curve has one."""
    import matplotlib.pyplot as plt

    stability = "stability" in curve and criterion != "stability"
    fig, axes = plt.subplots(2 if stability else 1, 1, figsize=(7, 6 if stability else 4),
                             sharex=True, squeeze=False)
    ax = axes[0, 0]
    ax.plot(curve["k"], curve[criterion], marker="o", color="C0")
    if f"{criterion}_se" in curve:  # the hold-out AUC's standard error: the decision's precision
        ax.errorbar(curve["k"], curve[criterion], yerr=curve[f"{criterion}_se"], fmt="none",
                    ecolor="C0", alpha=0.6, capsize=3)
    if not stability:
        ax.set_xlabel("number of segments k")
    ax.set_ylabel(criterion, color="C0")
    ax.axvline(chosen, color="grey", ls="--", lw=1)
    other = next((c for c in ("inertia", "bic", "calinski_harabasz") if c in curve and c != criterion),
                 None)
    if other:
        ax2 = ax.twinx()
        ax2.plot(curve["k"], curve[other], marker="s", color="C1", alpha=0.6)
        ax2.set_ylabel(other, color="C1")
    ax.set_title(f"Choice of k by {criterion}: k = {chosen}")
    if stability:
        low = axes[1, 0]
        low.plot(curve["k"], curve["stability"], marker="o", color="C2")
        low.axvline(chosen, color="grey", ls="--", lw=1)
        low.set_ylabel("stability (mean ARI of refits)")
        low.set_xlabel("number of segments k")
    fig.tight_layout()
    return fig


def plot_profile_heatmap(X: np.ndarray, labels: np.ndarray, names: list[str],
                         segment_names: dict[int, str] | None = None,
                         column_labels: list[str] | None = None):
    """Mean of each (scaled) feature per segment, in standard deviations from the population;
    rows named by persona, columns in business words when given."""
    import matplotlib.pyplot as plt

    X = np.asarray(X, dtype=float)
    segments, codes = np.unique(np.asarray(labels), return_inverse=True)
    sizes = np.bincount(codes, minlength=len(segments))
    means = np.stack([np.bincount(codes, weights=X[:, j], minlength=len(segments))
                      for j in range(X.shape[1])], axis=1) / sizes[:, None]
    sd = X.std(axis=0)
    z = pd.DataFrame((means - X.mean(axis=0)) / np.where(sd == 0, 1, sd), index=segments,
                     columns=names)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 3), 0.5 * len(z) + 2.5))
    lim = float(np.nanmax(np.abs(z.to_numpy()))) or 1.0
    im = ax.imshow(z.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(names)), column_labels or names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(z)), [f"{s}: {(segment_names or {}).get(int(s), f'segment {s}')}"
                                  for s in z.index], fontsize=8)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            ax.text(j, i, f"{z.iat[i, j]:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="difference from population mean (SD)")
    ax.set_title("Segment profiles")
    fig.tight_layout()
    return fig


def plot_dendrogram(tree: np.ndarray, k: int, leaves: int = 30,
                    weights: np.ndarray | None = None):
    """The top of the hierarchical tree (last ``leaves`` merges), with the cut for k marked.

    Leaves are labelled with the customers below them; ``weights`` gives the customers each
    original point stands for (micro-cluster sizes in a compressed tree; None: one each).
    """
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    m = len(tree) + 1
    customers = np.concatenate([np.ones(m) if weights is None else np.asarray(weights, float),
                                np.zeros(m - 1)])
    for i, (a, b) in enumerate(tree[:, :2].astype(int)):
        customers[m + i] = customers[a] + customers[b]
    fig, ax = plt.subplots(figsize=(9, 5))
    dendrogram(tree, truncate_mode="lastp", p=leaves, ax=ax, leaf_rotation=90, leaf_font_size=7,
               color_threshold=None, leaf_label_func=lambda node: f"{customers[node]:,.0f}")
    ax.set_xlabel("customers under each branch")
    if k > 1 and len(tree) >= k:
        cut = (tree[-k, 2] + tree[-k + 1, 2]) / 2
        ax.axhline(cut, color="grey", ls="--", lw=1)
    ax.set_ylabel("merge distance")
    ax.set_title(f"Hierarchical tree (top {leaves} branches), cut at k = {k}")
    fig.tight_layout()
    return fig


def plot_condensed_tree(model):
    """HDBSCAN's condensed tree: how clusters split and persist as density rises."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    # select_clusters=True draws ellipses that break on current matplotlib (hdbscan 0.8.x)
    model.condensed_tree_.plot(select_clusters=False, axis=ax)
    ax.set_title("HDBSCAN condensed tree")
    fig.tight_layout()
    return fig


def segmentation_figures(seg, X: np.ndarray, labels: np.ndarray, names: list[str],
                         curve: pd.DataFrame | None, criterion: str | None, k: int,
                         segment_names: dict[int, str], column_labels: list[str],
                         seed: int = 0) -> dict[str, object]:
    """Every plot of a training run, by artifact path: the family's own (dendrogram, condensed
    tree), the projection, the profile heatmap and the k curve when k was chosen."""
    figures = seg.figures() | {
        "plots/projection.png": plot_projection(X, labels, seed=seed, segment_names=segment_names),
        "plots/profile_heatmap.png": plot_profile_heatmap(X, labels, names, segment_names,
                                                          column_labels)}
    if curve is not None and len(curve) > 1 and criterion in curve:
        figures["plots/k_curve.png"] = plot_k_curve(curve, criterion, k)
    return figures



def plot_holdout_comparison(future: dict, metric: str = "future_auc_repeat",
                            words: dict[str, str] | None = None):
    """The segments beside each baseline on the hold-out (who buys again, AUC), best first:
    which segmentation separates the future better, at a glance on the run's page. None
    without a hold-out."""
    import matplotlib.pyplot as plt

    scores = {n: float(m[0][metric]) for n, m in future.items()
              if np.isfinite(m[0].get(metric, np.nan))}
    if "clusters" not in scores:
        return None
    order = sorted(scores, key=scores.get, reverse=True)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.4))
    colors = ["#1f77b4" if n == "clusters" else "#bbbbbb" for n in order]
    ax.barh(range(len(order)), [scores[n] for n in order], color=colors)
    ax.set_yticks(range(len(order)),
                  ["segments (clusters)" if n == "clusters" else (words or {}).get(n, n)
                   for n in order])
    ax.invert_yaxis()
    for i, n in enumerate(order):
        ax.text(scores[n], i, f" {scores[n]:.3f}", va="center", fontsize=8)
    ax.set_xlim(0.5, 1.0)
    ax.set_xlabel("hold-out AUC: who buys again (0.5 = no better than chance)")
    ax.set_title("Segments vs the practitioners' baselines on the hold-out")
    fig.tight_layout()
    return fig
