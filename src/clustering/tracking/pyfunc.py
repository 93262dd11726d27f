"""The saved model in MLflow: the pyfunc wrapper of :class:`clustering.model.SegmentationModel`,
logging it with its code and requirements, and loading it back from a run or the registry."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import joblib
import mlflow
import mlflow.pyfunc
import pandas as pd

import clustering.model
from clustering.errors import DataError
from clustering.model import SegmentationModel, load_pickled
from clustering.tracking.trust import check_trusted


class DamagedModel(DataError):
    """The model's pickle could not be read."""


class SegmentationPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: feature rows in; segment, its name, persona, confidence, outlier
    flag, relationship and the baselines' labels out."""

    def load_context(self, context):
        try:
            self.model = load_pickled(context.artifacts["segmentation"])
        except Exception as exc:  # noqa: BLE001 - an unpickler fails in many ways on a cut file
            # a truncated or overwritten artifact (a full disk while it was logged, a copy cut
            # short) ended in a traceback from deep inside the unpickler
            raise DamagedModel(f"its file is damaged or incomplete ({type(exc).__name__}: "
                               f"{str(exc)[:120]})") from exc

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        answer = getattr(self.model, "answer", None)  # models before it: the label frame
        return answer(model_input) if answer else self.model.label_frame(model_input)


#: models logged before the wings pickled the wrapper as ``clustering.model.SegmentationPyfunc``
clustering.model.SegmentationPyfunc = SegmentationPyfunc


def save_for_mlflow(model: SegmentationModel, directory: Path) -> Path:
    path = Path(directory) / "segmentation.joblib"
    joblib.dump(model, path)
    return path


#: the project's own store, where `make train` logs by default
PROJECT_STORE = Path(__file__).resolve().parents[3] / "mlflow.db"


def use_store(tracking_uri: str | None = None) -> str:
    """Point MLflow at ``tracking_uri``; else keep the store already set (MLFLOW_TRACKING_URI or
    ``mlflow.set_tracking_uri``); else this project's SQLite store. Never a new empty store in
    whatever folder the caller runs from: without any, a clear error."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
        return tracking_uri
    try:
        from mlflow.tracking._tracking_service.utils import is_tracking_uri_set
    except ImportError:  # a future MLflow without it: trust what is set
        return mlflow.get_tracking_uri()
    if is_tracking_uri_set():
        return mlflow.get_tracking_uri()
    if PROJECT_STORE.exists():
        uri = f"sqlite:///{PROJECT_STORE}"
        mlflow.set_tracking_uri(uri)
        return uri
    raise DataError(f"no MLflow store to load the model from: set MLFLOW_TRACKING_URI (or pass "
                    f"tracking_uri=...); the project's store {PROJECT_STORE} does not exist yet "
                    "(run `make train` first)")


def load_segmentation_model(model_uri: str, tracking_uri: str | None = None) -> SegmentationModel:
    """The :class:`SegmentationModel` inside a logged or registered pyfunc model, from any
    folder: the store is ``tracking_uri``, the one set, or the project's (:func:`use_store`)."""
    if model_uri.startswith(("models:/", "runs:/")):
        use_store(tracking_uri)
        check_trusted(model_uri)  # its code runs here: another user's model is refused
    try:
        pyfunc = mlflow.pyfunc.load_model(model_uri)
    except DamagedModel as exc:
        raise DataError(f"model {model_uri}: {exc}; train it again (make train) or choose "
                        "another version (model_uri=<version>)") from None
    return pyfunc.unwrap_python_model().model


def requirements() -> list[str]:
    """Pinned pip requirements of the logged model (explicit: no slow inference)."""
    from importlib.metadata import version

    pkgs = ["scikit-learn", "numpy", "pandas", "scipy", "cloudpickle", "hdbscan", "fastcluster",
            "pyarrow"]
    reqs = []
    for p in pkgs:
        try:
            reqs.append(f"{p}=={version(p)}")
        except Exception:  # not installed: the model does not need it
            continue
    return reqs


def warm_requirement_check() -> threading.Thread:
    """Read the installed packages' metadata in a thread now (while DuckDB loads the data):
    MLflow does it once per process when a model is logged, to compare the model's
    requirements with what is installed, which took 0.7 s at the end of every training."""

    def read() -> None:
        try:
            from mlflow.utils.requirements_utils import _init_packages_to_modules_map

            _init_packages_to_modules_map()
        except Exception:  # noqa: BLE001 - a private helper of MLflow: if it moves, logging reads it
            pass

    thread = threading.Thread(target=read, name="mlflow-requirements", daemon=True)
    thread.start()
    return thread


#: what MLflow prints on every training that says nothing the run does not say itself: the
#: wrapper is pickled on purpose, and the run prints its registered version and the champion
_CHATTER = ("Successfully registered model", "Created version '", "CloudPickle",
            "already exists. Creating a new version")


class _NoChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(c in record.getMessage() for c in _CHATTER)


@contextlib.contextmanager
def _said_once():
    """MLflow's lines of :data:`_CHATTER` dropped; anything else it prints passes."""
    captured, chatter = io.StringIO(), _NoChatter()
    loggers = [logging.getLogger(n) for n in ("mlflow.pyfunc", "mlflow.tracking._model_registry."
                                                               "fluent", "mlflow.models.model")]
    for lg in loggers:
        lg.addFilter(chatter)
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        for lg in loggers:
            lg.removeFilter(chatter)
        rest = [ln for ln in captured.getvalue().splitlines()
                if ln.strip() and not any(c in ln for c in _CHATTER)]
        if rest:
            print("\n".join(rest), file=sys.stderr, flush=True)


def log_segmentation_model(model, input_example: pd.DataFrame, registered_name: str | None = None,
                           texts: dict[str, str] | None = None):
    """Log the segmentation as a pyfunc model (code shipped with it, explicit requirements,
    signature and input example), with ``texts`` (file name -> content: the segment rules)
    among its artifacts; register it under ``registered_name`` when given."""
    from mlflow.models import infer_signature

    package = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), _said_once():
        # MLflow hints on every training that integer columns cannot hold missing values
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        path = save_for_mlflow(model, Path(tmp))
        artifacts = {"segmentation": str(path)}
        for name, text in (texts or {}).items():
            (Path(tmp) / name).write_text(text)
            artifacts[name.replace(".", "_")] = str(Path(tmp) / name)
        output = model.answer(input_example)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=SegmentationPyfunc(),
            artifacts=artifacts,
            code_paths=[str(package)],
            signature=infer_signature(input_example, output),
            input_example=input_example,
            pip_requirements=requirements() + [f"mlflow=={mlflow.__version__}", "joblib"],
            registered_model_name=registered_name,
        )
    return info


def spark_udf(spark, model_uri: str, result_type: str):
    """The model at ``model_uri`` as a Spark UDF that labels feature columns on the executors
    (MLflow's ``spark_udf`` in the driver's environment)."""
    return mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", result_type=result_type)
