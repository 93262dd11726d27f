"""The stages of the distributed training run (``engine=spark engine.distributed=true``):
every per-customer table stays a Spark DataFrame, so the customer count is bounded by the
cluster, not the driver. :func:`clustering.training.run_training` composes them with the
stages both engines share (personas' model, plots, guardrails, report) and records the
result as the local run does.

What reaches the driver is bounded by settings, not by the data: a seeded sample of
``engine.sample_rows`` buyers (the scaler is fitted on it, the internal indices, member shares
and plots are computed on it), the MLlib centres or mixture parameters and cluster sizes, one
aggregate row per segment (profiles, exact sizes and revenue separation) and the baselines' cut
points. Customers are labelled on the executors by the same fitted preprocessing and segmenter
that the registered model holds (``mapInPandas``), the baselines in Spark SQL, and the labels
are written by Spark as Parquet partitioned by persona, atomically (the one stage that writes:
a table of every customer cannot travel to the driver). The stages share Spark's temporary
views (``customer_features``, ``buyers``, ``segment_labels``, ``labelled_buyers``,
``baseline_labels``); a stage that reads a view needs a value of the stage that made it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustering.errors import DataError
from clustering.evaluation.metrics import (
    Segmentation,
    agreement,
    int_codes,
    persona_truth,
    score_labelling,
)
from clustering.features.customer import skipped_line
from clustering.features.preprocess import check_finite, select_columns
from clustering.inputs.sql import literal
from clustering.inputs.truth import planted_types
from clustering.personas.naming import PersonaAssignment, name_personas, weighted_fit
from clustering.personas.profiles import customer_stats
from clustering.segmenters import CRITERIA
from clustering.segmenters.fitting import Family, Scaling, preprocessor_for
from clustering.segmenters.selection import internal_indices
from clustering.spark.baselines import baseline_frame
from clustering.spark.features import SparkFeatures, customer_features_frame
from clustering.spark.profiles import profile_from_spark

Say = Callable[[str], None]


@dataclass(frozen=True)
class Counts:
    """Customers as of the snapshot: buyers in the window, prospects, lapsed, all."""

    buyers: int
    prospects: int
    lapsed: int
    total: int


def seeded_sample(frame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of ``frame`` chosen by a seeded hash of the customer id: the same customers
    whatever the partitioning (a distributed top-n, so only ``n`` rows travel)."""
    from pyspark.sql import functions as F

    return (frame.withColumn("_h", F.xxhash64("customer_id", F.lit(int(seed))))
            .orderBy("_h", "customer_id").limit(int(n)).drop("_h").toPandas()
            .sort_values("customer_id").reset_index(drop=True))


def _vectors(frame, pre, inputs: list[str], shift: float):
    """``frame``'s rows through the fitted preprocessing, as an MLlib ``features`` column."""
    from pyspark.ml.functions import array_to_vector

    def batches(it):
        for pdf in it:
            Z = pre.transform(pdf[inputs]) + shift
            yield pd.DataFrame({"x": list(np.asarray(Z, dtype=np.float64))})

    return frame.select(*inputs).mapInPandas(batches, "x array<double>").select(
        array_to_vector("x").alias("features"))


def _label_all(frame, pre, seg, inputs: list[str]):
    """Segment, confidence and outlier flag of every buyer of ``frame`` (null for the others),
    computed on the executors by the fitted preprocessing and segmenter."""
    def batches(it):
        for pdf in it:
            n = len(pdf)
            out = pd.DataFrame({"customer_id": pdf["customer_id"].to_numpy(),
                                "segment": pd.array([pd.NA] * n, dtype="Int64"),
                                "confidence": np.full(n, np.nan),
                                "is_outlier": np.zeros(n, bool)})
            buyer = pdf["is_buyer"].to_numpy(bool)
            if buyer.any():
                labels, conf, outlier = seg.membership(pre.transform(pdf.loc[buyer, inputs]))
                out.loc[buyer, "segment"] = np.asarray(labels, dtype=np.int64)
                out.loc[buyer, "confidence"] = np.asarray(conf, dtype=np.float64)
                out.loc[buyer, "is_outlier"] = np.asarray(outlier, dtype=bool)
            out.loc[~buyer, "confidence"] = None
            yield out

    return frame.select("customer_id", "is_buyer", *inputs).mapInPandas(
        batches, "customer_id string, segment long, confidence double, is_outlier boolean")


