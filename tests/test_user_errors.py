"""Every error a user can cause on the command line ends in one line saying what to do, run
through `make` as the README writes it: a misspelt key or group (with a guess), a missing
file (with the near names), an unreachable server; and forgetting `data=csv` just works."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _make(target: str, args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    return subprocess.run(["make", "-s", target, f"ARGS={args}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stdout[-1000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    # make's own "*** Error 2" line (make[1]: when make test runs this make) is not ours
    lines = [ln for ln in r.stderr.splitlines()
             if ln.strip() and not re.match(r"make(\[\d+\])?: ", ln)]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("args, line", [
    ("model.kk=6", "config error: model.kk is not a setting. Did you mean model.k? The settings "
                   "of model: name, k, k_min, k_max, criterion, params."),
    ("model=kmean", "config error: model=kmean: there is no such model. Did you mean "
                    "model=kmeans? The choices: fuzzy_cmeans, gmm, hdbscan, hierarchical, kmeans, "
                    "kprototypes, "
                    "minibatch_kmeans, spark_bisecting_kmeans, spark_gmm, spark_kmeans."),
    ("evaluate.min_shar=0.1", "config error: evaluate.min_shar is not a setting. Did you mean "
                              "evaluate.min_share?"),
    ("mlflow.tracking_uri=http://127.0.0.1:9", "tracking error: the MLflow tracking server "
                                               "http://127.0.0.1:9 does not answer"),
])
def test_a_mistyped_command_is_one_line(args, line, tmp_path):
    assert _one_line(_make("train", args, tmp_path)).startswith(line)


def test_a_missing_file_names_the_near_ones(tmp_path):
    (tmp_path / "Umsatzexport 2024.csv").write_text("customer_id,timestamp,amount\n")
    missing = tmp_path / "Umsatzexport2024.csv"
    got = _one_line(_make("train", f"data=csv data.path={missing}", tmp_path))
    assert got == (f"config error: data.path: '{missing}' does not exist; did you mean "
                   f"'{tmp_path / 'Umsatzexport 2024.csv'}'?")


@pytest.mark.slow
def test_data_path_without_data_csv_reads_that_file(tmp_path):
    """It trained on the bundled sample without a word."""
    from clustering.sample.files import ensure_sample_data

    tx = pd.read_parquet(ensure_sample_data(str(tmp_path / "gen"), n_customers=400,
                                            seed=5)["transactions"])
    tx.to_csv(tmp_path / "shop.csv", index=False)
    r = _make("train", f"data.path={tmp_path / 'shop.csv'} data.name=shop "
              f"paths.reports_dir={tmp_path / 'reports'} evaluate.stability_runs=0", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"transaction file(s): {tmp_path / 'shop.csv'}" in r.stdout
    assert "segmentation-shop" in r.stdout


@pytest.mark.slow
def test_the_default_train_prints_at_most_forty_five_lines(tmp_path):
    """Quiet by default: a line per stage with its time (21 on the sample), the verdict, the
    personas and where to look (21 more); no library chatter (it printed ~100 lines);
    --verbose for the rest."""
    r = _make("train", f"paths.reports_dir={tmp_path / 'reports'}", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert len(lines) <= 45, "\n".join(lines)
    text = "\n".join(lines)
    assert "separate who buys again better" in text and "Personas (what to act on):" in text
    assert "Persona report: " in text and "INFO" not in text and "CloudPickle" not in text
    assert sum(ln.startswith("[") and ln.rstrip().endswith("s)") for ln in lines) >= 10
