"""Per-customer signals and base-level health figures beside the segments.

Per customer (exported with the labels): the potential of :mod:`clustering.features.potential`
(``p_alive``, ``expected_orders``, ``expected_spend``) and ``overdue`` (a repeat buyer who
let ``overdue_cycles`` of their own purchase cycles pass). For the base: how concentrated
revenue (or profit) is (:func:`abc_health`) and new-customer churn per acquisition cohort
(:func:`churn_cohorts`), with the practitioners' readings of the domain notes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from clustering.features.potential import PotentialModel

#: fewer buyers than this and the 7 parameters of the potential model are not estimated
MIN_BUYERS = 30

#: (upper bound of the share of customers making 80% of value, reading); the last one is open
ABC_READINGS = [
    (0.10, "dangerous dependence: a handful of customers carries the business"),
    (0.15, "concentrated: losing one of the top customers hurts"),
    (0.25, "balanced"),
    (0.40, "broad: value is spread over many customers"),
    (1.00, "costly to serve: half the base is needed for 80% of the value"),
]


def value_column(X: pd.DataFrame) -> str:
    """Profit where the data gives it (costs or margins), else net revenue."""
    return "profit_total" if "profit_total" in X and X["profit_total"].notna().any() \
        else "monetary_total"


def abc_health(values, share: float = 0.80) -> tuple[float, str]:
    """(share of customers who make the first ``share`` of the value, reading).

    Customers are sorted by value (negative values count as 0); the customer crossing the line
    is counted, so one customer making everything gives 1/n.
    """
    v = np.sort(np.clip(np.asarray(values, dtype=float), 0, None))[::-1]
    total = v.sum()
    if len(v) == 0 or total <= 0:
        return float("nan"), "no positive value"
    before = (np.cumsum(v) - v) / total
    top = float((before < share - 1e-12).sum()) / len(v)
    reading = next(text for bound, text in ABC_READINGS if top <= bound)
    return top, reading


def churn_cohorts(table: pd.DataFrame, snapshot: dt.date, window_start: dt.date,
                  new_days: int = 60) -> pd.DataFrame:
    """New-customer churn per monthly acquisition cohort.

    A customer's cohort is the month of their first transaction, for first transactions inside
    the feature window (so their order count is complete) and more than ``new_days`` before the
    snapshot (they had that long to come back). Churned: a single order since. Columns:
    ``cohort`` (first day of the month), ``new_customers``, ``churned``, ``churn_rate``.
    """
    t = table[table["frequency"].fillna(0) > 0]
    first = pd.Timestamp(snapshot) - pd.to_timedelta(t["tenure_days"], unit="D")
    keep = (first >= pd.Timestamp(window_start)) & (t["tenure_days"] > new_days)
    one = (t["frequency"] == 1)[keep]
    cohort = first[keep].dt.to_period("M").dt.start_time
    out = pd.DataFrame({"cohort": cohort, "churned": one.astype(int)}).groupby(
        "cohort", as_index=False).agg(new_customers=("churned", "size"), churned=("churned", "sum"))
    out["churn_rate"] = out["churned"] / out["new_customers"]
    return out


def churn_rate(cohorts: pd.DataFrame) -> float:
    """Overall new-customer churn over the cohorts (NaN without any)."""
    n = cohorts["new_customers"].sum()
    return float(cohorts["churned"].sum() / n) if n else float("nan")


def activity_columns(X: pd.DataFrame) -> pd.DataFrame:
    """Activity state, lead temperature and lead qualification where the table has the events
    features (:mod:`clustering.inputs.events`) or the customers table's lead fields.

    activity_state: active (bought in the last quarter), semi_active (no purchase, but visits,
    opens, clicks or contacts in the last quarter: looks but does not buy), passive (neither).
    lead_temperature: hot (a request, call or meeting in the last 30 days), warm (any event in
    the last quarter), cold. lead_qualification: the filled-in fields among contact, need and
    budget; lead_qualified: all mapped ones filled in.
    """
    out = pd.DataFrame(index=X.index)
    if "events_last_quarter" in X:
        events = X["events_last_quarter"].fillna(0).to_numpy(float) > 0
        bought = (X["orders_last_quarter"].fillna(0).to_numpy(float) > 0
                  if "orders_last_quarter" in X else np.zeros(len(X), bool))
        contacts = X["contacts_last_30d"].fillna(0).to_numpy(float) > 0
        out["activity_state"] = np.select([bought, events], ["active", "semi_active"],
                                          "passive").astype(object)
        out["lead_temperature"] = np.select([contacts, events], ["hot", "warm"],
                                            "cold").astype(object)
    fields = [f for f in ("contact", "need", "budget") if f"has_{f}" in X]
    if fields:
        has = np.column_stack([X[f"has_{f}"].fillna(False).to_numpy(bool) for f in fields])
        names = np.array(["+".join(f for i, f in enumerate(fields) if code >> i & 1) or "none"
                          for code in range(1 << len(fields))], dtype=object)
        out["lead_qualification"] = names[has @ (1 << np.arange(len(fields)))]
        out["lead_qualified"] = has.all(axis=1)
    return out


class CustomerSignals(BaseEstimator):
    """Fitted on the buyers; ``label_columns`` gives the per-customer signals of any feature
    table (customers without orders in the window get empty potential and no overdue flag)."""

    def __init__(self, potential: bool = True, horizon_days: int = 90, fit_sample: int = 20_000,
                 overdue_cycles: float = 2.0, random_state: int = 0):
        self.potential = potential
        self.horizon_days = horizon_days
        self.fit_sample = fit_sample
        self.overdue_cycles = overdue_cycles
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y=None):
        """Fits the potential model when asked and there are enough buyers (``MIN_BUYERS``;
        fewer: no potential columns, the rest of the run goes on)."""
        enough = "frequency" in X and int((X["frequency"].fillna(0) >= 1).sum()) >= MIN_BUYERS
        self.potential_ = (PotentialModel(self.horizon_days, self.fit_sample, self.random_state)
                           .fit(X) if self.potential and enough else None)
        return self

    def label_columns(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "potential_")
        out = (self.potential_.potential(X) if self.potential_ is not None
               else pd.DataFrame(index=X.index))
        if "cycles_missed" in X:
            out["overdue"] = (X["cycles_missed"] >= self.overdue_cycles).to_numpy()
        out = out.join(activity_columns(X)) if len(X.columns) else out
        return out

    def add_to(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with the signal columns (replaced when present)."""
        cols = self.label_columns(X)
        return pd.concat([X.drop(columns=list(cols.columns), errors="ignore"), cols], axis=1)
