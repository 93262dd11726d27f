"""The distributed Spark path (engine=spark engine.distributed=true) in local mode: nothing per
customer reaches the driver beyond the sample, and where both engines apply the labels, the
baselines and the profiles equal the local engine's."""

from __future__ import annotations

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow  # every test here starts Spark

from pyspark.sql.classic.dataframe import DataFrame  # noqa: E402  (what a local session runs)

from clustering.baselines import ABCXYZSegmenter, LifecycleSegmenter, RFMSegmenter  # noqa: E402
from clustering.features.customer import build_customer_features  # noqa: E402
from clustering.inputs.sources import load_local, sources_for  # noqa: E402
from clustering.personas.profiles import profile_segments  # noqa: E402
from clustering.spark import baselines as spark_baselines  # noqa: E402
from clustering.spark.features import spark_session  # noqa: E402
from clustering.spark.scoring import score_on_spark  # noqa: E402
from clustering.tracking.pyfunc import load_segmentation_model  # noqa: E402
from clustering.training import run_training  # noqa: E402

N_CUSTOMERS, SAMPLE_ROWS = 2500, 1000


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]", "1g")
    yield session
    session.stop()


def _train(settings_for, *overrides):
    settings, resolved = settings_for(
        "engine=spark", "engine.distributed=true", f"engine.sample_rows={SAMPLE_ROWS}",
        f"data.sample.n_customers={N_CUSTOMERS}", "evaluate.stability_runs=0", *overrides)
    return settings, run_training(settings, resolved=resolved)


def _local_features(settings):
    """The local engine's feature table of the same data (DuckDB)."""
    con = duckdb.connect()
    loaded = load_local(con, sources_for(settings.data, settings.paths.data_dir))
    return build_customer_features(con, loaded, None, settings.features.lookback_days)


