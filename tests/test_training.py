"""End to end: a training run into a temporary MLflow store, and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from clustering.features.signals import ABC_READINGS
from clustering.tracking.pyfunc import load_segmentation_model
from clustering.training import run_training
from pipelines.common import PROJECT_ROOT


@pytest.mark.slow
def test_training_run_is_tracked_with_metrics_artifacts_and_model(tmp_path, mlflow_uri, settings_for):
    settings, resolved = settings_for("data.sample.n_customers=4000", "model.k_min=3",
                                      "model.k_max=5", "model.criterion=calinski_harabasz")
    result = run_training(settings, resolved=resolved)
    client = mlflow.MlflowClient(mlflow_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    # unique and readable: algorithm, k, scaler, dataset and the start of the run id
    assert run.info.run_name == (f"kmeans-k{int(result.metrics['k'])}-standard-sample-"
                                 f"{result.run_id[:6]}")
    for m in ["silhouette", "calinski_harabasz", "davies_bouldin", "min_share", "max_share",
              "ari_truth", "nmi_truth", "n_customers"]:
        assert m in run.data.metrics, m
    assert run.data.params["model.name"] == "kmeans"
    assert run.data.params["data.sample.n_customers"] == "4000"
    assert len(run.data.tags["git_commit"]) >= 7 and len(run.data.tags["data.digest"]) == 64
    # the k curve is kept: one metric value per k
    hist = client.get_metric_history(result.run_id, "k_curve_calinski_harabasz")
    assert sorted(h.step for h in hist) == [3, 4, 5]
    # ... with the stability of every k (evaluate.stability_runs refits), and the chosen one's
    stab = client.get_metric_history(result.run_id, "k_curve_stability")
    assert sorted(h.step for h in stab) == [3, 4, 5] and all(0 < h.value <= 1 for h in stab)
    assert 0 < run.data.metrics["stability_ari"] <= 1
    arts = {a.path for d in ["", "plots", "segments", "features", "config", "selection",
                             "timings"]
            for a in client.list_artifacts(result.run_id, d)}
    for a in ["plots/projection.png", "plots/profile_heatmap.png", "plots/k_curve.png",
              "segments/profiles.csv", "segments/labels.parquet", "features/feature_summary.csv",
              "config/resolved.yaml", "selection/k_curve.csv", "timings/stages.csv"]:
        assert a in arts, a
    # every stage's seconds (they overlap: the run's wall time is less than their sum)
    timings = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="timings/stages.csv", tracking_uri=mlflow_uri))
    assert {"load data (local engine)", "preprocess", "segment (kmeans)", "evaluate",
            "persona report"} <= set(timings["stage"])
    assert 0 < run.data.metrics["seconds"] and (timings["seconds"] >= 0).all()
    assert run.inputs.dataset_inputs, "training data logged as an MLflow dataset"
    # the logged model reproduces the training labels
    model = load_segmentation_model(f"runs:/{result.run_id}/model")
    X = result.features.buyers[model.feature_names_in_]
    assert (model.predict(X) == result.segments).all()
    labels = pd.read_parquet(mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="segments/labels.parquet", tracking_uri=mlflow_uri))
    assert list(labels.columns) == [
        "customer_id", "relationship", "segment", "segment_name", "persona", "confidence",
        "is_outlier",
        "p_alive", "expected_orders", "expected_spend", "overdue", "activity_state",
        "lead_temperature", "lead_qualification", "lead_qualified",
        "quiet_reason", "one_off_big", "window_shopper", "lead_user", "week_pattern", "ladder",
        "rfm_cell", "rfm", "abc", "xyz", "abc_xyz", "abc_xyz_tier", "bcg", "lifecycle",
        "value_class", "value_potential", "vip"]
    # every customer is labelled: buyers with their segment, prospects and former customers
    # with their relationship, everyone with a history with the baselines' labels
    assert len(labels) == len(result.features.table)
    counts = labels["relationship"].value_counts()
    assert counts["current"] == result.metrics["n_customers"]
    assert counts["prospect"] == result.metrics["n_prospects"] > 0
    prospects = labels[labels["relationship"] == "prospect"]
    assert prospects["segment"].isna().all() and set(prospects["persona"]) == {"Prospects"}
    assert prospects["rfm"].isna().all() and prospects["lifecycle"].isna().all()
    # the playbook's labels: potential for buyers only, lead temperature for everyone
    assert prospects["p_alive"].isna().all() and prospects["value_potential"].isna().all()
    assert set(prospects["lead_temperature"]) <= {"hot", "warm", "cold"}
    assert set(prospects["activity_state"]) <= {"semi_active", "passive"}  # they never bought
    # a former customer (no purchase in the window) is "former" in every baseline: it was a
    # lifecycle "prospect" and an RFM "hibernating" cell
    table = result.features.table.copy()
    lapsed = table.index[table["is_buyer"]][:5]  # as if their purchases were before the window
    table.loc[lapsed, "is_buyer"] = False
    relabelled = model.customer_labels(table)
    former = relabelled[relabelled["relationship"] == "former"]
    assert list(former.index) == list(lapsed)
    assert set(former["persona"]) == set(former["segment_name"]) == {"Former customers"}
    for b in ("rfm", "lifecycle", "bcg", "abc_xyz", "value_class", "vip"):
        assert set(former[b]) == {"former"}, b
    current = labels[labels["relationship"] == "current"].reset_index(drop=True)
    assert current["p_alive"].between(0, 1).all() and (current["expected_spend"] >= 0).all()
    assert set(current["value_potential"]) == {"hold", "develop", "harvest", "release"}
    assert set(current["vip"]) <= {"vip", "regular", "difficult"}
    assert set(current["abc_xyz_tier"]) == {"first", "extra", "standard"}
    assert current["rfm_cell"].str.fullmatch(r"R[1-5]F[1-5]M[1-5]").all()
    assert set(current["abc_xyz"]) <= {a + x for a in "ABC" for x in "XYZ"}
    np.testing.assert_array_equal(current["segment"].to_numpy(int), result.segments)
    # confidence and outlier flags are the ones the registered model gives when scoring
    frame = model.label_frame(X)
    np.testing.assert_allclose(current["confidence"].astype(float), frame["confidence"])
    np.testing.assert_array_equal(current["is_outlier"].astype(bool), frame["is_outlier"])
    # personas: every segment named, never "Cluster N"; the names travel with the model
    assert labels["persona"].notna().all()
    assert not labels["persona"].str.contains("cluster", case=False).any()
    assert (model.predict_names(X) == current["segment_name"].to_numpy()).all()
    assert current["persona"].nunique() <= 7 and current["segment_name"].nunique() == \
        current["segment"].nunique()
    # the persona report exists (HTML and Markdown), locally and in MLflow
    assert result.report_path.exists() and result.report_path.with_suffix(".md").exists()
    html = result.report_path.read_text()
    assert all(name in html for name in set(labels["persona"]))
    assert "report/persona_report.html" in {a.path for a in client.list_artifacts(result.run_id, "report")}
    for m in ["persona_fit", "business_separation", "small_segment_share", "future_auc_repeat",
              "future_eta2_spend", "vs_rfm_ari", "vs_lifecycle_nmi", "abc_top_customer_share",
              "new_customer_churn_rate", "p_alive_mean", "expected_spend_total",
              "overdue_share", "activity_semi_active_share", "leads_hot",
              "attribute_spelling_variant"]:
        assert m in run.data.metrics, m
    # profit (the sample has costs): ABC health on profit, in the report with its reading
    assert 0 < run.data.metrics["abc_top_customer_share"] < 1
    assert run.data.tags["abc_reading"] in {text for _, text in ABC_READINGS}
    assert "make 80% of profit" in html and "New-customer churn by cohort" in html
    plays = {a.path for a in client.list_artifacts(result.run_id, "playbook")}
    assert {"playbook/value_potential.csv", "playbook/vip.csv", "playbook/b2b_matrix.csv",
            "playbook/new_customer_churn.csv", "playbook/new_customer_churn.png",
            "playbook/leads.csv"} <= plays
    assert "quality/attributes.csv" in {a.path for a in client.list_artifacts(result.run_id,
                                                                                "quality")}
    # baselines: one child run each, tagged kind=baseline, with the same metrics
    children = mlflow.search_runs(experiment_ids=[result.experiment_id], output_format="list",
                                  filter_string="tags.kind = 'baseline'")
    assert {c.data.tags["baseline"] for c in children} == {
        "rfm", "abc_xyz", "bcg", "lifecycle", "value_class", "value_potential", "vip"}
    for c in children:
        assert c.info.status == "FINISHED"
        assert c.data.tags["mlflow.parentRunId"] == result.run_id
        for m in ["silhouette", "business_separation", "future_auc_repeat", "ari_truth"]:
            assert m in c.data.metrics, (c.data.tags["baseline"], m)


@pytest.mark.slow
def test_own_csv_with_other_column_names_and_date_format(tmp_path, mlflow_uri, small_sample,
                                                        settings_for):
    tx = pd.read_parquet(small_sample["transactions"])
    csv = tmp_path / "export.csv"
    out = pd.DataFrame({
        "Kunde": tx.customer_id, "Beleg": tx.order_id,
        "Datum": tx.timestamp.dt.strftime("%d.%m.%Y %H:%M"),
        "Menge": tx.quantity, "Preis": tx.unit_price, "Warengruppe": tx.category,
    })
    out.to_csv(csv, sep=";", index=False)
    camp = pd.read_parquet(small_sample["campaigns"])
    pd.DataFrame({"Kunde": camp.customer_id, "Aktion": camp.campaign,
                  "Versand": pd.to_datetime(camp.sent_on).dt.strftime("%d.%m.%Y %H:%M"),
                  "Gruppe": camp.group.map({"treatment": "Test", "control": "Holdout"}),
                  "Kauf": camp.responded}).to_csv(tmp_path / "aktionen.csv", sep=";",
                                                  index=False)
    settings, resolved = settings_for(
        "data=csv", f"data.path={csv}", "data.delimiter=';'",
        "data.date_format='%d.%m.%Y %H:%M'", "data.columns.customer_id=Kunde",
        "data.columns.order_id=Beleg", "data.columns.timestamp=Datum", "data.columns.amount=null",
        "data.columns.quantity=Menge", "data.columns.unit_price=Preis",
        "data.columns.category=Warengruppe", "model.k=4", "mlflow.log_model=false",
        "baselines.log_runs=false", "evaluate.holdout_days=0",
        f"data.campaigns_path={tmp_path / 'aktionen.csv'}", "data.campaign_columns.customer_id=Kunde",
        "data.campaign_columns.campaign=Aktion", "data.campaign_columns.date=Versand",
        "data.campaign_columns.group=Gruppe", "data.campaign_columns.response=Kauf",
        "data.campaign_columns.revenue=null",
    )
    result = run_training(settings, resolved=resolved)
    assert result.metrics["k"] == 4
    assert result.run_name == f"kmeans-k4-standard-my_csv-{result.run_id[:6]}"
    # payment delay and new-product flags are not in this export: skipped, not invented
    assert {"mean_payment_delay", "new_product_share"} <= set(result.features.skipped)
    start = pd.Timestamp(result.features.window_start)
    n_buyers = tx.loc[(tx.amount > 0) & (tx.timestamp >= start), "customer_id"].nunique()
    assert result.metrics["n_customers"] == n_buyers
    # the campaigns export, read with its own names and words: uplift per persona, in the report
    by_persona = result.tables["campaigns/response_by_persona.csv"]
    everyone = by_persona[by_persona["persona"] == "all customers"].set_index("campaign")
    assert set(everyone.index) == set(camp.campaign)
    assert (everyone["treated"] + everyone["control"]).to_dict() == \
        camp.groupby("campaign").size().to_dict()
    assert "Campaign response by persona" in result.report_markdown
    # the segment rules and the scorecard, on what this export has (no contact column)
    assert (result.report_dir / "segment_rules.sql").exists() and result.rules.agreement > 0.5
    card = result.scorecard.set_index("criterion")["result"]
    assert card["reachable"] == "not measured" and card["responds_to_offers"] != "not measured"


@pytest.mark.slow
def test_failed_run_is_marked_failed_with_error_tag(tmp_path, mlflow_uri, settings_for):
    settings, resolved = settings_for("data.sample.n_customers=400", "model.k=100000",
                                   "evaluate.holdout_days=0")
    from clustering.errors import DataError

    with pytest.raises(DataError, match="too few for 100000 segments"):
        run_training(settings, resolved=resolved)
    runs = mlflow.search_runs(experiment_names=["segmentation-sample"], output_format="list")
    assert runs[0].info.status == "FAILED"
    assert "too few for 100000 segments" in runs[0].data.tags["error"]


def _cli(*args, env_uri):
    import os

    env = dict(os.environ, MLFLOW_TRACKING_URI=env_uri)
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_cli_config_errors_are_one_line(tmp_path, mlflow_uri):
    r = _cli("model.k=-3", env_uri=mlflow_uri)
    assert r.returncode == 2
    assert r.stderr.strip() == "config error: model.k must be a positive integer, got -3"
    r = _cli("+data.colums.customer_id=x", env_uri=mlflow_uri)
    assert r.returncode == 2
    assert "unknown config key 'data.colums'. Did you mean 'data.columns'" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("data=csv", f"data.path={tmp_path / 'nope.csv'}", env_uri=mlflow_uri)
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.slow
def test_cli_help_lists_config_groups():
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for group in ["data:", "model:", "preprocess:", "features:", "mlflow:"]:
        assert group in r.stdout


@pytest.mark.slow
def test_repo_has_no_generated_files_tracked():
    r = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    tracked = r.stdout.split()
    assert not [t for t in tracked if t.startswith(("mlruns/", "mlartifacts/", ".venv/", "data/"))
                or t.endswith("mlflow.db")]
    assert Path(PROJECT_ROOT / ".ci" / "run").read_text().strip().endswith("make test")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["hierarchical", "hdbscan", "gmm", "fuzzy_cmeans",
                                   "minibatch_kmeans", "kprototypes"])
def test_every_algorithm_trains_end_to_end(model, tmp_path, mlflow_uri, settings_for):
    extra = (["model.params.min_cluster_size=60", "evaluate.stability_runs=2"]
             if model == "hdbscan" else ["model.k=5", "evaluate.stability_runs=0"])
    settings, resolved = settings_for(f"model={model}", "data.sample.n_customers=2500",
                                   "baselines.log_runs=false", "evaluate.holdout_days=0", *extra)
    result = run_training(settings, resolved=resolved)
    run = mlflow.MlflowClient(mlflow_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["model"] == model.replace("minibatch_", "")
    model_back = load_segmentation_model(f"runs:/{result.run_id}/model")
    X = result.features.buyers[model_back.feature_names_in_]
    # the registered model reproduces the training labels and persona names exactly
    current = result.labels[result.labels["relationship"] == "current"]
    assert (model_back.predict(X) == result.segments).all()
    assert (model_back.predict_names(X) == current["segment_name"].to_numpy()).all()
    plots = {a.path for a in mlflow.MlflowClient(mlflow_uri).list_artifacts(result.run_id, "plots")}
    if model == "hdbscan":
        assert "dbcv" in run.data.metrics and "noise_share" in run.data.metrics
        assert 0 <= run.data.metrics["stability_ari"] <= 1  # refits on subsamples, noise kept
        assert "plots/condensed_tree.png" in plots
        if (result.segments < 0).any():
            assert set(current.loc[current.segment < 0, "persona"]) == {"Outliers / unassigned"}
    if model == "hierarchical":
        assert run.data.metrics["hierarchical_exact"] == 1.0
        assert "plots/dendrogram.png" in plots


@pytest.mark.slow
def test_parallel_sweep_on_one_sqlite_store_crowns_a_champion(tmp_path, mlflow_uri):
    import os

    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri)
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "pipelines" / "sweep.py"), "--metric", "silhouette",
         "--experiment", "sweep-test", f"paths.data_dir={tmp_path / 'data'}",
         f"paths.reports_dir={tmp_path / 'reports'}", "data.sample.n_customers=1500",
         "model=kmeans,gmm", "model.k=3,4", "preprocess=standard", "evaluate.holdout_days=0",
         "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "database is locked" not in r.stderr
    assert "Best of the sweep by silhouette" in r.stdout
    # a line per job, then one table indexed by run name (it printed 324 lines, interleaved)
    jobs = [ln for ln in r.stdout.splitlines() if ": k=" in ln and ln.startswith(("kmeans",
                                                                                  "gmm"))]
    assert len(jobs) == 4, r.stdout
    assert len([ln for ln in r.stdout.splitlines() if ln.strip()]) <= 20, r.stdout
    runs = mlflow.search_runs(experiment_names=["sweep-test"], output_format="list",
                              filter_string="tags.kind = 'clustering'")
    assert len(runs) == 4 and all(x.info.status == "FINISHED" for x in runs)
    assert len({x.info.run_name for x in runs}) == 4  # unique run names
    client = mlflow.MlflowClient()
    mv = client.get_model_version_by_alias("segmentation-sample", "champion")
    assert mv.run_id in {x.info.run_id for x in runs}
    assert mv.tags["promotion"].startswith("promoted: silhouette")
    # the jobs only log their models: the best one is the one version registered
    assert len(client.search_model_versions("name = 'segmentation-sample'")) == 1


def test_sweep_ranks_only_runs_that_logged_the_metric():
    import pandas as pd

    from pipelines.sweep import rank

    table = pd.DataFrame({"run_name": ["a", "b", "c"], "model": ["kmeans", "hdbscan", "gmm"],
                          "k": [4, 5, 4], "scaler": ["standard"] * 3,
                          "silhouette": [0.3, 0.2, 0.4], "dbcv": [None, 0.5, None],
                          "davies_bouldin": [1.1, 0.9, 1.4]}, index=["r1", "r2", "r3"])
    assert list(rank(table, "silhouette").index) == ["r3", "r1", "r2"]
    assert list(rank(table, "davies_bouldin").index) == ["r2", "r1", "r3"]  # lower is better
    assert list(rank(table, "dbcv").index) == ["r2"]  # never crowns a run without the metric
    with pytest.raises(SystemExit, match="no run logged the metric 'future_auc_repeat'.*dbcv"):
        rank(table.assign(future_auc_repeat=None), "future_auc_repeat")


@pytest.mark.parametrize("sweep_id", ["688693e6", "00123456", "1e5", "a,b", "it's", "x\\"])
def test_sweep_passes_its_ids_to_the_jobs_as_strings(sweep_id):
    """A sweep id such as 688693e6 reached the jobs as the float 688693000000.0, so the sweep
    found none of its own runs (a CI failure); every value reaches Hydra as the same string."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from pipelines.sweep import job_overrides

    parser = OverridesParser.create()
    parsed = [parser.parse_override(o) for o in job_overrides("exp 1", "model,2", "12e3", sweep_id)]
    assert [(o.key_or_group, o.value()) for o in parsed] == [
        ("mlflow.experiment", "exp 1"), ("mlflow.registered_model_name", "model,2"),
        ("mlflow.parent_run_id", "12e3"), ("mlflow.tags.sweep", sweep_id)]


