"""Segment profiles: who is in each segment, in the business's own units."""

from __future__ import annotations

import numpy as np
import pandas as pd


def profile_segments(
    features: pd.DataFrame,
    labels: np.ndarray,
    columns: list[str],
    revenue: str = "monetary_total",
) -> pd.DataFrame:
    """One row per segment: size, share of customers, share of revenue, feature medians.

    Medians are in the raw units of the features (days, orders, currency), not scaled.
    """
    df = features[columns].copy()
    df["segment"] = np.asarray(labels)
    g = df.groupby("segment")
    out = pd.DataFrame({"size": g.size()})
    out["share"] = out["size"] / len(df)
    if revenue in features:
        rev = features[revenue].groupby(np.asarray(labels)).sum()
        out["revenue_share"] = rev / rev.sum() if rev.sum() else np.nan
    med = g[columns].median()
    out = out.join(med.add_prefix("median_"))
    return out.reset_index()


def crosstab(labels: np.ndarray, other: np.ndarray, name: str = "truth") -> pd.DataFrame:
    """Segments x another labelling (planted types, a baseline), counts."""
    return pd.crosstab(pd.Series(labels, name="segment"), pd.Series(other, name=name))
