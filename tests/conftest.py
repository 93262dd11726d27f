"""Shared fixtures: tiny hand-made tables, a small generated base, a temporary MLflow store."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store for one test (never the project's mlflow.db)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)  # an earlier test may have set another store globally
    yield uri
    if mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """A generated customer base of 6,000 customers, written as Parquet once per session."""
    from clustering.sample.files import ensure_sample_data

    d = tmp_path_factory.mktemp("sample")
    return ensure_sample_data(str(d), n_customers=6000, seed=7)


@pytest.fixture
def tiny_transactions() -> pd.DataFrame:
    """Three customers with hand-checkable histories (see test_features for the answers)."""
    rows = [
        # customer, order, timestamp, amount, category, is_return, delay, new
        ("A", "O1", "2024-01-10 10:00", 60.0, "x", False, 10, True),
        ("A", "O1", "2024-01-10 10:00", 40.0, "y", False, 10, False),
        ("A", "O2", "2024-03-15 09:30", 50.0, "x", False, 20, False),
        ("A", "O1", "2024-03-20 12:00", -40.0, "y", True, 10, False),
        ("A", "O3", "2024-06-30 08:00", 200.0, "z", False, 0, False),  # on the snapshot day
        ("B", "O4", "2023-12-01 15:00", 30.0, "x", False, 5, False),
        ("C", "O5", "2023-01-01 11:00", 80.0, "x", False, 3, False),  # before the window
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "category",
                                     "is_return", "payment_delay_days", "is_new_product"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["quantity"] = 1
    return df


@pytest.fixture
def settings_for(tmp_path):
    """``settings_for(*overrides)``: the typed settings (and resolved dict) of `make train` with
    these Hydra overrides, its data and reports under the test's temporary folder."""
    from hydra import compose, initialize_config_dir

    from pipelines.common import CONF_DIR, to_settings

    def make(*overrides: str):
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            cfg = compose("train", overrides=[f"paths.data_dir={tmp_path / 'data'}",
                                              f"paths.reports_dir={tmp_path / 'reports'}",
                                              *overrides])
        return to_settings(cfg)

    return make

