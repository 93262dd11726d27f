"""Property-based tests of the feature builder (hypothesis) and reproducibility of runs."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import duckdb
import mlflow
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustering.features.customer import build_customer_features
from clustering.inputs.checks import QualityPolicy
from clustering.inputs.sources import TableSource, register_transactions
from pipelines.common import PROJECT_ROOT

COLS = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
        "amount": "amount", "category": "category"}

rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),            # customer
        st.integers(0, 30),                                     # order number
        st.integers(0, 700),                                    # day offset
        st.one_of(st.floats(0.01, 5000, allow_nan=False), st.floats(-300, -0.01)),
        st.sampled_from(["x", "y", "z"]),
    ),
    min_size=1, max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, lookback=st.integers(30, 800))
def test_feature_builder_invariants(tmp_path_factory, rows, lookback):
    start = dt.datetime(2023, 1, 1)
    df = pd.DataFrame([{"customer_id": c, "order_id": f"{c}{o}", "category": cat,
                        "timestamp": start + dt.timedelta(days=d, hours=o % 12), "amount": a}
                       for c, o, d, a, cat in rows])
    path = tmp_path_factory.mktemp("prop") / "tx.parquet"
    df.to_parquet(path)
    con = duckdb.connect()
    try:
        loaded = register_transactions(con, TableSource(str(path), columns=COLS),
                                       QualityPolicy(max_share=1.0))
    except Exception as exc:  # only "nothing usable" is an acceptable refusal
        assert "no rows left" in str(exc) or "no row has" in str(exc)
        return
    q = loaded.quality
    assert q.rows_kept + q.quarantined == q.rows_read
    try:
        fr = build_customer_features(con, loaded, lookback_days=lookback)
    except Exception as exc:
        assert "no customer bought" in str(exc)
        return
    t = fr.table
    assert t["customer_id"].is_unique                         # one row per customer
    buyers = t[t["is_buyer"]]
    assert (buyers["frequency"] >= 1).all()                   # buyers bought at least once
    both = t.dropna(subset=["recency_days", "tenure_days"])
    assert (both["recency_days"] <= both["tenure_days"]).all()
    assert (buyers["return_rate"].between(0, 1)).all()
    # totals preserved: feature revenue = kept transaction revenue in the window
    snap, start_w = fr.snapshot_date, fr.window_start
    kept = con.execute("SELECT coalesce(sum(amount), 0) FROM transactions WHERE ts >= $a AND ts < $b",
                       {"a": start_w, "b": snap}).fetchall()[0][0]
    assert t["monetary_total"].sum() == pytest.approx(kept, rel=1e-9, abs=1e-6)


def _train_cli(tmp_path, *args, uri):
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    return subprocess.Popen(
        [sys.executable, "-u", str(PROJECT_ROOT / "pipelines" / "train.py"),
         f"paths.data_dir={tmp_path / 'data'}", f"paths.reports_dir={tmp_path / 'reports'}",
         "data.sample.n_customers=3000", "baselines.log_runs=false", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_same_seed_same_labels_also_with_another_thread_count(tmp_path, mlflow_uri):
    from hydra import compose, initialize_config_dir

    from clustering.training import run_training
    from pipelines.common import CONF_DIR, to_settings

    results = []
    for threads in (1, 2, 2):
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            cfg = compose("train", overrides=[
                f"paths.data_dir={tmp_path / 'data'}", f"paths.reports_dir={tmp_path / 'r'}",
                "data.sample.n_customers=3000", "baselines.log_runs=false",
                "mlflow.log_model=false", "evaluate.stability_runs=2", f"threads={threads}"])
        settings_, resolved = to_settings(cfg)
        results.append(run_training(settings_, resolved=resolved))
    from clustering.features.potential import COLUMNS as POTENTIAL

    for i, other in enumerate(results[1:], 1):
        # every label equal; the potential's fitted parameters move with the last bits of the
        # features (DuckDB's sums in another thread order), so its scores are equal to 1e-3
        # across thread counts, and exactly with the same count
        pd.testing.assert_frame_equal(results[0].labels.drop(columns=POTENTIAL),
                                      other.labels.drop(columns=POTENTIAL))
        pd.testing.assert_frame_equal(results[0].labels[POTENTIAL], other.labels[POTENTIAL],
                                      rtol=1e-3, check_exact=False)
        if i == 2:  # the same thread count twice: identical
            pd.testing.assert_frame_equal(results[1].labels, other.labels)
        assert results[0].labels["persona"].tolist() == other.labels["persona"].tolist()
        for k in ("silhouette", "calinski_harabasz", "ari_truth", "future_auc_repeat",
                  "stability_ari"):
            assert results[0].metrics[k] == pytest.approx(other.metrics[k], rel=1e-9), k


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_killed_run_leaves_no_labels_and_is_not_finished(tmp_path, mlflow_uri, sig):
    proc = _train_cli(tmp_path, uri=mlflow_uri)
    seen = []
    deadline = time.time() + 240
    while time.time() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if "] segment (" in line:
            break
    proc.send_signal(sig)
    proc.wait(timeout=120)
    runs = mlflow.search_runs(experiment_names=["segmentation-sample"], output_format="list")
    assert len(runs) == 1, "".join(seen)
    run = runs[0]
    assert run.info.status != "FINISHED"
    if sig == signal.SIGINT:
        assert run.info.status == "KILLED"
    client = mlflow.MlflowClient(mlflow_uri)
    assert not client.list_artifacts(run.info.run_id, "segments")
    leftovers = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()] \
        if (tmp_path / "reports").exists() else []
    assert not [p for p in leftovers if "labels" in p.name or p.name.endswith(".tmp")]


line = st.one_of(
    st.tuples(st.sampled_from(["C1", " C2", "C3 ", "004"]), st.integers(0, 9),
              st.integers(1, 28), st.sampled_from(["12.50", "1,234.00", "€ 7.25", "(3.00)", "0",
                                                   "n/a", "", "5"])),
    st.sampled_from(["junk", "blank_id", "bad_date"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(line, min_size=1, max_size=25), min_size=1, max_size=3),
       sep=st.sampled_from([",", ";", "\t"]), dup=st.booleans())
def test_every_line_read_is_kept_or_quarantined_per_file(tmp_path_factory, files, sep, dup):
    """Rows read = rows kept + rows quarantined, for every file of a folder and in total,
    whatever the lines (footers, blank ids, bad dates and amounts, duplicates, padded ids)."""
    folder = tmp_path_factory.mktemp("files")
    written = {}
    for i, lines in enumerate(files):
        out = [sep.join(["customer_id", "order_id", "timestamp", "amount"])]
        for ln in lines + (lines[:1] if dup else []):  # an exact copy of the first line
            if ln == "junk":
                out.append(f"TOTAL{i}{sep}{sep}{sep}99")  # (copies across files count once)
            elif ln == "blank_id":
                out.append(sep.join(["", f"F{i}X", "2024-02-01", "5"]))
            elif ln == "bad_date":
                out.append(sep.join(["C1", f"F{i}Y", "2024-02-31", "5"]))
            else:
                c, o, d, a = ln
                a = f'"{a}"' if sep in a else a
                out.append(sep.join([c, f"F{i}O{o}", f"2024-03-{d:02d}", a]))
        path = folder / f"part{i}.csv"
        path.write_text("\n".join(out) + "\n")
        written[str(path)] = len(out) - 1
    con = duckdb.connect()
    try:
        loaded = register_transactions(
            con, TableSource(str(folder), columns={k: k for k in COLS if k != "category"}),
            QualityPolicy(max_share=1.0))
    except Exception as exc:  # only "nothing usable" is an acceptable refusal
        assert any(m in str(exc) for m in ("no rows left", "no row has", "no dated rows",
                                           "none of the")), exc
        return
    q = loaded.quality
    assert q.rows_read == sum(written.values())
    assert q.rows_kept + q.quarantined == q.rows_read
    assert {f: rows for f, (rows, _) in q.per_file.items()} == written
    assert sum(kept for _, kept in q.per_file.values()) == q.rows_kept
    kept = con.execute("SELECT count(*), count(DISTINCT customer_id) FILTER "
                       "(WHERE customer_id <> trim(customer_id)) FROM transactions").fetchall()[0]
    assert kept[0] == q.rows_kept and kept[1] == 0  # ids trimmed


def _versions(db) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM model_versions").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["artifact upload", "after registration"])
def test_kill_at_the_worst_moment_leaves_nothing_used(tmp_path, mlflow_uri, moment):
    """``kill -9`` while artifacts upload, or just after the model version is registered: the
    run is never FINISHED, the next training marks it KILLED and neither matches its ids to
    that version nor lets scoring pick it."""
    from clustering.errors import ConfigError
    from clustering.tracking import choose_model, previous_version

    db = tmp_path / "mlflow.db"
    # verbose: the start of the logging stage is the moment to kill at
    proc = _train_cli(tmp_path, "model.k=4", "verbose=true", uri=mlflow_uri)
    deadline, seen = time.time() + 300, []
    if moment == "artifact upload":  # frozen as the logging stage starts: at 3,000
        # customers its uploads (the figures rendered before it) can end within half a second
        while time.time() < deadline and "log to MLflow" not in (line := proc.stdout.readline()):
            seen.append(line)
        proc.send_signal(signal.SIGSTOP)
    else:  # the window between the version's row and the run's end is tens of milliseconds:
        # poll fast and freeze the process the moment the row is there, then kill it
        os.set_blocking(proc.stdout.fileno(), False)
        while time.time() < deadline and _versions(db) == 0 and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    client = mlflow.MlflowClient(mlflow_uri)
    (run,) = mlflow.search_runs(experiment_names=["segmentation-sample"], output_format="list")
    assert run.info.status == "RUNNING", "".join(seen)
    versions = client.search_model_versions("name = 'segmentation-sample'")
    assert len(versions) == (1 if moment == "after registration" else 0)
    assert previous_version("segmentation-sample") is None
    if versions:
        with pytest.raises(ConfigError, match="did not finish"):  # nor picked by scoring
            choose_model(None, "segmentation-sample")
    # the next training: the killed run is marked, its version not followed
    again = _train_cli(tmp_path, "model.k=4", uri=mlflow_uri)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    assert client.get_run(run.info.run_id).info.status == "KILLED"
    assert "ended without finishing" in client.get_run(run.info.run_id).data.tags["error"]
    new = max(client.search_model_versions("name = 'segmentation-sample'"),
              key=lambda v: int(v.version))
    assert client.get_run(new.run_id).data.metrics.get("matched_segments") is None  # no match
    # what serves is the new version (a champion the killed run may have left is replaced)
    assert client.get_model_version_by_alias("segmentation-sample", "champion").version == \
        new.version
    assert choose_model(None, "segmentation-sample") == "models:/segmentation-sample@champion"
