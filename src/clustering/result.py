"""What a training run computed, in one object: the stages fill it, tracking records it.

Both engines return it: the local run holds every customer's labels (``labels``); the
distributed one leaves them where Spark wrote them (``labels_path``) and holds the seeded
sample its metrics and plots were computed on (``sample``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustering.evaluation.metrics import Segmentation
from clustering.features.customer import FeatureResult
from clustering.inputs.tables import LoadedData
from clustering.model import SegmentationModel
from clustering.personas.rules import SegmentRules


@dataclass(frozen=True)
class Recording:
    """What the record needs beyond the results: plain values from the run's settings."""

    data_name: str
    criterion: str | None
    config: dict[str, Any]  # the configuration as the entry point composed it (logged as YAML)
    baseline_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_baseline_runs: bool = True
    log_model: bool = True
    register_as: str | None = None  # the registered model's name; None: logged, not registered
    champion_metric: str | None = None  # a registered version wins `champion` on it (None: never)
    tags: dict[str, str] = field(default_factory=dict)  # extra tags of the run (engine, ...)


@dataclass
class TrainResult:
    """Everything one training computed; ``run_id`` and the paths are set once recorded."""

    recording: Recording
    run_name: str
    loaded: LoadedData
    digest: str
    snapshot_date: Any
    skipped: dict[str, str]  # features (and parts of the run) left out, with why
    feature_summary: pd.DataFrame  # per feature: count, mean, quantiles (all buyers or sample)
    input_example: pd.DataFrame  # a few rows of the model's input columns
    Xs: np.ndarray  # after preprocessing (the sample's on the distributed path)
    feature_names: list[str]
    k_curve: pd.DataFrame | None
    model: SegmentationModel
    profile: pd.DataFrame
    personas: pd.DataFrame
    persona_fit_matrix: pd.DataFrame
    metrics: dict[str, float]
    baselines: dict[str, Segmentation]
    figures: dict[str, bytes]  # PNG by artifact path, as the report rendered them
    report_markdown: str
    report_html: str
    report_dir: Path
    report_path: Path
    segments: np.ndarray  # segment ids, in the order of ``features.buyers`` (or ``sample``)
    features: FeatureResult | None = None  # local: every customer's features
    labels: pd.DataFrame | None = None  # local: every customer's labels
    labels_path: Path | None = None  # distributed: the labels Spark wrote (a folder per persona)
    sample: pd.DataFrame | None = None  # distributed: the seeded sample of buyers
    future: dict[str, tuple[dict[str, float], pd.DataFrame]] = field(default_factory=dict)
    truth: np.ndarray | None = None
    matches: pd.DataFrame | None = None
    previous_uri: str | None = None
    warnings: list[str] = field(default_factory=list)  # the guardrails the segments break
    renamed: pd.DataFrame | None = None  # inherited names the segments no longer earned
    marketing_view: pd.DataFrame | None = None  # segments of one persona merged
    verdict: str | None = None  # clusters or a baseline: which separates the hold-out better
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # artifact path -> table
    rules: SegmentRules | None = None  # the segments as rules a CRM can run
    scorecard: pd.DataFrame | None = None  # the practitioners' checklist, measured
    tags: dict[str, str] = field(default_factory=dict)  # the playbook's readings
    # artifact path -> a file already serialised by a stage (the labels' Parquet)
    files: dict[str, bytes] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # stages overlap
    seconds: float = float("nan")  # wall time of the run until it is recorded
    quarantine_path: Path | None = None
    run_id: str = ""
    experiment_id: str = ""
    tracking_uri: str = ""
