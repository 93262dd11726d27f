"""The training run: computed first, recorded once.

``run_training`` composes the stages (each a plain function of its own module), collects what
they return in one :class:`TrainResult`, writes the persona report and the quarantine, and
hands the result to :func:`clustering.tracking.log_training`. The MLflow run is opened first
(with the configuration) only so that a failed or interrupted run is marked FAILED or KILLED;
nothing else is logged before every stage has finished.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from clustering import tracking
from clustering.baselines import baseline_params, make_baseline
from clustering.config import TrainConfig, model_label, validate_config
from clustering.console import Console
from clustering.engines import Engine, open_engine
from clustering.errors import DataError
from clustering.evaluation.holdout import (
    calibration_sample,
    choose_future_k,
    future_k_curve,
    future_validation,
)
from clustering.evaluation.metrics import agreement, int_codes, persona_truth, score_labelling
from clustering.features.potential import COLUMNS as POTENTIAL_COLUMNS
from clustering.features.potential import SOURCES as POTENTIAL_SOURCES
from clustering.features.potential import PotentialModel
from clustering.features.preprocess import select_columns
from clustering.features.signals import CustomerSignals
from clustering.files import check_writable, digest_files, write_text
from clustering.inputs.sources import DataSources, sources_for
from clustering.inputs.truth import planted_types
from clustering.model import SegmentationModel
from clustering.personas.guardrails import composition, guardrail_warnings, marketing_view
from clustering.personas.naming import name_segments, weighted_fit
from clustering.personas.playbook import playbook
from clustering.personas.stable_ids import match_segments
from clustering.reporting.glossary import column_label
from clustering.reporting.plots import segmentation_figures
from clustering.reporting.report import build_report
from clustering.reporting.summary import format_summary
from clustering.result import TrainResult
from clustering.segmenters import takes_k
from clustering.segmenters.fitting import family_at_k, fit_segmentation, preprocessor_for

__all__ = ["TrainResult", "format_summary", "run_training"]


def single_order_warning(buyers: pd.DataFrame, share: float = 0.95, least: int = 500) -> list[str]:
    """A warning when nearly every buyer has a single order: the customer column is then
    usually an id per order (Olist's ``customer_id``), and the segments would describe orders."""
    if "frequency" not in buyers or len(buyers) < least:
        return []
    single = float((buyers["frequency"] <= 1).mean())
    if single <= share:
        return []
    return [f"{single:.0%} of the {len(buyers):,} buyers have a single order in the window: if "
            "data.columns.customer_id is an id per order or per checkout (as Olist's "
            "customer_id; its customer_unique_id is the person), map the person's id instead"]


def baseline_for(cfg: TrainConfig, name: str, signals_potential: bool):
    """An unfitted baseline as configured. With the signals' potential on, the value vs
    potential matrix reads their expected spend in training, and its refit on the hold-out's
    earlier buyers (which have no signals) fits its own potential model with the signals'
    horizon and sample, so both describe the same next period."""
    params = baseline_params(cfg.baselines, name)
    if name == "value_potential" and signals_potential:
        pot = cfg.signals.potential
        params |= {"horizon_days": pot.horizon_days, "fit_sample": pot.fit_sample,
                   "random_state": cfg.seed}
    return make_baseline(name, **params)


def _compute(cfg: TrainConfig, sources: DataSources, engine: Engine, digest: str,
             console: Console, run_id: str) -> TrainResult:
    loaded, m = engine.loaded, cfg.model
    with console.stage("build customer features"):
        fr = engine.features_at(pd.Timestamp(cfg.features.snapshot_date).date()
                                if cfg.features.snapshot_date else None)
        buyers = fr.buyers
        console.detail(f"snapshot {fr.snapshot_date}, window from {fr.window_start}: "
                       f"{len(buyers):,} buyers, {fr.n_prospects:,} prospects and {fr.n_lapsed:,} "
                       "lapsed customers set aside (no purchase in the window)")
        for f, why in fr.skipped.items():
            console.detail(f"skipped feature {f}: {why}")
        loaded.warnings += single_order_warning(buyers)
    holdout = cfg.evaluate.holdout_days
    cal_sample = (calibration_sample(len(buyers), cfg.seed)  # None: every customer
                  if getattr(engine, "samples_customers", False) else None)
    if holdout > 0 and m.criterion == "future_auc" and m.k is None:
        # choosing k needs the calibration pass: it runs in DuckDB beside the Python stages up
        # to there (with k given, it is built only when the hold-out validation needs it)
        engine.prefetch(fr.snapshot_date - dt.timedelta(days=holdout), holdout, cal_sample)
    sig, pot = cfg.signals, cfg.signals.potential
    with console.stage("signals (potential, overdue)"):
        signals = CustomerSignals(pot.enabled, pot.horizon_days, pot.fit_sample,
                                  sig.overdue_cycles, cfg.seed).fit(buyers)
        # every customer's signals once (row by row, so the buyers' are a slice of them); the
        # playbook and the labels add them to the table again instead of holding that copy
        signal_cols = signals.label_columns(fr.table)
        buyers = pd.concat([buyers, signal_cols[fr.table["is_buyer"].to_numpy(bool)]
                            .reset_index(drop=True)], axis=1)
        if signals.potential_ is not None:
            console.detail("potential (BG/NBD, Gamma-Gamma) fitted on "
                           f"{signals.potential_.n_fit_:,} buyers: " + ", ".join(
                               f"{k} {v:.3g}" for k, v in signals.potential_.parameters().items()))
    numeric, categorical = select_columns(cfg.preprocess.features, cfg.preprocess.categorical,
                                          fr.features, fr.skipped, fr.attributes)
    potential_step = None
    if pot.enabled and pot.as_features and signals.potential_ is None:
        console.detail("signals.potential.as_features: too few buyers for the potential model; "
                       "the segments are made without it")
    elif pot.enabled and pot.as_features:
        potential_step = PotentialModel(pot.horizon_days, pot.fit_sample, cfg.seed)
        numeric = [c for c in numeric if c not in POTENTIAL_COLUMNS] + POTENTIAL_COLUMNS
    n_buyers = len(buyers)  # one row per customer
    if n_buyers < 2:
        raise DataError(f"only {n_buyers} customer bought in the window: "
                        "segmentation needs at least two (check data.path and the dates)")
    if takes_k(m.name):
        need = (m.k or m.k_min) + 1  # the internal indices need more customers than segments
        if n_buyers < need:
            raise DataError(f"{n_buyers} customers bought in the window: too few for "
                            f"{m.k or m.k_min} segments (at least {need} needed); lower model.k "
                            "(or model.k_min), or give more data")
        if m.k is None and m.k_max >= n_buyers:
            console.detail(f"k range capped at {n_buyers - 1}: {n_buyers} customers")
            m = dataclasses.replace(m, k_max=n_buyers - 1)
    inputs = [c for c in numeric if c not in POTENTIAL_COLUMNS or potential_step is None]
    if potential_step is not None:
        inputs += [c for c in POTENTIAL_SOURCES if c not in inputs]
    X = buyers[inputs + categorical]
    values = buyers[numeric].to_numpy(dtype=float, na_value=np.nan)
    if numeric and not (np.nanmax(values, axis=0, initial=-np.inf)
                        > np.nanmin(values, axis=0, initial=np.inf)).any():
        raise DataError("all selected features are constant across customers: nothing to segment")
    def baseline_of(name: str):
        return baseline_for(cfg, name, signals.potential_ is not None)

    with console.stage("fit baselines"):  # nothing here depends on the clusters
        truth = planted_types(buyers["customer_id"], sources.truth_path)
        fitted = {b: baseline_of(b).fit(buyers) for b in cfg.baselines.enabled}
        console.detail(f"baselines: {', '.join(fitted) or 'none'}")
    future_curve = None
    if m.criterion == "future_auc" and m.k is None:
        # the curve only ranks k: at most 4 k-means starts per k there, all starts for the model
        curve_m = (dataclasses.replace(m, params={**m.params, "n_init": min(int(m.params["n_init"]), 4)})
                   if "n_init" in m.params else m)
        with console.stage("choose k by future separation"):
            future_curve = future_k_curve(
                engine, fr.snapshot_date, holdout,
                preprocessor_for(numeric, categorical, cfg.preprocess, cfg.seed, potential_step),
                lambda k: family_at_k(curve_m, k, cfg.seed, cfg.engine.master),
                list(range(m.k_min, m.k_max + 1)), inputs + categorical, cfg.seed,
                console.detail, cal_sample)
            m = dataclasses.replace(m, k=choose_future_k(future_curve))
    with console.stage(f"preprocess + segment ({m.name})"):
        pipe, Xs, names, curve, metrics = fit_segmentation(
            X, numeric, categorical, cfg.preprocess, m, cfg.evaluate, cfg.seed, console.detail,
            cfg.engine.master, potential_step)
        curve = future_curve if future_curve is not None else curve
        seg = pipe[-1]
        labels, k = seg.labels_, int(seg.n_clusters_)
    previous_uri, previous = tracking.previous_model(
        tracking.model_name_for(cfg.mlflow.registered_model_name, cfg.data.name)
        if cfg.mlflow.log_model else None, cfg.mlflow.match_previous,
        buyers.columns, console.detail)
    id_map = matches = None
    if previous is not None:
        id_map, matches = match_segments(previous, buyers, labels)
        labels = np.vectorize(id_map.get, otypes=[int])(labels)
        console.detail(f"segment ids matched to {previous_uri}: " + ", ".join(
            f"{s} {int((matches.status == s).sum())}" for s in ("matched", "new", "vanished")))
    with console.stage("profiles + personas"):
        profile, personas = name_segments(
            buyers, labels, fr.features, cfg.personas,
            previous.segment_names if previous is not None else None, matches,
            f"version {previous_uri.rsplit('/', 1)[-1]}" if previous_uri else "", console.detail)
    with console.stage("evaluate"):
        revenue = buyers["monetary_total"].to_numpy()
        scoring = {"silhouette_sample": cfg.evaluate.silhouette_sample,
                   "min_share": cfg.evaluate.min_share, "seed": cfg.seed,
                   "truth": None if truth is None else int_codes(truth)}  # coded once
        clusters = score_labelling("clusters", labels, Xs, revenue, **scoring,
                                   persona_fit=weighted_fit(personas, profile))
        if truth is not None:
            metrics |= persona_truth(truth, labels, personas.table, list(cfg.personas.catalogue))
        metrics = clusters.metrics | metrics | {"n_customers": float(len(buyers)),
                                                "n_prospects": float(fr.n_prospects),
                                                "n_lapsed": float(fr.n_lapsed)}
        baselines = {}
        for b, est in fitted.items():
            baselines[b] = score_labelling(b, est.labels_, Xs, revenue, **scoring)
            metrics[f"vs_{b}_ari"], metrics[f"vs_{b}_nmi"] = agreement(baselines[b].codes, labels)
        special = {k: v.get("name", k) for k, v in cfg.personas.special.items()}
        model = SegmentationModel(pipe, personas.names(), id_map, cfg.features.lookback_days,
                                  sources.policy, fitted,
                                  {"prospect": special.get("prospects", "Prospects"),
                                   "former": special.get("former", "Former customers")},
                                  signals, sources.transactions.margins)
        pb = playbook(buyers, model.names_of(labels), fitted, fr.snapshot_date, fr.window_start,
                      cfg.data.currency, sig.new_customer_days, sig.abc_share, pot.horizon_days,
                      list(sig.matrix), loaded.attribute_quality,
                      pd.concat([fr.table, signal_cols], axis=1), sig.overdue_cycles, labels)
        metrics |= pb.metrics
        console.detail(pb.sections[0].text)
    future = {}
    if holdout > 0:
        with console.stage(f"future validation ({holdout}-day hold-out)"):
            future = future_validation(
                engine, fr.snapshot_date, holdout, pipe, inputs + categorical,
                {b: (lambda b=b: baseline_of(b)) for b in cfg.baselines.enabled}, cfg.seed,
                console.detail, cal_sample)
            metrics |= future.get("clusters", ({}, None))[0]
            for b, seg_b in baselines.items():
                seg_b.metrics |= future.get(b, ({}, None))[0]
    base = cfg.mlflow.run_name or f"{model_label(m)}-k{k}-{cfg.preprocess.scaler}-{cfg.data.name}"
    run_name = cfg.mlflow.run_name or f"{base}-{run_id[:6]}"  # unique: two runs never share it
    # every customer, as scoring labels them (the table with signals is made again rather than
    # kept through the hold-out: 650 MB at a million customers; the signals themselves are kept)
    with console.stage("label every customer"):
        labels_df = model.customer_labels(pd.concat([fr.table, signal_cols], axis=1))
        console.detail(f"{len(labels_df):,} customers: " + ", ".join(
            f"{n:,} {k}" for k, n in labels_df["relationship"].value_counts().items()))
    with console.stage("persona report"):
        seg_names, columns = personas.names(), [column_label(c, fr.attributes) for c in names]
        figures = segmentation_figures(seg, Xs, labels, names, curve, cfg.model.criterion, k,
                                       seg_names, columns, cfg.seed)
        warnings = engine.loaded.warnings + guardrail_warnings(
            profile, personas.table, cfg.evaluate.min_share, cfg.evaluate.max_share,
            cfg.evaluate.max_personas)
        for w in warnings:
            console.detail(f"check: {w}")
        title = f"Customer personas: {cfg.data.name}, {run_name} (snapshot {fr.snapshot_date})"
        md, html = build_report(
            profile, personas.table, buyers[fr.features].median(), title,
            [figures["plots/profile_heatmap.png"]],
            {"prospects": fr.n_prospects, "former": fr.n_lapsed}, cfg.personas.special,
            cfg.data.currency, warnings, view := marketing_view(profile, personas.table),
            composition(buyers, labels, fr.attributes, engine.top_categories(
                pd.DataFrame({"customer_id": buyers["customer_id"], "segment": labels}),
                fr.window_start, fr.snapshot_date)), pb.sections)
        report_dir = Path(cfg.paths.reports_dir) / f"{base}-{run_id[:8]}"
        report_path = write_text(report_dir / "persona_report.html", html)
        write_text(report_dir / "persona_report.md", md)
    return TrainResult(cfg, run_name, loaded, digest, fr, X, Xs, names, curve, model, labels_df,
                       profile, personas.table, personas.fit_matrix, metrics, baselines, future,
                       figures | pb.figures, md, html, truth, matches, previous_uri,
                       report_path=report_path, tables=pb.tables, tags=pb.tags,
                       report_dir=report_dir, segments=labels, warnings=warnings,
                       marketing_view=view, renamed=personas.renamed)


def run_training(cfg: TrainConfig, resolved: dict[str, Any] | None = None,
                 console: Console | None = None) -> TrainResult:
    """Train one segmentation and record it in MLflow; ``resolved`` is the config to log."""
    console = console or Console()
    validate_config(cfg)
    if cfg.engine.name == "spark" and cfg.engine.distributed:
        from clustering.spark.training import run_distributed_training

        check_writable(cfg.paths.reports_dir, "paths.reports_dir")
        return run_distributed_training(cfg, resolved, console)
    check_writable(cfg.paths.reports_dir, "paths.reports_dir")
    if cfg.data.format == "sample":
        check_writable(cfg.paths.data_dir, "paths.data_dir")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    uri = tracking.resolve_tracking_uri(cfg.mlflow.tracking_uri, cfg.paths.root)
    experiment = cfg.mlflow.experiment or f"segmentation-{cfg.data.name}"
    m = cfg.model
    k_part = f"k{m.k}" if m.k else f"k{m.k_min}-{m.k_max}"
    console.say(f"Tracking to {tracking.redact_uri(uri)} (experiment '{experiment}')")
    tags = {"git_commit": tracking.git_commit(cfg.paths.root), "data": cfg.data.name,
            "model": m.name, "seed": str(cfg.seed), "kind": "clustering", **dict(cfg.mlflow.tags)}
    with tracking.tracked_run(uri, experiment, cfg.mlflow.run_name or f"{model_label(m)}-{k_part}-"
                              f"{cfg.data.name}", cfg.paths.root, tags, cfg.mlflow.parent_run_id,
                              resolved if resolved is not None else dataclasses.asdict(cfg)) as run, \
            threadpool_limits(limits=cfg.threads):
        with console.stage(f"load data ({cfg.engine.name} engine)"):
            if cfg.mlflow.log_model:
                tracking.warm_requirement_check()
            sources = sources_for(cfg.data, cfg.paths.data_dir)
            engine = open_engine(cfg.engine, sources, lookback_days=cfg.features.lookback_days,
                                 include=list(cfg.features.include), threads=cfg.threads,
                                 snapshot_date=cfg.features.snapshot_date, data_dir=cfg.paths.data_dir)
            for line in engine.loaded.describe():
                console.detail(line)
            digest = digest_files(engine.loaded.files + engine.loaded.customer_files)
        try:
            result = _compute(cfg, sources, engine, digest, console, run.info.run_id)
            result.run_id, result.experiment_id, result.tracking_uri = (
                run.info.run_id, run.info.experiment_id, uri)
            result.resolved = resolved
            with console.stage("log to MLflow"):
                result.quarantine_path = engine.write_quarantine(
                    result.report_dir / "quarantine.parquet")
                tracking.log_training(result, console.detail)
        finally:
            engine.close()
    console.timings["total"] = sum(console.timings.values())
    return result
