"""Profit, events and attribute checks from small hand-made tables, against hand computations."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from clustering.attributes import canonical_tables, repeated_ids
from clustering.customers import register_customers
from clustering.errors import DataError
from clustering.events import register_events
from clustering.features import build_customer_features
from clustering.signals import activity_columns
from clustering.sources import TableSource, register_transactions

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
    assert "2 lines in 2 categories" in warning and "'Y' (1), 'y' (1)" in warning
    assert "default rate 0.1" in warning
    con, loaded = _load(tmp_path, tx, margins={"x": 0.3}, cols=())
    assert any("they have no profit" in w for w in loaded.warnings)
    con, loaded = _load(tmp_path, tx, margins={"x": 0.3, "Y": 0.2}, cols=())
    assert not any("margin rate" in w for w in loaded.warnings)


def test_cancel_rate_by_hand_and_difficult_customers(tmp_path):
    """Orders cancelled by their status are set aside, and counted per customer: A cancelled
    one of four orders in the window (its two lines are one order), B none; C's cancellation
    is before the window. VIP's difficult takes a quarter of orders cancelled."""
    from clustering.baselines.value import VIPSegmenter

    tx = pd.DataFrame({
        "customer_id": ["A", "A", "A", "A", "A", "B", "B", "C", "C"],
        "order_id": ["1", "2", "3", "4", "4", "5", "6", "7", "8"],
        "timestamp": pd.to_datetime(["2024-01-10", "2024-02-10", "2024-03-10", "2024-04-10",
                                     "2024-04-10", "2024-03-01", "2024-05-01", "2023-01-05",
                                     "2024-05-05"]),
        "amount": [100.0, 50.0, 70.0, 30.0, 20.0, 80.0, 90.0, 40.0, 60.0],
        "status": ["delivered", "delivered", "delivered", "canceled", "canceled", "delivered",
                   "shipped", "canceled", "delivered"]})
    con, loaded = _load(tmp_path, tx, cols=("status",))
    assert loaded.quality.counts["cancelled_order"] == 3
    t = build_customer_features(con, loaded, SNAP, 365).table.set_index("customer_id")
    assert t.loc["A", "cancel_rate"] == pytest.approx(1 / 4)
    assert t.loc["B", "cancel_rate"] == 0.0
    assert t.loc["C", "cancel_rate"] == 0.0  # 2023-01-05 is before the window (365 days)
    assert t.loc["A", "frequency"] == 3
    vip = VIPSegmenter(vip_share=0.5).fit(t.reset_index())
    assert dict(zip(t.index, vip.labels_, strict=True)) == {"A": "difficult", "B": "vip",
                                                            "C": "regular"}
    # without a status column there is no such feature (skipped, not zero)
    con, loaded = _load(tmp_path, tx.drop(columns="status"), cols=())
    fr = build_customer_features(con, loaded, SNAP, 365)
    assert "cancel_rate" not in fr.table and "status" in fr.skipped["cancel_rate"]


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
