"""The Spark engine in local mode: same features as the local engine, a tracked training run,
and scoring a Spark DataFrame through MLflow's Spark UDF."""

from __future__ import annotations

import datetime as dt

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow  # every test here starts Spark

from hydra import compose, initialize_config_dir  # noqa: E402

from clustering.evaluation.holdout import holdout_outcomes  # noqa: E402
from clustering.features.customer import build_customer_features  # noqa: E402
from clustering.inputs.checks import QualityPolicy  # noqa: E402
from clustering.inputs.customers import register_customers  # noqa: E402
from clustering.inputs.sources import TableSource, register_transactions  # noqa: E402
from clustering.spark.features import (  # noqa: E402
    build_customer_features_spark,
    holdout_outcomes_spark,
    read_customers,
    read_transactions,
    spark_session,
)
from clustering.tracking.pyfunc import load_segmentation_model  # noqa: E402
from clustering.training import run_training  # noqa: E402
from pipelines.common import CONF_DIR, to_settings  # noqa: E402

COLUMNS = {c: c for c in ["customer_id", "order_id", "timestamp", "amount", "quantity",
                          "category", "is_return", "payment_delay_days", "is_new_product"]}


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]", "1g")
    yield session
    session.stop()


def test_spark_features_equal_local_features(spark, small_sample, tmp_path):
    tx = pd.read_parquet(small_sample["transactions"])
    # messy extras: an exact duplicate line, a zero amount, an unmatched return
    extra = tx.head(1).copy()
    zero = tx.head(1).assign(amount=0.0, order_id="Z1")
    orphan = tx.head(1).assign(customer_id="NOBODY", amount=-10.0, is_return=True)
    # one id written as 4711.0 and as 4711, and guests written as placeholders
    float_id = pd.concat([tx.head(2).assign(customer_id="4711.0", order_id="F1"),
                          tx.iloc[2:3].assign(customer_id=" 4711", order_id="F2")])
    guests = tx.head(2).assign(customer_id=["N/A", "GUEST"], order_id="G1")
    # a year typed 2042: left out on both engines (it moved Spark's snapshot to 2042)
    typo = tx.head(1).assign(order_id="T1", timestamp=pd.Timestamp("2042-03-01"))
    path = tmp_path / "tx.parquet"
    pd.concat([tx, extra, zero, orphan, float_id, guests, typo]).to_parquet(path)
    src = TableSource(str(path), columns=COLUMNS)
    # the customers table adds prospects (never bought), a signup date and attributes
    customers = pd.read_parquet(small_sample["customers"])
    prospects = customers.head(40).assign(customer_id=lambda d: "P" + d["customer_id"])
    cpath = tmp_path / "customers.parquet"
    pd.concat([customers, prospects]).to_parquet(cpath)
    csrc = TableSource(str(cpath), columns={"customer_id": "customer_id",
                                            "signup_date": "signup_date"})
    attrs = ["region", "channel"]
    con = duckdb.connect()
    loaded = register_customers(con, csrc, attrs, register_transactions(con, src))
    snapshot, available, warnings = read_transactions(spark, src)
    assert snapshot == loaded.quality.snapshot_date and snapshot.year < 2042
    assert len(warnings) == 1 and "1 lines dated after today (the latest 2042-03-01)" in warnings[0]
    cust = read_customers(spark, csrc, attrs)
    # the snapshot of the data and an earlier one (the hold-out validation's calibration date)
    for snap in (None, snapshot - dt.timedelta(days=200)):
        local = build_customer_features(con, loaded, snap)
        remote = build_customer_features_spark(spark, snap or snapshot, available, customers=cust)
        assert remote.snapshot_date == local.snapshot_date
        assert remote.features == local.features and "days_since_signup" in remote.features
        a = local.table.sort_values("customer_id").reset_index(drop=True)
        b = remote.table.sort_values("customer_id").reset_index(drop=True)
        assert a["customer_id"].tolist() == b["customer_id"].tolist()
        assert not {"4711.0", "N/A", "GUEST"} & set(a["customer_id"])
        assert snap is not None or "4711" in set(a["customer_id"])
        if snap is None:  # every one of the 40 added prospects is there, flagged as one (the
            # sample has its own too; at the earlier date some had not signed up yet)
            assert set(prospects["customer_id"]) <= set(a.loc[a["is_prospect"], "customer_id"])
        for c in ["is_buyer", "is_prospect", *attrs]:
            assert a[c].tolist() == b[c].tolist(), c
        for f in remote.features:
            np.testing.assert_allclose(a[f].to_numpy(float), b[f].to_numpy(float), rtol=1e-9,
                                       atol=1e-9, equal_nan=True, err_msg=f)
    split = snapshot - dt.timedelta(days=180)
    ids = local.buyers["customer_id"]
    pd.testing.assert_frame_equal(holdout_outcomes_spark(spark, ids, split, 180),
                                  holdout_outcomes(con, ids, split, 180), check_dtype=False)


