"""Everything MLflow, in one module: store, run context, parameters, metrics, artifacts, model.

The default store is SQLite in the project folder (``sqlite:///<root>/mlflow.db``) with
artifacts beside it in ``<root>/mlartifacts``; ``MLFLOW_TRACKING_URI`` or the configured URI
(a tracking server, for a team) take precedence.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import RunStatus

from clustering.evaluation.scorecard import scorecard_line, scorecard_metrics
from clustering.files import read_frame, write_frame
from clustering.tracking.provenance import log_environment
from clustering.tracking.pyfunc import log_segmentation_model
from clustering.tracking.registry import crown
from clustering.tracking.store import open_store, redact_uri

PARAM_VALUE_LIMIT = 6000


def _local_artifact_root(uri: str, root: str | Path) -> str | None:
    """Artifacts of a local SQLite store go beside it, never into the working directory."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts").resolve().as_uri()
    return None


#: MLflow 3's UI opens an experiment in its GenAI view (traces) unless told it trains models
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def ensure_experiment(name: str, uri: str, root: str | Path) -> str:
    """The experiment's id, creating it (with a local artifact location, as a model-training
    experiment) when missing."""
    open_store(uri)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        if exp.tags.get("mlflow.experimentKind") is None:
            mlflow.MlflowClient().set_experiment_tag(exp.experiment_id, *next(iter(
                EXPERIMENT_KIND.items())))
        return exp.experiment_id
    art = _local_artifact_root(uri, root)
    location = f"{art}/{name}" if art else None
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
    except mlflow.exceptions.MlflowException:
        # created meanwhile by a parallel job
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


@contextmanager
def tracked_run(
    uri: str, experiment: str, run_name: str, root: str | Path, tags: Mapping[str, str],
    parent_run_id: str | None = None, params: Mapping[str, Any] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run that is FINISHED on success, and FAILED (or KILLED on Ctrl-C) with the
    error as a tag otherwise; a child of ``parent_run_id`` when given (sweeps). ``params``
    (the configuration) are logged at once, so a failed run still says what it ran with."""
    exp_id = ensure_experiment(experiment, uri, root)
    end_dead_runs(exp_id)
    tags = {**tags, "host": socket.gethostname(), "pid": str(os.getpid())}
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags),
                           parent_run_id=parent_run_id, nested=parent_run_id is not None)
    try:
        if params is not None:
            log_params(params)
        yield run
    except KeyboardInterrupt:
        mlflow.set_tag("error", "interrupted (KeyboardInterrupt)")
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException as exc:
        mlflow.set_tag("error", f"{type(exc).__name__}: {exc}"[:5000])
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def end_dead_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the runs of this machine still RUNNING whose process is gone (``kill -9``,
    a crash, a power cut): they would otherwise stay RUNNING for ever."""
    client, ended = mlflow.MlflowClient(), []
    host = socket.gethostname()
    for r in client.search_runs([experiment_id], f"attributes.status = 'RUNNING' and "
                                f"tags.host = '{host}'", max_results=200):
        pid = int(r.data.tags.get("pid", "0") or 0)
        if pid <= 0 or pid == os.getpid() or _alive(pid):
            continue
        client.set_tag(r.info.run_id, "error", f"process {pid} ended without finishing the run "
                       "(killed or crashed); marked KILLED by a later run")
        client.set_terminated(r.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        ended.append(r.info.run_id)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists as JSON."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out |= flatten(v, key + ".")
        else:
            s = json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
            out[key] = s[:PARAM_VALUE_LIMIT]
    return out


#: configuration kept out of the run's parameters (it is in config/resolved.yaml): the persona
#: catalogue's texts and rules would bury the parameters one compares runs by
PARAMS_NOT_LOGGED = ("personas.catalogue.", "personas.special.")


#: parameters whose values are secrets: Spark settings (credentials of object stores, ...) and
#: anything named like a password or token
SECRET_KEYS = re.compile(r"(^engine\.conf\.)|(password|secret|token|credential|access[_.]?key)",
                         re.IGNORECASE)


def safe_params(flat: Mapping[str, str]) -> dict[str, str]:
    """Parameters fit to log and print: secrets masked, credentials out of URIs."""
    return {k: "***" if SECRET_KEYS.search(k) else (redact_uri(v) if "://" in v else v)
            for k, v in flat.items()}


def log_params(params: Mapping[str, Any]) -> None:
    flat = safe_params(flatten(params))
    items = [(k, v) for k, v in flat.items() if not k.startswith(PARAMS_NOT_LOGGED)]
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i : i + 100]))


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    # rounded for the UI's columns (0.4521585173730521 read as noise); never NaN: a metric
    # a segmentation does not have is left out, not logged as NaN
    clean = {k: round(float(v), 4) for k, v in metrics.items() if v is not None and v == v}
    mlflow.log_metrics(clean, step=step)


