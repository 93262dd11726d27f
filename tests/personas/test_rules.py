"""Segment rules a CRM can run: planted boxes found exactly, the SQL CASE and the JSON give the
same segments as the rules, and on the bundled sample they reproduce the model's labels."""

from __future__ import annotations

import json

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from clustering.personas.rules import fit_rules, plain_threshold


def planted(n: int = 6000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Three segments cut by hand: recent (<= 60 days), lapsed frequent (> 60, > 5 orders),
    lapsed rare; a noise column the rules must not need; growth missing for a tenth."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"recency_days": rng.integers(0, 400, n).astype(float),
                       "frequency": rng.integers(1, 30, n).astype(float),
                       "monetary_total": rng.gamma(2.0, 300.0, n),
                       "revenue_growth": rng.uniform(-1, 1, n)})
    df.loc[rng.random(n) < 0.1, "revenue_growth"] = np.nan
    seg = np.where(df["recency_days"] <= 60, 0, np.where(df["frequency"] > 5, 1, 2))
    return df, seg


def apply_json(doc: dict, frame: pd.DataFrame) -> np.ndarray:
    """The JSON export read as a CRM would: first matching rule, missing values filled."""
    out = np.full(len(frame), -1)
    for i, row in enumerate(frame.to_dict("records")):
        for rule in doc["rules"]:
            ok = True
            for c in rule["conditions"]:
                v = row[c["feature"]]
                if c["feature"] in doc["attributes"]:
                    v = "" if v is None or v != v else str(v)
                    ok &= (c["equals"] == v) if "equals" in c else (v not in c["not_in"])
                    continue
                if v != v:
                    v = doc["missing_values"][c["feature"]]
                ok &= ("low" not in c or v > c["low"]) and ("high" not in c or v <= c["high"])
            if ok:
                out[i] = rule["segment"]
                break
    return out


def test_planted_boxes_are_found_exactly_in_plain_numbers():
    df, seg = planted()
    rules = fit_rules(df, seg, list(df.columns), {0: "Active", 1: "Sleeping", 2: "Lost"})
    assert rules.agreement == 1.0 and rules.depth == 2  # the shallowest tree that agrees
    assert len(rules.rules) == 3
    by_seg = {r.segment: {c.feature: (c.low, c.high) for c in r.conditions} for r in rules.rules}
    # integer features: the thresholds are the planted ones, not midpoints like 60.5
    assert by_seg[0] == {"recency_days": (None, 60.0)}
    assert by_seg[1] == {"recency_days": (60.0, None), "frequency": (5.0, None)}
    assert by_seg[2] == {"recency_days": (60.0, None), "frequency": (None, 5.0)}
    t = rules.table.set_index("segment")
    assert (t["coverage"] == 1).all() and (t["precision"] == 1).all()
    assert list(t["customers"]) == [int((seg == s).sum()) for s in range(3)]
    assert rules.words(1) == "days since last purchase over 60 and orders over 5"


def test_sql_case_and_json_give_the_rules_segments_missing_values_included():
    df, seg = planted()
    # a segment that needs the column with missing values: growth > 0 among the recent
    seg = np.where((seg == 0) & (df["revenue_growth"].fillna(0.1) > 0.25), 3, seg)
    rules = fit_rules(df, seg, list(df.columns), {0: "Active", 3: "Growing */ DROP"}, target=1.0)
    assert "revenue_growth" in {c.feature for r in rules.rules for c in r.conditions}
    assert np.isfinite(rules.missing["revenue_growth"])  # filled with its median
    mine = rules.predict(df)
    assert (mine == seg).mean() == rules.agreement >= 0.99
    con = duckdb.connect()
    con.register("customer_features", df)
    sql = rules.sql()
    assert "DROP" in sql and "*/ DROP" not in sql  # a name cannot end the comment
    np.testing.assert_array_equal(con.sql(sql).df()["segment"].to_numpy(), mine)
    doc = json.loads(rules.to_json())
    assert doc["agreement"] == round(rules.agreement, 4)
    np.testing.assert_array_equal(apply_json(doc, df), mine)


def test_attributes_become_equals_and_not_in_conditions():
    """Segments that an attribute makes: recent customers split by channel (web apart, store
    and partner together), a blank channel among them."""
    df, seg = planted()
    rng = np.random.default_rng(5)
    df["channel"] = rng.choice(["web", "store", "partner", None], len(df), p=[.4, .3, .2, .1])
    seg = np.where((seg == 0) & (df["channel"] == "web").to_numpy(), 3, seg)
    rules = fit_rules(df, seg, ["recency_days", "frequency"], categorical=["channel"],
                      target=1.0)
    assert rules.agreement == 1.0
    conds = {c for r in rules.rules for c in r.conditions if c.feature == "channel"}
    assert {c.equals for c in conds if c.equals} == {"web"} or \
        any(c.not_in and "web" in c.not_in for c in conds)
    con = duckdb.connect()
    con.register("customer_features", df)
    np.testing.assert_array_equal(con.sql(rules.sql()).df()["segment"].to_numpy(), seg)
    doc = json.loads(rules.to_json())
    np.testing.assert_array_equal(apply_json(doc, df), seg)
    web = [r for r in rules.rules if r.segment == 3][0]
    assert "channel is web" in rules.words(3) or "channel is not" in rules.words(0)
    assert web.precision == 1.0


@pytest.mark.parametrize("lo, hi, expected", [
    (60.0, 61.0, 60.0), (123.45, 130.2, 130.0), (0.31, 0.38, 0.31),
    (-0.52, -0.41, -0.5), (999.0, 1004.0, 1000.0), (41.6, 41.61, 41.6)])
def test_plain_threshold_sorts_the_same_customers(lo, hi, expected):
    t = plain_threshold(lo, hi)
    assert lo <= t < hi and t == pytest.approx(expected)


def test_rules_of_a_training_run_reproduce_the_labels_and_travel_with_the_model(
        mlflow_uri, settings_for):
    """On the bundled sample (20,000 customers, k chosen by the hold-out): precision >= 0.9
    for the customers the rules place, the SQL beside the report and among the model's
    artifacts, the section in the report."""
    from clustering.training import run_training

    result = run_training(*settings_for())
    rules = result.rules
    assert rules.agreement >= 0.9
    table = rules.table
    weighted = (table["precision"] * table["customers"]).sum() / table["customers"].sum()
    assert weighted >= 0.9 and set(table["segment"]) == set(np.unique(result.segments))
    con = duckdb.connect()
    con.register("customer_features", result.features.buyers)
    sql = (result.report_dir / "segment_rules.sql").read_text()
    by_sql = con.sql(sql).df()["segment"].to_numpy()
    assert (by_sql == result.segments).mean() == pytest.approx(rules.agreement)
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    assert run.data.metrics["rules_agreement"] == round(rules.agreement, 4)
    model_files = {a.path for a in client.list_artifacts(result.run_id, "model/artifacts")}
    assert {"model/artifacts/segment_rules.sql", "model/artifacts/segment_rules.json"} <= \
        model_files
    html = result.report_path.read_text()
    assert "Segment rules for the CRM" in html and "segment_rules.sql" in html
