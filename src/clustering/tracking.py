"""Everything MLflow, in one module: store, run context, parameters, metrics, artifacts, model.

The default store is SQLite in the project folder (``sqlite:///<root>/mlflow.db``) with
artifacts beside it in ``<root>/mlartifacts``; ``MLFLOW_TRACKING_URI`` or the configured URI
(a tracking server, for a team) take precedence.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import RunStatus

PARAM_VALUE_LIMIT = 6000


def resolve_tracking_uri(configured: str | None, root: str | Path) -> str:
    """Configured URI, else ``MLFLOW_TRACKING_URI``, else SQLite in the project folder."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def _local_artifact_root(uri: str, root: str | Path) -> str | None:
    """Artifacts of a local SQLite store go beside it, never into the working directory."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts").resolve().as_uri()
    return None


def ensure_experiment(name: str, uri: str, root: str | Path) -> str:
    """The experiment's id, creating it (with a local artifact location) when missing."""
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    art = _local_artifact_root(uri, root)
    location = f"{art}/{name}" if art else None
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # created meanwhile by a parallel job
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


@contextmanager
def tracked_run(
    uri: str, experiment: str, run_name: str, root: str | Path, tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run that is FINISHED on success, and FAILED (or KILLED on Ctrl-C) with the
    error as a tag otherwise; a child of ``parent_run_id`` when given (sweeps)."""
    exp_id = ensure_experiment(experiment, uri, root)
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags),
                           parent_run_id=parent_run_id, nested=parent_run_id is not None)
    try:
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


def log_params(params: Mapping[str, Any]) -> None:
    flat = flatten(params)
    items = list(flat.items())
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i : i + 100]))


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    clean = {k: float(v) for k, v in metrics.items() if v is not None and v == v}
    mlflow.log_metrics(clean, step=step)


def log_frame(df: pd.DataFrame, artifact_path: str) -> None:
    """A table as CSV or Parquet (by the path's extension) under the run's artifacts."""
    name = Path(artifact_path).name
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / name
        if name.endswith(".parquet"):
            df.to_parquet(local, index=False)
        else:
            df.to_csv(local, index=False)
        mlflow.log_artifact(str(local), artifact_path=str(Path(artifact_path).parent) or None)


def log_text(text: str, artifact_path: str) -> None:
    mlflow.log_text(text, artifact_path)


def log_figure(fig, artifact_path: str) -> None:
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, artifact_path)
    plt.close(fig)


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
    mlflow.log_input(ds, context="training")


def requirements() -> list[str]:
    """Pinned pip requirements of the logged model (explicit: no slow inference)."""
    from importlib.metadata import version

    pkgs = ["scikit-learn", "numpy", "pandas", "scipy", "cloudpickle", "hdbscan", "fastcluster",
            "pyarrow"]
    reqs = []
    for p in pkgs:
        try:
            reqs.append(f"{p}=={version(p)}")
        except Exception:  # not installed: the model does not need it
            continue
    return reqs


def log_segmentation_model(model, input_example: pd.DataFrame, registered_name: str | None = None):
    """Log the segmentation as a pyfunc model (code shipped with it, explicit requirements,
    signature and input example); register it under ``registered_name`` when given."""
    from mlflow.models import infer_signature

    from clustering.model import SegmentationPyfunc, save_for_mlflow

    package = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        path = save_for_mlflow(model, Path(tmp))
        output = model.label_frame(input_example)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=SegmentationPyfunc(),
            artifacts={"segmentation": str(path)},
            code_paths=[str(package)],
            signature=infer_signature(input_example, output),
            input_example=input_example,
            pip_requirements=requirements() + [f"mlflow=={mlflow.__version__}", "joblib"],
            registered_model_name=registered_name,
        )
    return info


def resolve_model_uri(model: str) -> str:
    """``models:/name@alias``, ``models:/name/version``, ``runs:/...`` or a bare run id."""
    if model.startswith(("models:/", "runs:/")) or "://" in model or Path(model).exists():
        return model
    if len(model) == 32 and all(c in "0123456789abcdef" for c in model):
        return f"runs:/{model}/model"
    raise ValueError(f"model '{model}' is not a models:/name@alias, models:/name/version, "
                     "runs:/<run id>/model URI or a run id")


def model_identity(uri: str) -> tuple[str, str]:
    """(registered name, version) of a model URI; runs give ('run:<id>', '')."""
    client = mlflow.MlflowClient()
    if uri.startswith("models:/"):
        ref = uri.removeprefix("models:/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = ref.partition("/")
        if version.isdigit():
            return name, version
        return name, version or ""
    if uri.startswith("runs:/"):
        return f"run:{uri.split('/')[1]}", ""
    return uri, ""


def previous_version(name: str) -> str | None:
    """URI of the latest registered version of ``name``, if any (the model a retrain follows)."""
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except mlflow.exceptions.MlflowException:
        return None
    if not versions:
        return None
    return f"models:/{name}/{max(int(v.version) for v in versions)}"


def log_environment() -> None:
    """Python, platform, thread settings and the versions of the packages that shape results."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"python=={platform.python_version()}", f"platform: {platform.platform()}"]
    for p in ["numpy", "pandas", "scikit-learn", "scipy", "duckdb", "hdbscan", "fastcluster",
              "mlflow", "hydra-core", "pyarrow", "threadpoolctl"]:
        try:
            lines.append(f"{p}=={version(p)}")
        except PackageNotFoundError:
            continue
    try:
        from threadpoolctl import threadpool_info

        lines += [f"threadpool: {i.get('internal_api')} {i.get('num_threads')} threads"
                  for i in threadpool_info()]
    except Exception:  # informational only
        pass
    mlflow.log_text("\n".join(lines) + "\n", "environment/packages.txt")
    mlflow.set_tag("python_version", platform.python_version())


def git_commit(root: str | Path) -> str:
    """The project's git commit (``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


def latest_run(experiment: str, uri: str | None = None, kind: str = "clustering"):
    """The newest FINISHED run of ``kind`` in ``experiment`` (for notebooks and reports)."""
    if uri:
        mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(
        experiment_names=[experiment], output_format="list", max_results=1,
        filter_string=f"tags.kind = '{kind}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise LookupError(f"no finished {kind} run in experiment '{experiment}' at "
                          f"{mlflow.get_tracking_uri()}: run `make train` first")
    return runs[0]


def load_table(run_id: str, artifact_path: str) -> pd.DataFrame:
    """A CSV or Parquet artifact of a run as a DataFrame."""
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path)
    return pd.read_parquet(local) if local.endswith(".parquet") else pd.read_csv(local)


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
