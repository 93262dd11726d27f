"""Golden labels: the same customers get the same segment, segment name and persona as recorded
(tests/golden/labels.json, by record.py; the segments themselves as on the commit before the
wings move), for k-means,
hierarchical, HDBSCAN and the distributed Spark path in local mode. A change that moves a
customer on purpose records the file again (``python tests/golden/record.py``) and says why."""

from __future__ import annotations

import json

import pytest

from tests.golden.record import CONFIGS, GOLDEN, train

EXPECTED = json.loads(GOLDEN.read_text())
FAST = {"kmeans"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow)
                                  for n in CONFIGS])
def test_labels_and_persona_names_are_the_recorded_ones(name, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if name.startswith("spark"):
        pytest.importorskip("pyspark")
    got = train(name, tmp_path)
    assert got["segment_names"] == EXPECTED[name]["segment_names"]
    assert got["segment_personas"] == EXPECTED[name]["segment_personas"]
    assert got["customers"] == EXPECTED[name]["customers"]
    assert got["segments_sha256"] == EXPECTED[name]["segments_sha256"]
    assert got["labels_sha256"] == EXPECTED[name]["labels_sha256"]
