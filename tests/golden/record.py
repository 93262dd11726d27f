"""Golden labels: what a fixed configuration labels on the generated sample, as digests.

``python tests/golden/record.py`` writes ``labels.json`` from the code it runs on; the test
(tests/golden/test_golden.py) trains the same configurations and compares. The file was
recorded on the commit before the wings move (d0bc0cf), so the test said the move changed
no customer's segment or persona name; recorded again for the two naming levels (issue 28),
which changed names only: ``segments_sha256`` (ids alone) equals what the commit before them
gave."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("labels.json")
COMMON = ["data.sample.n_customers=2500", "evaluate.holdout_days=0", "evaluate.stability_runs=0",
          "baselines.log_runs=false", "mlflow.log_model=false", "mlflow.match_previous=false"]
#: name -> overrides; the Spark ones need pyspark (the `slow` marker in the test)
CONFIGS = {
    "kmeans": ["model=kmeans", "model.k=6"],
    "hierarchical": ["model=hierarchical", "model.k=6"],
    "hdbscan": ["model=hdbscan"],
    "spark_kmeans_distributed": ["engine=spark", "engine.distributed=true", "model=spark_kmeans",
                                 "model.k=6", "engine.sample_rows=1000"],
}


def digest(result) -> dict:
    """Segment, segment name and persona of every customer (sorted by id) as a SHA-256, the
    segments alone as another, and the names of both levels."""
    cols = ["customer_id", "segment", "segment_name", "persona"]
    if getattr(result, "labels", None) is not None:
        labels = result.labels[cols]
    else:
        labels = pd.read_parquet(result.labels_path)[cols]
    labels = labels.astype({"customer_id": str, "segment_name": str, "persona": str}
                           ).sort_values("customer_id")
    text = labels.to_csv(index=False, na_rep="")
    ids = labels[["customer_id", "segment"]].to_csv(index=False, na_rep="")
    model = result.model
    return {"labels_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "segments_sha256": hashlib.sha256(ids.encode()).hexdigest(),
            "customers": len(labels),
            "segment_names": {str(k): v for k, v in sorted(model.segment_names.items())},
            "segment_personas": {str(k): v for k, v in sorted(
                (model.segment_personas or {}).items())}}


def train(name: str, workdir: Path) -> dict:
    from hydra import compose, initialize_config_dir

    from clustering.console import Console
    from clustering.training import run_training
    from pipelines.common import CONF_DIR, to_settings

    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[f"paths.data_dir={workdir / 'data'}",
                                          f"paths.reports_dir={workdir / 'reports'}",
                                          f"mlflow.tracking_uri=sqlite:///{workdir / 'm.db'}",
                                          *COMMON, *CONFIGS[name]])
    settings, resolved = to_settings(cfg)
    return digest(run_training(settings, resolved=resolved, console=Console(quiet=True)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    names = sys.argv[1:] or list(CONFIGS)
    with tempfile.TemporaryDirectory() as tmp:
        out = {n: train(n, Path(tmp)) for n in names}
    GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps(out, indent=1))
