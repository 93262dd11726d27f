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


def test_quantile_scores_follow_the_rank_formula_on_any_data():
    """Few training values, more scores than values, ties, missing values and infinities: the
    thresholds give the formula's score for every value."""
    rng = np.random.default_rng(0)
    for trial in range(500):
        size, n = int(rng.integers(1, 40)), int(rng.integers(2, 11))
        train = rng.integers(0, 6, size).astype(float) if trial % 2 else rng.normal(size=size)
        if trial % 5 == 0:
            train[: size // 3] = np.nan
        x = np.concatenate([train, rng.integers(-2, 8, 20), [np.nan, np.inf, -np.inf]])
        s = np.sort(train)
        rank = np.searchsorted(s, x, side="left") + 1
        want = np.clip(np.ceil(n * rank / size - 1e-9), 1, n).astype(int)
        np.testing.assert_array_equal(quantile_scores(train, x, n), want)


def test_labels_by_code_are_the_labels_of_the_text():
    """The baselines' labels taken by integer code, and their categorical columns, equal what
    ``np.select`` on the names and ``pd.Categorical`` on the text give: overlapping conditions
    (the first wins), none true (the default), missing labels."""
    from clustering.baselines.base import categorical, choose

    rng = np.random.default_rng(4)
    for n in (0, 1, 500):
        conds = [rng.random(n) < p for p in (0.3, 0.5, 0.2)]
        names = ["gold", "new_churned", "x"]
        got = choose(conds, names, "rest")
        want = np.select(conds, names, "rest").astype(object)
        assert got.dtype == object and got.tolist() == want.tolist()
        labels = want.copy()
        labels[: n // 7] = None
        pd.testing.assert_series_equal(pd.Series(categorical(labels)),
                                       pd.Series(pd.Categorical(labels)))


def test_a_saved_rfm_scores_alike_where_the_previous_release_reads_it():
    """The model keeps n_scores values per feature, not every training value (33 MB at a
    million customers); the previous release computed its scores from ``train_`` with the
    rank formula, and gets the same scores from the stand-in as from every value."""
    rng = np.random.default_rng(1)
    for trial in range(200):
        size, n = int(rng.integers(1, 300)), int(rng.integers(2, 8))
        X = pd.DataFrame({"recency_days": rng.integers(0, 30, size).astype(float),
                          "frequency": rng.integers(1, 6, size).astype(float),
                          "monetary_total": rng.lognormal(size=size).round(1)})
        if trial % 4 == 0:
            X.loc[X.index[: size // 3], "monetary_total"] = np.nan
        rfm = RFMSegmenter(n_scores=n).fit(X)
        assert all(len(v) <= max(n, size) for v in rfm.train_.values())
        new = pd.DataFrame({c: np.concatenate([X[c], rng.uniform(-5, 40, 30)]) for c in X})
        ours = rfm.scores(new)
        for key, column in RFMSegmenter.COLUMNS.items():
            sign = -1 if key == "recency" else 1  # the previous release ranked -recency
            before = quantile_scores(sign * X[column].to_numpy(float),
                                     sign * new[column].to_numpy(float), n)
            kept = quantile_scores(sign * rfm.train_[key], sign * new[column].to_numpy(float), n)
            np.testing.assert_array_equal(kept, before)
            np.testing.assert_array_equal(ours[key[0]].to_numpy(), before)


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
    bcg = BCGSegmenter(size_threshold=50, growth_threshold=0.0).fit(X)
    assert bcg.labels_.tolist() == ["star", "cash_cow", "dark_horse", "dog", "dark_horse"]
    assert BCGSegmenter().fit(X.dropna()).size_cut_ == 55.0  # the median


def test_bcg_growth_is_cut_at_the_repeat_buyers_upper_quartile():
    """Any growth above 0 made 40% of the buyers stars; by default growing is the top quarter
    of the repeat buyers' growth, and a one-order customer's growth (an imputed +1) is none."""
    rng = np.random.default_rng(0)
    n = 1000
    X = pd.DataFrame({"monetary_total": rng.lognormal(5, 1, n),
                      "revenue_growth": rng.uniform(-0.5, 0.8, n),
                      "frequency": np.where(np.arange(n) < 200, 1, 5)})
    X.loc[X["frequency"] == 1, "revenue_growth"] = 1.0  # the imputation of a single order
    bcg = BCGSegmenter().fit(X)
    repeat = X["frequency"] >= 2
    assert bcg.growth_cut_ == pytest.approx(np.quantile(X.loc[repeat, "revenue_growth"], 0.75))
    growing = np.isin(bcg.labels_, ["star", "dark_horse"])
    assert not growing[~repeat].any()
    assert growing[repeat].mean() == pytest.approx(0.25, abs=0.01)


def test_lifecycle_states_first_match_wins():
    X = pd.DataFrame({
        "recency_days":  [np.nan, 10, 100, 20, 120, 200, 400, 400, 700],
        "frequency":     [0,      1,  1,   5,  5,   5,   5,   1,   1],
        "tenure_days":   [np.nan, 30, 100, 900, 900, 900, 900, 400, 700],
        "cycles_missed": [np.nan, np.nan, np.nan, 0.2, 1.2, 1.9, 3.0, np.nan, np.nan],
    })
    labels = LifecycleSegmenter().fit(X).labels_.tolist()
    # one purchase more than 2 months ago and nothing since is new-customer churn at any
    # recency (the last two), not "closed"
    assert labels == ["prospect", "new", "new_churned", "active", "inactive", "sleeping",
                      "closed", "new_churned", "new_churned"]


def test_sleeping_follows_the_customers_own_rhythm():
    """A weekly buyer silent for a month is sleeping; a quarterly buyer silent for a month is
    active: the same 30 days, two rhythms (cycles_missed = recency / mean days between buys)."""
    X = pd.DataFrame({"recency_days": [30, 30, 150], "frequency": [40, 8, 8],
                      "tenure_days": [900, 900, 900], "cycles_missed": [30 / 7, 30 / 90, 150 / 90]})
    assert LifecycleSegmenter().fit(X).labels_.tolist() == ["sleeping", "active", "inactive"]
    # with the own-rhythm rule off, only the fixed months count
    assert LifecycleSegmenter(sleeping_cycles=None).fit(X).labels_.tolist()[0] == "active"


def test_value_classes_with_the_practitioners_thresholds():
    X = pd.DataFrame({"spend_last_quarter": [10000, 5000, 4000, 500, 500, 0],
                      "orders_last_quarter": [3, 4, 1, 6, 2, 0]})
    assert ValueClassSegmenter(high=9000, mid=3000).fit(X).labels_.tolist() == [
        "premium", "loyal", "big_ticket_saver", "frequent_small", "disloyal", "no_visit"]


def test_value_classes_on_profit_where_the_data_gives_it():
    """With costs or margins the quantile cuts are on the quarter's profit: the second customer
    spends like the first but earns 2,000, not premium any more; fixed amounts stay spend."""
    X = pd.DataFrame({"spend_last_quarter": [10000, 9000, 4000, 500, 3500],
                      "profit_last_quarter": [9500, 2000, 4000, -100, 3000],
                      "orders_last_quarter": [3, 3, 1, 2, 4]})
    # amounts given as cuts are spend, as the practitioners' are
    given = ValueClassSegmenter(high=9000, mid=3000).fit(X)
    assert given.value_ == "spend_last_quarter"
    assert given.labels_.tolist() == [
        "premium", "premium", "big_ticket_saver", "disloyal", "loyal"]
    # default cuts: the quantiles of the quarter's profit among its buyers (the same customers
    # at or above the cut as at or above the quantile)
    fitted, profit = ValueClassSegmenter().fit(X), X["profit_last_quarter"]
    assert fitted.value_ == "profit_last_quarter"
    for cut, q in ((fitted.mid_, 0.6), (fitted.high_, 0.9)):
        assert ((profit >= cut) == (profit >= np.quantile(profit, q))).all()
    # cuts 3,500 (between 3,000 and 4,000) and 6,750 (between 4,000 and 9,500)
    assert fitted.labels_.tolist() == [
        "premium", "frequent_small", "big_ticket_saver", "disloyal", "frequent_small"]
    spend_only = ValueClassSegmenter().fit(X.assign(profit_last_quarter=np.nan))
    assert spend_only.value_ == "spend_last_quarter"


def test_value_class_thresholds_scale_with_the_currency():
    """By default the cuts are quantiles of quarterly spend: the same customers priced in
    roubles or in euros (1/100) fall in the same classes; fixed rouble amounts applied to
    euros would put nobody above 'disloyal'."""
    rng = np.random.default_rng(0)
    rub = pd.DataFrame({"spend_last_quarter": rng.lognormal(8, 1, 500),
                        "orders_last_quarter": rng.integers(0, 6, 500)})
    eur = rub.assign(spend_last_quarter=rub["spend_last_quarter"] / 100)
    a, b = ValueClassSegmenter().fit(rub), ValueClassSegmenter().fit(eur)
    assert a.labels_.tolist() == b.labels_.tolist()
    assert a.high_ == pytest.approx(100 * b.high_)
    bought = rub["spend_last_quarter"][rub["orders_last_quarter"] > 0]
    # the cut sits halfway below the 60th percentile: the same customers as the quantile
    q = np.quantile(bought, 0.6)
    assert ((bought >= a.mid_) == (bought >= q)).all() and a.mid_ < q
    fixed = ValueClassSegmenter(high=9000, mid=3000).fit(eur).labels_
    assert set(fixed) <= {"frequent_small", "disloyal", "no_visit"}


def test_bad_baseline_settings():
    with pytest.raises(ConfigError, match="unknown baseline"):
        make_baseline("rfx")
    with pytest.raises(ConfigError, match="active < inactive < sleeping"):
        LifecycleSegmenter(active_days=200).fit(pd.DataFrame(
            {"recency_days": [1], "frequency": [1], "tenure_days": [1]}))


def test_robust_cut_between_levels_and_under_a_level_with_nothing_below():
    """Halfway to the next lower value; with every value at the level, just under it: a new
    value below all the training ones falls below the cut (it was -inf)."""
    from clustering.baselines.base import robust_cut

    assert robust_cut(np.array([1.0, 2.0, 4.0]), 4.0) == 3.0
    tied = robust_cut(np.array([10.0, 10.0, 10.0]), 10.0)
    assert 9.99 < tied < 10.0 and 10.0 >= tied
    assert robust_cut(np.array([0.0, 0.0]), 0.0) < 0.0
    assert robust_cut(np.array([5.0]), float("inf")) == float("inf")


def test_abc_xyz_with_no_customer_spanning_two_months_calls_everyone_z():
    """All lines in one month: no coefficient of variation anywhere (the quantile of nothing
    raised IndexError); nobody's demand is known to be steady, so everyone is Z."""
    X = pd.DataFrame({"customer_id": list("abcd"), "monetary_total": [50.0, 20, 10, 5],
                      "revenue_cv_monthly": [np.nan] * 4})
    est = ABCXYZSegmenter().fit(X)
    assert set(est.xyz(X)) == {"Z"} and est.abc(X)[0] == "A"
