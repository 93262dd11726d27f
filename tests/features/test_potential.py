"""The potential model against reference implementations on the same data.

Data is simulated from the BG/NBD and Gamma-Gamma processes with known parameters; lifetimes
(maximum likelihood, like ours) must find the same optimum, and for given parameters its and
pymc-marketing's conditional expectations must equal ours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.features.potential import (
    PotentialModel,
    Summary,
    bgnbd_loglik,
    expected_order_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_loglik,
    p_alive,
)

TRUE = {"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 4.0}


def simulate_bgnbd(n: int, seed: int = 0) -> pd.DataFrame:
    """x (repeat purchases), t_x, T in days from the BG/NBD story, customer by customer."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    p = rng.beta(TRUE["a"], TRUE["b"], n)
    T = rng.uniform(60, 720, n).round()
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    return pd.DataFrame({"x": x, "t_x": t_x.round(3), "T": T})


def simulate_spend(x: np.ndarray, seed: int = 1, p=6.0, q=4.0, v=15.0) -> np.ndarray:
    """Mean order value over ``x`` orders from the Gamma-Gamma story."""
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1 / v, len(x))
    return np.array([rng.gamma(p, 1 / nu[i], int(k)).mean() for i, k in enumerate(x)])


@pytest.fixture(scope="module")
def data():
    return simulate_bgnbd(4000)


def test_bgnbd_fit_matches_lifetimes_and_recovers_the_truth(data):
    lifetimes = pytest.importorskip("lifetimes")
    ours = fit_bgnbd(data["x"].to_numpy(), data["t_x"].to_numpy(), data["T"].to_numpy())
    ref = lifetimes.BetaGeoFitter().fit(data["x"], data["t_x"], data["T"]).params_
    theirs = ref[["r", "alpha", "a", "b"]].to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=2e-3)
    # and both are near the parameters the data was drawn from
    np.testing.assert_allclose(ours, list(TRUE.values()), rtol=0.35)


def test_conditional_expectations_equal_lifetimes_for_the_same_parameters(data):
    lifetimes = pytest.importorskip("lifetimes")
    bg = lifetimes.BetaGeoFitter().fit(data["x"], data["t_x"], data["T"])
    params = bg.params_[["r", "alpha", "a", "b"]].to_numpy()
    x, t_x, T = (data[c].to_numpy() for c in ("x", "t_x", "T"))
    np.testing.assert_allclose(p_alive(params, x, t_x, T),
                               bg.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    np.testing.assert_allclose(
        expected_purchases(params, 90, x, t_x, T),
        bg.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, T), rtol=1e-7)


def test_gamma_gamma_matches_lifetimes(data):
    lifetimes = pytest.importorskip("lifetimes")
    rep = data[data["x"] > 0]
    m = simulate_spend(rep["x"].to_numpy())
    ours = fit_gamma_gamma(rep["x"].to_numpy(), m)
    gg = lifetimes.GammaGammaFitter().fit(rep["x"], m)
    theirs = gg.params_[["p", "q", "v"]].to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=5e-3)
    np.testing.assert_allclose(
        expected_order_value(theirs, rep["x"].to_numpy(), m),
        gg.conditional_expected_average_profit(rep["x"], pd.Series(m, index=rep.index)),
        rtol=1e-9)