@pytest.mark.slow
def test_secrets_are_neither_logged_nor_printed(tmp_path, mlflow_uri, settings_for, capsys):
    """Spark credentials in engine.conf and a password in the tracking URI stay out of the
    run's parameters, its resolved configuration and the console."""
    settings, resolved = settings_for(
        "data.sample.n_customers=400", "model.k=3", "evaluate.holdout_days=0",
        "evaluate.stability_runs=0", "mlflow.log_model=false", "baselines.enabled=[]",
        "+engine.conf={spark.hadoop.fs.s3a.secret.key: s3cr3tvalue}")
    result = run_training(settings, resolved=resolved)
    run = mlflow.MlflowClient(mlflow_uri).get_run(result.run_id)
    assert run.data.params["engine.conf.spark.hadoop.fs.s3a.secret.key"] == "***"
    assert not any("s3cr3tvalue" in v for v in run.data.params.values())
    text = mlflow.artifacts.load_text(f"runs:/{result.run_id}/config/resolved.yaml")
    assert "s3cr3tvalue" not in text and "***" in text
    assert "s3cr3tvalue" not in capsys.readouterr().out


def test_identical_customers_stop_with_one_line(tmp_path, mlflow_uri, settings_for):
    """Every buyer with the same history: nothing to segment, said in one line (the check runs
    on the selected features, all-empty columns counting as constant)."""
    from clustering.errors import DataError

    csv = tmp_path / "same.csv"
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(6)], "order_id": [f"o{i}" for i in range(6)],
                  "timestamp": "2024-03-01", "amount": 10.0}).to_csv(csv, index=False)
    settings, resolved = settings_for("data=csv", f"data.path={csv}", "model.k=2",
                                      "evaluate.holdout_days=0", "mlflow.log_model=false")
    with pytest.raises(DataError, match="all selected features are constant across customers"):
        run_training(settings, resolved=resolved)


