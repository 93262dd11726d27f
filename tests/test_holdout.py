"""Future validation (hold-out) on cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.holdout import future_separation


def test_perfect_and_useless_segmentations():
    again = np.array([1, 1, 1, 0, 0, 0], bool)
    spend = np.array([10.0, 10, 10, 0, 0, 0])
    perfect, table = future_separation(np.array([0, 0, 0, 1, 1, 1]), again, spend)
    assert perfect["future_auc_repeat"] == pytest.approx(1.0)
    assert perfect["future_eta2_spend"] == pytest.approx(1.0)
    assert table["holdout_repeat_rate"].tolist() == [1.0, 0.0]
    useless, _ = future_separation(np.array([0, 1, 0, 1, 0, 1]), np.array([1, 1, 0, 0, 0, 0], bool),
                                   spend)
    assert useless["future_auc_repeat"] == pytest.approx(0.5)


def test_grouped_auc_equals_roc_auc_on_the_customers():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 7, 5000)
    again = rng.random(5000) < (labels / 10 + 0.1)
    labels[:400] = np.repeat([7, 8], 200)   # two segments with the same rate: a tie
    again[:400] = np.tile(np.arange(200) < 50, 2)
    metrics, table = future_separation(labels, again, rng.random(5000))
    rate = pd.Series(labels).map(pd.Series(again).groupby(labels).mean())
    assert metrics["future_auc_repeat"] == pytest.approx(roc_auc_score(again, rate), abs=1e-12)