def log_frame(df: pd.DataFrame, artifact_path: str) -> None:
    """A table as CSV or Parquet (by the path's extension) under the run's artifacts."""
    name = Path(artifact_path).name
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / name
        if name.endswith(".parquet"):  # categoricals as text: files compare across runs
            write_frame(df, local)
        else:
            df.to_csv(local, index=False)
        mlflow.log_artifact(str(local), artifact_path=str(Path(artifact_path).parent) or None)


def log_folder(folder: str | Path, artifact_path: str) -> None:
    """Every file of ``folder`` under the run's ``artifact_path``."""
    mlflow.log_artifacts(str(folder), artifact_path)


def log_text(text: str, artifact_path: str) -> None:
    mlflow.log_text(text, artifact_path)


def log_bytes(data: bytes, artifact_path: str) -> None:
    """A file already serialised (a figure's PNG, the labels' Parquet) under the run's
    artifacts."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / Path(artifact_path).name
        local.write_bytes(data)
        mlflow.log_artifact(str(local), artifact_path=str(Path(artifact_path).parent) or None)


def log_dataset(df: pd.DataFrame, source: str, name: str, digest: str) -> None:
    """The training input as an MLflow dataset: the feature table, named by its source files."""
    import warnings

    # MLflow infers the schema value by value: on a million customers that takes half a
    # minute, so the dataset carries a sample for its schema; rows and digest are exact
    sample = df.head(1000)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified dataset source")
        ds = mlflow.data.from_pandas(sample, source=source, name=name, digest=digest[:36])
    mlflow.set_tag("dataset.rows", str(len(df)))
    for attempt in range(3):
        try:
            mlflow.log_input(ds, context="training")
            return
        except mlflow.exceptions.MlflowException as exc:
            # two runs of one sweep logging the same dataset at once: the store looks the
            # dataset up, then inserts it, and the slower one hits the other's row (seen with
            # PostgreSQL behind a team server); asked again, it finds that row and links it
            if attempt == 2 or not lost_dataset_race(exc):
                raise
            time.sleep(0.2 * (attempt + 1))


def lost_dataset_race(exc: Exception) -> bool:
    """The store refused a dataset another run inserted a moment before."""
    text = str(exc)
    return "dataset_pk" in text or ("UNIQUE constraint failed: datasets" in text)


def latest_run(experiment: str, uri: str | None = None, kind: str = "clustering"):
    """The newest FINISHED run of ``kind`` in ``experiment`` (for notebooks and reports)."""
    if uri:
        open_store(uri)
    runs = mlflow.search_runs(
        experiment_names=[experiment], output_format="list", max_results=1,
        filter_string=f"tags.kind = '{kind}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise LookupError(f"no finished {kind} run in experiment '{experiment}' at "
                          f"{mlflow.get_tracking_uri()}: run `make train` first")
    return runs[0]


def run_to_read(data_name: str, uri: str | None = None, model_name: str | None = None):
    """The run a reader of a dataset's results means: the run of its champion version (what
    score and serve use), else the newest finished `make train` run, never a sweep job (a
    sweep's last job is not its best, and has no baselines)."""
    if uri:
        open_store(uri)
    client = mlflow.MlflowClient()
    name = model_name or f"segmentation-{data_name}"
    try:
        return client.get_run(client.get_model_version_by_alias(name, "champion").run_id)
    except mlflow.exceptions.MlflowException:
        pass
    runs = mlflow.search_runs(
        experiment_names=[f"segmentation-{data_name}"], output_format="list", max_results=200,
        filter_string="tags.kind = 'clustering' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"])
    runs = [r for r in runs if "sweep" not in r.data.tags]
    if not runs:
        raise LookupError(f"no finished `make train` run of '{data_name}' at "
                          f"{mlflow.get_tracking_uri()}: run `make train` first")
    return runs[0]


def load_table(run_id: str, artifact_path: str) -> pd.DataFrame:
    """A CSV or Parquet artifact of a run as a DataFrame."""
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path)
    return read_frame(local)


def compare_runs(parent_run_id: str, metrics: list[str]) -> pd.DataFrame:
    """The clustering run and its baseline child runs side by side on ``metrics``."""
    parent = mlflow.get_run(parent_run_id)
    children = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id], output_format="list",
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
    )
    rows = {"clusters": parent.data.metrics}
    rows |= {c.data.tags.get("baseline", c.info.run_name): c.data.metrics for c in children}
    return pd.DataFrame({n: {m: r.get(m) for m in metrics} for n, r in rows.items()}).T


