"""The seed concepts by hand: weekend share, the largest order's share and the order value
trend from hand-made lines; quiet customers told apart, one-off big buyers, lead users, the
week pattern and the ladder from a hand-made feature table; on the sample, the planted
problem customers who went quiet read as dissatisfied and the planted pioneers as lead users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.features.signals import review_thresholds, watch_columns, week_pattern
from tests.features.test_features import _features


def lines(customer: str, days: list[str], amounts: list[float]) -> list[tuple]:
    return [(customer, f"{customer}{i}", pd.Timestamp(d), a, "x", False, 0, False, 1)
            for i, (d, a) in enumerate(zip(days, amounts, strict=True))]


def test_weekend_share_largest_order_and_trend_by_hand(tmp_path):
    # 2023-06-03 and 2024-06-02 are a Saturday and a Sunday; the other days are weekdays
    # the window's halves split at 2023-06-10: three orders of 100 before, two of 40 after
    rows = (lines("A", ["2023-05-29", "2023-05-30", "2023-06-03", "2024-06-02", "2024-06-03"],
                  [100, 100, 100, 40, 40])
            + lines("B", ["2024-05-29"], [500]))
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount",
                                     "category", "is_return", "payment_delay_days",
                                     "is_new_product", "quantity"])
    fr, _ = _features(tmp_path, tx, snapshot_date="2024-06-10", lookback_days=730)
    t = fr.table.set_index("customer_id")
    assert t.loc["A", "weekend_share"] == pytest.approx(2 / 5)
    assert t.loc["A", "max_order_share"] == pytest.approx(100 / 380)
    assert t.loc["A", "order_value_trend"] == pytest.approx(40 / 100 - 1)  # late vs early half
    assert t.loc["B", "weekend_share"] == 0 and t.loc["B", "max_order_share"] == 1
    assert np.isnan(t.loc["B", "order_value_trend"])  # not two orders in each half


def table() -> pd.DataFrame:
    """Six customers: a quiet one with many returns, a quiet one without, a one-off big buyer,
    a lead user who is a partner, a prospect, a steady client."""
    return pd.DataFrame({
        "customer_id": list("QDBLPC"),
        "is_buyer": [True, True, True, True, False, True],
        "is_prospect": [False, False, False, False, True, False],
        "frequency": [6, 6, 1, 20, 0, 3],
        "recency_days": [300, 300, 20, 5, np.nan, 30],
        "cycles_missed": [5, 5, np.nan, 0.2, np.nan, 0.5],
        "return_rate": [0.3, 0.0, 0.0, 0.0, np.nan, 0.0],
        "order_value_trend": [0.1, 0.0, np.nan, 0.0, np.nan, 0.0],
        "monetary_total": [600, 600, 9000, 8000, 0, 300],
        "max_order_share": [0.2, 0.2, 1.0, 0.1, np.nan, 0.4],
        "new_product_share": [0.0, 0.0, 0.0, 0.6, np.nan, 0.05],
        "weekend_share": [0.0, 0.0, 0.0, 0.0, np.nan, 1.0],
        "tenure_days": [700, 700, 20, 900, np.nan, 400],
    })


def test_watch_flags_and_the_ladder_by_hand():
    X = table()
    t = review_thresholds(X[X["is_buyer"]])
    assert t["big_revenue"] == pytest.approx(np.quantile([600, 600, 9000, 8000, 300], 0.9))
    assert t["frequent"] == 6 and t["lead_new_share"] == pytest.approx(
        np.quantile([0, 0, 0, 0.6, 0.05], 0.9))
    # the levels by hand: big from 5,000, partner from 7,000, frequent from 3 orders
    t |= {"big_revenue": 5000.0, "partner_value": 7000.0, "frequent": 3.0,
          "lead_new_share": 0.5}
    w = watch_columns(X, t, overdue_cycles=2.0).set_index(X["customer_id"])
    assert w["quiet_reason"].dtype == "category"  # one byte a customer in the labels
    assert w["quiet_reason"].astype(object).fillna("-").to_dict() == {
        "Q": "dissatisfied", "D": "drifted", "B": "-", "L": "-", "P": "-", "C": "-"}
    assert w.index[w["one_off_big"]].tolist() == ["B"]
    assert w.index[w["lead_user"]].tolist() == ["L"]
    assert w["ladder"].to_dict() == {"Q": "client", "D": "client", "B": "customer",
                                     "L": "partner", "P": "prospect", "C": "supporter"}
    # the weekend: all 20 orders on weekdays is no chance (p = (5/7)^20 < 0.01)
    assert pd.Series(week_pattern(np.array([20, 3, 20]), np.array([0.0, 1.0, 1.0]),
                                  np.array([True, True, True]))).astype(object).fillna("") \
        .tolist() == ["weekdays", "", "weekend"]


def test_planted_types_read_as_their_watch_flags(small_sample):
    """Planted problem customers (25% returns) who went quiet are dissatisfied, planted
    sleeping ones drifted; planted pioneers are the lead users."""
    from clustering.features.signals import CustomerSignals
    from clustering.scoring import customer_features

    tx = pd.read_parquet(small_sample["transactions"])
    X = customer_features(tx)
    w = CustomerSignals(potential=False).fit(X[X["is_buyer"]]).label_columns(X)
    truth = pd.read_parquet(small_sample["truth"]).set_index("customer_id")["planted_type"]
    kind = X["customer_id"].map(truth)
    quiet = w["quiet_reason"].notna()
    problem = (w["quiet_reason"][quiet & (kind == "problem")] == "dissatisfied").mean()
    sleeping = (w["quiet_reason"][quiet & (kind == "sleeping")] == "dissatisfied").mean()
    assert problem >= 0.7 and sleeping <= 0.2, (problem, sleeping)
    leads = w["lead_user"].fillna(False).astype(bool)
    assert (kind[leads] == "pioneers").mean() >= 0.5
    assert leads[kind == "pioneers"].mean() >= 0.3
