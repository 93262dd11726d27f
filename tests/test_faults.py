"""Faults of the machine end in one line and leave nothing half-written: a full disk under the
reports, a read-only MLflow store. Real file systems: small tmpfs mounts (the tests need root,
as CI has; elsewhere they are skipped)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["data.sample.n_customers=400", "evaluate.stability_runs=0"]


@pytest.fixture
def mount(tmp_path):
    """mount(size, read_only) -> a fresh tmpfs folder; unmounted after the test."""
    mounted: list[Path] = []

    def make(size: str, read_only: bool = False, copy: list[Path] = ()) -> Path:
        path = tmp_path / f"fs{len(mounted)}"
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(path)
        for f in copy:
            (path / f.name).write_bytes(f.read_bytes())
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return path

    yield make
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False)


def _train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "pipelines" / "train.py"), *SMALL, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


def test_a_full_disk_under_the_reports_ends_in_one_line_and_a_failed_run(mount, tmp_path, data):
    full = mount("200k")
    store = f"sqlite:///{tmp_path / 'm.db'}"
    r = _train(f"mlflow.tracking_uri={store}", f"paths.data_dir={data}",
               f"paths.reports_dir={full}")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write {full}/") and "persona_report.html" in last
    assert "the disk is full" in last and "paths.reports_dir=" in last
    assert not [p for p in full.rglob("*") if p.is_file()]  # no half-written report
    runs = mlflow.MlflowClient(store).search_runs(["1"])
    assert [x.info.status for x in runs] == ["FAILED"]


def test_a_read_only_store_ends_in_one_line(mount, tmp_path, data):
    store = tmp_path / "m.db"
    r = _train(f"mlflow.tracking_uri=sqlite:///{store}", f"paths.data_dir={data}",
               f"paths.reports_dir={tmp_path / 'reports'}")
    assert r.returncode == 0, r.stderr[-2000:]
    frozen = mount("20m", read_only=True, copy=[store])
    r = _train(f"mlflow.tracking_uri=sqlite:///{frozen / 'm.db'}", f"paths.data_dir={data}",
               f"paths.reports_dir={tmp_path / 'reports'}")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write {frozen}/m.db") and "read-only" in last
    assert "mlflow.tracking_uri=" in last


def test_faults_are_one_line_and_bugs_keep_their_traceback():
    from clustering.errors import fault_of

    full = fault_of(OSError(28, "No space left on device", "/r/persona_report.html"))
    assert str(full).startswith("cannot write /r/persona_report.html: the disk is full")
    denied = fault_of(PermissionError(13, "Permission denied", "/data/x.csv"))
    assert str(denied).startswith("cannot use /data/x.csv: permission denied")
    wrapped = RuntimeError("logging failed")
    wrapped.__cause__ = OSError(30, "Read-only file system", "/store/m.db")
    assert str(fault_of(wrapped)).startswith("cannot write /store/m.db: the file system is read-only")
    assert fault_of(KeyError("bug")) is None