def _choose_k(family: Family, vec, Xs: np.ndarray, silhouette_sample: int, seed: int,
              say: Say) -> tuple[Any, pd.DataFrame | None]:
    """The fitted segmenter at ``family.k``, or the best of ``k_min..k_max`` by the criterion
    on the sample (MLlib fits every k on all buyers)."""
    if family.k is not None:
        return family.at(family.k, seed).fit_frame(vec, Xs), None
    rows, fitted = [], {}
    for k in range(family.k_min, family.k_max + 1):
        seg = fitted[k] = family.at(k, seed).fit_frame(vec, Xs)
        scores = internal_indices(Xs, seg.labels_, silhouette_sample, seed)
        rows.append({"k": k, **scores})
        say(f"k={k}: {family.criterion}={scores.get(family.criterion, float('nan')):.4f}")
    curve = pd.DataFrame(rows)
    s = curve.set_index("k")[family.criterion]
    best = int(s.idxmax() if CRITERIA[family.criterion] else s.idxmin())
    return fitted[best], curve


def _exact_metrics(spark, view: str, profile: pd.DataFrame, min_share: float) -> dict[str, float]:
    """The size and revenue metrics of :func:`clustering.evaluation.metrics.score_labelling` from
    aggregates over every buyer: shares, small-segment share, revenue separation (eta squared
    of signed-log revenue) and the top segment's revenue share."""
    y = "signum(monetary_total) * ln(1 + abs(monetary_total))"
    g = spark.sql(f"SELECT segment, count(*) AS n, sum({y}) AS s1, sum({y} * {y}) AS s2 "
                  f"FROM {view} GROUP BY segment").toPandas()
    n, s1, s2 = float(g["n"].sum()), float(g["s1"].sum()), float(g["s2"].sum())
    total = s2 - s1 * s1 / n
    between = float((g["s1"] ** 2 / g["n"]).sum() - s1 * s1 / n)
    shares = profile.set_index("segment")["share"]
    shares = shares[shares.index >= 0]
    out = {"n_segments": float(len(shares)), "min_share": float(shares.min()),
           "max_share": float(shares.max()),
           "small_segment_share": float(shares[shares < min_share].sum()),
           "business_separation": between / total if total > 0 else float("nan")}
    if "revenue_share" in profile:
        out["revenue_top_share"] = float(profile["revenue_share"].max())
    return out


def write_partitioned(frame, directory: Path) -> Path:
    """``frame`` as Parquet partitioned by persona (one folder per persona, prospects and
    former customers included: a null segment id would be a partition pandas cannot read),
    written beside ``directory`` and renamed into place: a reader never sees half the labels."""
    tmp = directory.with_name(f".{directory.name}-{uuid.uuid4().hex[:8]}")
    frame.write.mode("overwrite").partitionBy("persona").parquet(str(tmp))
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def _persist(frame):
    from pyspark import StorageLevel

    return frame.persist(StorageLevel.MEMORY_AND_DISK)


