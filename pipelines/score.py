"""Score customers with a registered segmentation model and write a labels file.

    python pipelines/score.py                    # sample data, its champion (else latest) model
    python pipelines/score.py model_uri=3        # version 3 of the dataset's model
    python pipelines/score.py model_uri=champion data=csv data.path=tx.csv data.name=shop
    python pipelines/score.py input_kind=features input=features.parquet output=labels.csv
    python pipelines/score.py previous=outputs/labels_2024q3.parquet   # + migration matrix

Configuration: conf/score.yaml (data.* maps your columns, as for training).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from clustering.errors import ClusteringError, ConfigError  # noqa: E402
from pipelines.common import (  # noqa: E402
    CONF_DIR,
    exit_on_fault,
    exit_on_user_error,
    prepared_argv,
    to_settings,
)

if TYPE_CHECKING:
    import pandas as pd

    from clustering.config import ScoreConfig


def run(cfg: ScoreConfig) -> pd.DataFrame:
    # the run's libraries (MLflow, pandas, DuckDB) load here, not for --help (3 s -> 0.9 s)
    import mlflow

    from clustering import tracking
    from clustering.files import (
        TABLE_SUFFIXES,
        atomic_path,
        check_writable,
        read_frame,
        write_frame,
    )
    from clustering.inputs.dialect import delimiter_of
    from clustering.inputs.sources import sources_for
    from clustering.personas.stable_ids import migration_matrix, plot_migration, renamed_segments
    from clustering.scoring import score, write_labels

    tracking.open_store(tracking.resolve_tracking_uri(cfg.tracking_uri, cfg.paths.root))
    check_writable(Path(cfg.output).parent, "output", cfg.output)
    if cfg.engine.name != "spark" and Path(cfg.output).suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"output='{cfg.output}': use a .parquet, .csv or .xlsx file name")
    if cfg.output_decimal not in (None, ".", ","):
        raise ConfigError(f"output_decimal must be '.' or ',' (or null: as the input), got "
                          f"'{cfg.output_decimal}'")
    if cfg.output_delimiter:
        cfg = dataclasses.replace(cfg, output_delimiter=delimiter_of(cfg.output_delimiter))
    if cfg.input_kind not in ("transactions", "features"):
        raise ConfigError(f"input_kind must be transactions or features, got '{cfg.input_kind}'")
    if cfg.previous and not Path(cfg.previous).is_file():
        raise ConfigError(f"previous='{cfg.previous}' does not exist: give an earlier labels file "
                          "(.parquet or .csv) or leave previous out")
    kwargs = {}
    if cfg.input_kind == "features":
        if not cfg.input:
            raise ConfigError("input=<feature table> is required with input_kind=features")
        kwargs["features_path"] = cfg.input
    else:
        data = cfg.data
        if cfg.input:
            data = dataclasses.replace(data, path=cfg.input,
                                       format="auto" if data.format == "sample" else data.format)
        kwargs["sources"] = sources_for(data, cfg.paths.data_dir)
    _check_outputs(cfg, kwargs)
    model_ref = tracking.choose_model(
        cfg.model_uri, tracking.model_name_for(cfg.model_name, cfg.data.name))
    if notice := tracking.local_model_notice(model_ref):
        print(notice, flush=True)
    if cfg.engine.name == "spark":
        return _run_on_spark(cfg, model_ref)
    prev = read_frame(cfg.previous) if cfg.previous else None  # before output may replace it
    quarantine = Path(f"{Path(cfg.output).with_suffix('')}.quarantine.parquet")
    quarantine.unlink(missing_ok=True)  # a previous run's, which this run's must not pass for
    try:
        result = score(model_ref, id_column=cfg.id_column, snapshot_date=cfg.snapshot_date,
                       data_dir=cfg.paths.data_dir, quarantine_path=quarantine, **kwargs)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(f"model '{model_ref}': {str(exc).splitlines()[0]}") from None
    for line in result.notes:  # what was read and checked, as training prints it
        print(f"  {line}")
    if result.quarantine_path is not None:
        print(f"  quarantined rows with reasons: {result.quarantine_path}")
    out = write_labels(result.labels, cfg.output, cfg.output_delimiter or result.delimiter,
                       cfg.output_decimal or result.decimal)
    print(f"Scored {len(result.labels):,} customers with {result.model_name} "
          f"version {result.model_version or '-'}"
          + (f" as of {result.snapshot_date}" if result.snapshot_date else "") + f" -> {out}")
    for reason, n in result.skipped.items():
        if n:
            print(f"  not segmented {n:,}: {reason}")
    print(result.labels["persona"].value_counts().to_string())
    if prev is not None:
        matrix = migration_matrix(prev, result.labels)
        base = out.with_suffix("")
        write_frame(matrix.reset_index(), f"{base}.migration.csv")
        fig = plot_migration(matrix)
        with atomic_path(f"{base}.migration.png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        print(f"Segment migration (rows: before, columns: after; ids are stable, so a renamed "
              f"segment stays on the diagonal) -> {base}.migration.csv\n{matrix.to_string()}")
        renamed = renamed_segments(prev, result.labels)
        if len(renamed):
            write_frame(renamed, f"{base}.renamed.csv")
            print("Renamed (the same segment, a new name: not customers moving):")
            for r in renamed.itertuples():
                print(f"  segment {r.segment}: {r.before} -> {r.after}")
    return result.labels


def _check_outputs(cfg: ScoreConfig, kwargs: dict) -> None:
    """The labels and the files beside them never overwrite what this run reads."""
    from clustering.files import check_not_an_input
    from clustering.inputs.sources import resolve_files

    sources = kwargs.get("sources")
    inputs = [kwargs["features_path"]] if "features_path" in kwargs else (
        resolve_files(sources.transactions.path) + (
            resolve_files(sources.customers.path, what="customers") if sources.customers else []))
    base = Path(cfg.output).with_suffix("")
    for out in (cfg.output, f"{base}.quarantine.parquet", f"{base}.migration.csv",
                f"{base}.migration.png", f"{base}.renamed.csv"):
        check_not_an_input(out, inputs)


def _run_on_spark(cfg: ScoreConfig, model_ref: str) -> None:
    """engine=spark: features on Spark, labels by MLflow's spark_udf, a Parquet folder per
    persona at ``output``."""
    import mlflow

    from clustering.inputs.sources import sources_for
    from clustering.spark.scoring import score_on_spark

    if cfg.input_kind != "transactions" or cfg.previous:
        raise ConfigError("engine=spark scores transactions (input_kind=transactions) without "
                          "previous=; use the local engine for feature tables and migrations")
    data = cfg.data
    if cfg.input:
        data = dataclasses.replace(data, path=cfg.input,
                                   format="auto" if data.format == "sample" else data.format)
    out = Path(cfg.output)
    if out.suffix in (".csv",):
        raise ConfigError(f"output={cfg.output}: engine=spark writes a Parquet folder; give a "
                          "folder (or a .parquet name)")
    try:
        result = score_on_spark(model_ref, sources_for(data, cfg.paths.data_dir), out,
                                cfg.engine, cfg.snapshot_date)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(f"model '{model_ref}': {str(exc).splitlines()[0]}") from None
    print(f"Scored {int(result.counts['customers'].sum()):,} customers on Spark with "
          f"{result.model_name} version {result.model_version} as of {result.snapshot_date} -> "
          f"{result.path} (a folder per persona)")
    print(result.counts.to_string(index=False))


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="score")
def main(cfg: DictConfig) -> None:
    from clustering.config import ScoreConfig

    try:
        settings, _ = to_settings(cfg, ScoreConfig)
        run(settings)
    except ClusteringError as exc:
        exit_on_user_error(exc)
    except Exception as exc:  # noqa: BLE001 - a full disk, a read-only store: one line
        exit_on_fault(exc)


if __name__ == "__main__":
    sys.argv[1:] = prepared_argv(sys.argv[1:], "score")
    main()
