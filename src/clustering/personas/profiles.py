"""Segment profiles: who is in each segment, in the business's own units.

For every segment: size, share of customers, share of revenue, the median and mean of every
feature in raw units (days, orders, currency), and each feature's standardised difference from
the population (``z_<feature>``): (segment mean - population mean) / population SD, computed
after the signed log transform of heavy-tailed features so that one huge customer does not
dominate. ``distinguishing`` lists the features with the largest absolute differences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clustering.features.preprocess import DEFAULT_LOG_FEATURES, signed_log


def _comparable(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Features on the scale used for comparisons: signed log for heavy-tailed ones."""
    out = features[columns].astype(float).copy()
    for c in columns:
        if c in DEFAULT_LOG_FEATURES:
            out[c] = signed_log(out[c])
    return out


def profile_segments(
    features: pd.DataFrame,
    labels: np.ndarray,
    columns: list[str],
    revenue: str = "monetary_total",
    n_distinguishing: int = 3,
) -> pd.DataFrame:
    """One row per segment with size, shares, medians, means and standardised differences."""
    labels = np.asarray(labels)
    df = features[columns].astype(float)
    g = df.groupby(labels)
    out = pd.DataFrame({"size": g.size()})
    out.index.name = "segment"
    out["share"] = out["size"] / len(df)
    if revenue in features:
        rev = features[revenue].groupby(labels).sum()
        total = rev.sum()
        out["revenue_share"] = rev / total if total else np.nan
        out["revenue_ratio"] = out["revenue_share"] / out["share"]
    out = out.join(g.median().add_prefix("median_")).join(g.mean().add_prefix("mean_"))
    comp = _comparable(features, columns)
    sd = comp.std(ddof=0).replace(0, np.nan)
    z = (comp.groupby(labels).mean() - comp.mean()) / sd
    out = out.join(z.add_prefix("z_"))
    zz = z.fillna(0.0)
    out["distinguishing"] = [
        ", ".join(f"{c} {'+' if zz.at[s, c] > 0 else '-'}{abs(zz.at[s, c]):.1f} SD"
                  for c in zz.loc[s].abs().sort_values(ascending=False).index[:n_distinguishing])
        for s in out.index
    ]
    return out.reset_index()


def crosstab(labels: np.ndarray, other: np.ndarray, name: str = "truth") -> pd.DataFrame:
    """Segments x another labelling (planted types, a baseline), counts: ``pd.crosstab``'s
    table from hashed codes and one bincount (a million text labels: 0.1 s, not 0.7 s)."""
    a, rows = pd.factorize(np.asarray(labels), sort=True)
    b, cols = pd.factorize(np.asarray(other), sort=True)
    keep = (a >= 0) & (b >= 0)  # a customer without either label is not counted
    counts = np.bincount(a[keep] * len(cols) + b[keep], minlength=len(rows) * len(cols))
    table = pd.DataFrame(counts.reshape(len(rows), len(cols)),
                         index=pd.Index(rows, name="segment"), columns=pd.Index(cols, name=name))
    return table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]


def customer_stats(features: pd.DataFrame, columns: list[str],
                   revenue: str = "monetary_total", rows: np.ndarray | None = None) -> pd.DataFrame:
    """Per customer, the statistics a segment profile has, on the same scales: ``median_<f>``
    and ``mean_<f>`` are the customer's own value, ``z_<f>`` its standardised difference from
    the population, ``revenue_ratio`` its revenue over the mean revenue. Persona rules written
    for segment profiles can so be checked on every member. ``rows``: only these customers
    (positions), still compared with the whole population."""
    comp = _comparable(features, columns)
    mean, sd = comp.mean(), comp.std(ddof=0).replace(0, np.nan)
    mean_revenue = float(features[revenue].mean()) if revenue in features else None
    if rows is not None:
        features, comp = features.iloc[rows], comp.iloc[rows]
    df = features[columns].astype(float)
    z = (comp - mean) / sd
    out = pd.concat([df.add_prefix("median_"), df.add_prefix("mean_"), z.add_prefix("z_")],
                    axis=1)
    if mean_revenue is not None:
        out["revenue_ratio"] = (features[revenue].to_numpy(float) / mean_revenue if mean_revenue
                                else np.nan)
    return out

