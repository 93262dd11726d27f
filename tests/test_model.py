"""The saved model: what it keeps, and models saved by earlier versions still load."""

from __future__ import annotations

import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.pipeline import Pipeline

from clustering.features.preprocess import build_preprocessor
from clustering.model import SegmentationModel, load_pickled
from clustering.segmenters import KMeansSegmenter


def _model() -> tuple[SegmentationModel, pd.DataFrame]:
    X, _ = make_blobs(n_samples=300, centers=3, n_features=2, random_state=0)
    df = pd.DataFrame(X, columns=["recency_days", "frequency"])
    pipe = Pipeline([("preprocess", build_preprocessor(list(df.columns), winsorize=None)),
                     ("segment", KMeansSegmenter(n_clusters=3))]).fit(df)
    return SegmentationModel(pipe, {0: "a", 1: "b", 2: "c"}), df


def test_a_model_pickled_when_segmenters_lived_in_clustering_segment_still_loads(
        tmp_path, monkeypatch):
    model, df = _model()
    path = tmp_path / "segmentation.joblib"
    # pickle it as the previous layout did: the class under clustering.segment
    with monkeypatch.context() as m:
        m.setattr(KMeansSegmenter, "__module__", "clustering.segment")
        m.setitem(sys.modules, "clustering.segment", sys.modules["clustering.segmenters"])
        joblib.dump(model, path)
    sys.modules.pop("clustering.segment", None)
    with pytest.raises(ModuleNotFoundError):
        joblib.load(path)
    loaded = load_pickled(path)
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))


def test_a_model_saved_before_its_later_parameters_loads_with_their_defaults(tmp_path):
    """A pickle without the parameters added since (checks, baselines, signals, margins, ...)
    still predicts, and repr / get_params / clone, which read every parameter, work."""
    from sklearn.base import clone

    model, df = _model()
    model.margins = {"default": 0.3}
    path = tmp_path / "old.joblib"
    joblib.dump(model, path)
    old = joblib.load(path)
    for name in SegmentationModel.LATER_PARAMS:
        old.__dict__.pop(name)
    joblib.dump(old, path)  # as an older version saved it
    loaded = load_pickled(path)
    assert loaded.margins is None and loaded.get_params()["signals"] is None
    assert "SegmentationModel" in repr(loaded) and clone(loaded).margins is None
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))


def test_loading_from_another_folder_never_creates_an_empty_store(tmp_path, monkeypatch):
    """Without MLFLOW_TRACKING_URI, a set URI or the project's store: one clear error, and no
    stray mlflow.db in the caller's folder."""
    import mlflow.tracking._tracking_service.utils as tracking_utils

    import clustering.tracking.pyfunc as model_module
    from clustering.errors import DataError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(model_module, "PROJECT_STORE", tmp_path / "project" / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="no MLflow store to load the model from"):
        model_module.load_segmentation_model("models:/segmentation-sample/1")
    assert not list(tmp_path.glob("mlflow.db")) and not (tmp_path / "mlruns").exists()


def test_only_a_missing_feature_column_becomes_a_data_error():
    """A baseline reading a feature the table lacks: a DataError naming it; any other
    KeyError (a bug inside a baseline) stays a KeyError."""
    from clustering.errors import DataError
    from clustering.model import _needs

    table = pd.DataFrame({"frequency": [1]})
    with pytest.raises(DataError, match="feature column 'profit_total' missing: the abc_xyz"):
        with _needs(table, "the abc_xyz baseline"):
            table["profit_total"]
    for key in ("name", "frequency", 3):
        with pytest.raises(KeyError):
            with _needs(table, "the abc_xyz baseline"):
                raise KeyError(key)


def test_a_truncated_model_file_is_one_line(tmp_path):
    """A model whose pickle was cut short (a full disk while logging, a partial copy) raised
    from deep inside the unpickler; now one line saying what to do."""
    import mlflow.pyfunc

    from clustering.errors import DataError
    from clustering.tracking.pyfunc import SegmentationPyfunc, load_segmentation_model

    art = tmp_path / "segmentation.joblib"
    art.write_bytes(b"\x80\x04\x95")  # the start of a pickle, nothing more
    folder = tmp_path / "model"
    mlflow.pyfunc.save_model(str(folder), python_model=SegmentationPyfunc(),
                             artifacts={"segmentation": str(art)}, pip_requirements=[])
    with pytest.raises(DataError, match="damaged or incomplete"):
        load_segmentation_model(str(folder))
