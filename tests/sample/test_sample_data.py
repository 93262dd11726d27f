"""The bundled generator: deterministic, every planted type present, truth kept apart."""

from __future__ import annotations

import pandas as pd

from clustering.sample.generator import TYPES, generate_sample


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


def test_events_for_every_type_and_prospects_ask_more():
    """The events table covers the planted types, prospects included (0.6 events a month from
    sign-up, twice a buyer's 0.3), and prospects' events lean to requests, calls and meetings."""
    from clustering.sample.generator import EVENT_KINDS

    s = generate_sample(3000, seed=1)
    ev = s.events.merge(s.truth, on="customer_id")
    assert set(ev["event_type"]) <= set(EVENT_KINDS)
    assert set(ev["planted_type"]) == set(TYPES)
    prospects = s.truth.loc[s.truth.planted_type == "prospect", "customer_id"]
    with_events = prospects.isin(s.events["customer_id"]).mean()
    assert with_events > 0.5
    contact = ev["event_type"].isin(["request", "call", "meeting"])
    is_prospect = ev["planted_type"] == "prospect"
    assert contact[is_prospect].mean() > 1.5 * contact[~is_prospect].mean()


def test_b2c_attributes():
    s = generate_sample(500, seed=2, kind="b2c")
    assert {"age_group", "gender"} <= set(s.customers.columns)


def test_large_bases_are_generated_chunk_by_chunk_and_train(tmp_path, monkeypatch, settings_for,
                                                            mlflow_uri):
    """Above CHUNK customers the tables are written part by part (bounded memory): ids never
    collide across parts, and a training run reads the folders like the single files."""
    import clustering.sample.files as sd
    from clustering.sample.files import chunk_sizes, ensure_sample_data
    from clustering.training import run_training

    assert chunk_sizes(250, 100) == [84, 83, 83] and chunk_sizes(99, 100) == [99]
    monkeypatch.setattr(sd, "CHUNK", 1000)
    paths = ensure_sample_data(str(tmp_path / "base"), n_customers=2500, seed=5)
    parts = sorted(p.name for p in (tmp_path / "base" / "transactions").iterdir())
    assert parts == ["part-0000.parquet", "part-0001.parquet", "part-0002.parquet"]
    customers = pd.read_parquet(paths["customers"])
    tx = pd.read_parquet(paths["transactions"])
    assert len(customers) == 2500 and customers["customer_id"].is_unique
    assert set(tx["customer_id"]) <= set(customers["customer_id"])
    # an order belongs to one customer, whichever part it comes from
    assert tx.groupby("order_id")["customer_id"].nunique().max() == 1
    # the same call again finds the tables complete and generates nothing
    stamp = (tmp_path / "base" / "manifest.json").stat().st_mtime_ns
    assert ensure_sample_data(str(tmp_path / "base"), n_customers=2500, seed=5) == paths
    assert (tmp_path / "base" / "manifest.json").stat().st_mtime_ns == stamp
    # chunks written by parallel processes (above) equal chunks written one after the other
    monkeypatch.setattr(sd, "MAX_WORKERS", 1)
    serial = ensure_sample_data(str(tmp_path / "serial"), n_customers=2500, seed=5)
    for name, path in paths.items():
        pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(serial[name]))
    settings, resolved = settings_for("data.sample.n_customers=2500", "model.k=4",
                                      "baselines.log_runs=false", "mlflow.log_model=false",
                                      "evaluate.holdout_days=0", "evaluate.stability_runs=0")
    result = run_training(settings, resolved=resolved)
    assert result.metrics["n_customers"] + result.metrics["n_prospects"] \
        + result.metrics["n_lapsed"] == 2500
    assert "leads_hot" in result.metrics  # the events folder was read too
