"""Stable segment ids across retrains, and segment migration between two labellings.

A retrained model's segments are matched to the previous model's by an optimal assignment
(scipy's linear_sum_assignment) on centroid distances in the previous model's feature space:
both sets of centroids are means of the *current* customers transformed by the previous
preprocessing, so the comparison is like for like. A match farther apart than the median
distance between the previous centroids is not a match: that segment is new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from clustering.model import SegmentationModel


def match_segments(
    previous: SegmentationModel, X: pd.DataFrame, labels: np.ndarray
) -> tuple[dict[int, int], pd.DataFrame]:
    """Map the new segment ids in ``labels`` to the previous model's published ids.

    Returns ``{new id: published id}`` (unmatched new segments get fresh ids above the previous
    ones) and a table of the matches with their costs, including vanished previous segments.
    """
    Xp = previous.pipeline[:-1].transform(X[list(previous.feature_names_in_)])
    prev_seg = previous.segmenter.predict(Xp)
    prev_pub = previous._publish(prev_seg)
    prev_ids = np.unique(prev_pub[prev_pub >= 0])  # previous segments that still have customers
    known = [int(i) for i in previous.segment_names if int(i) >= 0]  # all it ever published
    prev_c = np.vstack([Xp[prev_pub == i].mean(axis=0) for i in prev_ids])
    new_ids = np.unique(labels[labels >= 0])
    new_c = np.vstack([Xp[labels == i].mean(axis=0) for i in new_ids])
    cost = cdist(new_c, prev_c)
    spread = cdist(prev_c, prev_c)
    limit = float(np.median(spread[np.triu_indices(len(prev_c), 1)])) if len(prev_c) > 1 else np.inf
    rows, cols = linear_sum_assignment(cost)
    id_map: dict[int, int] = {}
    records = []
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] <= limit:
            id_map[int(new_ids[r])] = int(prev_ids[c])
            records.append((int(new_ids[r]), int(prev_ids[c]), float(cost[r, c]), "matched"))
    # fresh ids never reuse one the previous version published, even an empty one
    next_id = int(max(max(known, default=-1), prev_ids.max(initial=-1), new_ids.max(initial=-1))) + 1
    for n in new_ids:
        if int(n) not in id_map:
            id_map[int(n)] = next_id
            records.append((int(n), None, float(cost[list(new_ids).index(n)].min()), "new"))
            next_id += 1
    matched_prev = set(id_map.values())
    for p in sorted(set(known) | {int(i) for i in prev_ids}):
        if p not in matched_prev:
            records.append((None, p, float("nan"), "vanished"))
    if (labels < 0).any():
        id_map[-1] = -1
    table = pd.DataFrame(records, columns=["new_segment", "previous_segment", "cost", "status"])
    table["published_id"] = table["new_segment"].map(id_map)
    return id_map, table


def _segment_keys(labels: pd.DataFrame, names: dict) -> pd.Series:
    """'3 Sleeping customers' for a segmented customer (name as of ``names``), the persona
    (Prospects, Former customers) for one without a segment."""
    seg = labels["segment"]
    keyed = seg.map(lambda s: f"{int(s)} {names.get(int(s), '')}".strip() if pd.notna(s) else None)
    return keyed.where(seg.notna(), labels["persona"].astype(str))


def migration_matrix(before: pd.DataFrame, after: pd.DataFrame, by: str = "segment") -> pd.DataFrame:
    """Customers moving between segments: rows = before, columns = after (counts).

    With segment ids in both labellings (ids are kept stable across retrains), customers are
    compared by id and each side names its segments as its own version did ('3 Loyal
    customers' before, '3 Loyal customers (large orders)' after: the id says it is the same
    segment, renamed; :func:`renamed_segments` lists them). Without ids, by ``persona``. Customers present in only one labelling
    appear as "(new customer)" / "(not scored)".
    """
    if by == "segment" and "segment" in before and "segment" in after:
        before = before.assign(_key=_segment_keys(before, current_names(before)).to_numpy())
        after = after.assign(_key=_segment_keys(after, current_names(after)).to_numpy())
        by = "_key"
    elif by == "segment":
        by = "persona"
    m = before[["customer_id", by]].merge(after[["customer_id", by]], on="customer_id",
                                          how="outer", suffixes=("_before", "_after"))
    m[f"{by}_before"] = m[f"{by}_before"].astype(object).where(m[f"{by}_before"].notna(),
                                                               "(new customer)")
    m[f"{by}_after"] = m[f"{by}_after"].astype(object).where(m[f"{by}_after"].notna(),
                                                             "(not scored)")
    matrix = pd.crosstab(m[f"{by}_before"].astype(str), m[f"{by}_after"].astype(str))
    matrix = matrix.loc[_by_id(matrix.index), _by_id(matrix.columns)]
    return matrix.rename_axis(index="before", columns="after")


def _by_id(keys) -> list[str]:
    """Keys in segment id order ('2 Loyal' before '10 Gold'), unsegmented ones after."""
    def order(k: str):
        head = k.split(" ", 1)[0]
        return (0, int(head), k) if head.lstrip("-").isdigit() else (1, 0, k)

    return sorted(keys, key=order)


def current_names(labels: pd.DataFrame) -> dict[int, str]:
    """Segment id -> the name most of its customers carry in ``labels`` (``segment_name``;
    labels written before the two levels have only ``persona``)."""
    seg = labels.dropna(subset=["segment"])
    column = "segment_name" if "segment_name" in labels else "persona"
    return {int(s): g.mode().iat[0] for s, g in seg.groupby("segment")[column]}


def renamed_segments(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Segments (same id) whose name changed between two labellings: renamings, not moves."""
    if "segment" not in before or "segment" not in after:
        return pd.DataFrame(columns=["segment", "before", "after"])
    old, new = current_names(before), current_names(after)
    rows = [(s, old[s], new[s]) for s in sorted(set(old) & set(new)) if old[s] != new[s]]
    return pd.DataFrame(rows, columns=["segment", "before", "after"])


def plot_migration(matrix: pd.DataFrame):
    """Row-normalised transition shares as a heatmap (who moved from loyal to sleeping)."""
    import matplotlib.pyplot as plt

    share = matrix.div(matrix.sum(axis=1).replace(0, 1), axis=0)
    fig, ax = plt.subplots(figsize=(1 + 0.9 * share.shape[1], 1 + 0.5 * share.shape[0]))
    im = ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(share.shape[1]), share.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(share.shape[0]), share.index, fontsize=8)
    for i in range(share.shape[0]):
        for j in range(share.shape[1]):
            ax.text(j, i, f"{matrix.iat[i, j]:,}", ha="center", va="center", fontsize=7,
                    color="white" if share.iat[i, j] > 0.5 else "black")
    ax.set_xlabel("after")
    ax.set_ylabel("before")
    fig.colorbar(im, ax=ax, label="share of the row")
    ax.set_title("Segment migration")
    fig.tight_layout()
    return fig
