"""Customer potential from a buy-till-you-die model: BG/NBD for purchases, Gamma-Gamma for spend.

BG/NBD (Fader, Hardie & Lee 2005): while alive, a customer buys at a Poisson rate drawn from a
Gamma(r, alpha) across customers; after each purchase they drop out with a probability drawn
from a Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee 2005b): a customer's order values scatter
around their own mean, drawn from a Gamma(p, q, gamma) mixture. Both are fitted here by
maximum likelihood in closed form (scipy's optimiser on the exact log-likelihoods); the tests
compare the fit and the conditional expectations with lifetimes and pymc-marketing on the same
data.

Inputs per customer come from the feature table, in days (the window's first purchase is the
customer's "birth" for the model):

x = frequency - 1 (repeat orders), t_x = (frequency - 1) * mean_interpurchase_days (first to
last order), T = t_x + recency_days (first order to the snapshot), m = avg_order_value.

Gamma-Gamma takes every order in the window (x + 1 orders averaging m), where lifetimes' and
pymc-marketing's tutorials take the repeat orders only: the feature table has no separate
value of the first order, and this way one-time buyers get an expected order value too (their
order shrunk towards the population mean) instead of none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from clustering.errors import DataError

#: the feature columns the model reads
SOURCES = ["frequency", "recency_days", "mean_interpurchase_days", "avg_order_value"]
#: the columns it adds, per customer
COLUMNS = ["p_alive", "expected_orders", "expected_spend"]


@dataclass(frozen=True)
class Summary:
    """Repeat purchases ``x``, time of the last purchase ``t_x``, age ``T`` (days), and the
    mean order value ``m``, one entry per customer."""

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray

    @classmethod
    def from_features(cls, X: pd.DataFrame) -> Summary:
        missing = [c for c in SOURCES if c not in X]
        if missing:
            raise DataError(f"customer potential needs feature(s) {missing}; add them to "
                            "features.include, or set potential.enabled=false")
        f = X["frequency"].to_numpy(float)
        x = np.where(f >= 1, f - 1, np.nan)
        # whole days between the first and the last order, without the division's last bits
        t_x = np.round(np.where(x > 0, x * X["mean_interpurchase_days"].to_numpy(float), 0.0), 6)
        T = t_x + X["recency_days"].to_numpy(float)
        return cls(x, t_x, T, X["avg_order_value"].to_numpy(float))


def bgnbd_loglik(params: np.ndarray, x, t_x, T, grad: bool = False,
                 counts: tuple[np.ndarray, np.ndarray] | None = None):
    """Sum of BG/NBD log-likelihoods of customers (``params`` = r, alpha, a, b); with ``grad``
    also its gradient in the parameters (analytic: the optimiser converges tightly in few
    evaluations). The special functions depend on the customer only through the repeat count
    ``x``: they are evaluated once per distinct count (``counts``: ``np.unique(x,
    return_inverse=True)``, computed once per fit) and looked up, which gives the same numbers
    as per customer at a fifth of the time."""
    r, alpha, a, b = params
    ux, inv = counts if counts is not None else np.unique(x, return_inverse=True)
    rep = x > 0
    urep = ux > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # per distinct count, then per customer
        u_common = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
        u_b1 = betaln(a, b + ux) - betaln(a, b)
        u_b2 = np.where(urep, betaln(a + 1, b + ux - 1) - betaln(a, b), -np.inf)
    log_T, log_tx = np.log(alpha + T), np.log(alpha + t_x)
    b1 = u_b1[inv] - (r + x) * log_T
    with np.errstate(divide="ignore", invalid="ignore"):
        b2 = np.where(rep, u_b2[inv] - (r + x) * log_tx, -np.inf)
    mix = np.logaddexp(b1, b2)
    value = float(np.sum(u_common[inv] + mix))
    if not grad:
        return value
    w1, w2 = np.exp(b1 - mix), np.exp(b2 - mix)  # w2 = 0 without a repeat purchase
    ab, uabx = digamma(a + b), digamma(a + b + ux)
    with np.errstate(divide="ignore", invalid="ignore"):
        u_d2_a = np.where(urep, digamma(a + 1) - uabx - digamma(a) + ab, 0.0)
        u_d2_b = np.where(urep, digamma(b + ux - 1) - uabx - digamma(b) + ab, 0.0)
        d2_r = np.where(rep, -log_tx, 0.0)
        d2_alpha = np.where(rep, -(r + x) / (alpha + t_x), 0.0)
    u_dr = digamma(r + ux) - digamma(r) + np.log(alpha)
    u_db1 = digamma(b + ux) - uabx - digamma(b) + ab
    g = np.array([
        np.sum(u_dr[inv] - w1 * log_T + w2 * d2_r),
        np.sum(r / alpha - w1 * (r + x) / (alpha + T) + w2 * d2_alpha),
        np.sum(w1 * (ab - uabx)[inv] + w2 * u_d2_a[inv]),
        np.sum(w1 * u_db1[inv] + w2 * u_d2_b[inv]),
    ])
    return value, g


def gamma_gamma_loglik(params: np.ndarray, x, m, grad: bool = False):
    """Sum of Gamma-Gamma log-likelihoods of mean order values ``m`` over ``x`` orders
    (``params`` = p, q, v); with ``grad`` also its gradient."""
    p, q, v = params
    px, xm = p * x, x * m + v
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
          + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(xm))
    value = float(np.sum(ll))
    if not grad:
        return value
    g = np.array([
        np.sum(x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - np.log(xm))),
        np.sum(digamma(px + q) - digamma(q) + np.log(v) - np.log(xm)),
        np.sum(q / v - (px + q) / xm),
    ])
    return value, g


def _fit(loglik, n_params: int, args, scale: float, upper: list[float] | None = None) -> np.ndarray:
    """Maximum likelihood over log-parameters (all parameters are positive, at most ``upper``):
    quasi-Newton with the analytic gradient from two starts, the better optimum kept."""
    def nll(log_params):
        theta = np.exp(log_params)
        value, g = loglik(theta, *args, grad=True)
        if not (np.isfinite(value) and np.isfinite(g).all()):
            return 1e300, np.zeros(n_params)
        return -value / scale, -g * theta / scale  # chain rule: d/dlog(theta) = theta d/dtheta
    best = None
    for start in (np.zeros(n_params), np.full(n_params, 2.0)):
        res = minimize(nll, start, method="L-BFGS-B", jac=True,
                       bounds=[(-20.0, np.log(u) if u else 20.0)
                               for u in (upper or [None] * n_params)],
                       options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    return np.exp(best.x)


def fit_bgnbd(x, t_x, T) -> np.ndarray:
    """(r, alpha, a, b) maximising the BG/NBD likelihood."""
    counts = np.unique(x, return_inverse=True)
    return _fit(partial(bgnbd_loglik, counts=counts), 4, (x, t_x, T), len(x))


#: Gamma-Gamma's shape p at most this: when customers' order values scatter little around
#: their own mean, the likelihood keeps rising with p (no finite maximum); capped, the fit is
#: the same on every machine and the expectation is each customer's own mean (+ v / x)
GG_MAX_P = 1e4


def fit_gamma_gamma(x, m) -> np.ndarray:
    """(p, q, v) maximising the Gamma-Gamma likelihood of repeat buyers' mean order values."""
    return _fit(gamma_gamma_loglik, 3, (x, m), len(x), [GG_MAX_P, None, None])


