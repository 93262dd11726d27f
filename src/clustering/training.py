"""The training run, for both engines: computed first as a graph of stages, recorded once.

``run_training`` is where the configuration stops: it unpacks the settings into the plain
values each stage takes, opens the engine, runs the stages side by side as their inputs exist
(:mod:`clustering.graph`), writes the persona report and hands one :class:`TrainResult` to
:func:`clustering.tracking.log_training`. The local engine's stages hold every customer in
memory (:mod:`clustering.stages`); Spark's distributed ones keep them in DataFrames
(:mod:`clustering.spark.stages`); the stages after the segmentation are the same for both.
The MLflow run is opened first (with the configuration) only so that a failed or interrupted
run is marked FAILED or KILLED; nothing is logged before every stage has finished.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from clustering import stages as st
from clustering import tracking
from clustering.baselines import make_baseline
from clustering.config import TrainConfig, model_label, validate_config
from clustering.console import Console
from clustering.engines import duckdb_connection, interrupt, open_engine
from clustering.evaluation.holdout import verdict
from clustering.evaluation.scorecard import Thresholds
from clustering.files import check_writable, digest_files, write_text
from clustering.graph import (
    Background,
    Stage,
    cores,
    one_blas_thread,
    one_openmp_thread,
    run_stages,
)
from clustering.inputs.sources import DataSources, sources_for
from clustering.personas.rules import rules_section
from clustering.reporting.plots import render
from clustering.reporting.summary import format_summary
from clustering.result import Recording, TrainResult
from clustering.segmenters.fitting import Family, Scaling, family_params

__all__ = ["TrainResult", "format_summary", "run_training"]

#: what the run hands the graph before any stage starts
GIVEN = ("engine", "run_id", "loaded", "policy", "margins")
#: what the result is made of: every other value is let go once no stage needs it
RESULT = ("features", "sample", "sf", "playbook", "future", "eval_metrics", "seg_metrics",
          "agreement", "baselines", "baselines_skipped", "report", "personas", "profile",
          "run_name", "report_name", "snapshot_date", "input_example", "Xs", "names", "curve",
          "model", "figures", "labels", "customer_labels", "labels_path", "truth", "matches",
          "previous", "warnings", "view", "verdict", "holdout_figures", "feature_summary",
          "rules", "scorecard", "campaign", "pngs", "files", "crosstabs")


def run_training(cfg: TrainConfig, resolved: dict[str, Any] | None = None,
                 console: Console | None = None) -> TrainResult:
    """Train one segmentation and record it in MLflow; ``resolved`` is the config to log."""
    console, started = console or Console(verbose=cfg.verbose), time.perf_counter()
    validate_config(cfg)
    distributed = cfg.engine.name == "spark" and cfg.engine.distributed
    check_writable(cfg.paths.reports_dir, "paths.reports_dir")
    if cfg.data.format == "sample" and not distributed:
        check_writable(cfg.paths.data_dir, "paths.data_dir")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    m = cfg.model
    k_part = f"k{m.k}" if m.k else f"k{m.k_min}-{m.k_max}"
    engine_tag = {"engine": "spark-distributed"} if distributed else {}
    config = resolved if resolved is not None else dataclasses.asdict(cfg)
    # the data are read and checked (DuckDB, both cores) while MLflow is imported and opens
    # its store (2-3 s on one core); a failure of either ends the run as FAILED, as before
    # (Spark starts its session on the caller's thread, where it may set its signal handler)
    spark = cfg.engine.name == "spark"
    con = None if spark else duckdb_connection(cfg.engine.memory_limit, cfg.paths.data_dir,
                                               cfg.threads)
    loading = Background(partial(_load, cfg, con), lambda loaded: loaded[1].close(), "load data",
                         inline=spark, stop=partial(interrupt, con) if con is not None else lambda: None)
    with _abandoning(loading):
        uri, experiment, tags = _tracking_target(cfg, engine_tag, console)
    with _abandoning(loading), tracking.tracked_run(
            uri, experiment, cfg.mlflow.run_name or f"{model_label(m)}-{k_part}-{cfg.data.name}",
            cfg.paths.root, tags, cfg.mlflow.parent_run_id, config
    ) as run, threadpool_limits(limits=cfg.threads), one_blas_thread():
        with console.stage(f"load data ({cfg.engine.name} engine"
                           + (f" at {cfg.engine.master}, distributed)" if distributed else ")")):
            if cfg.mlflow.log_model:
                tracking.warm_requirement_check()
            sources, engine = loading.result()
            for line in engine.loaded.describe():  # the files and the checks, always
                (console.note if line.startswith(("1 transaction", "checks:", "warning:"))
                 or " transaction file(s)" in line else console.detail)(line)
            digest = digest_files(engine.loaded.files + engine.loaded.customer_files)
        try:
            graph = (_distributed_stages if distributed else _local_stages)(cfg, sources,
                                                                           console.detail)
            given = {"engine": engine, "run_id": run.info.run_id, "loaded": engine.loaded,
                     "policy": sources.policy, "margins": sources.transactions.margins}
            values = run_stages(
                graph, given, workers=stage_workers(cfg.threads), start=console.start,
                finish=console.finish, keep=RESULT, abort=engine.interrupt,
                # OpenMP's limit is per thread: set in each stage's, not only this one
                around=(lambda: threadpool_limits(limits=cfg.threads)) if cfg.threads
                else one_openmp_thread)
            recording = _recording(cfg, config, engine_tag)
            result = (_distributed_result if distributed else _local_result)(
                values, recording, engine.loaded, digest, cfg.paths.reports_dir)
            result.stage_seconds = dict(console.timings)
            result.seconds = time.perf_counter() - started
            result.report_path = write_text(result.report_dir / "persona_report.html",
                                            result.report_html)
            write_text(result.report_dir / "persona_report.md", result.report_markdown)
            if result.rules is not None:  # for a CRM, beside the report (and the model)
                write_text(result.report_dir / "segment_rules.sql", result.rules.sql())
                write_text(result.report_dir / "segment_rules.json", result.rules.to_json())
            result.run_id, result.experiment_id, result.tracking_uri = (
                run.info.run_id, run.info.experiment_id, uri)
            with console.stage("log to MLflow"):
                result.quarantine_path = engine.write_quarantine(
                    result.report_dir / "quarantine.parquet")
                tracking.log_training(result, console.detail)
        finally:
            engine.close()
    console.timings["total"] = time.perf_counter() - started  # wall: stages overlap
    return result


def _tracking_target(cfg: TrainConfig, engine_tag: dict[str, str], console: Console
                     ) -> tuple[str, str, dict[str, str]]:
    """(the tracking URI, the experiment, the run's tags); the first use of
    :mod:`clustering.tracking` imports MLflow."""
    uri = tracking.resolve_tracking_uri(cfg.mlflow.tracking_uri, cfg.paths.root)
    if not cfg.verbose:  # once MLflow is imported: it sets its logger's level as it loads
        quiet_libraries()
    experiment = cfg.mlflow.experiment or f"segmentation-{cfg.data.name}"
    console.say(f"Tracking to {tracking.redact_uri(uri)} (experiment '{experiment}')")
    tags = {"git_commit": tracking.git_commit(cfg.paths.root), "data": cfg.data.name,
            "model": cfg.model.name, "seed": str(cfg.seed), "kind": "clustering", **engine_tag,
            **dict(cfg.mlflow.tags)}
    return uri, experiment, tags


def _load(cfg: TrainConfig, con) -> tuple[DataSources, Any]:
    """The data sources and the engine with them read and checked (``con``: the local
    engine's DuckDB connection)."""
    try:
        sources = sources_for(cfg.data, cfg.paths.data_dir)
    except BaseException:
        if con is not None:
            con.close()
        raise
    return sources, open_engine(cfg.engine, sources, lookback_days=cfg.features.lookback_days,
                                include=list(cfg.features.include), threads=cfg.threads,
                                snapshot_date=cfg.features.snapshot_date,
                                data_dir=cfg.paths.data_dir, con=con)


@contextmanager
def _abandoning(loading: Background):
    """Let go of the loading when the run fails before it claims the data."""
    try:
        yield
    except BaseException:
        loading.abandon()
        raise


def quiet_libraries() -> None:
    """No library chatter a user cannot act on: MLflow's table-creation INFO lines and its
    artifact progress bars (--verbose keeps them)."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def stage_workers(threads: int | None) -> int:
    """Stages run side by side on as many threads as the run may use cores."""
    return int(threads) if threads else cores()


def _recording(cfg: TrainConfig, config: dict[str, Any], tags: dict[str, str]) -> Recording:
    b, ml = cfg.baselines, cfg.mlflow
    return Recording(
        data_name=cfg.data.name, criterion=cfg.model.criterion, config=config,
        baseline_params={n: dict(b.params.get(n) or {}) for n in b.enabled},
        log_baseline_runs=b.log_runs, log_model=ml.log_model,
        register_as=(tracking.model_name_for(ml.registered_model_name, cfg.data.name)
                     if ml.log_model and ml.register else None),
        champion_metric=ml.champion_metric, tags=tags)


def _by_future(cfg: TrainConfig) -> bool:
    """k is chosen by the hold-out (the calibration pass is made before the segmentation)."""
    m = cfg.model
    return cfg.evaluate.holdout_days > 0 and m.criterion == "future_auc" and m.k is None


def _rules(cfg: TrainConfig) -> dict[str, Any] | None:
    r = cfg.personas.rules
    return {"target": r.target, "max_depth": r.max_depth,
            "min_leaf_share": r.min_leaf_share} if r.enabled else None


def _thresholds(cfg: TrainConfig) -> Thresholds:
    values = dict(cfg.evaluate.scorecard)
    if "personas" in values:
        values["personas"] = tuple(values["personas"])
    return Thresholds(**values)


def _rules_sections(rules, currency: str) -> list:
    return [rules_section(rules, currency)] if rules is not None else []


def _family(cfg: TrainConfig) -> Family:
    m = cfg.model
    return Family(m.name, m.k, m.k_min, m.k_max, m.criterion,
                  family_params(m.name, m.params, cfg.engine.master))


def _scaling(cfg: TrainConfig) -> Scaling:
    p = cfg.preprocess
    return Scaling(p.scaler, p.log_features, tuple(p.winsorize) if p.winsorize else None)


def _relationship(cfg: TrainConfig) -> dict[str, str]:
    special = {k: v.get("name", k) for k, v in cfg.personas.special.items()}
    return {"prospect": special.get("prospects", "Prospects"),
            "former": special.get("former", "Former customers")}


def _catalogue(cfg: TrainConfig) -> dict[str, Any]:
    return {"catalogue": cfg.personas.catalogue, "special": cfg.personas.special,
            "personas": cfg.personas.personas, "max": cfg.personas.max}


def _baseline_factories(cfg: TrainConfig, has_potential: bool) -> dict[str, Any]:
    """An unfitted baseline per enabled one. With the signals' potential on, the value vs
    potential matrix reads their expected spend in training, and its refit on the hold-out's
    earlier buyers (which have no signals) fits its own potential model with the signals'
    horizon and sample, so both describe the same next period."""
    pot = cfg.signals.potential

    def factory(name: str):
        params = dict(cfg.baselines.params.get(name) or {})
        if name == "value_potential" and has_potential:
            params |= {"horizon_days": pot.horizon_days, "fit_sample": pot.fit_sample,
                       "random_state": cfg.seed}
        return lambda: make_baseline(name, **params)

    return {name: factory(name) for name in cfg.baselines.enabled}


def _local_stages(cfg: TrainConfig, sources: DataSources, say) -> list[Stage]:
    """The local engine's graph: features and signals, baselines, the segmentation (k chosen
    by the future where asked), then the stages that need the segments."""
    m, ev, sig, pot = cfg.model, cfg.evaluate, cfg.signals, cfg.signals.potential
    seed, scaling = cfg.seed, _scaling(cfg)
    by_future = _by_future(cfg)
    as_features = pot.enabled and pot.as_features  # the segments wait for the signals
    snapshot = (pd.Timestamp(cfg.features.snapshot_date).date()
                if cfg.features.snapshot_date else None)

    graph = [
        Stage("build customer features",
              partial(st.build_features, snapshot=snapshot,
                      prefetch_days=ev.holdout_days if by_future else 0, seed=seed, say=say),
              ("engine",), ("features", "cal_sample")),
        Stage("signals (potential, overdue)",
              partial(st.fit_signals, potential=pot.enabled, horizon_days=pot.horizon_days,
                      fit_sample=pot.fit_sample, overdue_cycles=sig.overdue_cycles, seed=seed,
                      say=say), ("features",), ("signals", "signal_cols", "buyers")),
        Stage("select columns",
              partial(st.choose_columns, wanted=list(cfg.preprocess.features),
                      categorical=list(cfg.preprocess.categorical), family=_family(cfg),
                      potential_as_features=as_features, horizon_days=pot.horizon_days,
                      fit_sample=pot.fit_sample, seed=seed, say=say),
              ("features", "signals", "buyers") if as_features else ("features",),
              ("columns", "X"),
              quiet=True),
        Stage("baseline factories", lambda signals: _baseline_factories(
            cfg, signals.potential_ is not None), ("signals",), ("make_baselines",), quiet=True),
        Stage("fit baselines", partial(st.fit_baselines, truth_path=sources.truth_path, say=say),
              ("buyers", "make_baselines"), ("fitted", "truth")),
    ]
    if by_future:
        graph.append(Stage(
            "calibration pass", partial(st.calibrate, holdout_days=ev.holdout_days),
            ("engine", "features", "cal_sample"), ("calibrated",), quiet=True))
        graph.append(Stage(
            "choose k by future separation",
            lambda calibrated, **kw: st.choose_k_by_future(
                **kw, scaling=scaling, holdout_days=ev.holdout_days, seed=seed, say=say),
            ("engine", "features", "columns", "cal_sample", "calibrated"),
            ("k_chosen", "future_curve")))
    else:
        graph.append(Stage("k given", lambda: (None, None), (), ("k_chosen", "future_curve"),
                           quiet=True))
    graph.append(Stage("preprocess", partial(st.preprocess, scaling=scaling, seed=seed),
                       ("X", "columns"), ("pre", "Xs", "names")))
    graph.append(Stage(f"segment ({m.name})",
                       partial(st.segment, stability_runs=ev.stability_runs,
                               sample_size=ev.silhouette_sample, seed=seed, say=say),
                       ("pre", "Xs", "columns", "k_chosen", "future_curve"),
                       ("pipe", "curve", "fit_metrics")))
    graph.append(Stage("stability", partial(st.stability, runs=ev.stability_runs, seed=seed,
                                            say=say),
                       ("pipe", "Xs", "fit_metrics"), ("seg_metrics",),
                       quiet=ev.stability_runs <= 1))
    return graph + _local_after_segments(cfg, say, sources.campaigns)


def _local_after_segments(cfg: TrainConfig, say, campaigns=None) -> list[Stage]:
    """The local stages that need the segments: ids, personas, evaluation, the model and what
    it labels, the hold-out, the playbook, plots and the report."""
    ev, sig, ml, seed = cfg.evaluate, cfg.signals, cfg.mlflow, cfg.seed
    by_future = _by_future(cfg)
    previous_name = tracking.model_name_for(ml.registered_model_name, cfg.data.name)
    graph = [
        Stage("previous model", lambda buyers: tracking.previous_model(
            previous_name if ml.log_model else None, ml.match_previous, buyers.columns, say),
            ("buyers",), ("previous",), quiet=not (ml.log_model and ml.match_previous)),
        Stage("match segment ids", partial(st.match_ids, say=say), ("previous", "buyers", "pipe"),
              ("labels", "id_map", "matches"), quiet=True),
        Stage("profiles + personas",
              partial(st.name_personas_of, catalogue=_catalogue(cfg),
                      min_fit=cfg.personas.min_fit,
                      min_member_share=cfg.personas.min_member_share, say=say),
              ("buyers", "labels", "features", "previous", "matches"), ("profile", "personas")),
        Stage("evaluate", partial(st.evaluate, catalogue=list(cfg.personas.catalogue),
                                  silhouette_sample=ev.silhouette_sample,
                                  min_share=ev.min_share, seed=seed),
              ("labels", "Xs", "buyers", "truth", "fitted", "personas", "profile"),
              ("eval_metrics", "baselines")),
        Stage("model", partial(st.assemble_model, lookback_days=cfg.features.lookback_days,
                               relationship=_relationship(cfg)),
              ("pipe", "personas", "id_map", "fitted", "signals", "policy", "margins"),
              ("model",), quiet=True),
        Stage("playbook", partial(st.run_playbook, settings={
            "currency": cfg.data.currency, "new_customer_days": sig.new_customer_days,
            "abc_share": sig.abc_share, "horizon_days": sig.potential.horizon_days,
            "matrix": list(sig.matrix), "overdue_cycles": sig.overdue_cycles,
            "role": cfg.data.customer_columns.role}, say=say),
              ("buyers", "model", "labels", "fitted", "features", "everyone", "loaded"),
              ("playbook",)),
        # made once the lines are let go and the segments fitted: with either it set the
        # run's peak (a million customers: 650 MB beside 885 MB of lines, or beside the final
        # fit's copies), and nothing needs it before the segments are named
        Stage("everyone", lambda features, signal_cols, lines_released, pipe: st.with_signals(
            features, signal_cols), ("features", "signal_cols", "lines_released", "pipe"),
              ("everyone",), quiet=True),
        Stage("label every customer", partial(st.label_customers, say=say),
              ("model", "everyone", "Xs", "buyers"), ("customer_labels",)),
        Stage("label file", st.label_file, ("customer_labels",), ("files",), quiet=True),
        Stage("input example", lambda X: X.head(5), ("X",), ("input_example",), quiet=True),
        Stage("feature summary", st.summarise_features, ("features",), ("feature_summary",),
              quiet=True),
        Stage("segment mix", st.describe_segments, ("engine", "buyers", "labels", "features"),
              ("mix",), urgent=True),  # from the categories the features kept, not the lines
        # the hold-out reads the calibration pass, kept where it chose k: the lines (0.9 GB
        # at a million customers) go once that pass is read, beside choosing k (with them,
        # choosing k and the final fit set the run's peak)
        Stage("let go of the lines", lambda engine, **_: engine.release_lines(),
              ("engine", "features", "calibrated" if by_future else "future"),
              ("lines_released",),
              quiet=True, urgent=True),
        Stage("population", lambda buyers, features: buyers[features.features].median(),
              ("buyers", "features"), ("population",), quiet=True),
        Stage("extra", lambda features: {"prospects": features.n_prospects,
                                         "former": features.n_lapsed},
              ("features",), ("extra",), quiet=True),
        Stage("attributes", lambda features: features.attributes, ("features",),
              ("attributes",), quiet=True),
        Stage("snapshot", lambda features: features.snapshot_date, ("features",),
              ("snapshot_date",), quiet=True),
    ]
    graph += _review_stages(cfg, say, campaigns)
    if ev.holdout_days > 0:
        graph.append(Stage(f"future validation ({ev.holdout_days}-day hold-out)",
                           partial(st.validate_future, holdout_days=ev.holdout_days, seed=seed,
                                   say=say),
                           ("engine", "features", "pipe", "columns", "make_baselines",
                            "cal_sample"), ("future",)))
    else:
        graph.append(Stage("no hold-out", dict, (), ("future",), quiet=True))
    return graph + _shared_stages(cfg, say)


def _review_stages(cfg: TrainConfig, say, campaigns) -> list[Stage]:
    """The local stages that review the segments: rules a CRM runs, campaign response, the
    scorecard, and the report's sections they add."""
    return [
        Stage("segment rules", lambda buyers, labels, columns, features, personas:
              st.describe_by_rules(buyers, labels, [c for c in columns.numeric
                                                    if c in features.features] or
                                   features.features, personas, _rules(cfg), cfg.seed, say,
                                   columns.categorical),
              ("buyers", "labels", "columns", "features", "personas"), ("rules",)),
        Stage("campaign response", lambda customer_labels: st.respond_by_segment(
            customer_labels, campaigns, say), ("customer_labels",), ("campaign",),
              quiet=campaigns is None),
        Stage("scorecard", lambda eval_metrics, seg_metrics, future, campaign, view, rules,
              buyers, labels, personas: st.score_checklist(
                  eval_metrics | seg_metrics | future.get("clusters", ({},))[0]
                  | campaign.metrics, view, rules, buyers, labels, _thresholds(cfg), say,
                  personas),
              ("eval_metrics", "seg_metrics", "future", "campaign", "view", "rules", "buyers",
               "labels", "personas"), ("scorecard",), quiet=True),
        Stage("render figures", lambda figures, playbook, campaign, holdout_figures: render(
            figures | playbook.figures | campaign.figures | holdout_figures),
              ("figures", "playbook", "campaign", "holdout_figures"), ("pngs",), quiet=True),
        Stage("sections", lambda playbook, campaign, rules: playbook.sections
              + campaign.sections + _rules_sections(rules, cfg.data.currency),
              ("playbook", "campaign", "rules"), ("sections",), quiet=True),
    ]


def _shared_stages(cfg: TrainConfig, say) -> list[Stage]:
    """The stages both engines run once the segments are named: the run's name, plots,
    guardrails and the persona report."""
    ev = cfg.evaluate
    label = model_label(cfg.model)
    return [
        Stage("run name", lambda pipe, run_id: st.run_name_of(
            label, int(pipe[-1].n_clusters_), cfg.preprocess.scaler, cfg.data.name, run_id,
            cfg.mlflow.run_name), ("pipe", "run_id"), ("run_name", "report_name"), quiet=True),
        Stage("plots", partial(st.draw_figures, criterion=cfg.model.criterion, seed=cfg.seed),
              ("pipe", "Xs", "labels", "names", "curve", "personas", "attributes"),
              ("figures",)),
        Stage("guardrails", partial(st.check_guardrails, min_share=ev.min_share,
                                    max_share=ev.max_share, max_personas=ev.max_personas,
                                    say=say),
              ("profile", "personas", "loaded"), ("warnings", "view"), quiet=True),
        Stage("verdict", verdict, ("future",), ("verdict",), quiet=True),
        Stage("crosstabs", st.crosstabs, ("labels", "baselines", "truth"), ("crosstabs",),
              quiet=True),
        Stage("hold-out chart", st.draw_holdout, ("future",), ("holdout_figures",), quiet=True),
        Stage("persona report", partial(st.write_report, data_name=cfg.data.name,
                                        special=cfg.personas.special, currency=cfg.data.currency),
              ("profile", "personas", "population", "run_name", "snapshot_date", "figures",
               "extra", "warnings", "view", "mix", "sections", "verdict", "loaded",
               "scorecard"), ("report",)),
    ]


def _distributed_stages(cfg: TrainConfig, sources: DataSources, say) -> list[Stage]:
    """Spark's distributed graph: features, the sample, MLlib on every buyer, aggregates,
    baselines in Spark SQL and labels written by Spark; then the shared stages."""
    from clustering.spark import stages as sp  # pyspark only when Spark is asked for

    ev, seed, e = cfg.evaluate, cfg.seed, cfg.engine
    snapshot = (pd.Timestamp(cfg.features.snapshot_date).date()
                if cfg.features.snapshot_date else None)
    scoring = {"silhouette_sample": ev.silhouette_sample, "min_share": ev.min_share, "seed": seed}
    m = cfg.model
    k_part = f"k={m.k}" if m.k else f"k {m.k_min}..{m.k_max} by {m.criterion} on the sample"
    graph = [
        Stage("build customer features (Spark)",
              partial(sp.build_features_frame, snapshot=snapshot,
                      lookback_days=cfg.features.lookback_days, say=say),
              ("engine",), ("sf", "counts")),
        Stage(f"sample at most {e.sample_rows:,} buyers, fit scaling",
              partial(sp.sample_and_scale, wanted=list(cfg.preprocess.features),
                      categorical=list(cfg.preprocess.categorical), scaling=_scaling(cfg),
                      sample_rows=e.sample_rows, seed=seed),
              ("engine", "sf"), ("sample", "pre", "Xs", "names", "inputs")),
        Stage(f"segment on Spark ({m.name}, {k_part})",
              partial(sp.segment_frame, family=_family(cfg),
                      silhouette_sample=ev.silhouette_sample, seed=seed, say=say),
              ("engine", "pre", "Xs", "inputs"), ("seg", "curve")),
        Stage("pipeline", lambda pre, seg: (Pipeline([("preprocess", pre), ("segment", seg)]),
                                            seg.labels_),
              ("pre", "seg"), ("pipe", "labels"), quiet=True),
        Stage("input example", lambda sample, inputs: sample[inputs].head(5),
              ("sample", "inputs"), ("input_example",), quiet=True),
        Stage("profiles (Spark aggregates) + personas",
              partial(sp.profile_and_name, catalogue=_catalogue(cfg),
                      min_fit=cfg.personas.min_fit,
                      min_member_share=cfg.personas.min_member_share),
              ("engine", "seg", "sf", "sample"), ("profile", "population", "personas")),
        Stage("evaluate (sample)",
              partial(sp.evaluate_sample, truth_path=sources.truth_path,
                      catalogue=list(cfg.personas.catalogue), **scoring),
              ("engine", "seg", "Xs", "sample", "counts", "personas", "profile"),
              ("eval_metrics", "truth")),
        Stage("baselines (Spark SQL)",
              partial(sp.label_baselines, enabled=list(cfg.baselines.enabled), say=say,
                      params={n: dict(cfg.baselines.params.get(n) or {})
                              for n in cfg.baselines.enabled}),
              ("engine", "sf", "counts"), ("baselines_done", "baselines_skipped")),
        Stage("score baselines (sample)", lambda engine, baselines_done, seg, Xs, sample, truth:
              sp.score_baselines(engine, baselines_done, seg, Xs, sample, truth, **scoring),
              ("engine", "baselines_done", "seg", "Xs", "sample", "truth"),
              ("baselines", "agreement")),
        Stage("model", partial(st.assemble_model, id_map=None, fitted=None, signals=None,
                               lookback_days=cfg.features.lookback_days, margins=None,
                               relationship=_relationship(cfg)),
              ("pipe", "personas", "policy"), ("model",), quiet=True),
        Stage("write labels (Spark, partitioned Parquet)",
              lambda engine, personas, baselines_done, report_name, counts: sp.write_labels(
                  engine, personas, _relationship(cfg), baselines_done,
                  Path(cfg.paths.reports_dir) / report_name / "labels", counts, say),
              ("engine", "personas", "baselines_done", "report_name", "counts"),
              ("labels_path",)),
        Stage("extra", lambda counts: {"prospects": counts.prospects, "former": counts.lapsed},
              ("counts",), ("extra",), quiet=True),
        Stage("attributes", lambda sf: sf.attributes, ("sf",), ("attributes",), quiet=True),
        Stage("snapshot", lambda sf, engine: snapshot or engine.snapshot, ("sf", "engine"),
              ("snapshot_date",), quiet=True),
        Stage("segment rules (sample)", lambda sample, labels, inputs, personas:
              st.describe_by_rules(sample, labels, inputs, personas, _rules(cfg), seed, say),
              ("sample", "labels", "inputs", "personas"), ("rules",)),
        Stage("no mix", lambda: None, (), ("mix",), quiet=True),
        Stage("scorecard", lambda eval_metrics, view, rules, sample, labels, personas:
              st.score_checklist(eval_metrics, view, rules, sample, labels, _thresholds(cfg),
                                 say, personas),
              ("eval_metrics", "view", "rules", "sample", "labels", "personas"), ("scorecard",),
              quiet=True),
        Stage("render figures", render, ("figures",), ("pngs",), quiet=True),
        Stage("sections", lambda rules: _rules_sections(rules, cfg.data.currency), ("rules",),
              ("sections",), quiet=True),
        Stage("no hold-out", dict, (), ("future",), quiet=True),
    ]
    return graph + _shared_stages(cfg, say)


def _report_dir(cfg_reports_dir: str, values: dict[str, Any]) -> Path:
    return Path(cfg_reports_dir) / values["report_name"]


def _local_result(values: dict[str, Any], recording: Recording, loaded, digest: str,
                  reports_dir: str) -> TrainResult:
    """The local graph's values as one result; the hold-out's scores join the metrics."""
    v, fr, pb, cp = values, values["features"], values["playbook"], values["campaign"]
    future = v["future"]
    metrics = (v["eval_metrics"] | v["seg_metrics"]
               | {"n_customers": float(fr.table["is_buyer"].sum()),
                  "n_prospects": float(fr.n_prospects),
                  "n_lapsed": float(fr.n_lapsed)} | pb.metrics | cp.metrics
               | future.get("clusters", ({}, None))[0])
    baselines = {b: dataclasses.replace(s, metrics=s.metrics | future.get(b, ({}, None))[0])
                 for b, s in v["baselines"].items()}
    md, html = v["report"]
    personas = v["personas"]
    return TrainResult(
        recording, v["run_name"], loaded, digest, fr.snapshot_date, dict(fr.skipped),
        v["feature_summary"], v["input_example"], v["Xs"], v["names"], v["curve"], v["model"],
        v["profile"], personas.table, personas.fit_matrix, metrics, baselines,
        v["pngs"], md,
        html, _report_dir(reports_dir, v), Path(), v["labels"], features=fr,
        labels=v["customer_labels"], future=future, truth=v["truth"], matches=v["matches"],
        previous_uri=v["previous"][0], warnings=v["warnings"], renamed=personas.renamed,
        marketing_view=v["view"], tables=pb.tables | cp.tables | v["crosstabs"],
        tags=pb.tags, files=v["files"],
        verdict=v["verdict"],
        rules=v["rules"], scorecard=v["scorecard"])


def _distributed_result(values: dict[str, Any], recording: Recording, loaded, digest: str,
                        reports_dir: str) -> TrainResult:
    """The distributed graph's values as one result (labels left where Spark wrote them)."""
    v, sf, personas = values, values["sf"], values["personas"]
    skipped = {f"baseline {b}": "not computed by the distributed path"
               for b in v["baselines_skipped"]} | dict(sf.skipped)
    potential = recording.config.get("signals", {}).get("potential", {})
    if potential.get("enabled") and potential.get("as_features"):
        skipped["signals.potential.as_features"] = "the potential model runs on the local engine"
    sample = v["sample"]
    md, html = v["report"]
    return TrainResult(
        recording, v["run_name"], loaded, digest, v["snapshot_date"], skipped,
        sample.describe(include="all").T.reset_index(names="feature"),
        v["input_example"], v["Xs"], v["names"], v["curve"], v["model"], v["profile"],
        personas.table, personas.fit_matrix, v["eval_metrics"] | v["agreement"],
        v["baselines"], v["pngs"], md, html, _report_dir(reports_dir, v), Path(), v["labels"],
        labels_path=v["labels_path"], sample=sample, truth=v["truth"], warnings=v["warnings"],
        renamed=personas.renamed, marketing_view=v["view"], verdict=v["verdict"],
        rules=v["rules"], scorecard=v["scorecard"], tables=v["crosstabs"])
