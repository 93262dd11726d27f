"""The training run: data -> features -> preprocess -> segment -> evaluate -> MLflow.

``run_training`` takes the typed settings of :mod:`clustering.config` (built by the entry point
from Hydra's configuration) and returns what it produced; every stage reports its progress and
time on the console.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from clustering import tracking
from clustering.baselines import BASELINES, make_baseline
from clustering.config import DataConfig, TrainConfig
from clustering.console import Console
from clustering.errors import ConfigError, DataError
from clustering.evaluate import agreement, checklist_metrics, score_segmentation
from clustering.features import FeatureResult, build_customer_features
from clustering.loading import (
    LoadedData,
    TableSource,
    digest_files,
    file_format,
    register_customers,
    register_transactions,
    resolve_files,
)
from clustering.model import SegmentationModel, load_segmentation_model
from clustering.personas import name_personas
from clustering.plots import (
    plot_condensed_tree,
    plot_dendrogram,
    plot_k_curve,
    plot_profile_heatmap,
    plot_projection,
)
from clustering.preprocess import build_preprocessor
from clustering.profiles import crosstab, profile_segments
from clustering.quality import QualityPolicy, write_quarantine
from clustering.report import (
    persona_cards,
    plot_size_vs_revenue,
    render_html,
    render_markdown,
    write_atomic,
)
from clustering.sample_data import ensure_sample_data
from clustering.segment import (
    CRITERIA,
    SEGMENTERS,
    HDBSCANSegmenter,
    HierarchicalSegmenter,
    make_segmenter,
    stability_ari,
)
from clustering.stable_ids import match_segments
from clustering.validation import future_separation, holdout_outcomes

SUMMARY_COLUMNS = ["recency_days", "frequency", "monetary_total", "avg_order_value"]
CALIBRATION_FIT_MAX = 200_000


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    tracking_uri: str
    run_name: str
    metrics: dict[str, float]
    profile: pd.DataFrame
    labels: pd.DataFrame
    model: SegmentationModel
    features: FeatureResult
    personas: pd.DataFrame
    baselines: dict[str, Segmentation]
    report_path: Path


def duckdb_connection(memory_limit: str, data_dir: str) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB that spills to disk past ``memory_limit``: files larger than
    memory are streamed and aggregated within a bounded footprint."""
    spill = Path(data_dir) / ".duckdb_tmp"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill)})


def read_table(path: str) -> pd.DataFrame:
    """A small side table (e.g. planted truth) from a CSV/Parquet file, folder or glob."""
    files = resolve_files(path, what="table")
    fmt = file_format(files, "auto")
    frames = [pd.read_parquet(f) if fmt == "parquet" else pd.read_csv(f) for f in files]
    return pd.concat(frames, ignore_index=True)


def validate_config(cfg: TrainConfig) -> None:
    """Cheap checks that fail in one line before any work starts."""
    if cfg.engine.name not in ("local", "spark"):
        raise ConfigError(f"engine must be local or spark, got '{cfg.engine.name}'")
    m = cfg.model
    if m.name not in SEGMENTERS:
        raise ConfigError(f"unknown model '{m.name}'; choose one of {sorted(SEGMENTERS)}")
    if m.k is not None and m.k < 1:
        raise ConfigError(f"model.k must be a positive integer, got {m.k}")
    if m.k is None and not 2 <= m.k_min <= m.k_max:
        raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {m.k_min}, {m.k_max}")
    if m.criterion not in CRITERIA:
        raise ConfigError(f"unknown model.criterion '{m.criterion}'; choose one of {sorted(CRITERIA)}")
    # (with a fixed k the criterion chooses nothing, so any is accepted, as the segmenters do)
    if m.k is None and m.criterion == "bic" and m.name != "gmm":
        raise ConfigError(f"model.criterion 'bic' needs a likelihood: use model=gmm (got {m.name})")
    if m.k is None and m.criterion == "fpc" and m.name != "fuzzy_cmeans":
        raise ConfigError(f"model.criterion 'fpc' needs fuzzy memberships: use model=fuzzy_cmeans "
                          f"(got {m.name})")
    if cfg.data.format not in ("sample", "csv", "parquet", "auto"):
        raise ConfigError(f"data.format must be sample, csv, parquet or auto, got '{cfg.data.format}'")
    if cfg.data.format != "sample":
        if not cfg.data.path:
            raise ConfigError("data.path is required for your own data (a file, folder or glob)")
        for key in ("path", "customers_path"):
            p = getattr(cfg.data, key)
            if p and not any(c in p for c in "*?[") and not Path(p).exists():
                raise ConfigError(f"data.{key}: '{p}' does not exist")
    unknown = [b for b in cfg.baselines.enabled if b not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baselines.enabled {unknown}; choose from {sorted(BASELINES)}")
    if not 0 <= cfg.evaluate.min_share <= 1:
        raise ConfigError(f"evaluate.min_share must be between 0 and 1, got {cfg.evaluate.min_share}")
    if cfg.evaluate.holdout_days < 0:
        raise ConfigError(f"evaluate.holdout_days must be >= 0, got {cfg.evaluate.holdout_days}")
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
                        data.customer_date_format, data.delimiter, data.encoding)
            if data.customers_path else None)
    return tx, cust, data.truth_path