def test_distributed_run_collects_only_the_sample_and_matches_the_local_engine(
        spark, settings_for, mlflow_uri, monkeypatch):
    sizes: list[int] = []
    to_pandas, collect = DataFrame.toPandas, DataFrame.collect

    def counted_to_pandas(self):
        out = to_pandas(self)
        sizes.append(len(out))
        return out

    def counted_collect(self):
        out = collect(self)
        sizes.append(len(out))
        return out

    monkeypatch.setattr(DataFrame, "toPandas", counted_to_pandas)
    monkeypatch.setattr(DataFrame, "collect", counted_collect)
    # ABC's exact search takes at most MAX_EXACT distinct values: here fewer than the sample
    monkeypatch.setattr(spark_baselines, "MAX_EXACT", 200)
    settings, result = _train(settings_for, "model=spark_kmeans", "model.k=8")
    monkeypatch.undo()
    run = mlflow.MlflowClient(mlflow_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["engine"] == "spark-distributed"
    # the report is logged, the labels of every customer stay where Spark wrote them
    report = {a.path for a in mlflow.MlflowClient(mlflow_uri).list_artifacts(result.run_id,
                                                                             "report")}
    assert "report/persona_report.html" in report and "report/labels" not in report
    assert run.data.tags["labels_path"] == str(result.labels_path)
    n_buyers = int(result.metrics["n_customers"])
    assert n_buyers > 2 * SAMPLE_ROWS and len(result.sample) == SAMPLE_ROWS
    # nothing per customer came back: the largest result is the sample
    assert max(sizes) == SAMPLE_ROWS, sorted(sizes)[-5:]

    labels = pd.read_parquet(result.labels_path).sort_values("customer_id").reset_index(drop=True)
    local = _local_features(settings)
    assert len(labels) == len(local.table) and labels["customer_id"].is_unique
    # the written labels are what the registered model gives the local engine's features
    model = load_segmentation_model("models:/segmentation-sample/1")
    expected = model.customer_labels(local.table).sort_values("customer_id").reset_index(drop=True)
    assert labels["customer_id"].tolist() == expected["customer_id"].tolist()
    assert labels["relationship"].tolist() == expected["relationship"].tolist()
    assert labels["persona"].astype(str).tolist() == expected["persona"].astype(str).tolist()
    np.testing.assert_array_equal(labels["segment"].fillna(-9).to_numpy(int),
                                  expected["segment"].fillna(-9).to_numpy(int))
    np.testing.assert_allclose(labels["confidence"].to_numpy(float),
                               expected["confidence"].to_numpy(float), rtol=1e-9, atol=1e-12)
    # the baselines in Spark SQL label every buyer as the local estimators do
    buyers = local.buyers.sort_values("customer_id").reset_index(drop=True)
    current = labels[labels["relationship"] == "current"].reset_index(drop=True)
    rfm = RFMSegmenter().fit(buyers)
    cells = rfm.label_columns(buyers, "rfm")
    assert current["rfm_cell"].tolist() == cells["rfm_cell"].tolist()
    assert current["rfm"].tolist() == cells["rfm"].tolist()
    assert current["lifecycle"].tolist() == list(LifecycleSegmenter().fit(buyers).labels_)
    revenue_only = buyers.drop(columns=[c for c in buyers if c.startswith("profit")])
    abc = ABCXYZSegmenter().fit(revenue_only).label_columns(revenue_only, "abc_xyz")
    for c in ("abc", "xyz", "abc_xyz", "abc_xyz_tier"):
        assert current[c].tolist() == abc[c].tolist(), c
    # the profile from Spark aggregates equals pandas' on the same labels
    segs = current["segment"].to_numpy(int)
    both = [c for c in local.features if f"mean_{c}" in result.profile]  # Spark lacks profit
    assert len(both) >= 12
    local_profile = profile_segments(buyers, segs, both)
    pd.testing.assert_frame_equal(
        result.profile[["segment", "size", "share", "revenue_share"]],
        local_profile[["segment", "size", "share", "revenue_share"]], check_dtype=False)
    for c in both:
        np.testing.assert_allclose(result.profile[f"mean_{c}"], local_profile[f"mean_{c}"],
                                   rtol=1e-9, err_msg=c)
        np.testing.assert_allclose(result.profile[f"z_{c}"], local_profile[f"z_{c}"],
                                   rtol=1e-6, atol=1e-9, err_msg=c)
        lower = buyers.groupby(segs)[c].quantile(0.5, interpolation="lower").to_numpy(float)
        np.testing.assert_allclose(result.profile[f"median_{c}"], lower, rtol=1e-9, err_msg=c)
    # the planted types are found and named (the local k-means at k=8 on this data: precision
    # 0.84, ARI 0.70; here measured on the 1,000-buyer sample)
    assert result.metrics["persona_precision_truth"] >= 0.75
    assert result.metrics["ari_truth"] >= 0.6
    # `make score ARGS="engine=spark"` (features on Spark, MLflow's spark_udf) gives them too
    scored = score_on_spark("models:/segmentation-sample/1",
                            sources_for(settings.data, settings.paths.data_dir),
                            settings.paths.reports_dir + "/scored", settings.engine)
    again = pd.read_parquet(scored.path).sort_values("customer_id").reset_index(drop=True)
    assert again["customer_id"].tolist() == labels["customer_id"].tolist()
    assert again["persona"].astype(str).tolist() == labels["persona"].astype(str).tolist()
    np.testing.assert_array_equal(again["segment"].fillna(-9).to_numpy(int),
                                  labels["segment"].fillna(-9).to_numpy(int))
    assert set(again["model_version"]) == {"1"}


def test_distributed_gaussian_mixture_chooses_k_and_labels_like_its_model(spark, settings_for,
                                                                          mlflow_uri):
    settings, result = _train(settings_for, "model=spark_gmm", "model.k_min=3", "model.k_max=4", "model.params.n_init=1",
                              "baselines.enabled=[lifecycle,bcg]")
    assert list(result.k_curve["k"]) == [3, 4] and result.metrics["k"] in (3, 4)
    assert "baseline bcg" in result.skipped  # said, not silently dropped
    labels = pd.read_parquet(result.labels_path).sort_values("customer_id").reset_index(drop=True)
    local = _local_features(settings)
    expected = result.model.customer_labels(local.table).sort_values("customer_id")
    np.testing.assert_array_equal(labels["segment"].fillna(-9).to_numpy(int),
                                  expected["segment"].fillna(-9).to_numpy(int))
    assert labels["is_outlier"].tolist() == expected["is_outlier"].tolist()


@pytest.mark.parametrize("share", [0.5, 0.8, 0.95])
def test_abc_value_level_narrowed_by_quantiles_is_exact(spark, monkeypatch, share):
    """The Spark ABC level equals the local one when the bracket has to be narrowed (a few
    distinct values allowed at the end), on values with ties and zeros."""
    from clustering.spark import baselines as sb

    monkeypatch.setattr(sb, "MAX_EXACT", 40)
    monkeypatch.setattr(sb, "BRACKETS", 8)
    rng = np.random.default_rng(3)
    v = np.round(rng.lognormal(4, 1.2, 6000), 0)
    v[:500] = 0.0
    spark.createDataFrame(pd.DataFrame({"v": v})).createOrReplaceTempView("_vals")
    rev = np.sort(v)[::-1]
    before = (np.cumsum(rev) - rev) / rev.sum()
    expected = float(rev[before < share - 1e-12].min())
    assert sb._value_level(spark, "_vals", "v", share) == expected
