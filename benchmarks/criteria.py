"""Which k criterion names the planted customer types best? One training per criterion on the
bundled sample (B2B) and its B2C variant; prints k, persona precision against the planted
types, planted types named, hold-out AUC and ARI. The README's default-criterion figures come
from this script:

    .venv/bin/python benchmarks/criteria.py [--criteria calinski_harabasz,future_auc] [--kinds b2b,b2c]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ["k", "persona_precision_truth", "personas_named_truth", "future_auc_repeat",
           "ari_truth", "silhouette"]


def run(criterion: str, kind: str, k_max: int, work: Path) -> dict:
    from hydra import compose, initialize_config_dir

    from clustering.console import Console
    from clustering.training import run_training
    from pipelines.common import CONF_DIR, to_settings

    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[
            f"paths.data_dir={work / 'data'}", f"paths.reports_dir={work / 'reports'}",
            f"mlflow.tracking_uri=sqlite:///{work / 'mlflow.db'}", "mlflow.log_model=false",
            "baselines.log_runs=false", f"data.sample.kind={kind}", f"model.criterion={criterion}",
            *(["data.attributes=[region,channel,age_group,gender]"] if kind == "b2c" else []),
            f"model.k_max={k_max}"])
    settings, resolved = to_settings(cfg)
    result = run_training(settings, resolved=resolved, console=Console(quiet=True))
    return {m: result.metrics.get(m, float("nan")) for m in METRICS}


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criteria", default="calinski_harabasz,silhouette,davies_bouldin,"
                                          "stability,future_auc")
    ap.add_argument("--kinds", default="b2b,b2c")
    ap.add_argument("--k-max", type=int, default=15)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for criterion in args.criteria.split(","):
                row = {"data": kind, "criterion": criterion,
                       **run(criterion, kind, args.k_max, Path(tmp))}
                rows.append(row)
                print(pd.DataFrame([row]).round(3).to_string(index=False, header=len(rows) == 1),
                      flush=True)
    print()
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