def load_data(cfg: TrainConfig, con: duckdb.DuckDBPyConnection) -> tuple[LoadedData, str | None]:
    """Register the configured transactions (and customers) in ``con``."""
    tx, cust, truth = _sources(cfg.data, cfg.paths.data_dir)
    policy = QualityPolicy(cfg.data.quality.dedupe, cfg.data.quality.max_share,
                           dict(cfg.data.currency_rates) if cfg.data.currency_rates else None)
    loaded = register_transactions(con, tx, policy, cfg.features.snapshot_date)
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


@dataclass
class Segmentation:
    """One labelling of the buyers (the clusters or a baseline) with its scores."""

    name: str
    labels: np.ndarray
    metrics: dict[str, float]
    holdout: pd.DataFrame | None = None


def _int_codes(labels: np.ndarray) -> np.ndarray:
    """Integer codes of a labelling: metrics sort their inputs, and sorting a million Python
    strings takes seconds where integers take milliseconds."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        return labels
    return pd.factorize(pd.Series(labels), sort=False)[0]


def _score(name: str, labels: np.ndarray, Xs: np.ndarray, revenue: np.ndarray, cfg: TrainConfig,
           truth: np.ndarray | None, persona_fit: float | None = None) -> Segmentation:
    codes = _int_codes(labels)
    metrics = score_segmentation(Xs, codes, revenue, cfg.evaluate.silhouette_sample, cfg.seed,
                                 None if truth is None else _int_codes(truth))
    metrics |= checklist_metrics(codes, revenue, cfg.evaluate.min_share, persona_fit)
    return Segmentation(name, np.asarray(labels), metrics)


def _future_validation(
    cfg: TrainConfig, engine: Engine, fr: FeatureResult,
    model: Pipeline, k: int, numeric: list[str], categorical: list[str],
    console: Console,
) -> dict[str, tuple[dict[str, float], pd.DataFrame]]:
    """Refit the clusters (same k) and the baselines as of snapshot - holdout and score what
    customers did in the hold-out; {segmentation name: (metrics, per-segment table)}."""
    days = cfg.evaluate.holdout_days
    split = fr.snapshot_date - dt.timedelta(days=days)
    try:
        cal = engine.features_at(split)
    except DataError as exc:
        console.detail(f"future validation skipped: {exc}")
        return {}
    buyers = cal.buyers
    if len(buyers) < max(2 * k, 20):
        console.detail(f"future validation skipped: only {len(buyers)} buyers before {split}")
        return {}
    out = engine.outcomes(buyers["customer_id"], split, days)
    cal_model = clone(model).set_params(segment__n_clusters=k)
    labelings = {}
    # validation is a diagnostic: a segmentation that cannot be refitted on the earlier data
    # (too few customers for HDBSCAN, no positive revenue for ABC, ...) is reported, not fatal
    try:
        X_cal = buyers[numeric + categorical]
        if len(X_cal) > CALIBRATION_FIT_MAX:  # a diagnostic: fit on a sample, label everyone
            cal_model.fit(X_cal.sample(CALIBRATION_FIT_MAX, random_state=cfg.seed))
            labelings["clusters"] = np.asarray(cal_model.predict(X_cal))
        else:
            labelings["clusters"] = cal_model.fit(X_cal)[-1].labels_
    except DataError as exc:
        console.detail(f"future validation of the clusters skipped: {exc}")
    for name in cfg.baselines.enabled:
        try:
            labelings[name] = make_baseline(name, **_baseline_params(cfg, name)).fit(buyers).labels_
        except DataError as exc:
            console.detail(f"future validation of {name} skipped: {exc}")
    console.detail(f"calibration before {split}: {len(buyers):,} buyers, "
                   f"{out['bought_again'].mean():.1%} bought again in the next {days} days")
    return {name: future_separation(lab, out["bought_again"], out["holdout_spend"])
            for name, lab in labelings.items()}


def _algorithm_extras(seg, Xs: np.ndarray, cfg: TrainConfig, console: Console
                      ) -> tuple[dict[str, float], dict[str, Any]]:
    """What only some algorithms know: stability, agreement with the exact tree, noise, DBCV,
    and their own plots (dendrogram, condensed tree)."""
    metrics: dict[str, float] = {}
    figures: dict[str, Any] = {}
    labels = seg.labels_
    if cfg.evaluate.stability_runs > 1:
        metrics["stability_ari"] = stability_ari(seg, Xs, n_runs=cfg.evaluate.stability_runs,
                                                 seed=cfg.seed)
        console.detail(f"stability (mean ARI of {cfg.evaluate.stability_runs} refits on 80% "
                       f"subsamples of at most 20,000 customers): {metrics['stability_ari']:.3f}")
    if isinstance(seg, HierarchicalSegmenter):
        metrics["hierarchical_exact"] = float(seg.exact_)
        if not seg.exact_:
            metrics |= seg.exact_agreement(Xs, seed=cfg.seed)
            console.detail(f"agreement with the exact tree on a "
                           f"{int(metrics['exact_agreement_sample']):,}-customer sample: ARI "
                           f"{metrics['exact_agreement_ari']:.3f} (the exact tree on another "
                           f"sample: {metrics['exact_self_agreement_ari']:.3f})")
        figures["plots/dendrogram.png"] = plot_dendrogram(
            seg.tree_, seg.n_clusters_, weights=np.bincount(seg.point_map_, minlength=len(seg.points_)))
    if isinstance(seg, HDBSCANSegmenter):
        metrics["noise_share"] = float((labels < 0).mean())
        metrics["dbcv"] = seg.validity(Xs, seed=cfg.seed)
        metrics["hdbscan_fast_backend"] = float(seg.backend_ == "fast_hdbscan")
        metrics["mean_membership"] = float(seg.probabilities_[labels >= 0].mean())
        figures["plots/condensed_tree.png"] = plot_condensed_tree(seg)
    return metrics, figures


def previous_uri_of(cfg: TrainConfig) -> str | None:
    name = cfg.mlflow.registered_model_name
    return tracking.previous_version(name) if name else None


def _previous_model(cfg: TrainConfig, buyers: pd.DataFrame, console: Console):
    """The previous registered version to keep segment ids stable against, if usable."""
    if not (cfg.mlflow.match_previous and cfg.mlflow.log_model and cfg.mlflow.registered_model_name):
        return None
    uri = previous_uri_of(cfg)
    if uri is None:
        return None
    try:
        prev = load_segmentation_model(uri)
    except Exception as exc:  # an old or foreign model: train without matching, but say so
        console.detail(f"previous model {uri} not usable for id matching: {exc}")
        return None
    missing = [c for c in prev.feature_names_in_ if c not in buyers.columns]
    if missing:
        console.detail(f"previous model {uri} needs features {missing}: ids not matched")
        return None
    return prev


def keep_previous_names(personas, previous: SegmentationModel, matches: pd.DataFrame,
                        catalogue) -> Any:
    """Matched segments keep the previous version's persona names (with that persona's key,
    description and actions, so a card never mixes two personas); names stay unique."""
    table = personas.table.copy()
    by_name = {v["name"]: (k, v) for k, v in {**catalogue.catalogue, **catalogue.special}.items()}
    kept = {int(r.published_id): previous.segment_names.get(int(r.previous_segment))
            for r in matches.itertuples() if r.status == "matched"}
    for i, row in table.iterrows():
        name = kept.get(int(row["segment"]))
        if not name:
            continue
        table.at[i, "name"] = name
        key, spec = by_name.get(name.split(" (")[0].split(" #")[0], (None, None))
        if spec is not None:
            table.at[i, "persona"] = key
            table.at[i, "description"] = spec.get("description", "")
            table.at[i, "actions"] = list(spec.get("actions", []))
        else:  # a descriptive name: no catalogued description or actions apply
            table.at[i, "persona"] = None
            table.at[i, "description"] = f"Kept from the previous version: {name}."
            table.at[i, "actions"] = []
    dup = table["name"].duplicated(keep=False) & ~table["segment"].isin(list(kept))
    table.loc[dup, "name"] = table.loc[dup].apply(lambda r: f"{r['name']} #{r['segment']}", axis=1)
    return dataclasses.replace(personas, table=table)


@dataclass
class Engine:
    """What the stages after loading need from an engine: features as of a date and the
    hold-out outcomes (DuckDB locally, Spark SQL with engine=spark)."""

    features_at: Callable[[dt.date | None], FeatureResult]
    outcomes: Callable[[pd.Series, dt.date, int], pd.DataFrame]


def _local_engine(cfg: TrainConfig, con: duckdb.DuckDBPyConnection, loaded: LoadedData) -> Engine:
    include = list(cfg.features.include) or None
    return Engine(
        lambda day: build_customer_features(con, loaded, day, cfg.features.lookback_days, include),
        lambda ids, split, days: holdout_outcomes(con, ids, split, days))


def _spark_engine(cfg: TrainConfig) -> tuple[LoadedData, str | None, Engine]:
    """Checks on Spark (same rules and definitions as the local engine)."""
    from clustering.spark_engine import (
        build_customer_features_spark,
        holdout_outcomes_spark,
        read_customers,
        read_transactions,
        spark_session,
    )

    e = cfg.engine
    session = spark_session(e.master, e.driver_memory, dict(e.conf))
    tx, cust, truth = _sources(cfg.data, cfg.paths.data_dir)
    snapshot, available = read_transactions(session, tx, cfg.features.snapshot_date)
    customers = None
    if cust is not None:
        customers = read_customers(session, cust, list(cfg.data.attributes))
    elif cfg.data.attributes:
        raise ConfigError("data.attributes needs a customers table: set data.customers_path")
    loaded = LoadedData(files=resolve_files(tx.path, tx.fmt), available=available,
                        missing_optional=[])
    if customers is not None:
        loaded.customer_files, loaded.attributes = customers.files, customers.attributes
        loaded.has_signup = customers.has_signup
    engine = Engine(
        lambda day: build_customer_features_spark(session, day or snapshot, available,
                                                  cfg.features.lookback_days, customers),
        lambda ids, split, days: holdout_outcomes_spark(session, ids, split, days))
    return loaded, truth, engine


def _baseline_params(cfg: TrainConfig, name: str) -> dict[str, Any]:
    return {k: v for k, v in (cfg.baselines.params.get(name) or {}).items()}


def run_training(
    cfg: TrainConfig, resolved: dict[str, Any] | None = None, console: Console | None = None
) -> TrainResult:
    """Train and track one segmentation; ``resolved`` is the config to log as parameters."""
    import mlflow

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
    commit = tracking.git_commit(root)
    tags = {"git_commit": commit, "data": cfg.data.name, "model": m.name,
            "seed": str(cfg.seed), "kind": "clustering", **dict(cfg.mlflow.tags)}
    console.say(f"Tracking to {uri} (experiment '{experiment}')")
    with tracking.tracked_run(uri, experiment, run_name, root, tags,
                              cfg.mlflow.parent_run_id) as run, \
            threadpool_limits(limits=cfg.threads):
        tracking.log_params(resolved if resolved is not None else dataclasses.asdict(cfg))
        spark = cfg.engine.name == "spark"
        con = None if spark else duckdb_connection(cfg.engine.memory_limit, cfg.paths.data_dir)
        if cfg.threads and con is not None:
            con.execute(f"SET threads = {int(cfg.threads)}")
        with console.stage(f"load data ({cfg.engine.name} engine)"):
            if spark:
                loaded, truth_path, engine = _spark_engine(cfg)
            else:
                loaded, truth_path = load_data(cfg, con)
                engine = _local_engine(cfg, con, loaded)
            digest = digest_files(loaded.files + loaded.customer_files)
            console.detail(f"{len(loaded.files)} transaction file(s): {loaded.files[0]}"
                           + (f", customers: {loaded.customer_files[0]}" if loaded.customer_files else ""))
            if loaded.missing_optional:
                console.detail(f"optional columns not available: {', '.join(loaded.missing_optional)}")
            if loaded.quality is not None:
                console.detail(f"checks: {loaded.quality.summary()}")
        with console.stage("build customer features"):
            fr = engine.features_at(cfg.features.snapshot_date)
            n_pro = int(fr.table["is_prospect"].sum())
            n_lapsed = int((~fr.table["is_buyer"] & ~fr.table["is_prospect"]).sum())
            buyers = fr.buyers
            console.detail(f"snapshot {fr.snapshot_date}, window from {fr.window_start}: "
                           f"{len(buyers):,} buyers, {n_pro:,} prospects and {n_lapsed:,} lapsed "
                           "customers set aside (no purchase in the window)")
            for f, why in fr.skipped.items():
                console.detail(f"skipped feature {f}: {why}")
        numeric, categorical = _select_columns(cfg, fr)
        if buyers["customer_id"].nunique() < 2:
            raise DataError(f"only {buyers['customer_id'].nunique()} customer bought in the window: "
                            "segmentation needs at least two (check data.path and the dates)")
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
                stability_runs=cfg.evaluate.stability_runs, progress=console.detail,
                **dict(m.params),
            )
            seg.fit(Xs)
            seg.set_params(progress=None)  # the callback belongs to this session, not the model
            pipe = Pipeline([("preprocess", pre), ("segment", seg)])
            labels = seg.labels_
            k = int(seg.n_clusters_)
            extra_metrics, extra_figures = _algorithm_extras(seg, Xs, cfg, console)
            console.detail(f"{k} segments" + (f", {int((labels < 0).sum()):,} customers unassigned"
                                               if (labels < 0).any() else ""))
        previous, id_map, matches = _previous_model(cfg, buyers, console), None, None
        if previous is not None:
            id_map, matches = match_segments(previous, buyers, labels)
            labels = np.vectorize(id_map.get, otypes=[int])(labels)
            console.detail(f"segment ids matched to {previous_uri_of(cfg)}: "
                           + ", ".join(f"{s} {int((matches.status == s).sum())}"
                                       for s in ("matched", "new", "vanished")))
        with console.stage("profiles + personas"):
            profile = profile_segments(buyers, labels, fr.features)
            personas = name_personas(profile, {"catalogue": cfg.personas.catalogue,
                                               "special": cfg.personas.special},
                                     cfg.personas.min_fit)
            if previous is not None:
                personas = keep_previous_names(personas, previous, matches, cfg.personas)
            seg_names = personas.names()
            model = SegmentationModel(pipe, seg_names, id_map, cfg.features.lookback_days)
            weights = profile.set_index("segment")["size"]
            weights = weights[weights.index >= 0]  # outliers are not a described segment
            fit = float((personas.table.set_index("segment")["fit"] * weights).sum() / weights.sum())
        with console.stage("evaluate + baselines"):
            truth = None
            if truth_path:
                t = read_table(truth_path)
                truth = buyers[["customer_id"]].merge(t, on="customer_id", how="left")["planted_type"]
                truth_types = pd.Categorical(truth.fillna("unknown"))
                truth = truth_types.codes
            revenue = buyers["monetary_total"].to_numpy()
            clusters = _score("clusters", labels, Xs, revenue, cfg, truth, fit)
            metrics = clusters.metrics | extra_metrics | {"n_customers": float(len(buyers)),
                                          "n_prospects": float(n_pro),
                                          "n_lapsed": float(n_lapsed), "k": float(k)}
            baselines = {}
            for b in cfg.baselines.enabled:
                est = make_baseline(b, **_baseline_params(cfg, b)).fit(buyers)
                baselines[b] = _score(b, est.labels_, Xs, revenue, cfg, truth)
                codes = _int_codes(est.labels_)
                metrics[f"vs_{b}_ari"], metrics[f"vs_{b}_nmi"] = agreement(codes, labels)
            console.detail(f"baselines: {', '.join(baselines) or 'none'}")
        future = {}
        if cfg.evaluate.holdout_days > 0:
            with console.stage(f"future validation ({cfg.evaluate.holdout_days}-day hold-out)"):
                future = _future_validation(cfg, engine, fr, pipe, k, numeric, categorical,
                                            console)
                if "clusters" in future:
                    metrics |= future["clusters"][0]
                for b, seg_b in baselines.items():
                    if b in future:
                        seg_b.metrics |= future[b][0]
        run_name = cfg.mlflow.run_name or f"{m.name}-k{k}-{cfg.data.name}"
        _, confidence, outlier = seg.membership(Xs)  # the same figures scoring gives
        labels_df = pd.DataFrame({"customer_id": buyers["customer_id"], "segment": labels,
                                  "persona": [seg_names[int(s)] for s in labels],
                                  "confidence": confidence, "is_outlier": outlier})
        report_dir = Path(cfg.paths.reports_dir) / f"{run_name}-{run.info.run_id[:8]}"
        with console.stage("persona report"):
            pop = buyers[fr.features].median()
            cards = persona_cards(profile, personas.table, pop)
            extra = {"prospects": n_pro}
            title = f"Customer personas: {cfg.data.name}, {run_name} (snapshot {fr.snapshot_date})"
            md = render_markdown(cards, title, extra, cfg.personas.special, cfg.data.currency)
            html_text = render_html(cards, title, [plot_size_vs_revenue(cards),
                                                   plot_profile_heatmap(Xs, labels, names)],
                                    extra, cfg.personas.special, cfg.data.currency)
            report_path = write_atomic(report_dir / "persona_report.html", html_text)
            write_atomic(report_dir / "persona_report.md", md)
        with console.stage("log to MLflow"):
            mlflow.set_tag("mlflow.runName", run_name)
            tracking.log_environment()
            mlflow.set_tags({"data.digest": digest, "snapshot_date": str(fr.snapshot_date),
                             "skipped_features": ",".join(fr.skipped) or "none",
                             "personas": "; ".join(f"{s}: {n}" for s, n in seg_names.items())})
            tracking.log_metrics(metrics)
            curve = getattr(seg, "k_curve_", None)
            if curve is not None and len(curve) > 1 and m.criterion in curve:
                for row in curve.itertuples(index=False):
                    tracking.log_metrics({f"k_curve_{c}": getattr(row, c) for c in curve.columns
                                          if c != "k"}, step=int(row.k))
                tracking.log_frame(curve, "selection/k_curve.csv")
                tracking.log_figure(plot_k_curve(curve, m.criterion, k), "plots/k_curve.png")
            tracking.log_dataset(fr.table, ",".join(loaded.files), cfg.data.name, digest)
            tracking.log_frame(fr.table.describe(include="all").T.reset_index(names="feature"),
                               "features/feature_summary.csv")
            tracking.log_frame(profile, "segments/profiles.csv")
            tracking.log_frame(personas.table.assign(actions=personas.table["actions"].map("; ".join)),
                               "segments/personas.csv")
            tracking.log_frame(personas.fit_matrix.reset_index(names="segment"),
                               "segments/persona_fit_matrix.csv")
            tracking.log_frame(labels_df, "segments/labels.parquet")
            if truth is not None:
                tracking.log_frame(crosstab(labels, np.asarray(truth_types)).reset_index(),
                                   "segments/crosstab_truth.csv")
            for b, seg_b in baselines.items():
                tracking.log_frame(crosstab(labels, seg_b.labels, b).reset_index(),
                                   f"baselines/crosstab_{b}.csv")
            if "clusters" in future:
                tracking.log_frame(future["clusters"][1], "validation/holdout_by_segment.csv")
            mlflow.log_artifacts(str(report_dir), "report")
            for path, fig in extra_figures.items():
                tracking.log_figure(fig, path)
            tracking.log_figure(plot_projection(Xs, labels, seed=cfg.seed), "plots/projection.png")
            tracking.log_figure(plot_profile_heatmap(Xs, labels, names), "plots/profile_heatmap.png")
            if resolved is not None:
                import yaml

                tracking.log_text(yaml.safe_dump(resolved, sort_keys=False), "config/resolved.yaml")
            q = loaded.quality
            if q is not None:
                tracking.log_metrics({"rows_read": q.rows_read, "rows_kept": q.rows_kept,
                                      "rows_quarantined": q.quarantined}
                                     | {f"quarantine_{k}": v for k, v in q.counts.items()})
            qpath = write_quarantine(con, report_dir / "quarantine.parquet") if con else None
            if qpath is not None:
                mlflow.log_artifact(str(qpath), "quality")
                console.detail(f"quarantined rows with reasons: {qpath}")
            if matches is not None:
                tracking.log_frame(matches, "segments/id_matching.csv")
                tracking.log_metrics({f"{s}_segments": float((matches.status == s).sum())
                                      for s in ("matched", "new", "vanished")})
            if cfg.mlflow.log_model:
                register = cfg.mlflow.registered_model_name if cfg.mlflow.register else None
                info = tracking.log_segmentation_model(model, X_df.head(5), register)
                if register and info.registered_model_version:
                    console.detail(f"registered models:/{cfg.mlflow.registered_model_name}/"
                                   f"{info.registered_model_version}")
            if cfg.baselines.log_runs:
                for b, seg_b in baselines.items():
                    with mlflow.start_run(run_name=f"baseline-{b}-{cfg.data.name}", nested=True,
                                          experiment_id=run.info.experiment_id,
                                          tags={"kind": "baseline", "baseline": b,
                                                "git_commit": commit, "data": cfg.data.name,
                                                "data.digest": digest}):
                        tracking.log_params({"baseline": b, **{f"{b}.{p}": v for p, v in
                                                               _baseline_params(cfg, b).items()}})
                        tracking.log_metrics(seg_b.metrics | {"n_customers": float(len(buyers)),
                                                              "k": float(len(set(seg_b.labels)))})
                        sizes = pd.Series(seg_b.labels).value_counts().rename_axis("segment")
                        tracking.log_frame(sizes.reset_index(name="customers"),
                                           "segments/sizes.csv")
                        if b in future:
                            tracking.log_frame(future[b][1], "validation/holdout_by_segment.csv")
        if con is not None:
            con.close()
    console.timings["total"] = sum(console.timings.values())
    return TrainResult(run.info.run_id, run.info.experiment_id, uri, run_name, metrics, profile,
                       labels_df, model, fr, personas.table, baselines, report_path)


def format_summary(result: TrainResult, currency: str = "") -> str:
    """The end-of-run console summary: segments table, metrics, where to look."""
    p = result.profile.copy()
    cols = {"segment": "segment", "size": "customers", "share": "share",
            "revenue_share": "revenue share"}
    table = p[list(cols)].rename(columns=cols)
    names = dict(zip(result.personas["segment"], result.personas["name"], strict=True))
    table.insert(1, "persona", table["segment"].map(names))
    table["share"] = (table["share"] * 100).map("{:.1f}%".format)
    table["revenue share"] = (table["revenue share"] * 100).map("{:.1f}%".format)
    for c in SUMMARY_COLUMNS:
        if f"median_{c}" in p:
            table[f"median {c}"] = p[f"median_{c}"].round(1)
    keys = ["k", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share", "max_share",
            "persona_fit", "business_separation", "future_auc_repeat", "future_eta2_spend",
            "ari_truth", "nmi_truth"]
    metrics = "  ".join(f"{k}={result.metrics[k]:.3f}" if k != "k" else f"k={int(result.metrics[k])}"
                        for k in keys if k in result.metrics)
    cmp_keys = ["k", "silhouette", "business_separation", "small_segment_share",
                "future_auc_repeat", "future_eta2_spend", "ari_truth"]
    rows = {"clusters": result.metrics} | {b: s.metrics | {"k": len(set(s.labels))}
                                           for b, s in result.baselines.items()}
    compare = pd.DataFrame({n: {c: r.get(c, float("nan")) for c in cmp_keys}
                            for n, r in rows.items()}).T.round(3)
    lines = [
        "",
        f"Segments ({result.run_name}):",
        table.to_string(index=False),
        "",
        f"Metrics: {metrics}",
        "",
        "Side by side (same metrics; future_* = hold-out validation):",
        compare.to_string(),
        "",
        f"Persona report: {result.report_path}",
        f"MLflow run {result.run_id} in experiment {result.experiment_id} ({result.tracking_uri})",
        f"Open the UI with `make ui`, then http://127.0.0.1:{os.environ.get('MLFLOW_PORT', '5000')}"
        f"/#/experiments/{result.experiment_id}/runs/{result.run_id}",
    ]
    return "\n".join(lines)
