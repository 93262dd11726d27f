"""The playbook's tables and metrics against hand computations on small tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from clustering.personas.playbook import b2b_matrix, label_summary, playbook


def test_label_summary_by_hand_with_ties_losses_and_actions():
    """Losses count as 0 value; a and b tie on value share and keep the order they first
    appear in; medians of the extra columns, money for spend; no action: empty."""
    labels = np.array(["a", "b", "a", "c", "b", "a"], dtype=object)
    value = np.array([100, 50, -20, 30, 50, 0], dtype=float)  # clipped total: 230
    t = label_summary(labels, value, {"a": "call", "c": "mail"}, "EUR",
                      {"p_alive": np.array([0.5, 0.9, 0.7, 0.2, 0.1, 0.3]),
                       "expected spend": np.array([10, 20, 30, 40, 50, 60], dtype=float)})
    assert t["label"].tolist() == ["a", "b", "c"]
    assert t["customers"].tolist() == [3, 2, 1]
    assert t["share"].tolist() == ["50.0%", "33.3%", "16.7%"]
    assert t["value share"].tolist() == ["43.5%", "43.5%", "13.0%"]
    assert t["median p_alive"].tolist() == ["0.50", "0.50", "0.20"]
    assert t["median expected spend"].tolist() == ["30 EUR", "35 EUR", "40 EUR"]
    assert t["action"].tolist() == ["call", "", "mail"]


def test_b2b_matrix_by_hand_with_blanks_and_size_bands_in_numeric_order():
    buyers = pd.DataFrame({
        "business_type": ["shop", "shop", "trader", "shop", None, "trader", "shop"],
        "company_size": ["1-9", "10-49", "1-9", "1-9", "250+", "50-249", "1-9"]})
    personas = np.array(["Loyal", "Gold", "Loyal", "Gold", "Gold", "Gold", "Loyal"], dtype=object)
    value = np.array([10, 20, 30, 40, -5, 0, 0], dtype=float)  # clipped total: 100
    t = b2b_matrix(buyers, personas, value, ["business_type", "company_size"],
                   np.array([4, 2, 4, 4, 2, 2, 5]))
    assert t[["business_type", "company_size"]].values.tolist() == [
        ["(blank)", "250+"], ["shop", "1-9"], ["shop", "10-49"], ["trader", "1-9"],
        ["trader", "50-249"]]
    assert t["customers"].tolist() == [1, 3, 1, 1, 1]
    assert t["value share"].tolist() == ["0.0%", "50.0%", "20.0%", "30.0%", "0.0%"]
    assert t["top persona"].tolist() == ["Gold 100%", "Loyal 67%", "Gold 100%", "Loyal 100%",
                                         "Gold 100%"]
    assert t["second persona"].tolist() == ["", "Gold 33%", "", "", ""]
    # segments: (shop, 1-9) holds segment 4 twice and segment 5 once
    assert t["top segment"].tolist() == ["2 (100%)", "4 (67%)", "2 (100%)", "4 (100%)",
                                         "2 (100%)"]
    assert "top segment" not in b2b_matrix(buyers, personas, value, ["business_type"])


def test_b2b_matrix_counts_on_codes_as_pandas_counts_the_values():
    """The matrix counted on integer codes against a group-by over the values, with blank
    traits, a trait that is a number, a literal "(blank)", tied personas and missing ones."""
    from clustering.personas.playbook import _natural, _pct

    def by_values(buyers, personas, value, traits, segments):
        df = buyers[traits].astype(object).fillna("(blank)").assign(
            persona=personas, value=np.clip(value, 0, None), segment=segments)
        total, rows = df["value"].sum() or 1.0, []
        for key, g in sorted(df.groupby(traits, sort=False), key=lambda kv: _natural(kv[0])):
            mix = g["persona"].value_counts(normalize=True)
            top = [f"{p} {s:.0%}" for p, s in mix.head(2).items()]
            seg = g["segment"].value_counts(normalize=True)
            rows.append([*key, len(g), _pct(g["value"].sum() / total), top[0],
                         top[1] if len(top) > 1 else "", f"{seg.index[0]} ({seg.iloc[0]:.0%})"])
        return rows

    rng = np.random.default_rng(3)
    for trial in range(30):
        n = int(rng.integers(5, 400))
        buyers = pd.DataFrame({
            "business_type": rng.choice(["shop", "trader", "(blank)", None], n),
            "employees": rng.choice([1.0, 10.0, 250.0, np.nan], n)})
        personas = rng.choice(["Gold", "Loyal", "Small"], n).astype(object)
        traits = ["business_type", "employees"][: 1 + trial % 2]
        combo = pd.Series(list(zip(*(buyers[t].astype(object).fillna("(blank)")
                                     for t in traits), strict=True)))
        missing = rng.random(n) < 0.05
        missing[~combo.duplicated().to_numpy()] = False  # each combination keeps a named one
        personas[missing] = None
        segments = rng.integers(0, 4, n)
        value = rng.normal(50, 40, n)
        got = b2b_matrix(buyers, personas, value, traits, segments)
        assert got.values.tolist() == by_values(buyers, personas, value, traits, segments)


def _buyers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": list("vwxyz"),
        "monetary_total": [100.0, 50.0, 30.0, 10.0, 10.0],
        "frequency": [1, 3, 5, 2, 4],
        # first purchases 400, 300, 300, 30 and 30 days before the snapshot
        "tenure_days": [400, 300, 300, 30, 30],
        "overdue": [False, True, False, True, None]})


def _everyone() -> pd.DataFrame:
    return pd.DataFrame({
        "is_buyer": [True, True, False, False, False, False],
        "is_prospect": [False, False, True, True, True, False],
        "activity_state": ["active", "semi_active", "semi_active", "passive", "passive",
                           "passive"],
        "lead_temperature": ["cold", "warm", "hot", "warm", "cold", "cold"],
        "lead_qualified": [False, False, True, False, False, False],
        "channel": ["web", "store", "web", "web", None, "store"]})


def test_playbook_metrics_and_tables_by_hand():
    snapshot, start = dt.date(2025, 1, 1), dt.date(2023, 1, 1)
    quality = pd.DataFrame({"attribute": ["region", "size"], "rows": [10, 10], "blank": [1, 2],
                            "placeholder": [0, 3], "spelling_variant": [4, 0],
                            "conflicting_ids": [1, 1], "distinct_values": [3, 4]})
    pb = playbook(_buyers(), np.array(["A", "A", "B", "B", "B"], dtype=object), {}, snapshot,
                  start, "EUR", new_customer_days=60, abc_share=0.8, matrix=[],
                  attribute_quality=quality, everyone=_everyone(), overdue_cycles=2.5)
    m = pb.metrics
    # 100, 50, 30 of 200 before the line is crossed: 3 of the 5 customers make 80%
    assert m["abc_top_customer_share"] == pytest.approx(0.6)
    assert pb.tags["abc_reading"].startswith("costly to serve")  # 60% of customers for 80%
    # repeat buyers w, x, y, z; w and y overdue (z's unknown flag counts as not overdue)
    assert m["overdue_share"] == pytest.approx(0.5)
    overdue = pb.tables["playbook/overdue_by_persona.csv"]
    assert overdue[["persona", "repeat_buyers", "overdue"]].values.tolist() == [["A", 1, 1],
                                                                                ["B", 3, 1]]
    assert overdue["share of repeat buyers"].tolist() == ["100.0%", "33.3%"]
    text = next(s.text for s in pb.sections if s.title == "Overdue customers")
    assert text.startswith("2 repeat buyers (50.0%) have let 2.5 or more of their own")
    # first purchases in the window and more than 60 days ago: v (one order) and w, x (more)
    churn = pb.tables["playbook/new_customer_churn.csv"]
    assert churn[["cohort", "new_customers", "churned"]].values.tolist() == [
        ["2023-11", 1, 1], ["2024-03", 2, 0]]
    assert m["new_customer_churn_rate"] == pytest.approx(1 / 3)
    # activity: 1 active, 2 semi-active, 3 passive of 6 customers
    assert (m["activity_active_share"], m["activity_semi_active_share"],
            m["activity_passive_share"]) == pytest.approx((1 / 6, 2 / 6, 3 / 6))
    states = pb.tables["playbook/activity_states.csv"]
    assert states.values.tolist() == [["current", 1, 1, 0], ["former", 0, 0, 1],
                                      ["prospect", 0, 1, 2]]
    leads = pb.tables["playbook/leads.csv"]
    assert leads.values.tolist() == [["(blank)", 0, 0, 1, 0], ["web", 1, 1, 0, 1]]
    assert m["leads_hot"] == 1.0
    assert (m["attribute_blank"], m["attribute_placeholder"], m["attribute_spelling_variant"],
            m["attribute_conflicting_ids"]) == (3.0, 3.0, 4.0, 2.0)


def test_playbook_with_no_repeat_buyer_and_no_prospect():
    """Empty groups: no repeat buyer gives an overdue share of 0 and no table rows; no
    prospect, no leads table; no cohort old enough, no churn metric."""
    buyers = _buyers().assign(frequency=1, overdue=False, tenure_days=10)
    everyone = _everyone().assign(is_prospect=False)
    pb = playbook(buyers, np.array(list("AABBB"), dtype=object), {}, dt.date(2025, 1, 1),
                  dt.date(2023, 1, 1), "EUR", everyone=everyone)
    assert pb.metrics["overdue_share"] == 0.0
    assert pb.tables["playbook/overdue_by_persona.csv"].empty
    assert "playbook/leads.csv" not in pb.tables and "leads_hot" not in pb.metrics
    assert "new_customer_churn_rate" not in pb.metrics
