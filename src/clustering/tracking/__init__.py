"""Everything MLflow: runs and what they log (:mod:`.runs`), the model registry (:mod:`.registry`),
whose models may run here (:mod:`.trust`), the saved model's pyfunc wrapper (:mod:`.pyfunc`), the store (:mod:`.store`) and the team server
(:mod:`.server`). Nothing else under ``clustering`` talks to MLflow.
"""

from clustering.tracking.provenance import git_commit, log_environment
from clustering.tracking.pyfunc import (
    load_segmentation_model,
    log_segmentation_model,
    warm_requirement_check,
)
from clustering.tracking.registry import (
    CHAMPION,
    LOWER_IS_BETTER,
    choose_model,
    crown,
    local_model_notice,
    model_identity,
    model_name_for,
    previous_model,
    previous_version,
    promote,
    resolve_model_uri,
)
from clustering.tracking.runs import (
    compare_runs,
    ensure_experiment,
    flatten,
    latest_run,
    load_table,
    log_bytes,
    log_dataset,
    log_folder,
    log_frame,
    log_metrics,
    log_params,
    log_text,
    log_training,
    run_to_read,
    tracked_run,
)
from clustering.tracking.store import StoreError, open_store, redact_uri, resolve_tracking_uri
from clustering.tracking.trust import UntrustedModel, check_trusted

__all__ = ["CHAMPION", "LOWER_IS_BETTER", "crown", "UntrustedModel", "check_trusted", "choose_model", "compare_runs", "ensure_experiment", "flatten",
           "git_commit", "latest_run", "load_segmentation_model", "local_model_notice", "log_segmentation_model", "load_table", "log_dataset", "log_environment",
           "log_bytes", "log_folder", "log_frame", "log_metrics", "log_params", "log_text", "log_training",
           "model_identity", "model_name_for", "open_store", "StoreError", "previous_model", "previous_version", "promote",
           "redact_uri", "run_to_read",
           "resolve_model_uri", "resolve_tracking_uri", "tracked_run", "warm_requirement_check"]
