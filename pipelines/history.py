"""Score the registered model at each snapshot: who moved between segments, and share drift.

    python pipelines/history.py                        # 12 monthly snapshots up to the last day
    python pipelines/history.py from=2024-01-01 to=2024-12-01 every=month
    python pipelines/history.py data=csv data.path=tx.csv data.name=shop every=quarter

Writes a folder under outputs/history/: the long labels table (customer, snapshot, segment,
persona), the transitions between consecutive snapshots, the persona shares and their drift
(PSI) with alerts, plots and a report; logs it all to MLflow as one run (tags.kind=history).
Configuration: conf/history.yaml (data.* maps your columns, as for training).
"""

from __future__ import annotations

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
    from clustering.config import HistoryConfig

#: the issue's words for the dates, which are Python keywords: from= and to=
ALIASES = {"from": "start", "to": "end"}


def run(cfg: HistoryConfig) -> Path:
    """Score, describe, write and log one history; the folder it wrote."""
    import time

    import mlflow

    from clustering import tracking
    from clustering.evaluation.drift import describe_history, snapshot_dates
    from clustering.files import atomic_path, check_writable, write_frame, write_text
    from clustering.inputs.sources import sources_for
    from clustering.reporting.plots import DRAWING
    from clustering.scoring import score_history

    started = time.perf_counter()
    uri = tracking.resolve_tracking_uri(cfg.tracking_uri, cfg.paths.root)
    tracking.open_store(uri)
    try:
        dates = snapshot_dates(cfg.start, cfg.end, cfg.every) if cfg.start and cfg.end else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if (cfg.start is None) != (cfg.end is None):
        raise ConfigError("give both from= and to= (or neither: 12 snapshots up to the last day)")
    if dates is not None and len(dates) < 2:
        raise ConfigError(f"from={cfg.start} to={cfg.end} every={cfg.every} gives "
                          f"{len(dates)} snapshot: a history needs at least two")
    try:
        snapshot_dates("2000-01-01", "2000-01-02", cfg.every)  # a misspelt every=, said now
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not 0 < cfg.alert_psi:
        raise ConfigError(f"alert_psi must be > 0, got {cfg.alert_psi}")
    check_writable(cfg.output, "output")
    model_ref = tracking.choose_model(
        cfg.model_uri, tracking.model_name_for(cfg.model_name, cfg.data.name))
    try:
        history = score_history(model_ref, sources_for(cfg.data, cfg.paths.data_dir), dates,
                                cfg.paths.data_dir, say=lambda s: print(f"  {s}", flush=True),
                                every=cfg.every)
    except mlflow.exceptions.MlflowException as exc:
        raise ConfigError(f"model '{model_ref}': {str(exc).splitlines()[0]}") from None
    first, last = history.snapshots[0], history.snapshots[-1]
    name = f"history-{cfg.data.name}-v{history.model_version or 'x'}-{first}-{last}-{cfg.every}"
    with DRAWING:
        out = describe_history(history.labels, cfg.alert_psi)
        folder = Path(cfg.output) / name
        write_frame(history.labels, folder / "labels.parquet")
        for file, table in out["tables"].items():
            write_frame(table, folder / file)
        for file, fig in out["figures"].items():
            with atomic_path(folder / file) as tmp:
                fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
        md, html = _report(history, out, cfg, name)
    write_text(folder / "history_report.md", md)
    write_text(folder / "history_report.html", html)
    write_text(folder / "alerts.txt", "\n".join(out["alerts"]) + "\n" if out["alerts"] else "")
    _log(uri, cfg, history, out, folder, name, time.perf_counter() - started)
    _say(history, out, folder)
    return folder


def _report(history, out: dict, cfg: HistoryConfig, name: str) -> tuple[str, str]:
    from clustering.reporting.report import Section, page

    drift = out["drift"].assign(psi=out["drift"]["psi"].round(3))
    shares = (out["shares"] * 100).round(1).reset_index()
    matrix = out["matrix"]
    monthly = matrix.div(matrix.sum(axis=1).replace(0, 1), axis=0).round(3).reset_index()
    sections = [
        Section("Alerts", "\n".join(out["alerts"]) or
                f"No snapshot drifted past PSI {cfg.alert_psi} against the previous one."),
        Section("Movements between snapshots", f"Model {history.model_name} version "
                f"{history.model_version}, {len(history.snapshots)} snapshots every "
                f"{cfg.every}: each band is the customers going from one persona to another.",
                figure=out["figures"]["flows.png"]),
        Section("Persona shares over time (% of segmented customers)", "", shares,
                out["figures"]["shares.png"]),
        Section("Share drift (PSI against the previous snapshot)", "", drift),
        Section("Transitions per step (share of each row: before -> after, over all steps)",
                "", monthly)]
    return page(f"Segment history: {name}", sections)


def _log(uri: str, cfg: HistoryConfig, history, out: dict, folder: Path, name: str,
         seconds: float) -> None:
    from clustering import tracking

    tags = {"kind": "history", "data": cfg.data.name, "model": history.model_name,
            "model_version": str(history.model_version),
            "git_commit": tracking.git_commit(cfg.paths.root)}
    params = {"from": str(history.snapshots[0]), "to": str(history.snapshots[-1]),
              "every": cfg.every, "alert_psi": cfg.alert_psi, "snapshots": len(history.snapshots),
              "model_uri": f"models:/{history.model_name}/{history.model_version}"}
    with tracking.tracked_run(uri, f"segmentation-{cfg.data.name}", name, cfg.paths.root, tags,
                              params=params):
        for i, step in enumerate(out["steps"]):
            tracking.log_metrics(step, step=i)
        tracking.log_metrics({"alerts": float(len(out["alerts"])), "seconds": seconds})
        tracking.log_folder(folder, "history")


def _say(history, out: dict, folder: Path) -> None:
    print(f"Scored {history.labels['customer_id'].nunique():,} customers at "
          f"{len(history.snapshots)} snapshots ({history.snapshots[0]} .. "
          f"{history.snapshots[-1]}) with {history.model_name} version {history.model_version}")
    print((out["shares"] * 100).round(1).to_string())
    for line in out["alerts"] or ["no share drift alert"]:
        print(f"  alert: {line}" if out["alerts"] else f"  {line}")
    print(f"History: {folder} (history_report.html, labels.parquet, transitions.csv, flows.png)")


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="history")
def main(cfg: DictConfig) -> None:
    from clustering.config import HistoryConfig

    try:
        settings, _ = to_settings(cfg, HistoryConfig)
        run(settings)
    except ClusteringError as exc:
        exit_on_user_error(exc)
    except Exception as exc:  # noqa: BLE001 - a full disk, a read-only store: one line
        exit_on_fault(exc)


def aliased(argv: list[str]) -> list[str]:
    """``from=2024-01-01 to=2024-12-01`` as the settings ``start`` and ``end``."""
    out = []
    for a in argv:
        key, eq, value = a.partition("=")
        out.append(f"{ALIASES[key]}={value}" if eq and key in ALIASES else a)
    return out


if __name__ == "__main__":
    sys.argv[1:] = prepared_argv(aliased(sys.argv[1:]), "history")
    main()