def description(result) -> str:
    """The run's description on its MLflow page (Markdown): the verdict, the personas and the
    deciding metrics, rounded."""
    m = result.metrics
    lines = [f"**{result.verdict}**", ""] if result.verdict else []
    view = result.marketing_view
    if view is not None and len(view):
        lines += [f"{len(view)} personas from {int(m.get('k', 0))} segments: " + ", ".join(
            f"{r.persona} ({r.share:.0%} of customers, {r.revenue_share:.0%} of revenue)"
            for r in view.itertuples()) + ".", ""]
    keys = [("future_auc_repeat", "who buys again, hold-out AUC"),
            ("business_separation", "business separation"), ("silhouette", "silhouette"),
            ("persona_fit", "persona fit")]
    lines += [f"- {words}: {m[k]:.3f}" for k, words in keys if k in m and m[k] == m[k]]
    if result.scorecard is not None:
        lines += [f"- scorecard: {scorecard_line(result.scorecard)}"]
    return "\n".join(lines)


def log_training(result, say: Callable[[str], None]) -> None:
    """Record a computed :class:`clustering.result.TrainResult` in the active run: tags,
    metrics, the k curve, tables, plots, the report, the model and the baselines' child runs.
    A distributed run's labels stay where Spark wrote them (their path is a tag): a table of
    every customer does not belong in an artifact store."""
    rec, run = result.recording, mlflow.active_run()
    seg_names = result.model.segment_names
    mlflow.set_tag("mlflow.runName", result.run_name)
    log_environment()
    mlflow.set_tags({"data.digest": result.digest, "snapshot_date": str(result.snapshot_date),
                     "skipped_features": ",".join(result.skipped) or "none",
                     "personas": "; ".join(f"{s}: {n}" for s, n in seg_names.items()),
                     **({"labels_path": str(result.labels_path)} if result.labels_path else {}),
                     **({"verdict": result.verdict} if result.verdict else {}),
                     "mlflow.note.content": description(result), **result.tags})
    log_metrics(result.metrics)
    if result.stage_seconds:  # a table, not a metric each: the UI's columns stay few
        log_frame(pd.DataFrame({"stage": list(result.stage_seconds),
                                "seconds": list(result.stage_seconds.values())}),
                  "timings/stages.csv")
        log_metrics({"seconds": result.seconds})
    curve = result.k_curve
    if curve is not None and len(curve) > 1 and rec.criterion in curve:
        for row in curve.itertuples(index=False):
            log_metrics({f"k_curve_{c}": getattr(row, c) for c in curve.columns if c != "k"},
                        step=int(row.k))
        log_frame(curve, "selection/k_curve.csv")
    if result.features is not None:
        log_dataset(result.features.table, ",".join(result.loaded.files), rec.data_name,
                    result.digest)
    summary = "features/feature_summary.csv" if result.sample is None else \
        "features/feature_summary_sample.csv"
    log_frame(result.feature_summary, summary)
    _log_segments(result)
    for f in sorted(result.report_dir.iterdir()):  # Spark's labels folder stays where it is
        if result.labels_path is None or f.resolve() != Path(result.labels_path).resolve():
            (mlflow.log_artifacts(str(f), f"report/{f.name}") if f.is_dir()
             else mlflow.log_artifact(str(f), "report"))
    for path, data in (result.figures | result.files).items():
        log_bytes(data, path)
    for path, table in result.tables.items():
        log_frame(table, path)
    log_text(_yaml(rec.config), "config/resolved.yaml")  # secrets masked, as in the parameters
    if result.skipped:
        log_frame(pd.DataFrame({"skipped": list(result.skipped),
                                "reason": list(result.skipped.values())}), "config/skipped.csv")
    _log_quality(result, say)
    if rec.log_baseline_runs:
        _log_baseline_runs(result, run)
    if rec.log_model:  # last: a version is registered once its run holds everything
        rules = {} if result.rules is None else {"segment_rules.sql": result.rules.sql(),
                                                  "segment_rules.json": result.rules.to_json()}
        info = log_segmentation_model(result.model, result.input_example, rec.register_as,
                                      rules)
        if rec.register_as and info.registered_model_version:
            say(f"registered models:/{rec.register_as}/{info.registered_model_version}")
            if rec.champion_metric:
                crown(rec.register_as, str(info.registered_model_version), rec.champion_metric,
                      say)


