"""Registered model, batch scoring, stable ids, migration, downstream use and serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from clustering.personas.stable_ids import migration_matrix
from clustering.scoring import SegmentFeatures, score
from clustering.training import run_training
from pipelines.common import PROJECT_ROOT

MODEL = "test-segmentation"
COLUMNS = {c: c for c in ["customer_id", "order_id", "timestamp", "amount", "quantity",
                          "category", "is_return", "payment_delay_days", "is_new_product"]}


def _train(settings_for, *overrides):
    own_data = any(o.startswith("data=") for o in overrides)
    settings, resolved = settings_for(
        *([] if own_data else ["data.sample.n_customers=3000"]), "baselines.log_runs=false",
        "evaluate.holdout_days=0", "evaluate.stability_runs=0",
        f"mlflow.registered_model_name={MODEL}", *overrides)
    return run_training(settings, resolved=resolved), settings


def _sources(settings):
    from clustering.inputs.sources import sources_for

    return sources_for(settings.data, settings.paths.data_dir)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "extra"), [("kmeans", "model.k=6"),
                                              ("hierarchical", "model.k=6"),
                                              ("hdbscan", "model.params.min_cluster_size=60")])
def test_scoring_training_customers_reproduces_labels_and_personas(model, extra, tmp_path,
                                                                   mlflow_uri, settings_for):
    result, settings = _train(settings_for, f"model={model}", extra)
    scored = score(f"models:/{MODEL}/1", sources=_sources(settings))
    merged = result.labels.merge(scored.labels, on="customer_id", suffixes=("_train", "_score"))
    assert len(merged) == len(result.labels) == len(scored.labels)
    for c in ("relationship", "segment", "persona", "rfm", "abc_xyz", "lifecycle",
              "value_potential", "vip", "abc_xyz_tier", "overdue", "activity_state",
              "lead_temperature", "p_alive", "expected_spend"):
        pd.testing.assert_series_equal(merged[f"{c}_train"], merged[f"{c}_score"],
                                       check_names=False)
    assert scored.model_name == MODEL and scored.model_version == "1"
    assert scored.labels["confidence"].dropna().between(0, 1).all()
    assert scored.skipped["prospect (never bought)"] > 0


@pytest.mark.slow
def test_potential_as_features_feeds_the_segmenter_and_scoring(tmp_path, mlflow_uri,
                                                               settings_for):
    """``signals.potential.as_features=true``: the model's preprocessing computes the potential
    first and the segmenter sees its three columns; scoring raw feature rows computes them
    again, so the training customers get their segments back."""
    from clustering.features.potential import COLUMNS, PotentialModel

    result, settings = _train(settings_for, "model.k=5", "signals.potential.as_features=true")
    def parts(est):
        yield est
        for _, sub in getattr(est, "steps", []):
            yield from parts(sub)
    assert any(isinstance(p, PotentialModel) for p in parts(result.model.pipeline))
    assert all(any(c in name for name in result.feature_names) for c in COLUMNS)
    scored = score(f"models:/{MODEL}/1", sources=_sources(settings))
    merged = result.labels.merge(scored.labels, on="customer_id", suffixes=("_train", "_score"))
    assert len(merged) == len(result.labels)
    assert (merged["segment_train"].fillna(-2) == merged["segment_score"].fillna(-2)).all()


def test_potential_as_features_with_too_few_buyers_goes_on_without_it(tmp_path, mlflow_uri,
                                                                     settings_for, capsys):
    """Fewer buyers than the potential model needs: the run says so and segments on the
    other features (it failed with a KeyError on 'p_alive')."""
    rng = np.random.default_rng(3)
    rows = [(f"c{i}", f"o{i}-{j}", f"2024-{1 + (i + 3 * j) % 12:02d}-{1 + j:02d}",
             float(rng.integers(5, 500))) for i in range(12) for j in range(1 + i % 4)]
    csv = tmp_path / "few.csv"
    pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount"]).to_csv(
        csv, index=False)
    result, _ = _train(settings_for, "data=csv", f"data.path={csv}", "model.k=3",
                       "signals.potential.as_features=true", "mlflow.log_model=false",
                       "mlflow.registered_model_name=null")
    assert "too few buyers for the potential model" in capsys.readouterr().out
    assert result.labels["segment"].notna().sum() == 12
    assert not any("p_alive" in c for c in result.feature_names)


@pytest.mark.slow
def test_score_cli_writes_labels_and_names_missing_columns(tmp_path, mlflow_uri, settings_for):
    result, settings = _train(settings_for, "model.k=5")
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri)
    out = tmp_path / "labels.csv"
    common = [f"paths.data_dir={tmp_path / 'data'}", "data.sample.n_customers=3000",
              f"model_name={MODEL}"]
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "score.py"), *common,
                        f"output={out}"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    labels = pd.read_csv(out)
    assert list(labels.columns) == [
        "customer_id", "relationship", "segment", "segment_name", "persona", "confidence",
        "is_outlier", "p_alive", "expected_orders", "expected_spend", "overdue", "activity_state",
        "lead_temperature", "lead_qualification", "lead_qualified",
        "quiet_reason", "one_off_big", "window_shopper", "lead_user", "week_pattern", "ladder",
        "rfm_cell", "rfm", "abc", "xyz", "abc_xyz", "abc_xyz_tier", "bcg", "lifecycle",
        "value_class", "value_potential", "vip", "model_name", "model_version", "snapshot_date"]
    assert f"Scored {len(labels):,} customers" in r.stdout and "not segmented" in r.stdout
    # a feature table with a misnamed column: a clear error naming it
    feats = result.features.buyers.rename(columns={"recency_days": "recency"})
    fpath = tmp_path / "features.parquet"
    feats.to_parquet(fpath)
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "score.py"), *common,
                        "input_kind=features", f"input={fpath}", f"output={tmp_path / 'x.csv'}"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2
    assert "feature column(s) missing: 'recency_days' (found 'recency')" in r.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_retrain_on_perturbed_data_keeps_ids_and_names(tmp_path, mlflow_uri, settings_for):
    first, settings = _train(settings_for, "model.k=8", "features.snapshot_date=2024-12-01")
    # a month later, another seed; logged without registering (as sweep jobs are), which must
    # still follow the registered version's ids and names
    second, _ = _train(settings_for, "model.k=8", "seed=7", "mlflow.register=false")
    both = first.labels.merge(second.labels, on="customer_id", suffixes=("_1", "_2"))
    ct = pd.crosstab(both["segment_1"], both["segment_2"])
    checked = 0
    for seg, row in ct.iterrows():
        target = row.idxmax()
        # a segment that persists: most of it stays together and it makes up most of its target
        if row.max() / row.sum() > 0.7 and ct[target].max() / ct[target].sum() > 0.7:
            assert target == seg, ct
            n1 = first.personas.set_index("segment").at[seg, "segment_name"]
            n2 = second.personas.set_index("segment").at[target, "segment_name"]
            assert n1 == n2
            checked += 1
    # measured: 6 persisting segments checked, 8 of 8 matched by id (seeded, so stable); the
    # floors leave one segment of slack for a library's numeric change, not more
    assert checked >= 5, ct
    run = mlflow.get_run(second.run_id)
    assert run.data.metrics["matched_segments"] >= 7
    assert [v.version for v in mlflow.MlflowClient().search_model_versions(
        f"name = '{MODEL}'")] == [1]


def test_migration_separates_customers_who_moved_from_segments_that_were_renamed():
    from clustering.personas.stable_ids import renamed_segments

    before = pd.DataFrame({"customer_id": list("abcde"), "segment": [3, 3, 3, 5, pd.NA],
                           "persona": ["Loyal customers"] * 3 + ["Lost customers", "Prospects"]})
    after = pd.DataFrame({"customer_id": list("abcde"), "segment": [3, 3, 5, 5, 3],
                          "persona": ["Sleeping customers"] * 2 + ["Lost customers"] * 2
                          + ["Sleeping customers"]})
    m = migration_matrix(before, after)
    # each side names segments as its own version did; segment 3 was renamed (Loyal ->
    # Sleeping): its two staying customers keep the id, so the rename is not read as a move
    assert m.loc["3 Loyal customers", "3 Sleeping customers"] == 2
    assert m.loc["3 Loyal customers", "5 Lost customers"] == 1  # a real move
    assert m.loc["Prospects", "3 Sleeping customers"] == 1  # a prospect who bought
    wide = migration_matrix(before.assign(segment=[2, 2, 10, 10, 2]),
                            after.assign(segment=[10, 2, 2, 10, 2]))
    assert list(wide.index) == ["2 Loyal customers", "10 Lost customers"]  # ids as numbers
    assert list(wide.columns) == ["2 Sleeping customers", "10 Lost customers"]
    r = renamed_segments(before, after)
    assert r.to_dict("records") == [{"segment": 3, "before": "Loyal customers",
                                     "after": "Sleeping customers"}]


def test_migration_matrix_counts_moves_and_newcomers():
    before = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                           "persona": ["Loyal", "Loyal", "New", "Sleeping"]})
    after = pd.DataFrame({"customer_id": ["a", "b", "c", "e"],
                          "persona": ["Loyal", "Sleeping", "Loyal", "New"]})
    m = migration_matrix(before, after)
    assert m.loc["Loyal", "Sleeping"] == 1 and m.loc["Loyal", "Loyal"] == 1
    assert m.loc["New", "Loyal"] == 1
    assert m.loc["(new customer)", "New"] == 1 and m.loc["Sleeping", "(not scored)"] == 1


@pytest.mark.slow
def test_downstream_classifier_uses_segment_features(tmp_path, mlflow_uri, settings_for):
    """Predict next-period purchase from the segment one-hots and distances."""
    result, settings = _train(settings_for, "model.k=6", "features.snapshot_date=2024-07-01")
    import duckdb

    from clustering.evaluation.holdout import holdout_outcomes
    from clustering.inputs.sources import register_transactions

    con = duckdb.connect()
    register_transactions(con, _sources(settings).transactions)
    X = result.features.buyers
    y = holdout_outcomes(con, X["customer_id"], result.features.snapshot_date, 180)["bought_again"]
    rng = np.random.default_rng(0)
    train = rng.random(len(X)) < 0.7
    clf = make_pipeline(SegmentFeatures(f"models:/{MODEL}/1"), LogisticRegression(max_iter=1000))
    clf.fit(X[train], y[train])
    auc = roc_auc_score(y[~train], clf.predict_proba(X[~train])[:, 1])
    # floor 0.75: segments carry recency and frequency; a broken transformer gives ~0.5
    assert auc >= 0.75, auc
    out = SegmentFeatures(f"models:/{MODEL}/1", persona=True).fit(X).transform(X.head(3))
    assert {"segment_0", "persona", "distance_0"} <= set(out.columns)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_serve_answers_the_documented_curl_payload(tmp_path, mlflow_uri, settings_for):
    """`make serve` right after a plain training (its first version is the champion), on
    loopback, answering the README's payload (docs/serve_example.json) with segments and
    personas equal to the model's own."""
    import json

    import requests

    result, _ = _train(settings_for, "model.k=5")
    port = _free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri)
    proc = subprocess.Popen(["make", "-s", "serve", f"SERVE_PORT={port}",
                             f"MODEL_NAME={MODEL}"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    example = PROJECT_ROOT / "docs" / "serve_example.json"
    try:
        deadline, resp = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                resp = requests.post(f"http://127.0.0.1:{port}/invocations",
                                     data=example.read_bytes(),
                                     headers={"Content-Type": "application/json"}, timeout=10)
                break
            except requests.ConnectionError:
                time.sleep(1)
        assert resp is not None, proc.stderr.read().decode()[-3000:]
        assert resp.status_code == 200, resp.text
        rows = pd.DataFrame(json.loads(example.read_text())["dataframe_records"])
        expected = result.model.label_frame(rows)
        preds = resp.json()["predictions"]
        assert [p["segment"] for p in preds] == expected["segment"].tolist()
        assert [p["persona"] for p in preds] == expected["persona"].tolist()
        assert [p["segment_name"] for p in preds] == expected["segment_name"].tolist()
        assert {"confidence", "is_outlier"} <= set(preds[0])
        # the relationship and the practitioners' labels the features allow, beside them
        assert {p["relationship"] for p in preds} == {"current"}
        assert {"rfm", "rfm_cell", "lifecycle", "bcg"} <= set(preds[0])
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_scoring_applies_the_training_runs_currency_conversion(tmp_path, mlflow_uri, settings_for):
    """Lines in two currencies, converted by the training run's rates: scoring the same
    transactions with the registered model converts alike (the rates travel with the model)
    and reproduces the training labels exactly."""
    import dataclasses

    from clustering.inputs.checks import QualityPolicy
    from clustering.sample.files import ensure_sample_data

    paths = ensure_sample_data(str(tmp_path / "base"), n_customers=3000, seed=42)
    tx = pd.read_parquet(paths["transactions"])
    usd = np.random.default_rng(0).random(len(tx)) < 0.3
    tx["currency"] = np.where(usd, "USD", "EUR")
    tx.loc[usd, "amount"] = tx.loc[usd, "amount"] / 0.5  # 1 USD = 0.5 EUR here
    tx.to_parquet(tmp_path / "tx.parquet")
    result, settings = _train(
        settings_for, "data=parquet", f"data.path={tmp_path / 'tx.parquet'}",
        f"data.customers_path={paths['customers']}", "data.columns.currency=currency",
        "+data.currency_rates={EUR: 1.0, USD: 0.5}", "model.k=6")
    assert result.model.checks.currency_rates == {"EUR": 1.0, "USD": 0.5}
    # the scoring side knows nothing of the rates: the model's own checks apply
    sources = dataclasses.replace(_sources(settings), policy=QualityPolicy())
    scored = score(f"models:/{MODEL}/1", sources=sources)
    merged = result.labels.merge(scored.labels, on="customer_id", suffixes=("_train", "_score"))
    assert len(merged) == len(result.labels) == len(scored.labels)
    pd.testing.assert_series_equal(merged["segment_train"], merged["segment_score"],
                                   check_names=False)


def test_the_training_runs_margins_travel_with_the_model(tmp_path, mlflow_uri, settings_for):
    """Profit from margin rates (no cost column): scoring the same transactions without
    repeating data.margins computes profit alike, so the profit-based labels (ABC-XYZ, VIP)
    equal the training run's; a feature table without profit_total gets a one-line error
    naming the column and the baseline that reads it, not a KeyError."""
    import dataclasses

    from clustering.errors import DataError
    from clustering.sample.files import ensure_sample_data

    paths = ensure_sample_data(str(tmp_path / "base"), n_customers=3000, seed=42)
    result, settings = _train(
        settings_for, "data=parquet", f"data.path={paths['transactions']}",
        f"data.customers_path={paths['customers']}", "+data.margins={default: 0.25, dairy: 0.4}",
        "model.k=6")
    assert result.model.margins == {"default": 0.25, "dairy": 0.4}
    assert "profit_total" in result.features.features
    sources = _sources(settings)
    sources = dataclasses.replace(sources, transactions=dataclasses.replace(
        sources.transactions, margins=None))  # the scoring side does not repeat them
    scored = score(f"models:/{MODEL}/1", sources=sources)
    merged = result.labels.merge(scored.labels, on="customer_id", suffixes=("_train", "_score"))
    assert len(merged) == len(result.labels) == len(scored.labels)
    for c in ("segment", "abc_xyz", "vip", "value_class"):
        pd.testing.assert_series_equal(merged[f"{c}_train"], merged[f"{c}_score"],
                                       check_names=False)
    table = tmp_path / "features.parquet"
    result.features.table.drop(columns=["profit_total"]).to_parquet(table)
    with pytest.raises(DataError, match=r"feature column 'profit_total' missing: the \w+ "
                                        "baseline of this model reads it"):
        score(f"models:/{MODEL}/1", features_path=str(table))


def test_scoring_says_what_the_checks_found_and_takes_a_raised_ceiling(tmp_path, mlflow_uri,
                                                                       settings_for):
    """Scoring reads and checks new data as training does: its notes and the quarantine are
    given back (they were silent), and a data.quality.max_share raised above the training
    run's applies, as the ceiling's message advises (it was ignored)."""
    import dataclasses

    from clustering.errors import DataError
    from clustering.sample.files import ensure_sample_data

    paths = ensure_sample_data(str(tmp_path / "base"), n_customers=3000, seed=42)
    _train(settings_for, "data=parquet", f"data.path={paths['transactions']}", "model.k=4",
           "data.customers_path=null")
    tx = pd.read_parquet(paths["transactions"])
    bad = np.random.default_rng(1).random(len(tx)) < 0.08
    tx["timestamp"] = tx["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S").where(~bad, "31/02/x")
    tx.to_csv(tmp_path / "new.csv", index=False)
    settings, _ = settings_for("data=csv", f"data.path={tmp_path / 'new.csv'}")
    sources = dataclasses.replace(_sources(settings), customers=None)
    with pytest.raises(DataError, match="more than data.quality.max_share=5%"):
        score(f"models:/{MODEL}/1", sources=sources)
    raised = dataclasses.replace(sources, policy=dataclasses.replace(sources.policy, max_share=0.1))
    scored = score(f"models:/{MODEL}/1", sources=raised,
                   quarantine_path=tmp_path / "new.quarantine.parquet")
    assert any(n.startswith("checks:") and "bad_date" in n for n in scored.notes)
    quarantined = pd.read_parquet(scored.quarantine_path)
    assert (quarantined["reason"] == "bad_date").sum() == bad.sum()


def test_score_refuses_to_write_over_the_file_it_scores(tmp_path, mlflow_uri, settings_for):
    """output= the transactions being scored overwrote them with the labels; now one line,
    and the file is untouched (and previous= may be the output: it is read first)."""
    from clustering.sample.files import ensure_sample_data

    paths = ensure_sample_data(str(tmp_path / "raw"), n_customers=300, seed=3)
    tx = tmp_path / "tx.csv"
    pd.read_parquet(paths["transactions"]).to_csv(tx, index=False)
    before = tx.read_bytes()
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri)
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "score.py"),
                        "data=csv", f"data.path={tx}", f"output={tx}", "model_uri=models:/none/1"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "is a file this run reads" in r.stderr and "Traceback" not in r.stderr
    assert tx.read_bytes() == before


