"""Every config option composes, validates against the schema and builds its objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from clustering.config import TrainConfig, model_label, validate_config
from clustering.errors import ConfigError
from clustering.features.preprocess import build_preprocessor
from clustering.segmenters import make_segmenter
from pipelines.common import CONF_DIR, to_settings

GROUPS = {g.name: sorted(p.stem for p in g.glob("*.yaml")) for g in Path(CONF_DIR).iterdir()
          if g.is_dir()}
OPTIONS = [(g, o) for g, opts in sorted(GROUPS.items()) for o in opts]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option, tmp_path):
    overrides = [f"{group}={option}"]
    if group == "data" and option != "sample":
        f = tmp_path / "tx.csv"
        f.write_text("customer_id\n")
        overrides.append(f"data.path={f}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=overrides)
    settings, resolved = to_settings(cfg)
    validate_config(settings)
    assert resolved[group]
    build_preprocessor(settings.preprocess.features, scaler=settings.preprocess.scaler)
    make_segmenter(settings.model.name, **settings.model.params)
    if group == "model":  # run names say which model ran, variants included
        assert model_label(settings.model) == option


def test_typo_in_key_is_a_clear_error():
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=["+model.kk=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'model.kk'. Did you mean 'model.k'"):
        to_settings(cfg)


def test_wrong_type_is_a_clear_error():
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=["model.k_min=three"])
    with pytest.raises(ConfigError, match="model.k_min"):
        to_settings(cfg)


def test_paths_are_rooted_at_the_project():
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train")
    settings, _ = to_settings(cfg)
    assert Path(settings.paths.root) == Path(CONF_DIR).parent
    assert settings.paths.data_dir.startswith(settings.paths.root)


def _leaves(obj, prefix=""):
    from dataclasses import fields, is_dataclass

    for f in fields(obj):
        v = getattr(obj, f.name)
        if is_dataclass(v):
            yield from _leaves(v, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", v


def test_the_yaml_is_the_one_source_of_defaults():
    """The schema repeats no value of conf/: every leaf is MISSING, except the few that only
    some options have (the bundled sample, a k range for families that take k, free params)."""
    optional = {"data.sample": None, "model.k_min": None, "model.k_max": None,
                "model.criterion": None, "model.params": {},
                "data.customer_columns.role": None}
    for key, value in _leaves(TrainConfig()):
        assert value == optional.get(key, "???"), key


def test_a_yaml_without_a_required_value_names_the_key():
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=["~evaluate.min_share"])
    with pytest.raises(ConfigError, match="evaluate.min_share"):
        to_settings(cfg)


def test_a_share_given_as_a_percentage_is_refused():
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=["data.quality.max_share=5"])
    settings, _ = to_settings(cfg)
    with pytest.raises(ConfigError, match=r"max_share is a share between 0 and 1 \(0.05 = 5%\)"):
        validate_config(settings)



@pytest.mark.parametrize("overrides, message", [
    (["engine.distributed=true"], "engine.distributed=true runs on Spark: add engine=spark"),
    (["engine=spark", "engine.distributed=true", "model=kmeans"],
     "trains Spark MLlib models: model=spark_kmeans.*got model=kmeans"),
    (["engine=spark", "engine.distributed=true", "model=spark_gmm", "model.criterion=bic"],
     "chooses k by calinski_harabasz, silhouette, davies_bouldin"),
    (["engine=spark", "engine.distributed=true", "model=spark_kmeans", "engine.sample_rows=10"],
     "engine.sample_rows must be at least 1000"),
])
def test_distributed_settings_fail_before_spark_starts(settings_for, overrides, message):
    settings, _ = settings_for(*overrides)
    with pytest.raises(ConfigError, match=message):
        validate_config(settings)


@pytest.mark.parametrize("override", ["data.name=../../..", "data.name=a/b", "data.name='a\\b'",
                                      "mlflow.run_name=../outside", "data.name=c:x"])
def test_names_that_become_folders_cannot_be_paths(override):
    """data.name and mlflow.run_name name the report's folder: '../../..' wrote the report
    outside reports/."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[override])
    settings, _ = to_settings(cfg)
    with pytest.raises(ConfigError, match="becomes part of a folder name"):
        validate_config(settings)


@pytest.mark.parametrize("name", ["sample", "shop 2024", "erp.export-1_2"])
def test_plain_names_pass(name):
    from clustering.files import check_name

    check_name(name, "data.name")
