"""Baselines against hand computations on small tables, including ties and empty groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.baselines import (
    ABCXYZSegmenter,
    BCGSegmenter,
    LifecycleSegmenter,
    RFMSegmenter,
    ValueClassSegmenter,
    make_baseline,
    quantile_scores,
)
from clustering.errors import ConfigError


def test_quantile_scores_ties_share_the_lower_score():
    train = np.array([1, 1, 1, 2, 3, 4, 5, 6, 7, 8], float)
    # score = ceil(5 * (#values below + 1) / 10)
    assert quantile_scores(train, train, 5).tolist() == [1, 1, 1, 2, 3, 3, 4, 4, 5, 5]
    assert quantile_scores(train, np.array([0.0, 100.0]), 5).tolist() == [1, 5]


def test_rfm_scores_and_names_by_hand():
    X = pd.DataFrame({
        "recency_days": [5, 10, 200, 300, 20],
        "frequency": [20, 1, 15, 1, 3],
        "monetary_total": [5000, 50, 3000, 20, 400],
    })
    rfm = RFMSegmenter().fit(X)
    s = rfm.scores(X)
    # recency: fewer days is better -> 5 days gets 5; 300 days gets 1
    assert s["r"].tolist() == [5, 4, 2, 1, 3]
    assert s["f"].tolist() == [5, 1, 4, 1, 3]   # the two single-order customers tie at 1
    assert s["m"].tolist() == [5, 2, 4, 1, 3]
    # rules: champions (r,f,m>=4), new (r=5,f=1), promising (r>=4, f<=3), at_risk (r<=2, f>=3)
    assert rfm.labels_.tolist() == ["champions", "promising", "at_risk", "hibernating",
                                    "need_attention"]


def test_rfm_user_bins_follow_the_domain_example():
    X = pd.DataFrame({"recency_days": [30, 31, 60, 61, 91], "frequency": [1, 1, 1, 1, 1],
                      "monetary_total": [199, 200, 599, 600, 1000]})
    rules = [{"name": "good", "r": [3, 4], "m": [2, 4]}, {"name": "other"}]
    rfm = RFMSegmenter(bins={"recency": [30, 60, 90], "monetary": [200, 600, 1000]},
                       rules=rules).fit(X)
    s = rfm.scores(X)
    assert s["r"].tolist() == [4, 3, 3, 2, 1]      # 0-30 / 31-60 / 61-90 / 90+
    assert s["m"].tolist() == [1, 2, 2, 3, 4]      # 0-199 / 200-599 / 600-999 / 1000+
    assert rfm.labels_.tolist() == ["other", "good", "good", "other", "other"]
    with pytest.raises(ConfigError, match="expects 1..5"):
        RFMSegmenter(bins={"recency": [30, 60, 90]}).fit(X)


def test_abc_pareto_shares_with_ties():
    X = pd.DataFrame({"monetary_total": [50.0, 30.0, 10.0, 5.0, 5.0],
                      "revenue_cv_monthly": [0.1, 0.5, 0.9, 1.5, 3.0]})
    abc = ABCXYZSegmenter().fit(X)
    # cumulative share before each customer: 0, .5, .8, .9, .95 -> A, A, B, B, (C) but the
    # last customer ties with a B customer at revenue 5, so both are B and C is empty
    assert abc.abc(X).tolist() == ["A", "A", "B", "B", "B"]
    assert abc.xyz(X).tolist() == ["X", "X", "Y", "Z", "Z"]  # terciles of the CV
    assert abc.labels_.tolist() == ["AX", "AX", "BY", "BZ", "BZ"]
    fixed = ABCXYZSegmenter(xyz_thresholds=[0.25, 1.0]).fit(X)
    assert fixed.xyz(X).tolist() == ["X", "Y", "Y", "Z", "Z"]


def test_abc_c_class_and_negative_revenue():
    X = pd.DataFrame({"monetary_total": [80.0, 15.0, 4.0, 1.0, -10.0],
                      "revenue_cv_monthly": [0.2] * 5})
    assert ABCXYZSegmenter().fit(X).abc(X).tolist() == ["A", "B", "C", "C", "C"]


def test_bcg_matrix():
    X = pd.DataFrame({"monetary_total": [100, 100, 10, 10, np.nan],
                      "revenue_growth": [0.5, -0.2, 0.3, 0.0, 0.9]})
    bcg = BCGSegmenter(size_threshold=50).fit(X)
    assert bcg.labels_.tolist() == ["star", "cash_cow", "dark_horse", "dog", "dark_horse"]
    assert BCGSegmenter().fit(X.dropna()).size_cut_ == 55.0  # the median


def test_lifecycle_states_first_match_wins():
    X = pd.DataFrame({
        "recency_days": [np.nan, 10, 100, 20, 120, 200, 400, 400],
        "frequency":    [0,      1,  1,   5,  5,   5,   5,   1],
        "tenure_days":  [np.nan, 30, 100, 900, 900, 900, 900, 400],
    })
    labels = LifecycleSegmenter().fit(X).labels_.tolist()
    assert labels == ["prospect", "new", "new_churned", "active", "inactive", "sleeping",
                      "closed", "closed"]


def test_value_classes():
    X = pd.DataFrame({"spend_last_quarter": [10000, 5000, 4000, 500, 500, 0],
                      "orders_last_quarter": [3, 4, 1, 6, 2, 0]})
    assert ValueClassSegmenter().fit(X).labels_.tolist() == [
        "premium", "loyal", "big_ticket_saver", "frequent_small", "disloyal", "no_visit"]


def test_bad_baseline_settings():
    with pytest.raises(ConfigError, match="unknown baseline"):
        make_baseline("rfx")
    with pytest.raises(ConfigError, match="active < inactive < sleeping"):
        LifecycleSegmenter(active_days=200).fit(pd.DataFrame(
            {"recency_days": [1], "frequency": [1], "tenure_days": [1]}))
