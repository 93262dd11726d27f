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

#: words for a feature above (+) and below (-) the population
FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("long inactive", "recently active"),
    "frequency": ("frequent", "rare"),
    "monetary_total": ("high revenue", "low revenue"),
    "avg_order_value": ("large orders", "small orders"),
    "tenure_days": ("long-standing", "recently acquired"),
    "mean_interpurchase_days": ("long purchase cycles", "short purchase cycles"),
    "revenue_cv_monthly": ("unstable", "stable"),
    "revenue_growth": ("growing", "shrinking"),
    "return_rate": ("many returns", "few returns"),
    "n_categories": ("broad basket", "narrow basket"),
    "new_product_share": ("new-product buyers", "established products"),
    "mean_payment_delay": ("late payers", "prompt payers"),
    "days_since_signup": ("signed up long ago", "signed up recently"),
    "cycles_missed": ("overdue", "on their rhythm"),
}
#: features a customer with one order has only as an imputed value (the days between orders
#: set to the lookback, growth to +-1): they never name or describe a one-order segment
NEEDS_REPEAT = {"mean_interpurchase_days", "cycles_missed", "revenue_growth",
                "revenue_cv_monthly"}


def telling(row: pd.Series, min_z: float = 0.0) -> list[tuple[str, float]]:
    """The features that set a segment (a profile row) apart, largest difference first, as
    (feature, z); only features with words, and none its members have only as an imputed
    value (a purchase cycle needs two orders)."""
    repeat = row.get("median_frequency", 2.0)
    one_order = pd.notna(repeat) and float(repeat) < 2
    zs = [(c[2:], float(row[c])) for c in row.index
          if c.startswith("z_") and c[2:] in FEATURE_WORDS and pd.notna(row[c])
          and not (one_order and c[2:] in NEEDS_REPEAT) and abs(float(row[c])) >= min_z]
    return sorted(zs, key=lambda kv: (-abs(kv[1]), kv[0]))


def in_words(pairs: list[tuple[str, float]]) -> list[str]:
    return [FEATURE_WORDS[f][0 if z > 0 else 1] for f, z in pairs]


def _comparable(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Features on the scale used for comparisons: signed log for heavy-tailed ones."""
    out = features[columns].astype(float)  # copy-on-write: only the logged columns are new
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
    if "profit_total" in features:
        profit = features["profit_total"].groupby(labels).sum()
        total = profit.clip(lower=0).sum()
        out["profit_share"] = profit / total if total else np.nan
    out["distinguishing"] = [", ".join(in_words(telling(row, 0.3)[:n_distinguishing]))
                             or "close to the average customer" for _, row in out.iterrows()]
    return out.reset_index()


def crosstab(labels: np.ndarray, other: np.ndarray | pd.Series, name: str = "truth"
             ) -> pd.DataFrame:
    """Segments x another labelling (planted types, a baseline), counts: ``pd.crosstab``'s
    table from hashed codes and one bincount (a million text labels: 0.1 s, not 0.7 s)."""
    a, rows = pd.factorize(np.asarray(labels), sort=True)
    # pandas' text (Arrow) is factorised as it is: as an array it is a Python string per row
    text = isinstance(other, pd.Series) and isinstance(other.dtype, pd.StringDtype)
    b, cols = pd.factorize(other if text else np.asarray(other), sort=True)
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

