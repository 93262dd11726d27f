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


def choice(conditions: list[np.ndarray], names: list[str], default: str | None
           ) -> pd.Categorical:
    """``np.select`` as a categorical: the first true condition's name per row, else
    ``default`` (None: empty). One byte per customer, where text was a Python string each
    (turned into pandas text again, 0.5 s per column at a million customers)."""
    cats = names + ([default] if default is not None else [])
    codes = np.select(conditions, list(range(len(names))),
                      len(names) if default is not None else -1)
    return pd.Categorical.from_codes(codes.astype(np.int8), pd.Index(cats, dtype="str"))


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
        out["activity_state"] = choice([bought, events], ["active", "semi_active"], "passive")
        out["lead_temperature"] = choice([contacts, events], ["hot", "warm"], "cold")
    fields = [f for f in ("contact", "need", "budget") if f"has_{f}" in X]
    if fields:
        has = np.column_stack([X[f"has_{f}"].fillna(False).to_numpy(bool) for f in fields])
        names = np.array(["+".join(f for i, f in enumerate(fields) if code >> i & 1) or "none"
                          for code in range(1 << len(fields))], dtype=object)
        out["lead_qualification"] = pd.Categorical.from_codes(
            has @ (1 << np.arange(len(fields))), pd.Index(names, dtype="str"))
        out["lead_qualified"] = has.all(axis=1)
    return out


#: a quiet customer is dissatisfied, not just drifting away, past any of these before going quiet
DISSATISFIED = {"return_rate": 0.15, "cancel_rate": 0.2, "order_value_trend": -0.4}


def review_thresholds(buyers: pd.DataFrame) -> dict[str, float]:
    """The buyers' levels the watch list compares to: big (top decile of revenue), partner
    (top fifth of value), frequent (median orders), new-product share of lead users (top
    decile)."""
    def q(col: str, p: float) -> float:
        return float(buyers[col].quantile(p)) if col in buyers and buyers[col].notna().any() \
            else float("nan")

    return {"big_revenue": q("monetary_total", 0.9), "partner_value": q(value_column(buyers), 0.8),
            "frequent": q("frequency", 0.5), "lead_new_share": q("new_product_share", 0.9)}


def watch_columns(X: pd.DataFrame, t: dict[str, float], overdue_cycles: float) -> pd.DataFrame:
    """The practitioners' watch list per customer (True / a reading; empty where the data
    cannot say):

    quiet_reason: for a buyer gone quiet (past ``overdue_cycles`` of their own cycle, or a
    single order 180+ days ago), ``dissatisfied`` when returns, cancellations or halving orders
    came first (:data:`DISSATISFIED`), else ``drifted``. one_off_big: at most two orders, one of
    them 80%+ of their revenue, in the top decile of revenue: reviewed monthly, not a VIP yet.
    window_shopper: 3+ visits in the last quarter without an order. lead_user: buys new products
    most (top decile) and often (median orders or more). week_pattern: ``weekend`` or
    ``weekdays`` where their orders fall there more than chance would put them (binomial test,
    p < 0.01; 2 of 7 days are a weekend). ladder: prospect, customer (one order), client (repeat), supporter (a frequent
    repeat buyer for a year, not overdue), partner (a supporter in the top fifth by value),
    former."""
    out = pd.DataFrame(index=X.index)
    if "frequency" not in X:
        return out
    col = lambda c: X[c].to_numpy(float) if c in X else np.full(len(X), np.nan)  # noqa: E731
    freq, buyer = np.nan_to_num(col("frequency")), X["is_buyer"].to_numpy(bool) \
        if "is_buyer" in X else col("frequency") > 0
    overdue = np.nan_to_num(col("cycles_missed")) >= overdue_cycles
    quiet = buyer & (overdue | ((freq == 1) & (np.nan_to_num(col("recency_days")) >= 180)))
    unhappy = np.zeros(len(X), bool)
    for c, limit in DISSATISFIED.items():
        v = col(c)
        unhappy |= (v <= limit) if limit < 0 else (v >= limit)
    out["quiet_reason"] = choice([quiet & unhappy, quiet], ["dissatisfied", "drifted"], None)
    out["one_off_big"] = buyer & (freq <= 2) & (col("max_order_share") >= 0.8) & (
        col("monetary_total") >= t["big_revenue"])
    if "visits_last_quarter" in X and "orders_last_quarter" in X:
        out["window_shopper"] = (col("visits_last_quarter") >= 3) & (
            np.nan_to_num(col("orders_last_quarter")) == 0)
    if "new_product_share" in X:
        out["lead_user"] = buyer & (col("new_product_share") >= t["lead_new_share"]) & (
            col("new_product_share") > 0) & (freq >= t["frequent"])
    if "weekend_share" in X:
        out["week_pattern"] = week_pattern(freq, col("weekend_share"), buyer)
    out["ladder"] = _ladder(X, buyer, freq, overdue, t)
    return out


def week_pattern(orders: np.ndarray, weekend_share: np.ndarray, buyer: np.ndarray,
                 p: float = 0.01) -> pd.Categorical:
    """``weekend`` / ``weekdays`` where a buyer's orders fall on weekends more (or less) often
    than two days in seven would by chance (one-sided binomial tests at ``p``), else empty."""
    from scipy.stats import binom

    n = np.nan_to_num(orders).astype(int)
    k = np.rint(np.nan_to_num(weekend_share) * n).astype(int)
    ok = buyer & (n > 0)
    weekend = ok & (binom.sf(k - 1, n, 2 / 7) < p)
    weekdays = ok & (binom.cdf(k, n, 2 / 7) < p)
    return choice([weekend, weekdays], ["weekend", "weekdays"], None)


def _ladder(X: pd.DataFrame, buyer: np.ndarray, freq: np.ndarray, overdue: np.ndarray,
            t: dict[str, float]) -> pd.Categorical:
    """The customer ladder's rung of each customer (B2B: prospect up to partner)."""
    tenure = np.nan_to_num(X["tenure_days"].to_numpy(float)) if "tenure_days" in X else \
        np.zeros(len(X))
    value = np.nan_to_num(X[value_column(X)].to_numpy(float)) if len(X.columns) else \
        np.zeros(len(X))
    prospect = X["is_prospect"].to_numpy(bool) if "is_prospect" in X else ~buyer
    supporter = buyer & (freq >= max(t["frequent"], 2)) & (tenure >= 365) & ~overdue
    return choice(
        [prospect, ~buyer, supporter & (value >= t["partner_value"]), supporter, freq >= 2],
        ["prospect", "former", "partner", "supporter", "client"], "customer")


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
        self.review_ = review_thresholds(X)
        return self

    def label_columns(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "potential_")
        out = (self.potential_.potential(X) if self.potential_ is not None
               else pd.DataFrame(index=X.index))
        if "cycles_missed" in X:
            out["overdue"] = (X["cycles_missed"] >= self.overdue_cycles).to_numpy()
        out = out.join(activity_columns(X)) if len(X.columns) else out
        review = getattr(self, "review_", None)  # models saved before the watch list: none
        if review is not None and len(X.columns):
            out = out.join(watch_columns(X, review, self.overdue_cycles))
        return out

    def add_to(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with the signal columns (replaced when present)."""
        cols = self.label_columns(X)
        return pd.concat([X.drop(columns=list(cols.columns), errors="ignore"), cols], axis=1)
