"""Promote a registered version to champion, only if it beats the current champion.

    python pipelines/promote.py                        # the sample's latest version
    python pipelines/promote.py --version 3 --metric silhouette
    python pipelines/promote.py --data shop --version 2

The comparison (candidate against champion on the metric) is recorded as the tag `promotion`
on the candidate version, whichever way it goes; the alias `champion` moves only on a win.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from clustering.errors import ClusteringError, ConfigError  # noqa: E402
from pipelines.common import PROJECT_ROOT, exit_on_fault, exit_on_user_error  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sample", help="the dataset (data.name) whose model")
    ap.add_argument("--model-name", default=None, help="default: segmentation-<data>")
    ap.add_argument("--version", default=None, help="candidate version (default: the latest)")
    ap.add_argument("--metric", default="future_auc_repeat",
                    help="the metric to compare on (default: future_auc_repeat)")
    args = ap.parse_args(argv)
    from clustering import tracking  # MLflow loads for a promotion, not for --help

    name = tracking.model_name_for(args.model_name, args.data)
    try:
        tracking.open_store(tracking.resolve_tracking_uri(None, PROJECT_ROOT))
        uri = tracking.choose_model(args.version, name)
        if args.version is None:
            uri = tracking.previous_version(name) or uri
        _, version = tracking.model_identity(uri)
        if not version:
            raise ConfigError(f"--version {args.version}: give a registered version of '{name}'")
        tracking.promote(name, version, args.metric, args.metric in tracking.LOWER_IS_BETTER)
    except ClusteringError as exc:
        exit_on_user_error(exc)
    except Exception as exc:  # noqa: BLE001 - a full disk, a read-only store: one line
        exit_on_fault(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