@pytest.mark.slow
def test_pymc_marketing_map_fit_and_expectations_agree(data):
    """pymc-marketing's MAP fit (weak default priors) lands near our maximum likelihood, and
    its closed-form expectations for its own parameters equal ours for the same parameters."""
    clv = pytest.importorskip("pymc_marketing.clv")
    d = pd.DataFrame({"customer_id": np.arange(len(data)), "frequency": data["x"],
                      "recency": data["t_x"], "T": data["T"]})
    model = clv.BetaGeoModel(data=d)
    model.fit(method="map")
    post = model.idata.posterior
    theirs = np.array([float(post[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")])
    ours = fit_bgnbd(data["x"].to_numpy(), data["t_x"].to_numpy(), data["T"].to_numpy())
    np.testing.assert_allclose(ours, theirs, rtol=0.10)
    x, t_x, T = (data[c].to_numpy() for c in ("x", "t_x", "T"))
    alive = model.expected_probability_alive(data=d).values.ravel()
    np.testing.assert_allclose(p_alive(theirs, x, t_x, T), alive, rtol=1e-5, atol=1e-8)
    buys = model.expected_purchases(data=d, future_t=90).values.ravel()
    np.testing.assert_allclose(expected_purchases(theirs, 90, x, t_x, T), buys, rtol=1e-5)


@pytest.mark.slow
def test_gamma_gamma_against_pymc_marketing(data):
    """pymc-marketing's Gamma-Gamma (the maintained successor of lifetimes): its MAP fit lands
    near our maximum likelihood, and its expected spend for its own parameters equals ours."""
    clv = pytest.importorskip("pymc_marketing.clv")
    rep = data[data["x"] > 0]
    x, m = rep["x"].to_numpy(), simulate_spend(rep["x"].to_numpy())
    d = pd.DataFrame({"customer_id": np.arange(len(x)), "frequency": x, "monetary_value": m})
    model = clv.GammaGammaModel(data=d)
    model.fit(method="map")
    post = model.idata.posterior
    theirs = np.array([float(post[k].values.ravel()[0]) for k in ("p", "q", "v")])
    np.testing.assert_allclose(fit_gamma_gamma(x, m), theirs, rtol=0.10)
    np.testing.assert_allclose(expected_order_value(theirs, x, m),
                               model.expected_customer_spend(data=d).values.ravel(), rtol=1e-6)


def test_summary_from_feature_rows_by_hand():
    X = pd.DataFrame({"frequency": [3, 1, 0], "recency_days": [5.0, 40.0, np.nan],
                      "mean_interpurchase_days": [10.0, 1095.0, np.nan],
                      "avg_order_value": [50.0, 20.0, np.nan]})
    s = Summary.from_features(X)
    np.testing.assert_array_equal(s.x[:2], [2, 0])
    np.testing.assert_array_equal(s.t_x[:2], [20, 0])  # 2 repeats 10 days apart; none
    np.testing.assert_array_equal(s.T[:2], [25, 40])  # first order: 25 and 40 days ago
    assert np.isnan(s.x[2])  # no order in the window: no potential


def test_potential_model_ranks_active_repeat_buyers_above_lapsed_ones(data):
    """Feature rows built from the simulation: a customer whose last order is recent has a
    higher p_alive than one with the same history who has been silent for long."""
    rows = pd.DataFrame({"frequency": data["x"] + 1,
                         "mean_interpurchase_days": np.where(
                             data["x"] > 0, data["t_x"] / data["x"].clip(lower=1), 1095.0),
                         "recency_days": data["T"] - data["t_x"],
                         "avg_order_value": 50.0})
    model = PotentialModel(horizon_days=90, fit_sample=2000, random_state=0).fit(rows)
    assert model.n_fit_ == 2000
    probe = pd.DataFrame({"frequency": [6, 6, 0], "mean_interpurchase_days": [20.0, 20.0, np.nan],
                          "recency_days": [5.0, 400.0, np.nan], "avg_order_value": [50.0] * 3})
    out = model.potential(probe)
    assert out.loc[0, "p_alive"] > 0.8 > 0.5 > out.loc[1, "p_alive"]
    assert out.loc[0, "expected_orders"] > out.loc[1, "expected_orders"]
    assert out.loc[2].isna().all()
    assert list(model.transform(probe).columns) == [*probe.columns, *out.columns]


def test_analytic_gradients_equal_finite_differences(data):
    from scipy.optimize import approx_fprime

    x, t_x, T = (data[c].to_numpy() for c in ("x", "t_x", "T"))
    theta = np.array([0.7, 25.0, 1.1, 3.5])
    _, g = bgnbd_loglik(theta, x, t_x, T, grad=True)
    num = approx_fprime(theta, lambda p: bgnbd_loglik(p, x, t_x, T), 1e-7)
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-3)
    rep = data[data["x"] > 0]
    m = simulate_spend(rep["x"].to_numpy())
    theta = np.array([5.0, 3.0, 12.0])
    _, g = gamma_gamma_loglik(theta, rep["x"].to_numpy(), m, grad=True)
    num = approx_fprime(theta, lambda p: gamma_gamma_loglik(p, rep["x"].to_numpy(), m), 1e-7)
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-3)


def test_bgnbd_loglik_per_distinct_count_equals_the_per_customer_formula():
    """The special functions are evaluated once per distinct repeat count: the same sum, to
    the last bit, as the textbook formula evaluated customer by customer."""
    from scipy.special import betaln, gammaln

    rng = np.random.default_rng(5)
    x = rng.poisson(2.0, 3000).astype(float)
    T = rng.uniform(30, 700, 3000)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 3000), 0.0)
    r, alpha, a, b = 0.8, 40.0, 1.2, 6.0
    with np.errstate(divide="ignore", invalid="ignore"):
        b2 = np.where(x > 0, betaln(a + 1, b + x - 1) - betaln(a, b)
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    plain = np.sum(gammaln(r + x) - gammaln(r) + r * np.log(alpha) + np.logaddexp(
        betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T), b2))
    assert bgnbd_loglik(np.array([r, alpha, a, b]), x, t_x, T) == plain
