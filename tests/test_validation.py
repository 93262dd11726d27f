"""Future validation and checklist metrics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.holdout import future_separation
from clustering.metrics import checklist_metrics


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


@pytest.mark.parametrize("case", ["random", "nested", "identical", "one_side_single", "all_singletons",
                                  "strings"])
def test_agreement_equals_scikit_learns_ari_and_nmi(case):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from clustering.metrics import agreement

    rng = np.random.default_rng(3)
    a = rng.integers(0, 6, 2000)
    b = {"random": rng.integers(-1, 4, 2000), "nested": a // 2, "identical": a.copy(),
         "one_side_single": np.zeros(2000, int), "all_singletons": np.arange(2000),
         "strings": np.array(list("ABCD"))[a % 4]}[case]
    ari, nmi = agreement(a, b)
    assert ari == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert nmi == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)


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