def test_a_feature_table_with_repeated_ids_or_infinities_stops_in_one_line(tmp_path, mlflow_uri,
                                                                            settings_for):
    """Repeated ids got two label rows each; an infinity raised deep in the preprocessing."""
    from clustering.errors import DataError
    from clustering.scoring import score_features

    result, _ = _train(settings_for, "model.k=4", "mlflow.log_model=false")
    table = result.features.table
    assert len(score_features(result.model, table)) == len(table)
    doubled = pd.concat([table, table.iloc[:3]], ignore_index=True)
    with pytest.raises(DataError, match="3 customer_id values appear more than once"):
        score_features(result.model, doubled)
    broken = table.copy()
    broken.loc[broken.index[:2], "monetary_total"] = np.inf
    with pytest.raises(DataError, match="infinite values in monetary_total \\(2 cells\\)"):
        score_features(result.model, broken)


def test_scoring_amounts_in_another_currency_than_the_models_needs_rates(tmp_path, mlflow_uri,
                                                                          settings_for):
    """A EUR model scoring USD transactions was accepted without a word (every monetary
    feature off by the rate): a currency column of one other currency, or data.currency
    naming another, stops in one line; with rates the amounts are converted."""
    import dataclasses

    from clustering.errors import DataError
    from clustering.sample.files import ensure_sample_data

    paths = ensure_sample_data(str(tmp_path / "base"), n_customers=1500, seed=42)
    result, settings = _train(settings_for, "data.sample.n_customers=1500", "model.k=4")
    assert result.model.checks.currency == "EUR"
    tx = pd.read_parquet(paths["transactions"]).assign(currency="USD")
    tx.to_parquet(tmp_path / "usd.parquet")
    base = _sources(settings)
    usd = dataclasses.replace(base, transactions=dataclasses.replace(
        base.transactions, path=str(tmp_path / "usd.parquet"), fmt="parquet",
        columns={**base.transactions.columns, "currency": "currency"}))
    with pytest.raises(DataError, match=r"the currency column says USD on every line, but the "
                       r"amounts are taken as EUR .*data.currency_rates=\{USD: <EUR per USD>\}"):
        score(f"models:/{MODEL}/1", sources=usd)
    named = dataclasses.replace(base, policy=dataclasses.replace(base.policy, currency="USD"))
    with pytest.raises(DataError, match=r"the data is in USD \(data.currency\), the model .* was "
                       r"trained on EUR amounts"):
        score(f"models:/{MODEL}/1", sources=named)
    rated = dataclasses.replace(usd, policy=dataclasses.replace(
        usd.policy, currency_rates={"USD": 1.0}))
    assert len(score(f"models:/{MODEL}/1", sources=rated).labels) > 1000


