"""The bundled generator: deterministic, every planted type present, truth kept apart."""

from __future__ import annotations

import pandas as pd

from clustering.sample_data import TYPES, generate_sample


def test_same_seed_same_tables_and_other_seed_differs():
    a = generate_sample(2000, seed=3)
    b = generate_sample(2000, seed=3)
    c = generate_sample(2000, seed=4)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    assert not a.transactions["amount"].equals(c.transactions["amount"])


def test_types_present_and_truth_is_separate():
    s = generate_sample(3000, seed=1)
    assert set(s.truth["planted_type"]) == set(TYPES)
    assert "planted_type" not in s.transactions and "planted_type" not in s.customers
    prospects = s.truth.loc[s.truth.planted_type == "prospect", "customer_id"]
    assert not prospects.isin(s.transactions["customer_id"]).any()
    assert prospects.isin(s.customers["customer_id"]).all()
    # returns are negative mirror lines
    r = s.transactions[s.transactions.is_return]
    assert len(r) > 0 and (r["amount"] < 0).all()
    # heavy tails: the top 5% of customers hold far more than 5% of revenue
    rev = s.transactions.groupby("customer_id")["amount"].sum().sort_values(ascending=False)
    assert rev.head(len(rev) // 20).sum() / rev.sum() > 0.3


def test_b2c_attributes():
    s = generate_sample(500, seed=2, kind="b2c")
    assert {"age_group", "gender"} <= set(s.customers.columns)
