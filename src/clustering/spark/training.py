"""The distributed training run (``engine=spark engine.distributed=true``): every per-customer
table stays a Spark DataFrame, so the customer count is bounded by the cluster, not the driver.

What reaches the driver is bounded by settings, not by the data: a seeded sample of
``engine.sample_rows`` buyers (the scaler is fitted on it, the internal indices, member shares
and plots are computed on it), the MLlib centres or mixture parameters and cluster sizes, one
aggregate row per segment (profiles, exact sizes and revenue separation) and the baselines' cut
points. Customers are labelled on the executors by the same fitted preprocessing and segmenter
that the registered model holds (``mapInPandas``), the baselines in Spark SQL, and the labels
are written by Spark as Parquet partitioned by persona, atomically. The registered model is the
same pyfunc as the local engine's, so ``make score`` and ``mlflow.pyfunc.spark_udf`` label new
customers exactly as training did.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from clustering import tracking
from clustering.config import TrainConfig, model_label
from clustering.console import Console
from clustering.engines import SparkEngine
from clustering.errors import ConfigError, DataError
from clustering.evaluation.metrics import (
    Segmentation,
    agreement,
    int_codes,
    persona_truth,
    score_labelling,
)
from clustering.features.preprocess import check_finite, select_columns
from clustering.files import digest_files, write_text
from clustering.inputs.sources import DataSources, sources_for
from clustering.inputs.sql import literal
from clustering.inputs.truth import planted_types
from clustering.model import SegmentationModel
from clustering.personas.guardrails import guardrail_warnings, marketing_view
from clustering.personas.naming import name_personas, weighted_fit
from clustering.personas.profiles import customer_stats
from clustering.reporting.glossary import column_label
from clustering.reporting.plots import segmentation_figures
from clustering.reporting.report import build_report
from clustering.segmenters import CRITERIA, make_segmenter
from clustering.segmenters.fitting import preprocessor_for
from clustering.segmenters.selection import internal_indices

#: the MLlib families the distributed path trains
DISTRIBUTED_MODELS = ("spark_kmeans", "spark_gmm")
#: criteria it can choose k by (computed on the sample)
SAMPLE_CRITERIA = ("calinski_harabasz", "silhouette", "davies_bouldin")


@dataclass
class DistributedResult:
    """What a distributed run computed; the fields :func:`clustering.reporting.summary.format_summary`
    reads are named as in :class:`clustering.result.TrainResult`."""

    settings: TrainConfig
    run_name: str
    profile: pd.DataFrame
    personas: pd.DataFrame
    metrics: dict[str, float]
    baselines: dict[str, Segmentation]
    model: SegmentationModel
    labels_path: Path
    report_path: Path
    report_dir: Path
    sample: pd.DataFrame  # the seeded sample of buyers (features), for the metrics
    k_curve: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    renamed: pd.DataFrame | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # artifact path -> figure
    fit_matrix: pd.DataFrame | None = None  # segments x personas
    snapshot: Any = None  # the snapshot date
    inputs: list[str] = field(default_factory=list)  # the model's input columns
    files: list[str] = field(default_factory=list)  # what the run read (for the digest)
    run_id: str = ""
    experiment_id: str = ""
    tracking_uri: str = ""


def check_distributed(cfg: TrainConfig) -> None:
    """What ``engine.distributed=true`` needs (part of :func:`clustering.config.validate_config`)."""
    m = cfg.model
    if m.name not in DISTRIBUTED_MODELS:
        raise ConfigError(f"engine.distributed=true trains Spark MLlib models: model=spark_kmeans, "
                          f"spark_bisecting_kmeans or spark_gmm (got model={m.name}); for "
                          "scikit-learn models set engine.distributed=false (features are then "
                          "collected to the driver)")
    if m.k is None and m.criterion not in SAMPLE_CRITERIA:
        raise ConfigError(f"engine.distributed=true chooses k by {', '.join(SAMPLE_CRITERIA)} "
                          f"(on the sample), not '{m.criterion}': set model.criterion or model.k")
    if cfg.engine.sample_rows < 1000:
        raise ConfigError(f"engine.sample_rows must be at least 1000, got {cfg.engine.sample_rows}")


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


def _choose_k(family, vec, Xs: np.ndarray, m, cfg, say) -> tuple[Any, pd.DataFrame | None]:
    """The fitted segmenter at ``model.k``, or the best of ``k_min..k_max`` by the criterion
    on the sample (MLlib fits every k on all buyers)."""
    if m.k is not None:
        return family(m.k).fit_frame(vec, Xs), None
    rows, fitted = [], {}
    for k in range(m.k_min, m.k_max + 1):
        seg = fitted[k] = family(k).fit_frame(vec, Xs)
        scores = internal_indices(Xs, seg.labels_, cfg.evaluate.silhouette_sample, cfg.seed)
        rows.append({"k": k, **scores})
        say(f"k={k}: {m.criterion}={scores.get(m.criterion, float('nan')):.4f}")
    curve = pd.DataFrame(rows)
    s = curve.set_index("k")[m.criterion]
    best = int(s.idxmax() if CRITERIA[m.criterion] else s.idxmin())
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


def compute_distributed(cfg: TrainConfig, sources: DataSources, engine: SparkEngine,
                        console: Console, run_id: str) -> DistributedResult:
    from pyspark import StorageLevel

    from clustering.spark.baselines import baseline_frame
    from clustering.spark.features import customer_features_frame
    from clustering.spark.profiles import profile_from_spark

    spark, m = engine.session, cfg.model
    with console.stage("build customer features (Spark)"):
        snap = (pd.Timestamp(cfg.features.snapshot_date).date() if cfg.features.snapshot_date
                else engine.snapshot)
        sf = customer_features_frame(spark, snap, engine.loaded.available,
                                     cfg.features.lookback_days, engine.customers)
        sf.frame.persist(StorageLevel.MEMORY_AND_DISK).createOrReplaceTempView("customer_features")
        counts = spark.sql("SELECT count(*) AS n, sum(CAST(is_buyer AS INT)) AS buyers, "
                           "sum(CAST(is_prospect AS INT)) AS prospects "
                           "FROM customer_features").collect()[0]
        n_buyers, n_prospects = int(counts.buyers or 0), int(counts.prospects or 0)
        n_lapsed = int(counts.n) - n_buyers - n_prospects
        if n_buyers < 2:
            raise DataError(f"{n_buyers} customers bought between {sf.window_start} and {snap}: "
                            "segmentation needs at least two (check data.path and the dates)")
        buyers = spark.sql("SELECT * FROM customer_features WHERE is_buyer")
        buyers.createOrReplaceTempView("buyers")
        console.detail(f"snapshot {snap}, window from {sf.window_start}: {n_buyers:,} buyers, "
                       f"{n_prospects:,} prospects and {n_lapsed:,} lapsed customers")
        for f, why in sf.skipped.items():
            console.detail(f"skipped feature {f}: {why}")
    numeric, categorical = select_columns(cfg.preprocess.features, cfg.preprocess.categorical,
                                          sf.features, sf.skipped, sf.attributes)
    inputs = numeric + categorical
    skipped = {}
    if cfg.signals.potential.enabled and cfg.signals.potential.as_features:
        skipped["signals.potential.as_features"] = "the potential model runs on the local engine"
    with console.stage(f"sample {min(cfg.engine.sample_rows, n_buyers):,} buyers, fit scaling"):
        sample = seeded_sample(buyers, cfg.engine.sample_rows, cfg.seed)
        pre = preprocessor_for(numeric, categorical, cfg.preprocess, cfg.seed).fit(sample[inputs])
        Xs = pre.transform(sample[inputs])
        names = list(pre.get_feature_names_out())
        check_finite(Xs, names, "preprocessed features")
    k_part = f"k={m.k}" if m.k else f"k {m.k_min}..{m.k_max} by {m.criterion} on the sample"
    with console.stage(f"segment on Spark ({m.name}, {k_part})"):
        def family(k: int):
            return make_segmenter(m.name, k=k, random_state=cfg.seed,
                                  **{**dict(m.params), "master": cfg.engine.master})
        vec = _vectors(buyers, pre, inputs, family(2).shift).persist(StorageLevel.MEMORY_AND_DISK)
        seg, curve = _choose_k(family, vec, Xs, m, cfg, console.detail)
        vec.unpersist()
        k = int(seg.n_clusters_)
        sizes = sorted(seg.training_sizes_, reverse=True)
        console.detail(f"{k} segments; sizes {', '.join(f'{int(s):,}' for s in sizes)}")
        labelled = _label_all(spark.table("customer_features"), pre, seg, inputs)
        labelled.persist(StorageLevel.MEMORY_AND_DISK).createOrReplaceTempView("segment_labels")
        spark.sql("SELECT b.*, l.segment FROM buyers b JOIN segment_labels l USING (customer_id)"
                  ).createOrReplaceTempView("labelled_buyers")
    with console.stage("profiles (Spark aggregates) + personas"):
        profile, medians = profile_from_spark(spark, "labelled_buyers", sf.features)
        catalogue = {"catalogue": cfg.personas.catalogue, "special": cfg.personas.special}
        personas = name_personas(profile, catalogue, cfg.personas.min_fit,
                                 customer_stats(sample, sf.features), seg.labels_,
                                 cfg.personas.min_member_share)
    with console.stage("evaluate (sample) + baselines (Spark SQL)"):
        truth = planted_types(sample["customer_id"], sources.truth_path)
        revenue = sample["monetary_total"].to_numpy(float)
        scoring = {"silhouette_sample": cfg.evaluate.silhouette_sample,
                   "min_share": cfg.evaluate.min_share, "seed": cfg.seed, "truth": truth}
        metrics = score_labelling("clusters", seg.labels_, Xs, revenue, **scoring,
                                  persona_fit=weighted_fit(personas, profile)).metrics
        metrics |= _exact_metrics(spark, "labelled_buyers", profile, cfg.evaluate.min_share)
        if truth is not None:
            metrics |= persona_truth(truth, seg.labels_, personas.table,
                                     list(cfg.personas.catalogue))
        metrics |= {"k": float(k), "n_customers": float(n_buyers),
                    "n_prospects": float(n_prospects), "n_lapsed": float(n_lapsed),
                    "metric_sample": float(len(sample))}
        base_df, not_on_spark = baseline_frame(spark, "buyers", n_buyers, cfg.baselines,
                                               list(cfg.baselines.enabled))
        base_df.persist(StorageLevel.MEMORY_AND_DISK).createOrReplaceTempView("baseline_labels")
        for b in not_on_spark:
            skipped[f"baseline {b}"] = "not computed by the distributed path"
        ids = spark.createDataFrame(sample[["customer_id"]])
        on_sample = (base_df.join(ids, "customer_id").toPandas().set_index("customer_id")
                     .reindex(sample["customer_id"]))
        baselines = {}
        for b in [b for b in cfg.baselines.enabled if b not in not_on_spark]:
            baselines[b] = score_labelling(b, on_sample[b].to_numpy(object), Xs, revenue, **scoring)
            metrics[f"vs_{b}_ari"], metrics[f"vs_{b}_nmi"] = agreement(
                int_codes(on_sample[b].to_numpy(object)), seg.labels_)
        console.detail(f"baselines: {', '.join(baselines) or 'none'}"
                       + (f" (not on Spark: {', '.join(not_on_spark)})" if not_on_spark else ""))
    special = {k: v.get("name", k) for k, v in cfg.personas.special.items()}
    relationship = {"prospect": special.get("prospects", "Prospects"),
                    "former": special.get("former", "Former customers")}
    model = SegmentationModel(Pipeline([("preprocess", pre), ("segment", seg)]),
                              personas.names(), None, cfg.features.lookback_days, sources.policy,
                              None, relationship, None)
    base = cfg.mlflow.run_name or f"{model_label(m)}-k{k}-{cfg.preprocess.scaler}-{cfg.data.name}"
    run_name = cfg.mlflow.run_name or f"{base}-{run_id[:6]}"
    report_dir = Path(cfg.paths.reports_dir) / f"{base}-{run_id[:8]}"
    with console.stage("write labels (Spark, partitioned Parquet)"):
        seg_names = personas.names()
        persona = " ".join(f"WHEN {s} THEN {literal(n)}" for s, n in seg_names.items())
        extra = ", ".join(f"bl.`{c}`" for c in base_df.columns if c not in ("customer_id", "none"))
        labels = spark.sql(f"""
            SELECT f.customer_id,
                   CASE WHEN f.is_buyer THEN 'current' WHEN f.is_prospect THEN 'prospect'
                        ELSE 'former' END AS relationship,
                   CASE WHEN f.is_buyer THEN CASE l.segment {persona} ELSE concat('segment ',
                        l.segment) END WHEN f.is_prospect THEN {literal(relationship["prospect"])}
                        ELSE {literal(relationship["former"])} END AS persona,
                   l.confidence, l.is_outlier{', ' + extra if extra else ''}, l.segment
            FROM customer_features f JOIN segment_labels l USING (customer_id)
            LEFT JOIN baseline_labels bl USING (customer_id)""")
        labels_path = write_partitioned(labels, report_dir / "labels")
        console.detail(f"labels of {int(counts.n):,} customers: {labels_path} "
                       "(a folder per persona)")
    with console.stage("persona report"):
        columns = [column_label(c, sf.attributes) for c in names]
        figures = segmentation_figures(seg, Xs, seg.labels_, names, curve, m.criterion, k,
                                       seg_names, columns, cfg.seed)
        warnings = engine.loaded.warnings + guardrail_warnings(
            profile, personas.table, cfg.evaluate.min_share, cfg.evaluate.max_share,
            cfg.evaluate.max_personas)
        title = f"Customer personas: {cfg.data.name}, {run_name} (snapshot {snap})"
        md, html = build_report(profile, personas.table, medians, title,
                                [figures["plots/profile_heatmap.png"]],
                                {"prospects": n_prospects, "former": n_lapsed},
                                cfg.personas.special, cfg.data.currency, warnings,
                                marketing_view(profile, personas.table))
        report_path = write_text(report_dir / "persona_report.html", html)
        write_text(report_dir / "persona_report.md", md)
    result = DistributedResult(cfg, run_name, profile, personas.table, metrics, baselines, model,
                               labels_path, report_path, report_dir, sample, curve, warnings,
                               skipped=skipped | dict(sf.skipped), figures=figures,
                               fit_matrix=personas.fit_matrix, snapshot=snap, inputs=inputs,
                               files=engine.loaded.files + engine.loaded.customer_files)
    return result


def run_distributed_training(cfg: TrainConfig, resolved: dict[str, Any] | None,
                             console: Console) -> DistributedResult:
    """Train on Spark DataFrames end to end and record the run in MLflow."""
    uri = tracking.resolve_tracking_uri(cfg.mlflow.tracking_uri, cfg.paths.root)
    experiment = cfg.mlflow.experiment or f"segmentation-{cfg.data.name}"
    m = cfg.model
    console.say(f"Tracking to {tracking.redact_uri(uri)} (experiment '{experiment}')")
    tags = {"git_commit": tracking.git_commit(cfg.paths.root), "data": cfg.data.name,
            "model": m.name, "seed": str(cfg.seed), "kind": "clustering",
            "engine": "spark-distributed", **dict(cfg.mlflow.tags)}
    k_part = f"k{m.k}" if m.k else f"k{m.k_min}-{m.k_max}"
    with tracking.tracked_run(uri, experiment, cfg.mlflow.run_name or f"{model_label(m)}-{k_part}-"
                              f"{cfg.data.name}", cfg.paths.root, tags, cfg.mlflow.parent_run_id,
                              resolved if resolved is not None else dataclasses.asdict(cfg)) as run:
        with console.stage(f"load data (Spark at {cfg.engine.master}, distributed)"):
            sources = sources_for(cfg.data, cfg.paths.data_dir)
            engine = SparkEngine(sources, lookback_days=cfg.features.lookback_days,
                                 snapshot_date=cfg.features.snapshot_date,
                                 master=cfg.engine.master, driver_memory=cfg.engine.driver_memory,
                                 conf=dict(cfg.engine.conf))
        result = compute_distributed(cfg, sources, engine, console, run.info.run_id)
        result.run_id, result.experiment_id, result.tracking_uri = (
            run.info.run_id, run.info.experiment_id, uri)
        with console.stage("log to MLflow"):
            from clustering.tracking.distributed import log_distributed

            log_distributed(result, resolved, digest_files(result.files), console.detail)
        engine.session.catalog.clearCache()
    console.timings["total"] = sum(console.timings.values())
    return result
