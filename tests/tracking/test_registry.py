"""The model registry: choosing a model by version, alias or run id; promotion only on a win."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
import pytest

from clustering.errors import ConfigError
from clustering.tracking import CHAMPION, choose_model, model_name_for, promote

NAME = "segmentation-test"


class _Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0] * len(model_input)


def _register(metric: float, digest: str | None = None) -> tuple[str, str]:
    """A run with one metric (and the digest of its data) and a tiny logged model, registered
    as a new version."""
    with mlflow.start_run() as run:
        mlflow.log_metric("future_auc_repeat", metric)
        if digest:
            mlflow.set_tag("data.digest", digest)
        info = mlflow.pyfunc.log_model(name="model", python_model=_Constant(),
                                       pip_requirements=[])
    return mlflow.register_model(info.model_uri, NAME).version, run.info.run_id


def test_one_model_per_dataset_by_default():
    assert model_name_for(None, "shop") == "segmentation-shop"
    assert model_name_for("my-model", "shop") == "my-model"


def test_a_model_is_chosen_by_version_alias_or_run_id(mlflow_uri):
    with pytest.raises(ConfigError, match="no registered model 'segmentation-test'.*make train"):
        choose_model(None, NAME)
    v1, run1 = _register(0.80)
    v2, _ = _register(0.85)
    assert choose_model(None, NAME) == f"models:/{NAME}/{v2}"  # no champion yet: the latest
    assert choose_model("1", NAME) == f"models:/{NAME}/1"
    assert choose_model(run1, NAME) == f"runs:/{run1}/model"
    assert choose_model("models:/x/7", NAME) == "models:/x/7"
    mlflow.MlflowClient().set_registered_model_alias(NAME, CHAMPION, v1)
    assert choose_model(None, NAME) == f"models:/{NAME}@{CHAMPION}"  # the champion once set
    assert choose_model("champion", NAME) == f"models:/{NAME}@{CHAMPION}"
    with pytest.raises(ConfigError, match=r"has no version 9 \(versions: 1, 2\)"):
        choose_model("9", NAME)
    with pytest.raises(ConfigError, match=r"aliases: champion"):
        choose_model("staging", NAME)
    with pytest.raises(ConfigError, match="no run with this id"):
        choose_model("0" * 32, NAME)


def test_promotion_moves_the_champion_only_on_a_win(mlflow_uri):
    client = mlflow.MlflowClient()
    v1, _ = _register(0.90)
    assert promote(NAME, v1, "future_auc_repeat", say=lambda m: None)  # no champion: promoted
    v2, _ = _register(0.83)  # a worse candidate (a sweep's best that is worse than in use)
    assert not promote(NAME, v2, "future_auc_repeat", say=lambda m: None)
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == v1
    assert client.get_model_version(NAME, v2).tags["promotion"] == (
        "not promoted: future_auc_repeat 0.8300 vs champion version 1: 0.9000")
    v3, _ = _register(0.95)
    assert promote(NAME, v3, "future_auc_repeat", say=lambda m: None)
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == v3
    # where lower is better, the lower value wins
    assert promote(NAME, v1, "future_auc_repeat", lower_is_better=True, say=lambda m: None)
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == v1


def test_a_local_model_folder_is_said_to_run_its_code(tmp_path):
    """model_uri=<folder> loads whatever pickle and modules are there: the CLI says so."""
    from clustering.tracking import local_model_notice

    folder = tmp_path / "someone_elses_model"
    folder.mkdir()
    assert "runs the code inside it" in local_model_notice(str(folder))
    assert local_model_notice("models:/segmentation-sample/1") is None
    assert local_model_notice("runs:/0123/model") is None
    assert local_model_notice(str(tmp_path / "missing")) is None


def test_versions_trained_on_other_data_are_not_compared(mlflow_uri):
    """A model of a 60-customer extract was crowned over the 200-customer champion by a
    silhouette measured on other customers: refused in one line, the champion stays."""
    client = mlflow.MlflowClient()
    v1, _ = _register(0.80, digest="a" * 64)
    assert promote(NAME, v1, "future_auc_repeat", say=lambda m: None)
    v2, _ = _register(0.99, digest="b" * 64)
    with pytest.raises(ConfigError, match="trained on other data than the champion, version 1"):
        promote(NAME, v2, "future_auc_repeat", say=lambda m: None)
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == v1
    v3, _ = _register(0.90, digest="a" * 64)  # the same data: compared, and it wins
    assert promote(NAME, v3, "future_auc_repeat", say=lambda m: None)


def test_train_crowns_the_first_version_and_later_ones_only_when_they_win(mlflow_uri):
    """What serves is what won: `make train` makes a dataset's first version its champion,
    moves the alias to a later version only when it wins the comparison `make promote` makes
    (on the same data), and says which way it went."""
    from clustering.tracking import crown

    client, said = mlflow.MlflowClient(), []
    v1, _ = _register(0.90, "d1")
    assert crown(NAME, v1, "future_auc_repeat", said.append)
    assert said[-1] == f"models:/{NAME}@champion -> version 1 (the dataset's first version)"
    v2, _ = _register(0.72, "d1")  # an HDBSCAN retrain that separates the future worse
    assert not crown(NAME, v2, "future_auc_repeat", said.append)
    assert said[-1].startswith(f"champion of '{NAME}' stays version 1: candidate version 2 "
                               "does not beat it (future_auc_repeat 0.7200 vs")
    assert choose_model(None, NAME) == f"models:/{NAME}@{CHAMPION}"
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == v1
    v3, _ = _register(0.95, "other data")
    assert not crown(NAME, v3, "future_auc_repeat", said.append)
    assert said[-1].startswith(f"champion of '{NAME}' unchanged: version 3 of '{NAME}' was "
                               "trained on other data")
    v4, _ = _register(0.93, "d1")
    assert crown(NAME, v4, "future_auc_repeat", said.append)
    assert client.get_model_version_by_alias(NAME, CHAMPION).version == v4


def test_a_reader_opens_the_champions_run_never_a_sweep_job(mlflow_uri):
    """The notebook opened "the latest run": after a sweep, its last (worst) job, which has no
    baselines. It opens the run of the dataset's champion, else the newest `make train` run."""
    from clustering.tracking import run_to_read

    mlflow.set_experiment("segmentation-shop")

    def finished(**tags) -> str:
        with mlflow.start_run(tags={"kind": "clustering", **tags}) as run:
            info = mlflow.pyfunc.log_model(name="model", python_model=_Constant(),
                                           pip_requirements=[])
        return run.info.run_id, info.model_uri

    trained, uri = finished()
    swept, _ = finished(sweep="s1")
    assert run_to_read("shop").info.run_id == trained  # the sweep's job is never read
    later, later_uri = finished()
    assert run_to_read("shop").info.run_id == later
    version = mlflow.register_model(uri, "segmentation-shop").version
    mlflow.MlflowClient().set_registered_model_alias("segmentation-shop", CHAMPION, version)
    assert run_to_read("shop").info.run_id == trained  # the champion's run, though older
