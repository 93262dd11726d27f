"""Opening MLflow stores: a new SQLite store under parallel jobs, a server that is down."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from clustering.tracking.server import free_port
from clustering.tracking.store import StoreError, open_store

OPEN_AND_LOG = """
import sys, mlflow
from clustering.tracking import ensure_experiment
exp = ensure_experiment("parallel", sys.argv[1], sys.argv[2])
with mlflow.start_run(experiment_id=exp):
    mlflow.log_metric("x", 1.0)
"""


def test_parallel_jobs_on_a_new_sqlite_store_all_log_their_run(tmp_path):
    """Four processes open the same store that does not exist yet (MLflow creates its tables
    on first use; without the lock one of them dies in the migration)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'new.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_LOG, uri, str(tmp_path)],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(e[-1500:] for e in errors)
    runs = mlflow.MlflowClient(uri).search_runs(
        [mlflow.MlflowClient(uri).get_experiment_by_name("parallel").experiment_id])
    assert len(runs) == 4


def test_a_tracking_server_that_is_down_fails_within_seconds_in_one_line():
    uri = f"http://user:secret@127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        open_store(uri)
    assert time.monotonic() - start < 10
    msg = str(err.value)
    assert "does not answer" in msg and "make server" in msg and "\n" not in msg
    assert "secret" not in msg  # the password in the URI is never printed


def test_a_store_in_a_missing_folder_is_named(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}")


def test_the_summary_links_the_runs_page_on_the_server():
    from clustering.reporting.summary import ui_link

    assert ui_link("http://u:pw@team:5000/", "3", "abc") == (
        "Open it at http://u:***@team:5000/#/experiments/3/runs/abc?workflowType=machine_learning")
    assert "make ui" in ui_link("sqlite:////tmp/mlflow.db", "3", "abc")


def test_a_dataset_another_run_just_inserted_is_linked_on_a_second_try(mlflow_uri, monkeypatch):
    """Two runs of a parallel sweep log the same dataset at once; the store's look-up-then-
    insert lets the slower one hit the other's row (PostgreSQL: "dataset_pk"). Asked again,
    the store finds the row: the run gets its input. Other errors are raised at once."""
    import mlflow
    import pandas as pd

    from clustering.tracking import runs

    df = pd.DataFrame({"customer_id": ["a", "b"], "recency_days": [1.0, 2.0]})
    mlflow.set_experiment("race")
    with mlflow.start_run():
        runs.log_dataset(df, "/data/tx.parquet", "sample", "d" * 40)
    real, calls = mlflow.log_input, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise mlflow.exceptions.MlflowException(
                'BAD_REQUEST: (psycopg2.errors.UniqueViolation) duplicate key value violates '
                'unique constraint "dataset_pk"')
        return real(*args, **kwargs)
    monkeypatch.setattr(mlflow, "log_input", racing)
    with mlflow.start_run() as run:
        runs.log_dataset(df, "/data/tx.parquet", "sample", "d" * 40)
    assert len(calls) == 2
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["sample"]

    def broken(*args, **kwargs):
        calls.append(1)
        raise mlflow.exceptions.MlflowException("RESOURCE_DOES_NOT_EXIST: no such run")
    monkeypatch.setattr(mlflow, "log_input", broken)
    calls.clear()
    with mlflow.start_run(), pytest.raises(mlflow.exceptions.MlflowException, match="no such"):
        runs.log_dataset(df, "/data/tx.parquet", "sample", "d" * 40)
    assert len(calls) == 1
