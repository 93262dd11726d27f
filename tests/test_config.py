"""Every config option composes, validates against the schema and builds its objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from clustering.errors import ConfigError
from clustering.preprocess import build_preprocessor
from clustering.segmenters import make_segmenter
from clustering.training import validate_config
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
