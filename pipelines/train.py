"""Train a customer segmentation and track it in MLflow.

    .venv/bin/python pipelines/train.py      # sample data, k-means, k chosen in 3..15
    .venv/bin/python pipelines/train.py model.k=6 preprocess=robust
    .venv/bin/python pipelines/train.py data=csv data.path=tx.csv data.columns.customer_id=CustId
    .venv/bin/python pipelines/train.py --multirun model.k=4,6,8

Configuration: conf/train.yaml and its groups; `--help` lists them, `--cfg job` prints the
composed configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from clustering.errors import ClusteringError  # noqa: E402
from pipelines.common import (  # noqa: E402
    CONF_DIR,
    exit_on_fault,
    exit_on_user_error,
    prepared_argv,
    to_settings,
)


def train(cfg: DictConfig) -> float:
    """Run one training job; returns the silhouette a sweep optimises."""
    # the run's libraries (MLflow, scikit-learn, DuckDB) load here, not for --help (4 s -> 1 s)
    from clustering.console import Console
    from clustering.reporting.summary import job_line
    from clustering.training import format_summary, run_training

    try:
        settings, resolved = to_settings(cfg)
        line = settings.summary == "line"
        result = run_training(settings, resolved=resolved,
                              console=Console(quiet=True) if line else None)
    except ClusteringError as exc:
        exit_on_user_error(exc)
    except Exception as exc:  # noqa: BLE001 - a full disk, a read-only store: one line
        exit_on_fault(exc)
    print(job_line(result) if line else format_summary(result, verbose=settings.verbose),
          flush=True)
    return result.metrics.get("silhouette", float("nan"))


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    return train(cfg)


if __name__ == "__main__":
    sys.argv[1:] = prepared_argv(sys.argv[1:], "train")
    main()
