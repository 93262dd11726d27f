"""Typed settings of a training run.

These dataclasses are the schema of the Hydra configuration in ``conf/``: the entry point in
``pipelines/`` merges the composed YAML into them (a misspelt key fails there with a clear
message) and hands plain objects to the library, which never sees Hydra. The values live in the
YAML only: the schema marks them ``MISSING`` (a YAML that forgets one fails naming the key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any  # noqa: UP035 (OmegaConf reads these annotations)

import pandas as pd
from omegaconf import MISSING

from clustering.errors import ConfigError
from clustering.files import check_name
from clustering.inputs.dialect import delimiter_of


@dataclass
class PathsConfig:
    root: str = MISSING
    data_dir: str = MISSING
    reports_dir: str = MISSING


@dataclass
class SampleConfig:
    """The bundled generated data set (``data=sample``)."""

    n_customers: int = MISSING
    seed: int = MISSING
    start: str = MISSING
    end: str = MISSING
    kind: str = MISSING


@dataclass
class ColumnsConfig:
    """Canonical role -> column name in the transactions file (null: not available)."""

    customer_id: str | None = MISSING
    order_id: str | None = MISSING
    timestamp: str | None = MISSING
    amount: str | None = MISSING
    quantity: str | None = MISSING
    unit_price: str | None = MISSING
    category: str | None = MISSING
    is_return: str | None = MISSING
    payment_delay_days: str | None = MISSING
    is_new_product: str | None = MISSING
    currency: str | None = MISSING
    cost: str | None = MISSING
    discount: str | None = MISSING
    status: str | None = MISSING  # the order's status: cancelled orders are set aside


@dataclass
class CustomerColumnsConfig:
    customer_id: str | None = MISSING
    signup_date: str | None = MISSING
    contact: str | None = MISSING  # lead qualification: e-mail or phone, a stated need, a budget
    need: str | None = MISSING
    budget: str | None = MISSING
    role: str | None = None  # B2B: the contact's buying-centre role (user, buyer, decider, ...)


@dataclass
class EventColumnsConfig:
    customer_id: str | None = MISSING
    timestamp: str | None = MISSING
    event_type: str | None = MISSING


@dataclass
class CampaignColumnsConfig:
    """The campaigns table (clustering.inputs.campaigns): who got which offer or was held out."""

    customer_id: str | None = MISSING
    campaign: str | None = MISSING
    date: str | None = MISSING
    group: str | None = MISSING  # treatment / control (test / holdout, 1 / 0, ...)
    response: str | None = MISSING  # responded: 1 / 0, yes / no
    revenue: str | None = MISSING  # revenue from the response (optional)


@dataclass
class QualityConfig:
    """Data checks (clustering.inputs.checks): dedupe exact copies, fail above max_share."""

    dedupe: bool = MISSING
    max_share: float = MISSING


@dataclass
class DataConfig:
    name: str = MISSING
    format: str = MISSING  # sample | csv | parquet | auto
    path: str | None = MISSING
    customers_path: str | None = MISSING
    truth_path: str | None = MISSING
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    customer_columns: CustomerColumnsConfig = field(default_factory=CustomerColumnsConfig)
    events_path: str | None = MISSING  # visits, e-mail opens and clicks, requests, calls, meetings
    event_columns: EventColumnsConfig = field(default_factory=EventColumnsConfig)
    event_types: dict[str, str] | None = MISSING  # raw event name -> kind (null: already kinds)
    campaigns_path: str | None = MISSING  # campaign results: treated or control, response
    campaign_columns: CampaignColumnsConfig = field(default_factory=CampaignColumnsConfig)
    attributes: list[str] = MISSING
    date_format: str | None = MISSING
    customer_date_format: str | None = MISSING
    delimiter: str | None = MISSING
    encoding: str = MISSING
    decimal: str | None = MISSING
    currency: str = MISSING
    currency_rates: dict[str, float] | None = MISSING
    margins: dict[str, float] | None = MISSING
    return_values: list[str] | None = MISSING  # a text return flag's values meaning a return
    cancelled_statuses: list[str] | None = MISSING  # statuses whose orders are set aside
    quality: QualityConfig = field(default_factory=QualityConfig)
    sample: SampleConfig | None = None  # only the bundled data (data=sample) has one


@dataclass
class FeaturesConfig:
    snapshot_date: str | None = MISSING
    lookback_days: int = MISSING
    include: list[str] = MISSING


@dataclass
class PreprocessConfig:
    scaler: str = MISSING
    features: list[str] = MISSING
    categorical: list[str] = MISSING
    log_features: list[str] | None = MISSING
    winsorize: list[float] | None = MISSING


@dataclass
class ModelConfig:
    """``k_min``, ``k_max`` and ``criterion`` only for families given a number of segments."""

    name: str = MISSING
    k: int | None = MISSING
    k_min: int | None = None
    k_max: int | None = None
    criterion: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


#: parameters that make a variant of a model family, named in run names as the config files do
VARIANT_FLAGS = ("minibatch", "bisecting")


def model_label(m: ModelConfig) -> str:
    """The model as run names give it: the family with its variant (``minibatch_kmeans``,
    ``spark_bisecting_kmeans``)."""
    flags = "".join(f"{k}_" for k in VARIANT_FLAGS if m.params.get(k) is True)
    if m.name.startswith("spark_"):
        return f"spark_{flags}{m.name.removeprefix('spark_')}"
    return f"{flags}{m.name}"


@dataclass
class EvaluateConfig:
    silhouette_sample: int = MISSING
    min_share: float = MISSING
    max_share: float = MISSING
    max_personas: int = MISSING
    holdout_days: int = MISSING
    stability_runs: int = MISSING
    scorecard: dict[str, Any] = MISSING  # the checklist's thresholds (evaluation.scorecard)


@dataclass
class RulesConfig:
    """Segment rules a CRM can run (clustering.personas.rules)."""

    enabled: bool = MISSING
    target: float = MISSING  # agreement with the model's segments the tree stops deepening at
    max_depth: int = MISSING
    min_leaf_share: float = MISSING  # a rule covers at least this share of the customers


@dataclass
class PersonasConfig:
    min_fit: float = MISSING
    min_member_share: float = MISSING
    catalogue: dict[str, Any] = MISSING
    special: dict[str, Any] = MISSING
    max: int = MISSING  # personas (the marketer's level) at most
    personas: dict[str, Any] = MISSING  # persona -> name, description, actions, types
    rules: RulesConfig = field(default_factory=RulesConfig)


@dataclass
class BaselinesConfig:
    enabled: list[str] = MISSING
    log_runs: bool = MISSING
    params: dict[str, Any] = MISSING


@dataclass
class PotentialConfig:
    enabled: bool = MISSING
    horizon_days: int = MISSING
    fit_sample: int = MISSING
    as_features: bool = MISSING


@dataclass
class SignalsConfig:
    """Per-customer signals and base-level health figures (clustering.features.signals)."""

    potential: PotentialConfig = field(default_factory=PotentialConfig)
    overdue_cycles: float = MISSING
    new_customer_days: int = MISSING
    abc_share: float = MISSING
    matrix: list[str] = MISSING


@dataclass
class MlflowConfig:
    tracking_uri: str | None = MISSING
    experiment: str | None = MISSING
    log_model: bool = MISSING
    run_name: str | None = MISSING
    parent_run_id: str | None = MISSING
    tags: dict[str, str] = MISSING
    registered_model_name: str | None = MISSING
    register: bool = MISSING
    match_previous: bool = MISSING
    champion_metric: str | None = MISSING  # a new version becomes champion when it wins on it


@dataclass
class EngineConfig:
    """Where the data work runs: local (DuckDB, embedded) or spark (local mode or a cluster)."""

    name: str = MISSING
    memory_limit: str = MISSING
    master: str = MISSING
    driver_memory: str = MISSING
    conf: dict[str, str] = MISSING
    distributed: bool = MISSING  # spark: nothing per customer collected (Spark MLlib models)
    sample_rows: int = MISSING  # spark distributed: the seeded sample for scaling and metrics


@dataclass
class TrainConfig:
    seed: int = MISSING
    threads: int | None = MISSING
    verbose: bool = MISSING  # every stage's details and the full summary (--verbose)
    summary: str = MISSING  # full: stages and the summary; line: one line per run (sweep jobs)
    paths: PathsConfig = field(default_factory=PathsConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    personas: PersonasConfig = field(default_factory=PersonasConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)


@dataclass
class ScoreConfig:
    """Settings of ``make score`` (pipelines/score.py)."""

    model_uri: str | None = MISSING
    model_name: str | None = MISSING
    input: str | None = MISSING
    input_kind: str = MISSING  # transactions | features
    id_column: str = MISSING
    output: str = MISSING
    output_delimiter: str | None = MISSING  # CSV: null = the scored transactions' delimiter
    output_decimal: str | None = MISSING  # CSV: null = their decimal mark
    snapshot_date: str | None = MISSING
    previous: str | None = MISSING
    tracking_uri: str | None = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)


@dataclass
class HistoryConfig:
    """Settings of ``make history`` (pipelines/history.py): the model scored at each snapshot."""

    model_uri: str | None = MISSING
    model_name: str | None = MISSING
    start: str | None = MISSING  # from=: the first snapshot (null: 12 back from the last)
    end: str | None = MISSING  # to=: the last snapshot (null: the day after the last purchase)
    every: str = MISSING  # month | quarter | week | <n>d
    alert_psi: float = MISSING  # a snapshot whose persona shares drift past this is an alert
    output: str = MISSING
    tracking_uri: str | None = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)


#: the MLlib families the distributed path trains
DISTRIBUTED_MODELS = ("spark_kmeans", "spark_gmm")
#: criteria it can choose k by (computed on the sample)
SAMPLE_CRITERIA = ("calinski_harabasz", "silhouette", "davies_bouldin")


def _check_distributed(cfg: TrainConfig) -> None:
    """What ``engine.distributed=true`` needs."""
    m = cfg.model
    if m.name not in DISTRIBUTED_MODELS:
        raise ConfigError(f"engine.distributed=true trains Spark MLlib models: model=spark_kmeans, "
                          f"spark_bisecting_kmeans or spark_gmm (got model={m.name}); for "
                          "scikit-learn models set engine.distributed=false (features are then "
                          "collected to the driver)")
    if m.k is None and m.criterion not in SAMPLE_CRITERIA:
        raise ConfigError(f"engine.distributed=true chooses k by {', '.join(SAMPLE_CRITERIA)} "
                          f"(on the sample), not '{m.criterion}': set model.criterion or model.k")
    if cfg.engine.sample_rows < 1000:
        raise ConfigError(f"engine.sample_rows must be at least 1000, got {cfg.engine.sample_rows}")


def near_names(path: Path) -> str:
    """'; did you mean ...?' with the files beside a missing ``path`` whose names are close
    ('Umsatzexport 2024.csv' for 'Umsatzexport2024.csv'), or the folder that does not exist."""
    import difflib

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder != path.parent:
        return f" (there is no folder {path.parent}; {folder} exists)"
    names = [f.name for f in folder.iterdir()] if folder.is_dir() else []
    key = path.name.lower().replace(" ", "")
    by_key = {n.lower().replace(" ", ""): n for n in names}
    close = difflib.get_close_matches(key, list(by_key), n=2, cutoff=0.6)
    if not close:
        return f" (in {folder}: {len(names)} entries, none with a close name)" if names else ""
    return f"; did you mean {' or '.join(repr(str(folder / by_key[c])) for c in close)}?"


def validate_config(cfg: TrainConfig) -> None:
    """Cheap checks that fail in one line before any work starts."""
    from clustering.baselines import BASELINES
    from clustering.segmenters import CRITERIA, SEGMENTERS, takes_k

    if cfg.engine.name not in ("local", "spark"):
        raise ConfigError(f"engine must be local or spark, got '{cfg.engine.name}'")
    check_name(cfg.data.name, "data.name")  # both name the report's folder
    check_name(cfg.mlflow.run_name, "mlflow.run_name")
    if cfg.engine.distributed:
        if cfg.engine.name != "spark":
            raise ConfigError("engine.distributed=true runs on Spark: add engine=spark")
        _check_distributed(cfg)
    m = cfg.model
    if m.name not in SEGMENTERS:
        raise ConfigError(f"unknown model '{m.name}'; choose one of {sorted(SEGMENTERS)}")
    if m.k is not None and m.k < 1:
        raise ConfigError(f"model.k must be a positive integer, got {m.k}")
    if m.k is None and takes_k(m.name) and (m.k_min is None or m.k_max is None
                                            or m.criterion is None):
        raise ConfigError(f"model '{m.name}' needs model.k, or model.k_min, model.k_max and "
                          "model.criterion to choose k")
    if m.k is None and takes_k(m.name) and not 2 <= m.k_min <= m.k_max:
        raise ConfigError(f"model.k_min/k_max must satisfy 2 <= k_min <= k_max, got {m.k_min}, {m.k_max}")
    if m.criterion is not None and m.criterion not in CRITERIA:
        raise ConfigError(f"unknown model.criterion '{m.criterion}'; choose one of {sorted(CRITERIA)}")
    # (with a fixed k the criterion chooses nothing, so any is accepted, as the segmenters do)
    if m.k is None and m.criterion == "future_auc" and cfg.evaluate.holdout_days <= 0:
        raise ConfigError("model.criterion 'future_auc' scores segments on a hold-out: set "
                          "evaluate.holdout_days > 0")
    if m.k is None and m.criterion == "bic" and m.name != "gmm":
        raise ConfigError(f"model.criterion 'bic' needs a likelihood: use model=gmm (got {m.name})")
    if m.k is None and m.criterion == "fpc" and m.name != "fuzzy_cmeans":
        raise ConfigError(f"model.criterion 'fpc' needs fuzzy memberships: use model=fuzzy_cmeans "
                          f"(got {m.name})")
    if cfg.data.format not in ("sample", "csv", "parquet", "excel", "auto"):
        raise ConfigError(f"data.format must be sample, csv, parquet, excel or auto, got "
                          f"'{cfg.data.format}'")
    if cfg.data.decimal not in (None, ".", ","):
        raise ConfigError(f"data.decimal must be '.' or ',' (or null: sniffed), got "
                          f"'{cfg.data.decimal}'")
    if cfg.data.delimiter is not None and len(delimiter_of(cfg.data.delimiter)) != 1:
        raise ConfigError(f"data.delimiter must be one character (e.g. ';', or tab for a tab), got "
                          f"'{cfg.data.delimiter}'")
    if cfg.data.format == "sample" and cfg.data.sample is None:
        raise ConfigError("data.format=sample needs data.sample (use data=sample)")
    if not 0 <= cfg.data.quality.max_share <= 1:
        raise ConfigError(f"data.quality.max_share is a share between 0 and 1 (0.05 = 5%), got "
                          f"{cfg.data.quality.max_share}")
    if cfg.data.format != "sample":
        if not cfg.data.path:
            raise ConfigError("data.path is required for your own data (a file, folder or glob)")
        if cfg.data.attributes and not cfg.data.customers_path:
            raise ConfigError("data.attributes needs a customers table: set data.customers_path")
        for key in ("path", "customers_path", "events_path", "campaigns_path"):
            p = getattr(cfg.data, key)
            if p and not any(c in p for c in "*?[") and not Path(p).exists():
                raise ConfigError(f"data.{key}: '{p}' does not exist{near_names(Path(p))}")
    unknown = [b for b in cfg.baselines.enabled if b not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baselines.enabled {unknown}; choose from {sorted(BASELINES)}")
    _check_evaluation(cfg)


def _check_evaluation(cfg: TrainConfig) -> None:
    """The evaluation's, the rules' and the features' settings."""
    for key in ("min_share", "max_share"):
        if not 0 <= getattr(cfg.evaluate, key) <= 1:
            raise ConfigError(f"evaluate.{key} is a share between 0 and 1 (0.4 = 40%), got "
                              f"{getattr(cfg.evaluate, key)}")
    from clustering.evaluation.scorecard import Thresholds

    unknown = set(cfg.evaluate.scorecard) - set(Thresholds.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown evaluate.scorecard {sorted(unknown)}; choose from "
                          f"{sorted(Thresholds.__dataclass_fields__)}")
    r = cfg.personas.rules
    if not (0 < r.target <= 1 and 1 <= r.max_depth <= 20 and 0 <= r.min_leaf_share < 0.5):
        raise ConfigError("personas.rules: target is a share in (0, 1], max_depth 1..20 and "
                          f"min_leaf_share in [0, 0.5); got {r.target}, {r.max_depth} and "
                          f"{r.min_leaf_share}")
    if cfg.evaluate.holdout_days < 0:
        raise ConfigError(f"evaluate.holdout_days must be >= 0, got {cfg.evaluate.holdout_days}")
    if cfg.evaluate.silhouette_sample < 0:
        raise ConfigError("evaluate.silhouette_sample must be >= 0 (0 = all customers)")
    if cfg.features.snapshot_date is not None:
        try:
            pd.Timestamp(str(cfg.features.snapshot_date))
        except ValueError:
            raise ConfigError(f"features.snapshot_date '{cfg.features.snapshot_date}' is not a "
                              "valid date: use YYYY-MM-DD, e.g. 2024-02-29") from None
    if cfg.features.lookback_days < 2:
        raise ConfigError(f"features.lookback_days must be at least 2, got {cfg.features.lookback_days}")
