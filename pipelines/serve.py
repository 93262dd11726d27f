"""Serve a dataset's registered segmentation model as a REST API (MLflow's scoring server).

    python pipelines/serve.py                      # the sample's champion, else its latest version
    python pipelines/serve.py --model 3 --port 5001
    python pipelines/serve.py --data shop --model champion

Then POST feature rows to /invocations (see the README for a curl example); the answer has a
segment, persona, confidence and outlier flag per row.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from clustering import tracking  # noqa: E402
from clustering.errors import ClusteringError  # noqa: E402
from pipelines.common import PROJECT_ROOT, exit_on_fault, exit_on_user_error  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="", help="a version, an alias (champion), a run id or a "
                    "models:/ or runs:/ URI; empty: the champion, else the latest version")
    ap.add_argument("--data", default="sample", help="the dataset (data.name) whose model to serve")
    ap.add_argument("--model-name", default=None, help="registered model (default: "
                    "segmentation-<data>)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", default="5001")
    args = ap.parse_args(argv)
    uri = tracking.resolve_tracking_uri(None, PROJECT_ROOT)
    try:
        tracking.open_store(uri)
        model_uri = tracking.choose_model(args.model or None,
                                          tracking.model_name_for(args.model_name, args.data))
        tracking.check_trusted(model_uri)  # the server process runs the model's code
    except ClusteringError as exc:
        exit_on_user_error(exc)
    except Exception as exc:  # noqa: BLE001 - a full disk, a read-only store: one line
        exit_on_fault(exc)
    if notice := tracking.local_model_notice(model_uri):
        print(notice, flush=True)
    print(f"Serving {model_uri} from {tracking.redact_uri(uri)} on http://{args.host}:{args.port}/invocations",
          flush=True)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    os.execv(mlflow_cli, [mlflow_cli, "models", "serve", "-m", model_uri, "--env-manager",
                          "local", "-h", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
