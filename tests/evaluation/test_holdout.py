"""Future validation (hold-out) on cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.evaluation.holdout import future_separation


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


def test_per_segment_table_equals_a_groupby():
    rng = np.random.default_rng(2)
    labels = np.array(["Loyal", "Lost", "At risk", None], dtype=object)[rng.integers(0, 4, 3000)]
    again, spend = rng.random(3000) < 0.4, rng.gamma(2.0, 50.0, 3000)
    _, table = future_separation(labels, again, spend)
    df = pd.DataFrame({"segment": labels, "again": again, "spend": spend})
    g = df.groupby("segment")  # drops the unlabelled customers, sorts the segments
    assert table["segment"].tolist() == ["At risk", "Lost", "Loyal"]
    np.testing.assert_array_equal(table["customers"], g.size().to_numpy())
    np.testing.assert_allclose(table["holdout_repeat_rate"], g["again"].mean().to_numpy())
    np.testing.assert_allclose(table["holdout_mean_spend"], g["spend"].mean().to_numpy())


def test_k_by_future_separation_finds_the_planted_k():
    """Four planted groups of customers with repeat rates 10/40/70/95%: the hold-out AUC
    rises until k=4 and is flat after it, so the criterion picks 4 (the smallest k within
    the tolerance of the best)."""
    import datetime as dt

    from clustering.evaluation.holdout import choose_future_k, future_k_curve, outcome_frame
    from clustering.features.customer import FeatureResult
    from clustering.segmenters import KMeansSegmenter

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 500)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    X = centres[groups] + rng.normal(0, 1.0, (2000, 2))
    table = pd.DataFrame({"customer_id": [f"c{i}" for i in range(2000)], "f1": X[:, 0],
                          "f2": X[:, 1], "is_buyer": True})
    again = rng.random(2000) < np.array([0.10, 0.40, 0.70, 0.95])[groups]

    class Engine:
        def features_at(self, day, sample=None):
            return FeatureResult(table, day, day, ["f1", "f2"], [])

        def outcomes(self, ids, split, days, sample=None):
            per_buyer = pd.DataFrame({"customer_id": ids, "holdout_orders": again.astype(int),
                                      "holdout_spend": again * 10.0})
            return outcome_frame(ids, per_buyer)

    from sklearn.preprocessing import StandardScaler

    curve = future_k_curve(Engine(), dt.date(2024, 1, 1), 180, StandardScaler(),
                           lambda k: KMeansSegmenter(n_clusters=k), [2, 3, 4, 5, 6],
                           ["f1", "f2"], 0, say=lambda m: None)
    assert list(curve["k"]) == [2, 3, 4, 5, 6]
    assert curve.set_index("k")["future_auc"].idxmax() >= 4
    assert choose_future_k(curve) == 4
    assert choose_future_k(pd.DataFrame({"k": [3, 4, 5], "future_auc": [0.90, 0.946, 0.95]})) == 4


def test_auc_standard_error_is_hanley_and_mcneils_and_shrinks_with_the_customers():
    from clustering.evaluation.holdout import auc_standard_error

    # by hand: Q1 = 0.9 / 1.1, Q2 = 2 * 0.81 / 1.9; (0.09 + 49 (Q1 - 0.81) + 49 (Q2 - 0.81))
    # / 2500 = 0.0010319, whose root is 0.0321
    assert auc_standard_error(0.9, 50, 50) == pytest.approx(0.0321, abs=1e-4)
    assert auc_standard_error(0.9, 5000, 5000) < auc_standard_error(0.9, 50, 50) / 9
    assert np.isnan(auc_standard_error(0.8, 0, 10))
