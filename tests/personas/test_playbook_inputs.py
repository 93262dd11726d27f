"""Profit, events and attribute checks from small hand-made tables, against hand computations."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from clustering.errors import DataError
from clustering.features.customer import build_customer_features
from clustering.features.signals import activity_columns
from clustering.inputs.attributes import canonical_tables, repeated_ids
from clustering.inputs.customers import register_customers
from clustering.inputs.events import register_events
from clustering.inputs.sources import TableSource, register_transactions

SNAP = dt.date(2024, 7, 1)
TX = pd.DataFrame({
    "customer_id": ["A", "A", "A", "B"],
    "order_id": ["1", "2", "2", "3"],
    "timestamp": pd.to_datetime(["2024-01-10", "2024-06-20", "2024-06-25", "2024-03-01"]),
    "amount": [100.0, 50.0, -20.0, 80.0],  # A returns 20 of order 2
    "category": ["x", "y", "y", "x"],
    "cost": [60.0, 40.0, 16.0, 70.0],  # the return gives its cost back
    "discount": [0.0, 50.0, 0.0, 20.0],
})


def _load(tmp_path, tx=TX, margins=None, cols=("cost", "discount")):
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    con = duckdb.connect()
    columns = {c: c for c in ["customer_id", "order_id", "timestamp", "amount", "category",
                              *cols]}
    loaded = register_transactions(con, TableSource(str(path), columns=columns,
                                                    margins=margins), snapshot_date=SNAP)
    return con, loaded


def test_profit_from_costs_and_discount_share_by_hand(tmp_path):
    con, loaded = _load(tmp_path)
    t = build_customer_features(con, loaded, SNAP, 365).table.set_index("customer_id")
    # A: (100 - 60) + (50 - 40) + (-20 + 16) = 46; gross purchases 150
    assert t.loc["A", "profit_total"] == pytest.approx(46)
    assert t.loc["A", "margin_rate"] == pytest.approx(46 / 150)
    assert t.loc["A", "discount_share"] == pytest.approx(50 / 200)
    assert t.loc["B", "profit_total"] == pytest.approx(10)
    assert t.loc["B", "discount_share"] == pytest.approx(20 / 100)
    # last quarter (91 days before July 1st): only A's June purchase, 50 - 40
    assert t.loc["A", "profit_last_quarter"] == pytest.approx(10)


def test_margin_categories_match_ignoring_case_and_unrated_ones_are_named(tmp_path):
    """'X ' and 'x' are one category for its margin rate (the rate was silently the default
    for other spellings); a category without a rate is named in a warning with its lines."""
    tx = TX.assign(category=["X ", "y", "Y", "x"])
    con, loaded = _load(tmp_path, tx, margins={"x": 0.3, "default": 0.1}, cols=())
    t = build_customer_features(con, loaded, SNAP, 365).table.set_index("customer_id")
    assert t.loc["A", "profit_total"] == pytest.approx(100 * 0.3 + 50 * 0.1 - 20 * 0.1)
    assert t.loc["B", "profit_total"] == pytest.approx(80 * 0.3)
    [warning] = [w for w in loaded.warnings if "margin rate" in w]
    assert "2 lines in 1 category" in warning and "'Y' (2)" in warning  # Y and y: one rate
    assert "default rate 0.1" in warning
    con, loaded = _load(tmp_path, tx, margins={"x": 0.3}, cols=())
    assert any("they have no profit" in w for w in loaded.warnings)
    con, loaded = _load(tmp_path, tx, margins={"x": 0.3, "Y": 0.2}, cols=())
    assert not any("margin rate" in w for w in loaded.warnings)


def test_cancel_rate_by_hand_and_difficult_customers(tmp_path):
    """Orders called off by their status are set aside, and counted per customer: A cancelled
    one of four orders in the window (its two lines are one order); B's order with a kept line
    is a purchase, and its 'unavailable' order was not B's doing; C's cancellation is before
    the window; D bought only before the window: no rate (not "difficult" for one cancelled
    order). VIP's difficult takes a quarter of orders cancelled."""
    from clustering.baselines.value import VIPSegmenter

    tx = pd.DataFrame([
        ("A", "1", "2024-01-10", 100.0, "delivered"), ("A", "2", "2024-02-10", 50.0, "delivered"),
        ("A", "3", "2024-03-10", 70.0, "delivered"), ("A", "4", "2024-04-10", 30.0, "canceled"),
        ("A", "4", "2024-04-10", 20.0, "canceled"), ("B", "5", "2024-03-01", 80.0, "delivered"),
        ("B", "6", "2024-05-01", 90.0, "shipped"), ("B", "10", "2024-05-20", 25.0, "delivered"),
        ("B", "10", "2024-05-20", 15.0, "canceled"), ("B", "11", "2024-06-01", 9.0, "unavailable"),
        ("C", "7", "2023-01-05", 40.0, "canceled"), ("C", "8", "2024-05-05", 60.0, "delivered"),
        ("D", "12", "2022-06-01", 30.0, "delivered"), ("D", "13", "2024-02-02", 35.0, "Cancelled"),
    ], columns=["customer_id", "order_id", "timestamp", "amount", "status"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"]))
    con, loaded = _load(tmp_path, tx, cols=("status",))
    assert loaded.quality.counts["cancelled_order"] == 6
    t = build_customer_features(con, loaded, SNAP, 365).table.set_index("customer_id")
    assert t.loc["A", "cancel_rate"] == pytest.approx(1 / 4)
    assert t.loc["B", "cancel_rate"] == 0.0 and t.loc["B", "frequency"] == 3
    assert t.loc["C", "cancel_rate"] == 0.0  # 2023-01-05 is before the window (365 days)
    assert np.isnan(t.loc["D", "cancel_rate"]) and not t.loc["D", "is_buyer"]
    buyers = t[t["is_buyer"]].reset_index()
    vip = VIPSegmenter(vip_share=0.5).fit(buyers)
    assert dict(zip(buyers["customer_id"], vip.labels_, strict=True)) == {
        "A": "difficult", "B": "vip", "C": "regular"}
    assert vip.predict(t.loc[["D"]]).tolist() == ["regular"]
    # without a status column there is no such feature (skipped, not zero)
    con, loaded = _load(tmp_path, tx.drop(columns="status"), cols=())
    fr = build_customer_features(con, loaded, SNAP, 365)
    assert "cancel_rate" not in fr.table and "status" in fr.skipped["cancel_rate"]


def test_vip_pickled_before_cancellations_counted_still_works():
    """A VIP baseline saved before ``max_cancel_rate`` existed loads, prints, clones and
    labels as it did (no cancellation rule)."""
    import pickle

    from sklearn.base import clone

    from clustering.baselines.value import VIPSegmenter

    X = pd.DataFrame({"monetary_total": [10.0, 50.0, 90.0], "cancel_rate": [0.9, 0.0, 0.0]})
    old = VIPSegmenter(vip_share=0.5).fit(X)
    del old.__dict__["max_cancel_rate"]
    loaded = pickle.loads(pickle.dumps(old))
    assert "VIPSegmenter" in repr(loaded) and clone(loaded).max_cancel_rate is None
    assert loaded.predict(X).tolist() == ["regular", "regular", "vip"]
    assert VIPSegmenter(vip_share=0.5).fit(X).labels_.tolist()[0] == "difficult"


def test_profit_from_margins_per_category_with_a_default(tmp_path):
    con, loaded = _load(tmp_path, margins={"x": 0.3, "default": 0.1}, cols=())
    t = build_customer_features(con, loaded, SNAP, 365).table.set_index("customer_id")
    assert t.loc["A", "profit_total"] == pytest.approx(100 * 0.3 + 50 * 0.1 - 20 * 0.1)
    assert "discount_share" not in t  # no discount column: skipped, not zero
    con, loaded = _load(tmp_path, cols=())
    fr = build_customer_features(con, loaded, SNAP, 365)
    assert "profit_total" in fr.skipped and "profit_total" not in fr.table


def test_events_features_kinds_and_leads_by_hand(tmp_path):
    con, loaded = _load(tmp_path)
    ev = pd.DataFrame({
        "who": ["A", "A", "B", "L", "L", "L", "", "A"],
        "when": ["2024-06-30", "2024-01-02", "2024-02-01", "2024-06-15", "2024-05-01",
                 "2024-07-05", "2024-06-01", "2024-06-01"],
        "what": ["Newsletter geöffnet", "visit", "visit", "Anfrage", "visit", "call", "visit",
                 "fax"],
    })
    path = tmp_path / "events.csv"
    ev.to_csv(path, index=False)
    register_events(con, TableSource(str(path), columns={
        "customer_id": "who", "timestamp": "when", "event_type": "what"}),
        {"Newsletter geöffnet": "email_open", "anfrage": "request"}, loaded)
    assert loaded.notes[-1].startswith("events: 6 of 8 rows kept")  # no id; an unknown kind
    assert "1 events of unknown kind left out (e.g. fax)" in loaded.warnings[-1]
    fr = build_customer_features(con, loaded, SNAP, 365)
    t = fr.table.set_index("customer_id")
    assert t.loc["A", "days_since_event"] == 1 and t.loc["A", "events_last_quarter"] == 1
    assert t.loc["B", "events_last_quarter"] == 0 and t.loc["B", "days_since_event"] == 151
    # L is known from events only: a prospect (lead) with a request 16 days ago; the call on
    # July 5th is after the snapshot
    assert t.loc["L", "is_prospect"] and t.loc["L", "contacts_last_30d"] == 1
    assert t.loc["L", "events_last_quarter"] == 2
    states = activity_columns(fr.table.set_index("customer_id"))
    assert states.loc["A", "activity_state"] == "active"  # bought in June
    assert states.loc["B", "activity_state"] == "passive"  # neither bought nor looked
    assert states.loc["L", "activity_state"] == "semi_active"
    assert states["lead_temperature"].to_dict() == {"A": "warm", "B": "cold", "L": "hot"}


def test_event_windows_at_their_boundaries(tmp_path):
    """The last quarter is the 91 days before the snapshot and "hot" the last 30, each
    including its first day: a request exactly 30 days before July 1st is hot, one a day
    earlier is warm; a visit exactly 91 days before counts in the quarter, a day earlier not."""
    con, loaded = _load(tmp_path)
    snap = pd.Timestamp(SNAP)
    ev = pd.DataFrame({
        "customer_id": ["P", "Q", "R", "S"],
        "timestamp": [snap - pd.Timedelta(days=30), snap - pd.Timedelta(days=31),
                      snap - pd.Timedelta(days=91), snap - pd.Timedelta(days=92)],
        "event_type": ["request", "request", "visit", "visit"]})
    path = tmp_path / "events.parquet"
    ev.to_parquet(path)
    register_events(con, TableSource(str(path), columns={
        "customer_id": "customer_id", "timestamp": "timestamp", "event_type": "event_type"}),
        None, loaded)
    t = build_customer_features(con, loaded, SNAP, 365).table.set_index("customer_id")
    assert t.loc[["P", "Q"], "contacts_last_30d"].tolist() == [1, 0]
    assert t.loc[["R", "S"], "events_last_quarter"].tolist() == [1, 0]
    temp = activity_columns(t)["lead_temperature"]
    assert temp.loc[["P", "Q", "R", "S"]].tolist() == ["hot", "warm", "warm", "cold"]


def test_lead_qualification_over_every_mapped_field():
    """Qualified: every field the customers table maps is known; the label names the known
    ones ("none" without any)."""
    X = pd.DataFrame({"has_contact": [True, True, False, True],
                      "has_need": [True, False, False, True],
                      "has_budget": [True, True, False, None]})
    out = activity_columns(X)
    assert out["lead_qualification"].tolist() == ["contact+need+budget", "contact+budget",
                                                  "none", "contact+need"]
    assert out["lead_qualified"].tolist() == [True, False, False, False]
    only_need = activity_columns(X[["has_need"]])
    assert only_need["lead_qualified"].tolist() == [True, False, False, True]


def test_events_to_unknown_kinds_is_a_config_error(tmp_path):
    con, loaded = _load(tmp_path)
    path = tmp_path / "events.csv"
    pd.DataFrame({"customer_id": ["A"], "timestamp": ["2024-01-01"], "event_type": ["x"]}
                 ).to_csv(path, index=False)
    with pytest.raises(DataError, match="unknown kinds \\['webinar'\\]"):
        register_events(con, TableSource(str(path), columns={
            "customer_id": "customer_id", "timestamp": "timestamp", "event_type": "event_type"}),
            {"x": "webinar"}, loaded)


def test_attribute_quality_counts_and_canonical_spelling(tmp_path):
    cust = pd.DataFrame({
        "id": ["1", "2", "3", "4", "5", "6", "6", "7"],
        "kind": ["Trader", "trader", "TRADER ", "shop", "", "n/a", "shop", None],
        "need": ["x", None, "", "y", None, None, None, "z"],
    })
    path = tmp_path / "customers.csv"
    cust.to_csv(path, index=False)
    con = duckdb.connect()
    reader = f"read_csv('{path}', all_varchar=true)"
    con.execute("CREATE TABLE _buyer_ids AS SELECT '1' AS customer_id")  # as the checks leave it
    assert repeated_ids(con, reader, '"id"') == 1
    q = canonical_tables(con, reader, '"id"', ["kind"], 1)
    row = q.iloc[0]
    # blanks: "" and None; placeholder: n/a; spelling variants of "trader" (2 rows differ from
    # the most common spelling, which is a 1-1-1 tie broken alphabetically: "TRADER");
    # id 6 appears twice with different values
    assert (row.blank, row.placeholder, row.conflicting_ids, row.distinct_values) == (2, 1, 1, 2)
    assert row.spelling_variant == 2
    con.execute("CREATE TABLE c AS SELECT * FROM read_csv(?, all_varchar=true)", [str(path)])
    # through the customers view: one spelling per value, placeholders blank, lead fields
    tx_con, loaded = _load(tmp_path)
    loaded = register_customers(tx_con, TableSource(str(path), columns={
        "customer_id": "id", "need": "need"}), ["kind"], loaded)
    view = tx_con.execute("SELECT customer_id, kind, has_need FROM customers ORDER BY 1").df()
    assert set(view["kind"].dropna()) == {"TRADER", "shop"}
    assert view.set_index("customer_id").loc["6", "kind"] in (None, "shop") or \
        pd.isna(view.set_index("customer_id").loc["6", "kind"])
    assert view["has_need"].tolist() == [True, False, False, True, False, False, True]
    assert loaded.lead_fields == ["need"]
    leads = activity_columns(pd.DataFrame({"has_need": view["has_need"]}))
    assert leads["lead_qualified"].tolist() == view["has_need"].tolist()
    assert set(leads["lead_qualification"]) == {"need", "none"}
    assert np.all(q.columns[:2] == ["attribute", "rows"])


def test_features_include_a_subset_without_the_interpurchase_feature(tmp_path):
    """features.include without mean_interpurchase_days: its query parameter went unused and
    DuckDB refused the query."""
    con, loaded = _load(tmp_path)
    fr = build_customer_features(con, loaded, SNAP, 365, include=["recency_days", "frequency"])
    t = fr.table.set_index("customer_id")
    assert t.loc["A", "recency_days"] == 11 and t.loc["A", "frequency"] == 2
