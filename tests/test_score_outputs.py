"""A property of `make score`: whatever output= a user gives, it writes only the output and
the files named after it (quarantine, migration, renamed) in the output's folder, and never
over a file it reads; or it stops in one line and changes nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustering.errors import ClusteringError
from pipelines.common import CONF_DIR, PROJECT_ROOT, to_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A registered model of a small sample, and its transactions as a CSV to score."""
    from clustering.sample.files import ensure_sample_data

    root = tmp_path_factory.mktemp("trained")
    store = f"sqlite:///{root / 'mlflow.db'}"
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"),
                        "data.sample.n_customers=400", "evaluate.stability_runs=0",
                        "model.k=4", f"mlflow.tracking_uri={store}",
                        f"paths.data_dir={root / 'data'}", f"paths.reports_dir={root / 'rep'}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    paths = ensure_sample_data(str(root / "raw"), n_customers=400, seed=42)
    return {"store": store, "transactions": pd.read_parquet(paths["transactions"])}


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


outputs = st.tuples(
    st.sampled_from(["", "sub/", "sub/../", "./", "new/deeper/"]),          # folder
    st.sampled_from(["labels", "tx", "tx.quarantine", "prev", "link", "customers"]),  # stem
    st.sampled_from([".csv", ".parquet"]),
    st.booleans(),                                                          # previous= given
)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(output=outputs)
def test_score_writes_only_its_output_and_never_an_input(trained, tmp_path_factory, monkeypatch,
                                                        output):
    from hydra import compose, initialize_config_dir

    from clustering.config import ScoreConfig
    from pipelines.score import run

    box = tmp_path_factory.mktemp("box")
    (box / "sub").mkdir()
    trained["transactions"].head(3000).to_csv(box / "tx.csv", index=False)
    (box / "link.csv").symlink_to(box / "tx.csv")
    (box / "link.parquet").symlink_to(box / "tx.csv")
    pd.DataFrame({"customer_id": ["x"], "segment": [0], "persona": ["p"]}).to_csv(
        box / "prev.csv", index=False)
    folder, stem, suffix, previous = output
    out = f"{box}/{folder}{stem}{suffix}"
    overrides = ["data=csv", f"data.path={box / 'tx.csv'}", f"output={out}",
                 f"tracking_uri={trained['store']}", f"paths.data_dir={box / 'data'}"]
    if previous:
        overrides.append(f"previous={box / 'prev.csv'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["store"])
    before = _tree(box)
    with initialize_config_dir(CONF_DIR, version_base=None):
        cfg = compose("score", overrides=overrides)
    settings_, _ = to_settings(cfg, ScoreConfig)
    inputs = {box / "tx.csv"} | ({box / "prev.csv"} if previous else set())
    try:
        run(settings_)
        refused = None
    except ClusteringError as exc:
        refused = exc
    after = _tree(box)
    for f in inputs:  # an input is never changed (previous= may be the output: read first)
        if Path(out).resolve() != f.resolve():
            assert before[str(f.relative_to(box))] == after[str(f.relative_to(box))]
    assert hashlib.sha1((box / "tx.csv").read_bytes()).hexdigest() == before["tx.csv"]
    changed = {k for k in after if before.get(k) != after[k]} | (set(before) - set(after))
    changed = {k for k in changed if not k.startswith("data/")}  # DuckDB's spill folder
    if refused is not None:
        assert not changed, (refused, changed)
        return
    base = Path(out).resolve().with_suffix("")
    allowed = {Path(out).resolve()} | {Path(f"{base}{s}") for s in (
        ".quarantine.parquet", ".migration.csv", ".migration.png", ".renamed.csv")}
    assert {(box / k).resolve() for k in changed} <= allowed
    assert Path(out).resolve() in {(box / k).resolve() for k in changed}
    assert os.path.commonpath([Path(out).resolve(), box]) == str(box)
