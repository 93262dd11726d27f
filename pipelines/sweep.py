"""Sweep algorithms, k and scalers into one MLflow experiment and crown a champion.

    python pipelines/sweep.py                                # the grid in conf/sweep.yaml
    python pipelines/sweep.py --metric silhouette hydra.sweeper.params.model.k=4,6,8

1. prepares the MLflow store and experiment once (parallel jobs must not race to create them)
   and opens a parent run for the sweep;
2. runs the Hydra multirun (`pipelines/train.py --config-name sweep`, joblib launcher), every
   job a child run tagged with the sweep id;
3. prints and logs the comparison table, registers the best run's model (by ``--metric``) as a
   new version of the dataset's model, and points the alias ``champion`` at it only if it beats
   the current champion on the same metric (the comparison is a tag on the version).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clustering.errors import ConfigError  # noqa: E402
from pipelines.common import PROJECT_ROOT  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["silhouette", "calinski_harabasz", "davies_bouldin", "business_separation",
           "persona_fit", "future_auc_repeat", "future_eta2_spend", "min_share", "stability_ari",
           "dbcv", "noise_share", "ari_truth"]

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metric", default="future_auc_repeat",
                    help="metric that picks the champion (default: future_auc_repeat)")
    ap.add_argument("--data", default="sample", help="the dataset (data.name) of the jobs")
    ap.add_argument("--experiment", default=None, help="default: segmentation-<data>")
    ap.add_argument("--model-name", default=None,
                    help="registered model (default: segmentation-<data>, as make train)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides passed to every job")
    args = ap.parse_args(argv)
    import mlflow  # MLflow loads for a sweep, not for --help

    from clustering import tracking

    args.experiment = args.experiment or f"segmentation-{args.data}"
    args.model_name = tracking.model_name_for(args.model_name, args.data)
    uri = tracking.resolve_tracking_uri(None, PROJECT_ROOT)
    exp_id = tracking.ensure_experiment(args.experiment, uri, PROJECT_ROOT)
    sweep_id = uuid.uuid4().hex[:8]
    with mlflow.start_run(experiment_id=exp_id, run_name=f"sweep-{sweep_id}",
                          tags={"kind": "sweep", "sweep": sweep_id}) as parent:
        cmd = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "--config-name",
               "sweep", *job_overrides(args.experiment, args.model_name, parent.info.run_id,
                                       sweep_id), *args.overrides]
        print(f"Sweep {sweep_id}: {' '.join(cmd[1:])}", flush=True)
        env = {**__import__("os").environ, "MLFLOW_TRACKING_URI": uri}
        if subprocess.run(cmd, env=env).returncode != 0:
            raise SystemExit("sweep: a job failed (see above); finished jobs are in the MLflow UI")
        for r in mlflow.search_runs(experiment_ids=[exp_id], output_format="list",
                                    filter_string=f"tags.sweep = '{sweep_id}' and "
                                    "tags.kind = 'clustering' and attributes.status != 'FINISHED'"):
            print(f"job {r.info.run_name}: {r.info.status} "
                  f"{r.data.tags.get('error', '')[:300]}", file=sys.stderr, flush=True)
        table = rank(comparison(exp_id, sweep_id, args.metric), args.metric)
        print("\n" + table.set_index("run_name").round(3).to_string(), flush=True)
        tracking.log_frame(table.reset_index(), "sweep/comparison.csv")
        best = table.index[0]
        version = register(best, args.model_name)
        print(f"\nBest of the sweep by {args.metric}: {table.at[best, 'run_name']} (run {best})"
              f" -> version {version} of {args.model_name}")
        try:
            won = tracking.promote(args.model_name, version, args.metric,
                                   args.metric in tracking.LOWER_IS_BETTER)
        except ConfigError as exc:  # a champion of other data: not comparable, not promoted
            print(f"not promoted: {exc}", flush=True)
            won = False
        mlflow.set_tags({"best_run": best, "metric": args.metric, "promoted": str(won)})
    return 0


def hydra_string(value: str) -> str:
    """``value`` as a quoted Hydra override value: unquoted, a sweep id such as ``688693e6``
    parses as the float 6.88693e11 (and ``a,b`` as a sweep), so the tag would never match."""
    # Hydra unescapes backslashes only before a quote (and the closing one)
    quoted = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, quoted) + "'"


def job_overrides(experiment: str, model_name: str, parent_run_id: str, sweep_id: str) -> list[str]:
    """The overrides that file every job of the sweep under its parent run and sweep tag."""
    return [f"mlflow.experiment={hydra_string(experiment)}",
            f"mlflow.registered_model_name={hydra_string(model_name)}",
            f"mlflow.parent_run_id={hydra_string(parent_run_id)}",
            f"+mlflow.tags.sweep={hydra_string(sweep_id)}"]


def comparison(experiment_id: str, sweep_id: str, metric: str | None = None) -> pd.DataFrame:
    """One row per finished job: its model, k, scaler and metrics (``COLUMNS`` and ``metric``)."""
    import mlflow
    import pandas as pd

    runs = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list",
                              filter_string=f"tags.sweep = '{sweep_id}' and tags.kind = 'clustering'"
                                            " and attributes.status = 'FINISHED'")
    columns = COLUMNS + ([metric] if metric and metric not in COLUMNS else [])
    rows = {}
    for r in runs:
        p = r.data.params
        rows[r.info.run_id] = {"run_name": r.info.run_name, "model": p.get("model.name"),
                               "k": r.data.metrics.get("k"), "scaler": p.get("preprocess.scaler"),
                               **{c: r.data.metrics.get(c) for c in columns}}
    return pd.DataFrame.from_dict(rows, orient="index")


def rank(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Runs that logged ``metric``, best first; the runs without it are dropped (not crowned)."""
    from clustering.tracking import LOWER_IS_BETTER

    if table.empty:
        raise SystemExit("sweep: no finished runs (see the jobs' errors above, and their runs' "
                         "status and `error` tag in the MLflow UI)")
    scored = table[table[metric].notna()] if metric in table else table.iloc[:0]
    if scored.empty:
        logged = [c for c in table.columns[4:] if table[c].notna().any()]
        raise SystemExit(f"sweep: no run logged the metric '{metric}'; choose --metric from "
                         f"{logged}")
    keep = [c for c in scored.columns if c == metric or scored[c].notna().any()]
    return scored[keep].sort_values(metric, ascending=metric in LOWER_IS_BETTER, kind="stable")


def register(run_id: str, name: str) -> str:
    """Register the run's logged model as a new version of ``name``."""
    import mlflow

    run = mlflow.get_run(run_id)
    logged = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'",
                                         output_format="list")
    uri = logged[0].model_uri if logged else f"runs:/{run_id}/model"
    return mlflow.register_model(uri, name).version


if __name__ == "__main__":
    sys.exit(main())