def build_features_frame(engine, snapshot, lookback_days: int, say: Say
                         ) -> tuple[SparkFeatures, Counts]:
    """Every customer's features as a DataFrame (views ``customer_features`` and ``buyers``)."""
    spark = engine.session
    snap = snapshot or engine.snapshot
    sf = customer_features_frame(spark, snap, engine.loaded.available, lookback_days,
                                 engine.customers)
    _persist(sf.frame).createOrReplaceTempView("customer_features")
    row = spark.sql("SELECT count(*) AS n, sum(CAST(is_buyer AS INT)) AS buyers, "
                    "sum(CAST(is_prospect AS INT)) AS prospects FROM customer_features").collect()[0]
    buyers, prospects = int(row.buyers or 0), int(row.prospects or 0)
    counts = Counts(buyers, prospects, int(row.n) - buyers - prospects, int(row.n))
    if buyers < 2:
        raise DataError(f"{buyers} customers bought between {sf.window_start} and {snap}: "
                        "segmentation needs at least two (check data.path and the dates)")
    spark.sql("SELECT * FROM customer_features WHERE is_buyer").createOrReplaceTempView("buyers")
    say(f"snapshot {snap}, window from {sf.window_start}: {buyers:,} buyers, "
        f"{prospects:,} prospects and {counts.lapsed:,} lapsed customers")
    if line := skipped_line(sf.skipped):  # one line, with what would give them
        say(f"note: {line}")
    return sf, counts


def sample_and_scale(engine, sf: SparkFeatures, wanted: list[str], categorical: list[str],
                     scaling: Scaling, sample_rows: int, seed: int
                     ) -> tuple[pd.DataFrame, Any, np.ndarray, list[str], list[str]]:
    """(the seeded sample of buyers, the preprocessing fitted on it, the scaled sample, its
    column names, the model's input columns)."""
    numeric, categorical = select_columns(wanted, categorical, sf.features, sf.skipped,
                                          sf.attributes)
    inputs = numeric + categorical
    sample = seeded_sample(engine.session.table("buyers"), sample_rows, seed)
    pre = preprocessor_for(numeric, categorical, scaling, seed).fit(sample[inputs])
    Xs = pre.transform(sample[inputs])
    names = list(pre.get_feature_names_out())
    check_finite(Xs, names, "preprocessed features")
    return sample, pre, Xs, names, inputs


def segment_frame(engine, pre, Xs: np.ndarray, inputs: list[str], family: Family,
                  silhouette_sample: int, seed: int, say: Say):
    """(fitted MLlib segmenter, k curve or None): fitted on every buyer, every customer
    labelled on the executors (views ``segment_labels`` and ``labelled_buyers``)."""
    spark = engine.session
    vec = _persist(_vectors(spark.table("buyers"), pre, inputs, family.at(2, seed).shift))
    seg, curve = _choose_k(family, vec, Xs, silhouette_sample, seed, say)
    vec.unpersist()
    sizes = sorted(seg.training_sizes_, reverse=True)
    say(f"{int(seg.n_clusters_)} segments; sizes {', '.join(f'{int(s):,}' for s in sizes)}")
    labelled = _label_all(spark.table("customer_features"), pre, seg, inputs)
    _persist(labelled).createOrReplaceTempView("segment_labels")
    spark.sql("SELECT b.*, l.segment FROM buyers b JOIN segment_labels l USING (customer_id)"
              ).createOrReplaceTempView("labelled_buyers")
    return seg, curve


def profile_and_name(engine, seg, sf: SparkFeatures, sample: pd.DataFrame,
                     catalogue: dict[str, Any], min_fit: float, min_member_share: float
                     ) -> tuple[pd.DataFrame, pd.Series, PersonaAssignment]:
    """(profiles from Spark aggregates, the buyers' medians, personas named on them and the
    sample's members)."""
    profile, medians = profile_from_spark(engine.session, "labelled_buyers", sf.features)
    personas = name_personas(profile, catalogue, min_fit, customer_stats(sample, sf.features),
                             seg.labels_, min_member_share)
    return profile, medians, personas


