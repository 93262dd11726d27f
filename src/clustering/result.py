"""What a training run computed, in one object: the stages fill it, tracking records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustering.config import TrainConfig
from clustering.evaluation.metrics import Segmentation
from clustering.features.customer import FeatureResult
from clustering.inputs.sources import LoadedData
from clustering.model import SegmentationModel


@dataclass
class TrainResult:
    """Everything one training computed; ``run_id`` and the paths are set once recorded."""

    settings: TrainConfig
    run_name: str
    loaded: LoadedData
    digest: str
    features: FeatureResult
    X: pd.DataFrame  # the model's input columns, one row per buyer
    Xs: np.ndarray  # after preprocessing
    feature_names: list[str]
    k_curve: pd.DataFrame | None
    model: SegmentationModel
    labels: pd.DataFrame  # every customer: relationship, segment, persona, baselines' labels
    profile: pd.DataFrame
    personas: pd.DataFrame
    persona_fit_matrix: pd.DataFrame
    metrics: dict[str, float]
    baselines: dict[str, Segmentation]
    future: dict[str, tuple[dict[str, float], pd.DataFrame]]
    figures: dict[str, Any]
    report_markdown: str
    report_html: str
    truth: np.ndarray | None = None
    matches: pd.DataFrame | None = None
    previous_uri: str | None = None
    run_id: str = ""
    experiment_id: str = ""
    tracking_uri: str = ""
    report_path: Path | None = None
    report_dir: Path | None = None
    quarantine_path: Path | None = None
    resolved: dict[str, Any] | None = None
    segments: np.ndarray | None = None  # the buyers' segment ids, in features.buyers order
    warnings: list[str] = field(default_factory=list)  # the guardrails the segments break
    renamed: pd.DataFrame | None = None
    marketing_view: pd.DataFrame | None = None  # segments of one persona merged  # inherited names the segments no longer earned  # the configuration as the entry point composed it
    registered: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # artifact path -> table
    tags: dict[str, str] = field(default_factory=dict)  # the playbook's readings


