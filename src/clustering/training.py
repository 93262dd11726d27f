"""The training run: data -> features -> preprocess -> segment -> evaluate -> MLflow.

``run_training`` takes the typed settings of :mod:`clustering.config` (built by the entry point
from Hydra's configuration) and returns what it produced; every stage reports its progress and
time on the console.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from clustering import tracking
from clustering.config import DataConfig, TrainConfig
from clustering.console import Console
from clustering.errors import ConfigError, DataError
from clustering.evaluate import score_segmentation
from clustering.features import FeatureResult, build_customer_features
from clustering.loading import (
    LoadedData,
    TableSource,
    digest_files,
    register_customers,
    register_transactions,
)
from clustering.plots import plot_k_curve, plot_profile_heatmap, plot_projection
from clustering.preprocess import build_preprocessor
from clustering.profiles import crosstab, profile_segments
from clustering.sample_data import ensure_sample_data
from clustering.segment import CRITERIA, SEGMENTERS, make_segmenter

SUMMARY_COLUMNS = ["recency_days", "frequency", "monetary_total", "avg_order_value"]


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    tracking_uri: str
    run_name: str
    metrics: dict[str, float]
    profile: pd.DataFrame
    labels: pd.DataFrame
    model: Pipeline
    features: FeatureResult


def validate_config(cfg: TrainConfig) -> None:
    """Cheap checks that fail in one line before any work starts."""
    m = cfg.model
    if m.name not in SEGMENTERS:
        raise ConfigError(f"unknown model '{m.name}'; choose one of {sorted(SEGMENTERS)}")
    if m.k is not None and m.k < 1:
        raise ConfigError(f"model.k must be a positive integer, got {m.k}")
    if m.k is None and not 2 <= m.k_min <= m.k_max:
        raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {m.k_min}, {m.k_max}")
    if m.criterion not in CRITERIA:
        raise ConfigError(f"unknown model.criterion '{m.criterion}'; choose one of {sorted(CRITERIA)}")
    if cfg.data.format not in ("sample", "csv", "parquet", "auto"):
        raise ConfigError(f"data.format must be sample, csv, parquet or auto, got '{cfg.data.format}'")
    if cfg.data.format != "sample":
        if not cfg.data.path:
            raise ConfigError("data.path is required for your own data (a file, folder or glob)")
        for key in ("path", "customers_path"):
            p = getattr(cfg.data, key)
            if p and not any(c in p for c in "*?[") and not Path(p).exists():
                raise ConfigError(f"data.{key}: '{p}' does not exist")
    if cfg.evaluate.silhouette_sample < 0:
        raise ConfigError("evaluate.silhouette_sample must be >= 0 (0 = all customers)")
    if cfg.features.lookback_days < 2:
        raise ConfigError(f"features.lookback_days must be at least 2, got {cfg.features.lookback_days}")


def _sources(data: DataConfig, data_dir: str) -> tuple[TableSource, TableSource | None, str | None]:
    cols = dataclasses.asdict(data.columns)
    if data.format == "sample":
        s = data.sample
        paths = ensure_sample_data(
            str(Path(data_dir) / "sample" / f"n{s.n_customers}-seed{s.seed}-{s.kind}"),
            n_customers=s.n_customers, seed=s.seed, start=s.start, end=s.end, kind=s.kind,
        )
        return (TableSource(paths["transactions"], "parquet", cols),
                TableSource(paths["customers"], "parquet", dataclasses.asdict(data.customer_columns)),
                paths["truth"])
    tx = TableSource(data.path, data.format, cols, data.date_format, data.delimiter, data.encoding)
    cust = (TableSource(data.customers_path, "auto", dataclasses.asdict(data.customer_columns),
                        data.date_format, data.delimiter, data.encoding)
            if data.customers_path else None)
    return tx, cust, data.truth_path


def load_data(cfg: TrainConfig, con: duckdb.DuckDBPyConnection) -> tuple[LoadedData, str | None]:
    """Register the configured transactions (and customers) in ``con``."""
    tx, cust, truth = _sources(cfg.data, cfg.paths.data_dir)
    loaded = register_transactions(con, tx)
    attributes = list(cfg.data.attributes)
    if cust is not None:
        loaded = register_customers(con, cust, attributes, loaded)
    elif attributes:
        raise ConfigError("data.attributes needs a customers table: set data.customers_path")
    return loaded, truth


def _select_columns(cfg: TrainConfig, fr: FeatureResult) -> tuple[list[str], list[str]]:
    """Model columns: the configured features that exist; those skipped for a missing source
    column are left out (they are reported), unknown names are an error."""
    wanted = list(cfg.preprocess.features) or list(fr.features)
    unknown = [f for f in wanted if f not in fr.features and f not in fr.skipped]
    if unknown:
        raise ConfigError(f"preprocess.features {unknown} are not features; computed features: "
                          f"{fr.features}")
    numeric = [f for f in wanted if f in fr.features]
    categorical = list(cfg.preprocess.categorical)
    bad = [c for c in categorical if c not in fr.attributes]
    if bad:
        raise ConfigError(f"preprocess.categorical {bad} are not customer attributes; "
                          f"attributes loaded (data.attributes): {fr.attributes}")
    return numeric, categorical


def _check_finite(X: np.ndarray, names: list[str], where: str) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        cols = [f"{names[j]} ({int(bad[:, j].sum())} rows)" for j in np.flatnonzero(bad.any(axis=0))]
        raise DataError(f"{where}: NaN or infinite values in {', '.join(cols)}")


def run_training(
    cfg: TrainConfig, resolved: dict[str, Any] | None = None, console: Console | None = None
) -> TrainResult:
    """Train and track one segmentation; ``resolved`` is the config to log as parameters."""
    console = console or Console()
    validate_config(cfg)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    root = cfg.paths.root
    uri = tracking.resolve_tracking_uri(cfg.mlflow.tracking_uri, root)
    experiment = cfg.mlflow.experiment or f"segmentation-{cfg.data.name}"
    m = cfg.model
    k_part = f"k{m.k}" if m.k else f"k{m.k_min}-{m.k_max}"
    run_name = cfg.mlflow.run_name or f"{m.name}-{k_part}-{cfg.data.name}"
    tags = {"git_commit": tracking.git_commit(root), "data": cfg.data.name, "model": m.name,
            "seed": str(cfg.seed), "kind": "clustering"}
    console.say(f"Tracking to {uri} (experiment '{experiment}')")
    with tracking.tracked_run(uri, experiment, run_name, root, tags) as run, \
            threadpool_limits(limits=cfg.threads):
        tracking.log_params(resolved if resolved is not None else dataclasses.asdict(cfg))
        con = duckdb.connect()
        if cfg.threads:
            con.execute(f"SET threads = {int(cfg.threads)}")
        with console.stage("load data"):
            loaded, truth_path = load_data(cfg, con)
            digest = digest_files(loaded.files + loaded.customer_files)
            console.detail(f"{len(loaded.files)} transaction file(s): {loaded.files[0]}"
                           + (f", customers: {loaded.customer_files[0]}" if loaded.customer_files else ""))
            if loaded.missing_optional:
                console.detail(f"optional columns not available: {', '.join(loaded.missing_optional)}")
        with console.stage("build customer features"):
            fr = build_customer_features(con, loaded, cfg.features.snapshot_date,
                                         cfg.features.lookback_days, list(cfg.features.include) or None)
            n_pro = int(fr.table["is_prospect"].sum())
            n_lapsed = int((~fr.table["is_buyer"] & ~fr.table["is_prospect"]).sum())
            buyers = fr.buyers
            console.detail(f"snapshot {fr.snapshot_date}, window from {fr.window_start}: "
                           f"{len(buyers):,} buyers, {n_pro:,} prospects and {n_lapsed:,} lapsed "
                           "customers set aside (no purchase in the window)")
            for f, why in fr.skipped.items():
                console.detail(f"skipped feature {f}: {why}")
        numeric, categorical = _select_columns(cfg, fr)
        X_df = buyers[numeric + categorical]
        if X_df[numeric].nunique().max() <= 1:
            raise DataError("all selected features are constant across customers: nothing to segment")
        with console.stage(f"preprocess + segment ({m.name})"):
            pre = build_preprocessor(
                numeric, categorical, cfg.preprocess.log_features, cfg.preprocess.scaler,
                tuple(cfg.preprocess.winsorize) if cfg.preprocess.winsorize else None, cfg.seed,
            )
            Xs = pre.fit_transform(X_df)
            names = list(pre.get_feature_names_out())
            _check_finite(Xs, names, "preprocessed features")
            seg = make_segmenter(
                m.name, n_clusters=m.k, k_range=(m.k_min, m.k_max), criterion=m.criterion,
                sample_size=cfg.evaluate.silhouette_sample, random_state=cfg.seed,
                progress=console.detail, **dict(m.params),
            )
            seg.fit(Xs)
            model = Pipeline([("preprocess", pre), ("segment", seg)])
            labels = seg.labels_
            console.detail(f"{seg.n_clusters_} segments")
        with console.stage("evaluate"):
            truth = None
            if truth_path:
                t = pd.read_parquet(truth_path) if truth_path.endswith(".parquet") else pd.read_csv(truth_path)
                truth = buyers[["customer_id"]].merge(t, on="customer_id", how="left")["planted_type"]
                truth = truth.fillna("unknown").to_numpy()
            metrics = score_segmentation(Xs, labels, buyers["monetary_total"].to_numpy(),
                                         cfg.evaluate.silhouette_sample, cfg.seed, truth)
            metrics |= {"n_customers": float(len(buyers)), "n_prospects": float(n_pro),
                        "n_lapsed": float(n_lapsed), "k": float(seg.n_clusters_)}
            profile = profile_segments(buyers, labels, fr.features)
        run_name = cfg.mlflow.run_name or f"{m.name}-k{seg.n_clusters_}-{cfg.data.name}"
        labels_df = pd.DataFrame({"customer_id": buyers["customer_id"], "segment": labels})
        with console.stage("log to MLflow"):
            import mlflow

            mlflow.set_tag("mlflow.runName", run_name)
            mlflow.set_tags({"data.digest": digest, "snapshot_date": str(fr.snapshot_date),
                             "skipped_features": ",".join(fr.skipped) or "none"})
            tracking.log_metrics(metrics)
            curve = getattr(seg, "k_curve_", None)
            if curve is not None and len(curve) > 1:
                for row in curve.itertuples(index=False):
                    tracking.log_metrics({f"k_curve_{c}": getattr(row, c) for c in curve.columns
                                          if c != "k"}, step=int(row.k))
                tracking.log_frame(curve, "selection/k_curve.csv")
                tracking.log_figure(plot_k_curve(curve, m.criterion, seg.n_clusters_),
                                    "plots/k_curve.png")
            tracking.log_dataset(fr.table, ",".join(loaded.files), cfg.data.name, digest)
            tracking.log_frame(fr.table.describe(include="all").T.reset_index(names="feature"),
                               "features/feature_summary.csv")
            tracking.log_frame(profile, "segments/profiles.csv")
            tracking.log_frame(labels_df, "segments/labels.parquet")
            if truth is not None:
                tracking.log_frame(crosstab(labels, truth).reset_index(), "segments/crosstab_truth.csv")
            tracking.log_figure(plot_projection(Xs, labels, seed=cfg.seed), "plots/projection.png")
            tracking.log_figure(plot_profile_heatmap(Xs, labels, names), "plots/profile_heatmap.png")
            if resolved is not None:
                import yaml

                tracking.log_text(yaml.safe_dump(resolved, sort_keys=False), "config/resolved.yaml")
            if cfg.mlflow.log_model:
                tracking.log_sklearn_model(
                    model, X_df.head(5),
                    code_paths=[str(Path(__file__).resolve().parent)],
                )
        con.close()
    console.timings["total"] = sum(console.timings.values())
    return TrainResult(run.info.run_id, run.info.experiment_id, uri, run_name, metrics, profile,
                       labels_df, model, fr)


def format_summary(result: TrainResult, currency: str = "") -> str:
    """The end-of-run console summary: segments table, metrics, where to look."""
    p = result.profile.copy()
    cols = {"segment": "segment", "size": "customers", "share": "share",
            "revenue_share": "revenue share"}
    table = p[list(cols)].rename(columns=cols)
    table["share"] = (table["share"] * 100).map("{:.1f}%".format)
    table["revenue share"] = (table["revenue share"] * 100).map("{:.1f}%".format)
    for c in SUMMARY_COLUMNS:
        if f"median_{c}" in p:
            table[f"median {c}"] = p[f"median_{c}"].round(1)
    keys = ["k", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share", "max_share",
            "ari_truth", "nmi_truth"]
    metrics = "  ".join(f"{k}={result.metrics[k]:.3f}" if k != "k" else f"k={int(result.metrics[k])}"
                        for k in keys if k in result.metrics)
    lines = [
        "",
        f"Segments ({result.run_name}):",
        table.to_string(index=False),
        "",
        f"Metrics: {metrics}",
        f"MLflow run {result.run_id} in experiment {result.experiment_id} ({result.tracking_uri})",
        f"Open the UI with `make ui`, then http://127.0.0.1:{os.environ.get('MLFLOW_PORT', '5000')}"
        f"/#/experiments/{result.experiment_id}/runs/{result.run_id}",
    ]
    return "\n".join(lines)