@pytest.mark.slow
def test_labels_and_metrics_are_the_same_on_one_thread_and_on_two(settings_for, mlflow_uri):
    """The stage graph runs stages side by side on ``threads`` workers; no label may depend on
    it (nor on the BLAS and DuckDB threads the same setting caps). Floating-point values agree
    to 1e-6: DuckDB's parallel sums add in another order on more threads (last bits), and the
    potential model's optimiser carries that to about 1e-9 of the expected spend."""
    runs = {}
    for threads in (1, 2):
        settings, resolved = settings_for("data.sample.n_customers=2500", f"threads={threads}",
                                          "mlflow.log_model=false", "baselines.log_runs=false")
        runs[threads] = run_training(settings, resolved=resolved)
    one, two = runs[1], runs[2]
    assert np.array_equal(one.segments, two.segments)
    assert one.model.segment_names == two.model.segment_names
    floats = [c for c in one.labels if one.labels[c].dtype.kind == "f"]
    assert one.labels.drop(columns=floats).equals(two.labels.drop(columns=floats))
    pd.testing.assert_frame_equal(one.labels[floats], two.labels[floats], rtol=1e-6)
    assert one.metrics.keys() == two.metrics.keys()
    assert one.metrics == pytest.approx(two.metrics, rel=1e-6, nan_ok=True)
    for b in one.baselines:
        assert np.array_equal(one.baselines[b].labels, two.baselines[b].labels)
    assert set(one.stage_seconds) == set(two.stage_seconds)


def test_every_line_on_one_day_stops_in_one_line_or_trains_with_k(tmp_path, mlflow_uri,
                                                                 settings_for):
    """All lines on one day: choosing k by the future has nothing before the hold-out (one
    line naming what to set), and with k given the run trains (it raised IndexError in XYZ)."""
    from clustering.errors import DataError

    rows = [f"C{i % 60},O{i},2024-05-01 {10 + i % 8}:00,{5 + (i * 37) % 400}" for i in range(300)]
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,order_id,timestamp,amount\n" + "\n".join(rows) + "\n")
    common = ["data=csv", f"data.path={path}", "data.name=oneday", "mlflow.log_model=false",
              "baselines.log_runs=false"]
    settings, resolved = settings_for(*common)
    with pytest.raises(DataError, match=r"model.criterion=future_auc chooses k .*\(model.k=6\)"):
        run_training(settings, resolved=resolved)
    settings, resolved = settings_for(*common, "model.k=4")
    result = run_training(settings, resolved=resolved)
    assert result.metrics["k"] == 4 and set(result.labels["abc_xyz"].str[1]) == {"Z"}