def test_the_python_api_builds_features_from_a_transactions_frame(tmp_path, mlflow_uri,
                                                                  settings_for):
    """SegmentFeatures in a scikit-learn Pipeline from raw transactions: customer_features
    turns a transactions DataFrame (and the customers one) into the table the model reads, with
    the model's lookback and checks; the labels are the training run's."""
    from clustering.sample.files import ensure_sample_data
    from clustering.scoring import customer_features

    result, settings = _train(settings_for, "model.k=4")
    paths = ensure_sample_data(settings.paths.data_dir + "/sample/n3000-seed42-b2b",
                               n_customers=3000, seed=42)
    tx, customers = pd.read_parquet(paths["transactions"]), pd.read_parquet(paths["customers"])
    X = customer_features(tx, customers, attributes=list(settings.data.attributes),
                          customer_columns={"signup_date": "signup_date"},
                          model=result.model)
    buyers = X[X["is_buyer"]].reset_index(drop=True)
    assert len(buyers) == len(result.labels[result.labels["relationship"] == "current"])
    pipe = make_pipeline(SegmentFeatures(f"models:/{MODEL}/1", distances=False))
    onehot = pipe.fit_transform(buyers)
    expected = result.labels.set_index("customer_id").loc[buyers["customer_id"], "segment"]
    got = onehot.to_numpy().argmax(axis=1)
    ids = sorted(set(expected.astype(int)))
    assert [ids[i] for i in got] == expected.astype(int).tolist()