@pytest.mark.parametrize("model", ["spark_kmeans", "spark_bisecting_kmeans"])
def test_spark_training_run_is_tracked_and_scores_through_spark_udf(spark, model, tmp_path,
                                                                   mlflow_uri):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[
            f"paths.data_dir={tmp_path / 'data'}", f"paths.reports_dir={tmp_path / 'reports'}",
            "engine=spark", f"model={model}", "model.k=5", "data.sample.n_customers=2500",
            "baselines.log_runs=false", "evaluate.stability_runs=0",
            "mlflow.registered_model_name=spark-test"])
    settings, resolved = to_settings(cfg)
    result = run_training(settings, resolved=resolved)
    run = mlflow.MlflowClient(mlflow_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["engine.name"] == "spark" and run.data.metrics["k"] == 5
    # the registered model scores a Spark DataFrame through MLflow's Spark UDF
    uri = f"models:/spark-test/{1}"
    local_model = load_segmentation_model(uri)
    X = result.features.buyers[list(local_model.feature_names_in_)].head(300)
    udf = mlflow.pyfunc.spark_udf(
        spark, uri, env_manager="local",
        result_type="segment long, persona string, confidence double, is_outlier boolean")
    sdf = spark.createDataFrame(X)
    scored = sdf.withColumn("out", udf(*[sdf[c] for c in X.columns])).select("out.*").toPandas()
    expected = local_model.label_frame(X).reset_index(drop=True)
    assert scored["segment"].tolist() == expected["segment"].tolist()
    assert scored["persona"].tolist() == expected["persona"].tolist()
    np.testing.assert_allclose(scored["confidence"], expected["confidence"], rtol=1e-9)
    assert (expected["segment"].to_numpy() == result.segments[:300]).all()


def test_a_spark_that_does_not_start_is_one_line_naming_the_master(tmp_path):
    """A master Spark cannot use: `make train` exits 2 with one line naming engine.master and
    the cause, after Java's own log, not a Python traceback (its own process: a session of
    this one would be reused whatever the master)."""
    import subprocess
    import sys

    from pipelines.common import PROJECT_ROOT

    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"),
                        "engine=spark", "engine.master=bogus://nowhere", "model.k=3",
                        "data.sample.n_customers=300", f"paths.data_dir={tmp_path / 'data'}",
                        f"paths.reports_dir={tmp_path / 'reports'}",
                        f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Spark did not start with engine.master=bogus://nowhere: " in r.stderr
    assert "Traceback" not in r.stderr


def test_spark_reads_typed_flags_ids_and_number_dates_as_the_local_engine(spark, tmp_path):
    """Return flags typed as numbers (2, -1 are returns) or booleans with a custom text list,
    DOUBLE ids of 8+ digits (Spark writes 1.2345678E7), yyyymmdd and epoch dates, a cancelled
    order's status: the same checked lines on both engines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 8
    table = pa.table({
        "customer_id": pa.array([12345678.0, 12345678.0, 87654321.0, 87654321.0, 5.0, 5.0,
                                 float("nan"), 42.0]),
        "order_id": [f"O{i}" for i in range(n)],
        "timestamp": [20240105, 20240210, 1704412800, 20240301, 1704412800000, 20240401,
                      20240402, 20240403],
        "amount": [10.0, 5.0, 20.0, 20.0, 7.0, 3.0, 1.0, 2.0],
        "flag_num": [0, 2, 0, -1, 0, 0, 0, 0],
        "flag_bool": [False, True, False, False, False, True, False, False],
        "status": ["delivered"] * 7 + ["Canceled"]})
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    cols = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
            "amount": "amount", "status": "status"}
    for flag, values in (("flag_num", None), ("flag_bool", ["X"])):
        src = TableSource(str(path), columns={**cols, "is_return": flag}, return_values=values)
        con = duckdb.connect()
        register_transactions(con, src, QualityPolicy(max_share=0.5))
        local = con.execute("SELECT customer_id, order_id, ts, amount, is_return FROM "
                            "transactions ORDER BY order_id").df()
        read_transactions(spark, src)
        remote = spark.sql("SELECT customer_id, order_id, ts, amount, is_return FROM "
                           "transactions ORDER BY order_id").toPandas()
        pd.testing.assert_frame_equal(local, remote, check_dtype=False)
        assert set(local["customer_id"]) == {"12345678", "87654321", "5"}  # 42's order cancelled
        assert local["is_return"].sum() == 2, flag
