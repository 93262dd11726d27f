"""Typed settings of a training run.

These dataclasses are the schema of the Hydra configuration in ``conf/``: the entry point in
``pipelines/`` merges the composed YAML into them (a misspelt key fails there with a clear
message) and hands plain objects to the library, which never sees Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional  # noqa: UP035 (OmegaConf needs typing generics)


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

    customer_id: Optional[str] = "customer_id"
    order_id: Optional[str] = "order_id"
    timestamp: Optional[str] = "timestamp"
    amount: Optional[str] = "amount"
    quantity: Optional[str] = "quantity"
    unit_price: Optional[str] = "unit_price"
    category: Optional[str] = "category"
    is_return: Optional[str] = "is_return"
    payment_delay_days: Optional[str] = "payment_delay_days"
    is_new_product: Optional[str] = "is_new_product"


@dataclass
class CustomerColumnsConfig:
    customer_id: Optional[str] = "customer_id"
    signup_date: Optional[str] = "signup_date"


@dataclass
class DataConfig:
    name: str = "sample"
    format: str = "sample"  # sample | csv | parquet | auto
    path: Optional[str] = None
    customers_path: Optional[str] = None
    truth_path: Optional[str] = None
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    customer_columns: CustomerColumnsConfig = field(default_factory=CustomerColumnsConfig)
    attributes: List[str] = field(default_factory=list)
    date_format: Optional[str] = None
    delimiter: Optional[str] = None
    encoding: str = "utf-8"
    currency: str = "EUR"
    sample: SampleConfig = field(default_factory=SampleConfig)


@dataclass
class FeaturesConfig:
    snapshot_date: Optional[str] = None
    lookback_days: int = 1095
    include: List[str] = field(default_factory=list)


@dataclass
class PreprocessConfig:
    scaler: str = "standard"
    features: List[str] = field(default_factory=list)
    categorical: List[str] = field(default_factory=list)
    log_features: Optional[List[str]] = None
    winsorize: Optional[List[float]] = field(default_factory=lambda: [0.01, 0.99])


@dataclass
class ModelConfig:
    name: str = "kmeans"
    k: Optional[int] = None
    k_min: int = 3
    k_max: int = 10
    criterion: str = "silhouette"
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluateConfig:
    silhouette_sample: int = 10_000


@dataclass
class MlflowConfig:
    tracking_uri: Optional[str] = None
    experiment: Optional[str] = None
    log_model: bool = True
    run_name: Optional[str] = None


@dataclass
class TrainConfig:
    seed: int = 42
    threads: Optional[int] = None
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