def p_alive(params, x, t_x, T) -> np.ndarray:
    """Probability that a customer has not dropped out by the snapshot."""
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = np.where(x > 0, a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T)
                                                                   - np.log(alpha + t_x))), 0.0)
    return 1.0 / (1.0 + odds)


def expected_purchases(params, t: float, x, t_x, T) -> np.ndarray:
    """Expected purchases in the next ``t`` days given the customer's history."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp2f1(
            r + x, b + x, a + b + x - 1, z)
        odds = np.where(x > 0, a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T)
                                                                   - np.log(alpha + t_x))), 0.0)
    return head * tail / (1 + odds)


def expected_order_value(params, x, m) -> np.ndarray:
    """Gamma-Gamma's expected mean order value given ``x`` orders averaging ``m``."""
    p, q, v = params
    return (p * (v + x * m)) / (p * x + q - 1)


class PotentialModel(TransformerMixin, BaseEstimator):
    """BG/NBD + Gamma-Gamma fitted on the buyers' feature rows; ``transform`` adds
    ``p_alive``, ``expected_orders`` and ``expected_spend`` over ``horizon_days``.

    ``fit_sample`` customers (seeded) are enough for the 7 parameters and keep the fit in
    seconds at millions of customers; the conditional expectations are computed for every row.
    """

    def __init__(self, horizon_days: int = 90, fit_sample: int = 20_000, random_state: int = 0):
        self.horizon_days = horizon_days
        self.fit_sample = fit_sample
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        s = Summary.from_features(X)
        ok = np.isfinite(s.x) & np.isfinite(s.T) & (s.T > 0) & np.isfinite(s.t_x)
        idx = np.flatnonzero(ok)
        if len(idx) < 10:
            raise DataError(f"customer potential needs at least 10 buyers, got {len(idx)}")
        if len(idx) > self.fit_sample:
            idx = np.sort(np.random.default_rng(self.random_state).choice(
                idx, self.fit_sample, replace=False))
        self.bgnbd_ = fit_bgnbd(s.x[idx], s.t_x[idx], s.T[idx])
        rep = idx[(s.x[idx] > 0) & np.isfinite(s.m[idx]) & (s.m[idx] > 0)]
        self.gamma_gamma_ = (fit_gamma_gamma(s.x[rep] + 1, s.m[rep]) if len(rep) >= 10
                             else None)
        self.n_fit_ = len(idx)
        return self

    def potential(self, X: pd.DataFrame) -> pd.DataFrame:
        """The potential columns per row of ``X`` (NaN where the customer has no order)."""
        check_is_fitted(self, "bgnbd_")
        s = Summary.from_features(X)
        bought = np.isfinite(s.x)
        x, t_x, T = (np.where(bought, v, 0.0) for v in (s.x, s.t_x, s.T))
        alive = np.where(bought, p_alive(self.bgnbd_, x, t_x, T), np.nan)
        orders = np.where(bought, expected_purchases(self.bgnbd_, self.horizon_days, x, t_x, T),
                          np.nan)
        if self.gamma_gamma_ is not None:
            value = expected_order_value(self.gamma_gamma_, x + 1, np.where(s.m > 0, s.m, 0.0))
        else:
            value = s.m
        return pd.DataFrame({"p_alive": alive, "expected_orders": orders,
                             "expected_spend": orders * value}, index=X.index)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([X.drop(columns=COLUMNS, errors="ignore"), self.potential(X)], axis=1)

    def get_feature_names_out(self, input_features=None):
        given = input_features if input_features is not None else self.feature_names_in_
        names = [c for c in given if c not in COLUMNS]
        return np.asarray([*names, *COLUMNS], dtype=object)

    def parameters(self) -> dict[str, float]:
        """The fitted parameters, for logging."""
        check_is_fitted(self, "bgnbd_")
        out = dict(zip(["bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b"], map(float, self.bgnbd_),
                       strict=True))
        if self.gamma_gamma_ is not None:
            out |= dict(zip(["gg_p", "gg_q", "gg_v"], map(float, self.gamma_gamma_), strict=True))
        return out