def evaluate_sample(engine, seg, Xs: np.ndarray, sample: pd.DataFrame, counts: Counts,
                    personas: PersonaAssignment, profile: pd.DataFrame, truth_path: str | None,
                    catalogue: list[str], silhouette_sample: int, min_share: float, seed: int
                    ) -> tuple[dict[str, float], np.ndarray | None]:
    """(the clusters' metrics: internal indices on the sample, sizes and revenue separation
    exact from aggregates; the sample's planted types)."""
    truth = planted_types(sample["customer_id"], truth_path)
    metrics = score_labelling("clusters", seg.labels_, Xs, sample["monetary_total"].to_numpy(float),
                              silhouette_sample=silhouette_sample, min_share=min_share,
                              seed=seed, truth=truth,
                              persona_fit=weighted_fit(personas, profile)).metrics
    metrics |= _exact_metrics(engine.session, "labelled_buyers", profile, min_share)
    if truth is not None:
        metrics |= persona_truth(truth, seg.labels_, personas.table, catalogue)
    return metrics | {"k": float(seg.n_clusters_), "n_prospects": float(counts.prospects),
                      "n_lapsed": float(counts.lapsed),
                      "n_customers": float(counts.buyers), "metric_sample": float(len(sample))}, truth


def label_baselines(engine, sf: SparkFeatures, counts: Counts, params: dict[str, dict],
                    enabled: list[str], say: Say) -> tuple[list[str], list[str]]:
    """(the baselines labelled in Spark SQL, view ``baseline_labels``; those it skips)."""
    frame, skipped = baseline_frame(engine.session, "buyers", counts.buyers, params, enabled)
    _persist(frame).createOrReplaceTempView("baseline_labels")
    done = [b for b in enabled if b not in skipped]
    say(f"baselines: {', '.join(done) or 'none'}"
        + (f" (not on Spark: {', '.join(skipped)})" if skipped else ""))
    return done, skipped


def score_baselines(engine, done: list[str], seg, Xs: np.ndarray, sample: pd.DataFrame,
                    truth, silhouette_sample: int, min_share: float, seed: int
                    ) -> tuple[dict[str, Segmentation], dict[str, float]]:
    """(each baseline scored on the sample as the clusters are, its agreement metrics)."""
    spark = engine.session
    ids = spark.createDataFrame(sample[["customer_id"]])
    on_sample = (spark.table("baseline_labels").join(ids, "customer_id").toPandas()
                 .set_index("customer_id").reindex(sample["customer_id"]))
    revenue = sample["monetary_total"].to_numpy(float)
    baselines, metrics = {}, {}
    for b in done:
        labels = on_sample[b].to_numpy(object)
        baselines[b] = score_labelling(b, labels, Xs, revenue, silhouette_sample=silhouette_sample,
                                       min_share=min_share, seed=seed, truth=truth)
        metrics[f"vs_{b}_ari"], metrics[f"vs_{b}_nmi"] = agreement(int_codes(labels), seg.labels_)
    return baselines, metrics


def write_labels(engine, personas: PersonaAssignment, relationship: dict[str, str],
                 done: list[str], directory: Path, counts: Counts, say: Say) -> Path:
    """Every customer's labels (segment, its name, its persona), written by Spark as a Parquet
    folder per persona."""
    spark = engine.session

    def by_segment(names: dict[int, str], column: str) -> str:
        cases = " ".join(f"WHEN {s} THEN {literal(n, spark=True)}" for s, n in names.items())
        return (f"CASE WHEN f.is_buyer THEN CASE l.segment {cases} ELSE concat('segment ', "
                f"l.segment) END WHEN f.is_prospect THEN "
                f"{literal(relationship['prospect'], spark=True)} "
                f"ELSE {literal(relationship['former'], spark=True)} END AS {column}")

    extra = "".join(f", bl.`{c}`" for c in spark.table("baseline_labels").columns
                    if c not in ("customer_id", "none"))
    labels = spark.sql(f"""
        SELECT f.customer_id,
               CASE WHEN f.is_buyer THEN 'current' WHEN f.is_prospect THEN 'prospect'
                    ELSE 'former' END AS relationship,
               {by_segment(personas.names(), "segment_name")},
               {by_segment(personas.personas(), "persona")},
               l.confidence, l.is_outlier{extra}, l.segment
        FROM customer_features f JOIN segment_labels l USING (customer_id)
        LEFT JOIN baseline_labels bl USING (customer_id)""")
    path = write_partitioned(labels, directory)
    say(f"labels of {counts.total:,} customers: {path} (a folder per persona)")
    return path
