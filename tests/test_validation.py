"""Future validation and checklist metrics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from clustering.evaluate import checklist_metrics
from clustering.validation import future_separation


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


def test_eta_squared_by_hand():
    # groups {1, 3} and {5, 7}: grand mean 4, SS_total 20, SS_between 2*(2-4)^2 + 2*(6-4)^2 = 16
    m, _ = future_separation(np.array([0, 0, 1, 1]), np.array([1, 0, 1, 0], bool),
                             np.array([1.0, 3, 5, 7]))
    assert m["future_eta2_spend"] == pytest.approx(16 / 20)


def test_checklist_small_segments_and_separation():
    labels = np.array([0] * 97 + [1] * 3)
    m = checklist_metrics(labels, np.ones(100), min_share=0.05, persona_fit=0.8)
    assert m["small_segment_share"] == pytest.approx(0.03)
    assert np.isnan(m["business_separation"])  # no variance in revenue
    assert m["persona_fit"] == 0.8
