"""Typed settings of a training run.

These dataclasses are the schema of the Hydra configuration in ``conf/``: the entry point in
``pipelines/`` merges the composed YAML into them (a misspelt key fails there with a clear
message) and hands plain objects to the library, which never sees Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any  # noqa: UP035 (OmegaConf reads these annotations)

from clustering.errors import ConfigError


@dataclass
class PathsConfig:
    root: str = "."
    data_dir: str = "./data"
    reports_dir: str = "./reports"


@dataclass
class SampleConfig:
    """The bundled generated data set (``data=sample``)."""

    n_customers: int = 20_000
    seed: int = 42
    start: str = "2022-01-01"
    end: str = "2024-12-31"
    kind: str = "b2b"


@dataclass
class ColumnsConfig:
    """Canonical role -> column name in the transactions file (null: not available)."""

    customer_id: str | None = "customer_id"
    order_id: str | None = "order_id"
    timestamp: str | None = "timestamp"
    amount: str | None = "amount"
    quantity: str | None = "quantity"
    unit_price: str | None = "unit_price"
    category: str | None = "category"
    is_return: str | None = "is_return"
    payment_delay_days: str | None = "payment_delay_days"
    is_new_product: str | None = "is_new_product"
    currency: str | None = None


@dataclass
class CustomerColumnsConfig:
    customer_id: str | None = "customer_id"
    signup_date: str | None = "signup_date"


@dataclass
class QualityConfig:
    """Data checks (clustering.checks): dedupe exact copies, fail above max_share."""

    dedupe: bool = True
    max_share: float = 0.05


@dataclass
class DataConfig:
    name: str = "sample"
    format: str = "sample"  # sample | csv | parquet | auto
    path: str | None = None
    customers_path: str | None = None
    truth_path: str | None = None
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    customer_columns: CustomerColumnsConfig = field(default_factory=CustomerColumnsConfig)
    attributes: list[str] = field(default_factory=list)
    date_format: str | None = None
    customer_date_format: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    currency: str = "EUR"
    currency_rates: dict[str, float] | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


@dataclass
class FeaturesConfig:
    snapshot_date: str | None = None
    lookback_days: int = 1095
    include: list[str] = field(default_factory=list)


@dataclass
class PreprocessConfig:
    scaler: str = "standard"
    features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    log_features: list[str] | None = None
    winsorize: list[float] | None = field(default_factory=lambda: [0.01, 0.99])


@dataclass
class ModelConfig:
    name: str = "kmeans"
    k: int | None = None
    k_min: int = 3
    k_max: int = 10
    criterion: str = "silhouette"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluateConfig:
    silhouette_sample: int = 10_000
    min_share: float = 0.02
    holdout_days: int = 180
    stability_runs: int = 4


@dataclass
class PersonasConfig:
    min_fit: float = 0.5
    catalogue: dict[str, Any] = field(default_factory=dict)
    special: dict[str, Any] = field(default_factory=dict)


@dataclass
class BaselinesConfig:
    enabled: list[str] = field(default_factory=lambda: ["rfm", "abc_xyz", "bcg", "lifecycle",
                                                        "value_class"])
    log_runs: bool = True
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MlflowConfig:
    tracking_uri: str | None = None
    experiment: str | None = None
    log_model: bool = True
    run_name: str | None = None
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    registered_model_name: str | None = "customer-segmentation"
    register: bool = True
    match_previous: bool = True


@dataclass
class EngineConfig:
    """Where the data work runs: local (DuckDB, embedded) or spark (local mode or a cluster)."""

    name: str = "local"
    memory_limit: str = "8GB"
    master: str = "local[2]"
    driver_memory: str = "2g"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainConfig:
    seed: int = 42
    threads: int | None = None
    paths: PathsConfig = field(default_factory=PathsConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    personas: PersonasConfig = field(default_factory=PersonasConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)


@dataclass
class ScoreConfig:
    """Settings of ``make score`` (pipelines/score.py)."""

    model: str | None = None
    model_name: str = "customer-segmentation"
    input: str | None = None
    input_kind: str = "transactions"  # transactions | features
    id_column: str = "customer_id"
    output: str = "./outputs/labels.parquet"
    snapshot_date: str | None = None
    previous: str | None = None
    tracking_uri: str | None = None
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)


def validate_config(cfg: TrainConfig) -> None:
    """Cheap checks that fail in one line before any work starts."""
    from clustering.baselines import BASELINES
    from clustering.segmenters import CRITERIA, SEGMENTERS

    if cfg.engine.name not in ("local", "spark"):
        raise ConfigError(f"engine must be local or spark, got '{cfg.engine.name}'")
    m = cfg.model
    if m.name not in SEGMENTERS:
        raise ConfigError(f"unknown model '{m.name}'; choose one of {sorted(SEGMENTERS)}")
    if m.k is not None and m.k < 1:
        raise ConfigError(f"model.k must be a positive integer, got {m.k}")
    if m.k is None and not 2 <= m.k_min <= m.k_max:
        raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {m.k_min}, {m.k_max}")
    if m.criterion not in CRITERIA:
        raise ConfigError(f"unknown model.criterion '{m.criterion}'; choose one of {sorted(CRITERIA)}")
    # (with a fixed k the criterion chooses nothing, so any is accepted, as the segmenters do)
    if m.k is None and m.criterion == "bic" and m.name != "gmm":
        raise ConfigError(f"model.criterion 'bic' needs a likelihood: use model=gmm (got {m.name})")
    if m.k is None and m.criterion == "fpc" and m.name != "fuzzy_cmeans":
        raise ConfigError(f"model.criterion 'fpc' needs fuzzy memberships: use model=fuzzy_cmeans "
                          f"(got {m.name})")
    if cfg.data.format not in ("sample", "csv", "parquet", "auto"):
        raise ConfigError(f"data.format must be sample, csv, parquet or auto, got '{cfg.data.format}'")
    if cfg.data.format != "sample":
        if not cfg.data.path:
            raise ConfigError("data.path is required for your own data (a file, folder or glob)")
        for key in ("path", "customers_path"):
            p = getattr(cfg.data, key)
            if p and not any(c in p for c in "*?[") and not Path(p).exists():
                raise ConfigError(f"data.{key}: '{p}' does not exist")
    unknown = [b for b in cfg.baselines.enabled if b not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baselines.enabled {unknown}; choose from {sorted(BASELINES)}")
    if not 0 <= cfg.evaluate.min_share <= 1:
        raise ConfigError(f"evaluate.min_share must be between 0 and 1, got {cfg.evaluate.min_share}")
    if cfg.evaluate.holdout_days < 0:
        raise ConfigError(f"evaluate.holdout_days must be >= 0, got {cfg.evaluate.holdout_days}")
    if cfg.evaluate.silhouette_sample < 0:
        raise ConfigError("evaluate.silhouette_sample must be >= 0 (0 = all customers)")
    if cfg.features.lookback_days < 2:
        raise ConfigError(f"features.lookback_days must be at least 2, got {cfg.features.lookback_days}")