def _log_segments(result) -> None:
    """Profiles, personas, guardrails, renames, the scorecard and the rules."""
    personas = result.personas
    log_frame(result.profile, "segments/profiles.csv")
    log_frame(personas.drop(columns=["persona_key"], errors="ignore").assign(
        actions=personas["actions"].map("; ".join)), "segments/personas.csv")
    log_frame(result.persona_fit_matrix.reset_index(names="segment"),
              "segments/persona_fit_matrix.csv")
    if result.marketing_view is not None:
        log_frame(result.marketing_view, "segments/marketing_view.csv")
    log_metrics({"n_personas": float(personas.loc[personas["segment"] >= 0, "persona"].nunique()),
                 "guardrail_warnings": float(len(result.warnings))})
    if result.warnings:
        log_text("\n".join(result.warnings) + "\n", "segments/guardrails.txt")
    if result.renamed is not None and len(result.renamed):
        log_frame(result.renamed, "segments/renamed.csv")
    if "clusters" in result.future:
        log_frame(result.future["clusters"][1], "validation/holdout_by_segment.csv")
    if result.scorecard is not None:
        log_frame(result.scorecard.drop(columns="number"), "segments/scorecard.csv")
        log_metrics(scorecard_metrics(result.scorecard))
        mlflow.set_tag("scorecard", scorecard_line(result.scorecard))
    if result.rules is not None:  # the SQL and JSON are in report/, and beside the model
        log_frame(result.rules.table, "segments/rules.csv")
        log_metrics({"rules_agreement": result.rules.agreement,
                     "rules_count": float(len(result.rules.rules))})
    if result.matches is not None:
        log_frame(result.matches, "segments/id_matching.csv")
        log_metrics({f"{s}_segments": float((result.matches.status == s).sum())
                     for s in ("matched", "new", "vanished")})


def _log_quality(result, say: Callable[[str], None]) -> None:
    """What the checks read, kept and set aside, file by file."""
    loaded, q = result.loaded, result.loaded.quality
    if q is not None:
        log_metrics({"rows_read": q.rows_read, "rows_kept": q.rows_kept,
                     "rows_quarantined": q.quarantined}
                    | {f"quarantine_{k}": v for k, v in q.counts.items()})
        files = pd.DataFrame(
            [{"file": f, "status": "read", "rows": n, "kept": k, "reason": ""}
             for f, (n, k) in sorted(q.per_file.items())]
            + [{"file": f, "status": "skipped", "rows": 0, "kept": 0, "reason": why}
               for f, why in loaded.skipped])
        log_frame(files, "quality/files.csv")
        if loaded.attribute_quality is not None and len(loaded.attribute_quality):
            log_frame(loaded.attribute_quality, "quality/attributes.csv")
        if loaded.notes or loaded.warnings:
            log_text("\n".join(loaded.notes + [f"warning: {w}" for w in loaded.warnings]) + "\n",
                     "quality/notes.txt")
    if result.quarantine_path is not None:
        mlflow.log_artifact(str(result.quarantine_path), "quality")
        say(f"quarantined rows with reasons: {result.quarantine_path}")


def _yaml(cfg) -> str:
    import dataclasses

    import yaml

    def mask(d, prefix=""):
        if isinstance(d, Mapping):
            return {k: mask(v, f"{prefix}{k}.") for k, v in d.items()}
        key = prefix[:-1]
        if d is not None and SECRET_KEYS.search(key):
            return "***"
        return redact_uri(d) if isinstance(d, str) and "://" in d else d

    return yaml.safe_dump(mask(cfg if isinstance(cfg, dict) else dataclasses.asdict(cfg)),
                          sort_keys=False)


def _log_baseline_runs(result, run) -> None:
    """One child run per baseline, tagged ``kind=baseline``, scored like the clusters."""
    rec = result.recording
    n = result.metrics.get("n_customers", float(len(result.segments)))
    for b, seg_b in result.baselines.items():
        tags = {"kind": "baseline", "baseline": b, "git_commit": run.data.tags.get("git_commit", ""),
                "data": rec.data_name, "data.digest": result.digest, **rec.tags}
        with mlflow.start_run(run_name=f"baseline-{b}-{rec.data_name}", nested=True,
                              experiment_id=run.info.experiment_id, tags=tags):
            params = rec.baseline_params.get(b, {})
            log_params({"baseline": b, **{f"{b}.{p}": v for p, v in params.items()}})
            sizes = seg_b.sizes().rename_axis("segment")
            log_metrics(seg_b.metrics | {"n_customers": n, "k": float(len(sizes))})
            log_frame(sizes.reset_index(name="customers"), "segments/sizes.csv")
            if b in result.future:
                log_frame(result.future[b][1], "validation/holdout_by_segment.csv")
