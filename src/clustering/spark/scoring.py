"""Batch scoring on Spark (``make score ARGS="engine=spark"``): features from the transactions
in Spark SQL, the registered model applied by MLflow's ``spark_udf`` on the executors, the
labels written by Spark as a Parquet folder per persona; nothing per customer on the driver.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clustering.errors import DataError
from clustering.inputs.sources import DataSources
from clustering.inputs.sql import literal
from clustering.model import OUTPUT_COLUMNS
from clustering.spark.engine import SparkEngine
from clustering.spark.features import customer_features_frame
from clustering.spark.stages import write_partitioned
from clustering.tracking.pyfunc import load_segmentation_model, spark_udf
from clustering.tracking.registry import model_identity, resolve_model_uri

UDF_RESULT = ("segment long, segment_name string, persona string, confidence double, "
              "is_outlier boolean")


@dataclass
class SparkScoreResult:
    path: Path
    counts: pd.DataFrame  # relationship, persona, customers (one row per persona)
    snapshot_date: object
    model_name: str
    model_version: str


def score_on_spark(model_ref: str, sources: DataSources, output: str | Path, engine_cfg,
                   snapshot_date: str | None = None) -> SparkScoreResult:
    """Label every customer of ``sources`` with the model ``model_ref`` on Spark."""
    from pyspark.sql import functions as F


    uri = resolve_model_uri(model_ref)
    name, version = model_identity(uri)
    model = load_segmentation_model(uri)  # its lookback, checks and names (small)
    checks = getattr(model, "checks", None)
    if checks is not None:
        sources = dataclasses.replace(sources, policy=checks)
    engine = SparkEngine(sources, lookback_days=model.lookback_days, snapshot_date=snapshot_date,
                         master=engine_cfg.master, driver_memory=engine_cfg.driver_memory,
                         conf=dict(engine_cfg.conf))
    spark = engine.session
    snap = pd.Timestamp(snapshot_date).date() if snapshot_date else engine.snapshot
    sf = customer_features_frame(spark, snap, engine.loaded.available, model.lookback_days,
                                 engine.customers)
    needed = [str(c) for c in model.feature_names_in_]
    missing = [c for c in needed if c not in sf.frame.columns]
    if missing:
        raise DataError(f"the model needs feature(s) {missing} that the Spark engine does not "
                        f"compute from {sources.transactions.path} "
                        f"({'; '.join(f'{f}: {w}' for f, w in sf.skipped.items() if f in missing)})"
                        "; score with the local engine (engine=local)")
    udf = spark_udf(spark, uri, UDF_RESULT)
    names = {"prospect": "Prospects", "former": "Former customers",
             **(getattr(model, "relationship_names", None) or {})}
    frame = sf.frame
    scored = frame.where("is_buyer").withColumn("_out", udf(*[F.col(c) for c in needed]))
    current = scored.select("customer_id", F.lit("current").alias("relationship"),
                            *[F.col(f"_out.{c}").alias(c) for c in OUTPUT_COLUMNS])
    others = frame.where("NOT is_buyer").selectExpr(
        "customer_id", "CASE WHEN is_prospect THEN 'prospect' ELSE 'former' END AS relationship",
        "CAST(NULL AS BIGINT) AS segment",
        f"CASE WHEN is_prospect THEN {literal(names['prospect'])} "
        f"ELSE {literal(names['former'])} END AS segment_name",
        f"CASE WHEN is_prospect THEN {literal(names['prospect'])} "
        f"ELSE {literal(names['former'])} END AS persona",
        "CAST(NULL AS DOUBLE) AS confidence", "false AS is_outlier")
    labels = (current.unionByName(others)
              .withColumn("model_name", F.lit(name)).withColumn("model_version", F.lit(str(version)))
              .withColumn("snapshot_date", F.lit(snap)))
    path = write_partitioned(labels, Path(output))
    counts = (spark.read.parquet(str(path)).groupBy("relationship", "persona").count()
              .withColumnRenamed("count", "customers").toPandas()
              .sort_values("customers", ascending=False).reset_index(drop=True))
    return SparkScoreResult(path, counts, snap, name, str(version))
