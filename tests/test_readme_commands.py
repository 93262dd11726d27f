"""The README's own commands, run as written through make and the shell (quoting included),
so that a documented form that cannot work fails the suite."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

pytestmark = pytest.mark.slow


def _block(marker: str) -> str:
    """The bash block that follows ``<!-- marker ... -->`` in the README."""
    m = re.search(rf"<!-- {marker}[^>]*-->\s*```bash\n(.*?)```", README, re.S)
    assert m, f"README has no block marked {marker}"
    return m.group(1)


def _german_export(path: Path, n_customers: int = 1500) -> pd.DataFrame:
    """A European ERP export of the generator's data: ';', decimal comma with thousands
    points, dd.mm.yyyy, zero-padded ids, German column names, a BOM and a report footer."""
    from clustering.sample.files import ensure_sample_data

    tx = pd.read_parquet(ensure_sample_data(str(path.parent / "gen"), n_customers=n_customers,
                                            seed=11)["transactions"])
    de = pd.DataFrame({
        "Kundennummer": tx["customer_id"].str.replace("C", "").str.zfill(8),
        "Belegnummer": tx["order_id"],
        "Belegdatum": pd.to_datetime(tx["timestamp"]).dt.strftime("%d.%m.%Y"),
        "Umsatz": tx["amount"].map(lambda v: f"{v:,.2f}".replace(",", "X").replace(".", ",")
                                   .replace("X", ".")),
        "Warengruppe": tx["category"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig") as f:
        de.to_csv(f, sep=";", index=False)
        f.write(";;;;\nSumme;;;9.999.999,99;\nExportiert von SAP am 02.01.2025\n")
    return de


def test_the_european_erp_example_trains_and_scores_as_written(tmp_path):
    export = tmp_path / "Exporte März" / "Umsätze 2024.csv"
    de = _german_export(export)
    script = _block("erp-example").replace("/data/Exporte März", str(export.parent))
    script = script.replace("output=outputs/", f"output={tmp_path}/")
    # keep the run's reports out of the project folder
    script = script.replace('make train ARGS="$ERP"',
                            f'ERP="$ERP paths.reports_dir={tmp_path}/reports"\n'
                            'make train ARGS="$ERP"')
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "numbers: decimal comma" in r.stdout
    assert "dates: read as '%d.%m.%Y'" in r.stdout
    assert "junk_line 3" in r.stdout  # the footer, counted, not a reason to stop
    # the labels come back in the export's own dialect: ';' and decimal commas, so a German
    # Excel opens them as a table; numbers rounded
    text = (tmp_path / "erp_labels.csv").read_text()
    assert text.splitlines()[0].startswith("customer_id;relationship;segment;segment_name;")
    assert re.search(r";0,\d{1,4};", text) and not re.search(r"\d\.\d{5,}", text)
    labels = pd.read_csv(tmp_path / "erp_labels.csv", dtype={"customer_id": str}, sep=";",
                         decimal=",")
    assert labels["confidence"].dropna().between(0, 1).all()
    buyers = set(de["Kundennummer"])
    assert set(labels["customer_id"]) <= buyers  # leading zeros kept, no footer "customers"
    assert len(labels) == len(buyers)
    assert labels["persona"].notna().all()
    assert (tmp_path / "reports").is_dir() and list((tmp_path / "reports").glob(
        "*/persona_report.html"))
    # the run records what it read and how: rows per file, the sniffed dialect
    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    (run,) = client.search_runs([client.get_experiment_by_name("segmentation-erp").experiment_id],
                                "tags.kind = 'clustering'")
    files = pd.read_csv(client.download_artifacts(run.info.run_id, "quality/files.csv",
                                                  str(tmp_path)))
    assert files[["status", "rows", "kept"]].values.tolist() == [
        ["read", len(de) + 3, run.data.metrics["rows_kept"]]]  # + the 3 footer lines
    notes = Path(client.download_artifacts(run.info.run_id, "quality/notes.txt",
                                           str(tmp_path))).read_text()
    assert "decimal comma" in notes and "%d.%m.%Y" in notes
