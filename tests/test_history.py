"""`make history`: the registered model at each snapshot, without leakage, written, plotted and
logged as one MLflow run; from= and to= as the README writes them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def trained(tmp_path, mlflow_uri, settings_for):
    """A registered model of a 4,000-customer sample, in the test's own store."""
    from clustering.training import run_training

    settings, resolved = settings_for("data.sample.n_customers=4000", "model.k=5",
                                      "baselines.log_runs=false", "evaluate.holdout_days=0")
    run_training(settings, resolved=resolved)
    return settings


def history_settings(tmp_path, *overrides):
    from hydra import compose, initialize_config_dir

    from clustering.config import HistoryConfig
    from pipelines.common import CONF_DIR, to_settings
    from pipelines.history import aliased

    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        own = any(o.startswith("data=") for o in overrides)
        cfg = compose("history", overrides=aliased([
            f"paths.data_dir={tmp_path / 'data'}", f"output={tmp_path / 'history'}",
            *([] if own else ["data.sample.n_customers=4000"]), *overrides]))
    return to_settings(cfg, HistoryConfig)[0]


def test_history_is_written_plotted_and_logged(tmp_path, trained, mlflow_uri):
    from pipelines.history import run

    folder = run(history_settings(tmp_path, "from=2024-01-01", "to=2024-12-01", "every=month",
                                  "alert_psi=0.001"))
    labels = pd.read_parquet(folder / "labels.parquet")
    assert labels["snapshot"].nunique() == 12
    assert list(labels.columns) == ["snapshot", "customer_id", "relationship", "segment",
                                    "segment_name", "persona"]
    assert not labels.duplicated(["snapshot", "customer_id"]).any()
    moves = pd.read_csv(folder / "transitions.csv")
    assert moves["to_snapshot"].nunique() == 11
    # every customer of a later snapshot came from somewhere: the moves add up to its labels
    per_step = moves.groupby("to_snapshot")["customers"].sum()
    assert per_step.to_dict() == labels.groupby(labels["snapshot"].astype(str)).size().iloc[
        1:].to_dict()
    for f in ("flows.png", "shares.png", "history_report.html", "drift.csv", "shares.csv"):
        assert (folder / f).stat().st_size > 0, f
    alerts = (folder / "alerts.txt").read_text().splitlines()
    assert alerts and "persona shares drifted" in alerts[0]  # a tiny threshold: alerts
    runs = mlflow.search_runs(experiment_names=["segmentation-sample"], output_format="list",
                              filter_string="tags.kind = 'history'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(runs[0].info.run_id, "psi")) == 11
    assert runs[0].data.metrics["alerts"] == len(alerts)
    assert runs[0].data.params["from"] == "2024-01-01"
    arts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "history")}
    assert {"history/flows.png", "history/labels.parquet", "history/transitions.csv"} <= arts
    # a history run is not a training run: the readers of the dataset's results skip it
    from clustering.tracking import run_to_read
    assert run_to_read("sample").data.tags["kind"] == "clustering"


def test_a_snapshot_sees_nothing_after_it(tmp_path, trained):
    """The labels at a snapshot are the same whether the later transactions exist or not."""
    from clustering.inputs.sources import sources_for
    from clustering.scoring import score_history

    sources = sources_for(trained.data, trained.paths.data_dir)
    day = dt.date(2024, 6, 1)
    days = [dt.date(2024, 5, 1), day]
    full = score_history("models:/segmentation-sample/1", sources, days, say=lambda s: None)
    tx = pd.read_parquet(sources.transactions.path)
    cut = tmp_path / "until_june.parquet"
    tx[tx["timestamp"] < pd.Timestamp(day)].to_parquet(cut, index=False)
    before = dataclasses.replace(sources, transactions=dataclasses.replace(
        sources.transactions, path=str(cut)))
    only = score_history("models:/segmentation-sample/1", before, days, say=lambda s: None)
    pd.testing.assert_frame_equal(full.labels, only.labels)
    assert (full.labels["relationship"] == "current").sum() > 1000


def test_dates_given_one_sided_or_backwards_are_one_line_errors(tmp_path, trained):
    from clustering.errors import ConfigError
    from pipelines.history import run

    with pytest.raises(ConfigError, match="give both from= and to="):
        run(history_settings(tmp_path, "from=2024-01-01"))
    with pytest.raises(ConfigError, match="before it starts"):
        run(history_settings(tmp_path, "from=2024-06-01", "to=2024-01-01"))


@pytest.mark.slow
def test_make_history_as_the_readme_writes_it(tmp_path, trained, mlflow_uri):
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri}
    out = subprocess.run(
        [sys.executable, "pipelines/history.py", "from=2024-01-01", "to=2024-12-01",
         "every=month", f"paths.data_dir={tmp_path / 'data'}", f"output={tmp_path / 'h'}",
         "data.sample.n_customers=4000"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "at 12 snapshots (2024-01-01 .. 2024-12-01)" in out.stdout
    help_text = subprocess.run([sys.executable, "pipelines/history.py", "--help"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60).stdout
    assert "every" in help_text


def test_history_of_an_own_csv_export(tmp_path, mlflow_uri, small_sample, settings_for):
    """`make history` with the same data settings as the training on a user's CSV."""
    from clustering.training import run_training
    from pipelines.history import run

    tx = pd.read_parquet(small_sample["transactions"])
    csv = tmp_path / "export.csv"
    pd.DataFrame({"Kunde": tx.customer_id, "Beleg": tx.order_id,
                  "Datum": tx.timestamp.dt.strftime("%d.%m.%Y"), "Betrag": tx.amount}
                 ).to_csv(csv, sep=";", index=False)
    data = ["data=csv", "data.name=shop", f"data.path={csv}", "data.delimiter=';'",
            "data.date_format='%d.%m.%Y'", "data.columns.customer_id=Kunde",
            "data.columns.order_id=Beleg", "data.columns.timestamp=Datum",
            "data.columns.amount=Betrag", "data.columns.quantity=null",
            "data.columns.unit_price=null", "data.columns.category=null"]
    run_training(*settings_for(*data, "model.k=4", "evaluate.holdout_days=0",
                               "baselines.log_runs=false"))
    folder = run(history_settings(tmp_path, *data, "from=2024-01-01", "to=2024-12-31",
                                  "every=quarter"))
    labels = pd.read_parquet(folder / "labels.parquet")
    assert sorted(labels["snapshot"].astype(str).unique()) == [
        "2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01"]
    assert folder.name.startswith("history-shop-v1-2024-01-01-2024-10-01-quarter")
