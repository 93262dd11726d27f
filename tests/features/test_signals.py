"""Signals and value baselines against hand computations on small tables (ties, empty groups)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from clustering.baselines import (
    ABCXYZSegmenter,
    ValuePotentialSegmenter,
    VIPSegmenter,
)
from clustering.features.signals import CustomerSignals, abc_health, churn_cohorts, churn_rate


def test_abc_health_counts_the_customer_crossing_the_line():
    # 100 of 200: the first customer alone makes 50%, the second crosses 80%
    top, reading = abc_health([100, 70, 20, 10], 0.80)
    assert top == pytest.approx(2 / 4)
    assert reading.startswith("costly")
    top, reading = abc_health([1000] + [1] * 99, 0.80)  # one customer carries everything
    assert top == pytest.approx(1 / 100) and reading.startswith("dangerous")
    top, _ = abc_health([-5, 10, 10, 10, 10, 10], 0.80)  # a loss counts as 0; ties split
    assert top == pytest.approx(4 / 6)
    assert np.isnan(abc_health([], 0.8)[0]) and np.isnan(abc_health([0, -1], 0.8)[0])


def test_churn_cohorts_by_hand():
    snap, start = dt.date(2024, 7, 1), dt.date(2024, 1, 1)
    t = pd.DataFrame({
        # first purchase: Jan 31 (one order), Jan 11 (3), Mar 3 (one), Jun 1 (one: too recent),
        # before the window (one), no order in the window
        "tenure_days": [152, 172, 120, 30, 400, 50],
        "frequency": [1, 3, 1, 1, 1, 0],
    })
    c = churn_cohorts(t, snap, start, new_days=60)
    assert c["cohort"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-03"]
    assert c["new_customers"].tolist() == [2, 1]
    assert c["churned"].tolist() == [1, 1]
    assert c["churn_rate"].tolist() == [0.5, 1.0]
    assert churn_rate(c) == pytest.approx(2 / 3)
    empty = churn_cohorts(t.iloc[:0], snap, start)
    assert len(empty) == 0 and np.isnan(churn_rate(empty))


def _table(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"monetary_total": np.zeros(n), "revenue_cv_monthly": np.full(n, 0.5)}
    return pd.DataFrame(base | cols)


def test_vip_regular_difficult_by_hand_with_ties():
    X = _table(monetary_total=[500.0, 400, 400, 300, 200, 100, 50, 20, -10, 900],
               return_rate=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5],
               mean_payment_delay=[1, 2, 3, 4, 5, 45, 1, 1, 1, 1])
    est = VIPSegmenter(vip_share=0.2, good_share=0.4).fit(X)
    # difficult: the loss (-10), 45 days late, 50% returns; of the 7 others the top 20% are
    # ceil(1.4) = 2 customers (500, 400) and the tie at 400 joins them; good: down to the
    # ceil(0.6 * 7) = 5th customer, 200
    assert est.labels_.tolist() == ["vip", "vip", "vip", "good", "good", "difficult",
                                    "regular", "regular", "difficult", "difficult"]
    # cuts halfway to the next lower value: 400 -> 350, 200 -> 125
    assert est.vip_cut_ == 350 and est.good_cut_ == 125
    # without a good class, and the 5th customer's tie: a cut is a value level
    plain = VIPSegmenter(vip_share=0.2).fit(X)
    assert (plain.labels_ == "good").sum() == 0 and (plain.labels_ == "vip").sum() == 3


def test_vip_uses_profit_when_present():
    X = _table(monetary_total=[100.0, 200, 300, 400], profit_total=[90.0, 10, 5, -1])
    est = VIPSegmenter(vip_share=0.25).fit(X)
    assert est.value_ == "profit_total"
    assert est.labels_.tolist() == ["vip", "regular", "regular", "difficult"]


def test_value_potential_quadrants_by_hand():
    X = _table(monetary_total=[10.0, 20, 30, 40], expected_spend=[40.0, 5, 30, 1])
    est = ValuePotentialSegmenter(value_quantile=0.5, potential_quantile=0.5).fit(X)
    # value cut = median 25; potential cut = median 17.5
    assert est.labels_.tolist() == ["develop", "release", "hold", "harvest"]


def test_value_potential_ties_and_empty_quadrants():
    """Equal values share their quadrant (the cut is a level, not a rank), and a quadrant
    nobody falls in is simply absent: three customers tied at the median are all high value,
    and with one potential level every customer is high potential."""
    X = _table(monetary_total=[10.0, 10, 10, 40], expected_spend=[5.0, 5, 5, 5])
    est = ValuePotentialSegmenter().fit(X)
    assert est.labels_.tolist() == ["hold"] * 4
    assert est.predict(_table(monetary_total=[9.0, 10], expected_spend=[5.0, 4])).tolist() == [
        "develop", "harvest"]


def test_value_potential_fits_its_own_potential_without_the_signals():
    """Without an expected_spend column (the hold-out's refit) the baseline fits a potential
    model of its own: the same labels as the table given that model's expected spend."""
    from clustering.features.potential import PotentialModel

    rng = np.random.default_rng(5)
    n = 400
    f = rng.integers(1, 12, n).astype(float)
    X = pd.DataFrame({"monetary_total": rng.gamma(2, 100, n), "frequency": f,
                      "recency_days": rng.integers(1, 400, n).astype(float),
                      "mean_interpurchase_days": np.where(f > 1, rng.uniform(5, 90, n), 1095.0),
                      "avg_order_value": rng.gamma(3, 30, n)})
    own = ValuePotentialSegmenter(horizon_days=60, random_state=3).fit(X)
    assert own.potential_ is not None and own.potential_.horizon_days == 60
    spend = PotentialModel(60, 20_000, 3).fit(X).potential(X)["expected_spend"]
    given = ValuePotentialSegmenter().fit(X.assign(expected_spend=spend))
    assert own.labels_.tolist() == given.labels_.tolist()
    assert set(own.labels_) == {"hold", "develop", "harvest", "release"}


def test_abc_xyz_tiers_and_profit():
    X = _table(monetary_total=[100.0, 100, 10, 10], profit_total=[1.0, 2, 50, 47],
               revenue_cv_monthly=[0.1, 0.9, 0.1, 0.9])
    est = ABCXYZSegmenter(xyz_thresholds=[0.2, 0.5]).fit(X)
    cols = est.label_columns(X, "abc_xyz")
    # by profit, the two small-revenue customers make 97% of it: they are the A class; the
    # 2 comes after 97% (past A's 80% + B's 15%): C like the 1
    assert cols["abc"].tolist() == ["C", "C", "A", "A"]
    assert cols["abc_xyz"].tolist() == ["CX", "CZ", "AX", "AZ"]
    assert cols["abc_xyz_tier"].tolist() == ["standard", "standard", "first", "first"]
    mine = ABCXYZSegmenter(xyz_thresholds=[0.2, 0.5],
                           tiers={"vip": {"cells": ["AX"]}, "rest": {"cells": []}}).fit(X)
    assert mine.label_columns(X, "abc_xyz")["abc_xyz_tier"].tolist() == ["rest", "rest", "vip",
                                                                         "rest"]


def test_overdue_flag_from_own_cycles():
    X = pd.DataFrame({"cycles_missed": [0.5, 2.0, 3.5, np.nan]})
    cols = CustomerSignals(potential=False, overdue_cycles=2.0).fit(X).label_columns(X)
    assert cols["overdue"].tolist() == [False, True, True, False]


def test_abc_xyz_fitted_before_tiers_existed_still_labels():
    """Models registered before the tiers (no ``tiers`` attribute when unpickled) score."""
    X = _table(monetary_total=[100.0, 50, 10], revenue_cv_monthly=[0.1, 0.5, 0.9])
    est = ABCXYZSegmenter().fit(X)
    del est.tiers
    assert est.label_columns(X, "abc_xyz")["abc_xyz_tier"].tolist()[0] == "first"


def test_value_potential_refit_takes_the_signals_horizon(settings_for):
    """The matrix reads the signals' expected spend in training; its refit on the hold-out's
    buyers (no signals there) fits its own potential model: with the signals' horizon, not
    the baseline's own setting, so both describe the same next period."""
    from clustering.training import _baseline_factories

    settings, _ = settings_for("signals.potential.horizon_days=30",
                               "baselines.params.value_potential.horizon_days=365")
    with_signals = _baseline_factories(settings, has_potential=True)
    without = _baseline_factories(settings, has_potential=False)
    assert with_signals["value_potential"]().horizon_days == 30
    assert without["value_potential"]().horizon_days == 365
    assert with_signals["rfm"]().get_params() == without["rfm"]().get_params()
