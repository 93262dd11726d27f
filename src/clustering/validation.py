"""Future validation: does a segmentation made before a date separate what happens after it?

Calibration features are built as of a split date; the hold-out is the ``horizon_days`` after
it. For every segment: the hold-out repeat-purchase rate and mean spend. Overall:

auc_repeat
    ROC AUC of "buys again in the hold-out" when each customer is scored by their segment's
    hold-out repeat rate (0.5 = segments say nothing about who comes back, 1 = perfectly).
eta2_spend
    Share of the variance of hold-out spend explained by the segments (between-segment sum of
    squares / total sum of squares), 0..1.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd


def holdout_outcomes(
    con: duckdb.DuckDBPyConnection, customer_ids: pd.Series, split: dt.date, horizon_days: int
) -> pd.DataFrame:
    """Per customer: bought again in ``[split, split + horizon)`` and gross spend there."""
    end = split + dt.timedelta(days=horizon_days)
    out = con.execute(
        """SELECT customer_id, count(DISTINCT order_id) AS holdout_orders,
                  sum(amount) AS holdout_spend
           FROM transactions
           WHERE ts >= $split::TIMESTAMP AND ts < $end::TIMESTAMP AND amount > 0 AND NOT is_return
           GROUP BY customer_id""",
        {"split": split, "end": end},
    ).df()
    return outcome_frame(customer_ids, out)


def outcome_frame(customer_ids: pd.Series, per_buyer: pd.DataFrame) -> pd.DataFrame:
    """Every calibration customer with their hold-out orders and spend (0 when they did not
    buy) from the per-buyer aggregate of either engine."""
    frame = pd.DataFrame({"customer_id": customer_ids.to_numpy()})
    frame = frame.merge(per_buyer, on="customer_id", how="left")
    frame["holdout_orders"] = frame["holdout_orders"].fillna(0).astype(int)
    frame["holdout_spend"] = frame["holdout_spend"].fillna(0.0).astype(float)
    frame["bought_again"] = frame["holdout_orders"] > 0
    return frame


def grouped_auc(score: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC when every customer of a group has the group's ``score``: from per-group counts
    of positives and negatives (ties count one half), equal to roc_auc_score on the customers
    without sorting a million of them."""
    order = pd.DataFrame({"s": score, "p": positives, "n": negatives}).groupby("s").sum()
    p, n = order["p"].to_numpy(float), order["n"].to_numpy(float)
    below = np.concatenate([[0.0], np.cumsum(n)[:-1]])  # negatives with a strictly lower score
    return float((p * (below + 0.5 * n)).sum() / (p.sum() * n.sum()))


def future_separation(
    labels: np.ndarray, bought_again: np.ndarray, spend: np.ndarray
) -> tuple[dict[str, float], pd.DataFrame]:
    """Overall metrics and the per-segment hold-out table of one segmentation."""
    df = pd.DataFrame({"segment": np.asarray(labels), "again": np.asarray(bought_again, bool),
                       "spend": np.asarray(spend, float)})
    g = df.groupby("segment")
    table = pd.DataFrame({"customers": g.size(), "holdout_repeat_rate": g["again"].mean(),
                          "holdout_mean_spend": g["spend"].mean()}).reset_index()
    pos = g["again"].sum().to_numpy(float)
    auc = (grouped_auc(table["holdout_repeat_rate"].to_numpy(), pos, table["customers"] - pos)
           if df["again"].nunique() == 2 else float("nan"))
    total = float(((df["spend"] - df["spend"].mean()) ** 2).sum())
    between = float((g.size() * (g["spend"].mean() - df["spend"].mean()) ** 2).sum())
    eta2 = between / total if total > 0 else float("nan")
    return {"future_auc_repeat": auc, "future_eta2_spend": eta2}, table
