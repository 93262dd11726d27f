"""Record a distributed training run (:mod:`clustering.spark.training`) in the active MLflow
run: the same metric names, tables, plots, report, baseline child runs and registered model as
:func:`clustering.tracking.runs.log_training`; the labels stay where Spark wrote them (their
path is a tag), since a table of every customer does not belong in an artifact store."""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import pandas as pd

from clustering.tracking.provenance import log_environment
from clustering.tracking.pyfunc import log_segmentation_model
from clustering.tracking.registry import model_name_for
from clustering.tracking.runs import (
    _yaml,
    log_figure,
    log_frame,
    log_metrics,
    log_params,
    log_text,
)


def log_distributed(result, resolved, digest: str, say: Callable[[str], None]) -> None:
    cfg = result.settings
    run = mlflow.active_run()
    names = result.model.segment_names
    mlflow.set_tag("mlflow.runName", result.run_name)
    log_environment()
    mlflow.set_tags({"data.digest": digest, "snapshot_date": str(result.snapshot),
                     "skipped_features": ",".join(result.skipped) or "none",
                     "labels_path": str(result.labels_path),
                     "personas": "; ".join(f"{s}: {n}" for s, n in names.items())})
    log_metrics(result.metrics)
    curve = result.k_curve
    if curve is not None and len(curve) > 1:
        for row in curve.itertuples(index=False):
            log_metrics({f"k_curve_{c}": getattr(row, c) for c in curve.columns if c != "k"},
                        step=int(row.k))
        log_frame(curve, "selection/k_curve.csv")
    log_frame(result.sample.describe(include="all").T.reset_index(names="feature"),
              "features/feature_summary_sample.csv")
    log_frame(result.profile, "segments/profiles.csv")
    personas = result.personas
    log_frame(personas.assign(actions=personas["actions"].map("; ".join)), "segments/personas.csv")
    log_frame(result.fit_matrix.reset_index(names="segment"), "segments/persona_fit_matrix.csv")
    log_metrics({"n_personas": float(personas.loc[personas["segment"] >= 0, "name"].nunique()),
                 "guardrail_warnings": float(len(result.warnings))})
    if result.warnings:
        log_text("\n".join(result.warnings) + "\n", "segments/guardrails.txt")
    if result.skipped:
        log_frame(pd.DataFrame({"skipped": list(result.skipped),
                                "reason": list(result.skipped.values())}), "config/skipped.csv")
    for f in ("persona_report.html", "persona_report.md"):
        mlflow.log_artifact(str(result.report_dir / f), "report")
    for path, fig in result.figures.items():
        log_figure(fig, path)
    log_text(_yaml(resolved if resolved is not None else cfg), "config/resolved.yaml")
    if cfg.baselines.log_runs:
        for b, seg_b in result.baselines.items():
            tags = {"kind": "baseline", "baseline": b, "data": cfg.data.name,
                    "git_commit": run.data.tags.get("git_commit", ""), "data.digest": digest,
                    "engine": "spark-distributed"}
            with mlflow.start_run(run_name=f"baseline-{b}-{cfg.data.name}", nested=True,
                                  experiment_id=run.info.experiment_id, tags=tags):
                log_params({"baseline": b, **{f"{b}.{p}": v for p, v in
                                              dict(cfg.baselines.params.get(b) or {}).items()}})
                log_metrics(seg_b.metrics | {"n_customers": result.metrics["n_customers"],
                                             "k": float(len(set(seg_b.labels)))})
    if cfg.mlflow.log_model:  # last: a version is registered once its run holds everything
        register = (model_name_for(cfg.mlflow.registered_model_name, cfg.data.name)
                    if cfg.mlflow.register else None)
        info = log_segmentation_model(result.model, result.sample[result.inputs].head(5), register)
        if register and info.registered_model_version:
            say(f"registered models:/{register}/{info.registered_model_version}")
