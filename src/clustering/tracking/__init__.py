"""Everything MLflow: runs and what they log (:mod:`.runs`), the model registry (:mod:`.registry`),
whose models may run here (:mod:`.trust`), the saved model's pyfunc wrapper (:mod:`.pyfunc`), the store (:mod:`.store`) and the team server
(:mod:`.server`). Nothing else under ``clustering`` talks to MLflow.

The names below load their module, and MLflow with it, when first used: the training run
starts reading the data before MLflow's two seconds of imports (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names and where they live, for readers and type checkers
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

#: public name -> the module of this wing that defines it
_WHERE = {
    "CHAMPION": "registry",
    "LOWER_IS_BETTER": "registry",
    "StoreError": "store",
    "UntrustedModel": "trust",
    "check_trusted": "trust",
    "choose_model": "registry",
    "compare_runs": "runs",
    "crown": "registry",
    "ensure_experiment": "runs",
    "flatten": "runs",
    "git_commit": "provenance",
    "latest_run": "runs",
    "load_segmentation_model": "pyfunc",
    "load_table": "runs",
    "local_model_notice": "registry",
    "log_bytes": "runs",
    "log_dataset": "runs",
    "log_environment": "provenance",
    "log_folder": "runs",
    "log_frame": "runs",
    "log_metrics": "runs",
    "log_params": "runs",
    "log_segmentation_model": "pyfunc",
    "log_text": "runs",
    "log_training": "runs",
    "model_identity": "registry",
    "model_name_for": "registry",
    "open_store": "store",
    "previous_model": "registry",
    "previous_version": "registry",
    "promote": "registry",
    "redact_uri": "store",
    "resolve_model_uri": "registry",
    "resolve_tracking_uri": "store",
    "run_to_read": "runs",
    "tracked_run": "runs",
    "warm_requirement_check": "pyfunc",
}
#: the wing's modules
_MODULES = {*_WHERE.values(), "server"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:  # a submodule, as the eager face had them imported
        return importlib.import_module(f"clustering.tracking.{name}")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'clustering.tracking' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"clustering.tracking.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["CHAMPION", "LOWER_IS_BETTER", "crown", "UntrustedModel", "check_trusted", "choose_model", "compare_runs", "ensure_experiment", "flatten",
           "git_commit", "latest_run", "load_segmentation_model", "local_model_notice", "log_segmentation_model", "load_table", "log_dataset", "log_environment",
           "log_bytes", "log_folder", "log_frame", "log_metrics", "log_params", "log_text", "log_training",
           "model_identity", "model_name_for", "open_store", "StoreError", "previous_model", "previous_version", "promote",
           "redact_uri", "run_to_read",
           "resolve_model_uri", "resolve_tracking_uri", "tracked_run", "warm_requirement_check"]
