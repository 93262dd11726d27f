"""Baselines on customer value: value vs potential (B2B), and VIP / regular / difficult.

Value is profit where the data has costs or margins, else net revenue
(:func:`clustering.features.signals.value_column`); potential is the expected spend over the next period
from the buy-till-you-die model of :mod:`clustering.features.potential`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from clustering.baselines.base import _Baseline, _require, choose, robust_cut
from clustering.errors import ConfigError
from clustering.features.potential import SOURCES, PotentialModel
from clustering.features.signals import value_column

#: actions per label, for the report and the README
VALUE_POTENTIAL_ACTIONS = {
    "hold": "big, profitable and promising: the best managers, key-account plans",
    "develop": "promising but small or difficult today: invest to grow them",
    "harvest": "profitable today, little potential: serve efficiently, do not over-invest",
    "release": "little value and no prospects: low-cost service, or let go",
}
VIP_ACTIONS = {
    "vip": "loyalty programme first, personal manager; losing one is a disaster",
    "good": "close to VIP (or fell out of it): offers that bring them back up",
    "regular": "standard offers; raise the average order",
    "difficult": "returns, late payments, deep discounts or losses: re-price or part ways",
}


class ValuePotentialSegmenter(_Baseline):
    """The value vs potential matrix: hold (high value, high potential), develop (low value,
    high potential), harvest (high value, low potential), release (low value, low potential).

    High value: value at or above its ``value_quantile`` among the buyers (learnt in ``fit``);
    high potential: ``expected_spend`` at or above its ``potential_quantile``. The potential
    comes from the table's ``expected_spend`` column when present, else from a potential model
    this baseline fits itself (``horizon_days``).
    """

    def __init__(self, value_quantile: float = 0.5, potential_quantile: float = 0.5,
                 horizon_days: int = 90, fit_sample: int = 20_000, random_state: int = 0):
        self.value_quantile = value_quantile
        self.potential_quantile = potential_quantile
        self.horizon_days = horizon_days
        self.fit_sample = fit_sample
        self.random_state = random_state

    def _potential(self, X: pd.DataFrame) -> np.ndarray:
        if "expected_spend" in X and self.potential_ is None:
            return X["expected_spend"].fillna(0).to_numpy(float)
        return self.potential_.potential(X)["expected_spend"].fillna(0).to_numpy(float)

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, ["monetary_total"], "value-potential")
        for q in (self.value_quantile, self.potential_quantile):
            if not 0 < q < 1:
                raise ConfigError(f"value-potential quantiles must be in (0, 1), got {q}")
        self.value_ = value_column(X)
        self.potential_ = None
        if "expected_spend" not in X:
            _require(X, SOURCES, "value-potential")
            self.potential_ = PotentialModel(self.horizon_days, self.fit_sample,
                                             self.random_state).fit(X)
        value, potential = X[self.value_].fillna(0).to_numpy(float), self._potential(X)
        self.value_cut_ = robust_cut(value, float(np.quantile(value, self.value_quantile)))
        self.potential_cut_ = robust_cut(potential, float(np.quantile(potential,
                                                                      self.potential_quantile)))
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "value_cut_")
        high_v = X[self.value_].fillna(0).to_numpy(float) >= self.value_cut_
        high_p = self._potential(X) >= self.potential_cut_
        return choose([high_v & high_p, high_p, high_v], ["hold", "develop", "harvest"],
                      "release")


class VIPSegmenter(_Baseline):
    """VIP / (good /) regular / difficult by profitability, the simplest value method.

    difficult: value < 0 (a loss), or ``return_rate`` >= ``max_return_rate``, or
    ``mean_payment_delay`` >= ``max_payment_delay`` days, or ``discount_share`` >=
    ``max_discount_share``, or ``cancel_rate`` >= ``max_cancel_rate`` (each where the column
    exists; cancellation lines exported as negative amounts count among the returns). Among the others, by value: vip =
    the top ``vip_share`` of customers, good = the next ``good_share`` (0: no such class),
    regular = the rest. Cuts are learnt as value levels (halfway to the next lower value), so
    equal values share a class.
    """

    def __init__(self, vip_share: float = 0.10, good_share: float = 0.0,
                 max_return_rate: float = 0.20, max_payment_delay: float = 30.0,
                 max_discount_share: float = 0.30, max_cancel_rate: float = 0.25):
        self.vip_share = vip_share
        self.good_share = good_share
        self.max_return_rate = max_return_rate
        self.max_payment_delay = max_payment_delay
        self.max_discount_share = max_discount_share
        self.max_cancel_rate = max_cancel_rate

    def __setstate__(self, state):
        # models saved before cancellations counted: no such rule (and repr, clone work)
        state.setdefault("max_cancel_rate", None)
        super().__setstate__(state)

    def difficult(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "value_")
        bad = X[self.value_].fillna(0).to_numpy(float) < 0  # a loss (no orders: 0, not a loss)
        for col, limit in (("return_rate", self.max_return_rate),
                           ("mean_payment_delay", self.max_payment_delay),
                           ("discount_share", self.max_discount_share),
                           ("cancel_rate", self.max_cancel_rate)):
            if col in X and limit is not None:
                bad |= X[col].to_numpy(float) >= limit  # NaN compares False: not difficult
        return bad

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, ["monetary_total"], "VIP")
        if not (0 < self.vip_share < 1 and 0 <= self.good_share < 1 - self.vip_share):
            raise ConfigError("VIP shares must satisfy 0 < vip_share < 1 and "
                              "vip_share + good_share < 1")
        self.value_ = value_column(X)
        v = np.sort(X[self.value_].fillna(0).to_numpy(float)[~self.difficult(X)])[::-1]

        def cut(share: float) -> float:
            n = int(np.ceil(share * len(v) - 1e-9))
            return robust_cut(v, float(v[n - 1])) if n and len(v) else float("inf")
        self.vip_cut_ = cut(self.vip_share)
        self.good_cut_ = cut(self.vip_share + self.good_share) if self.good_share else self.vip_cut_
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "vip_cut_")
        v = X[self.value_].fillna(0).to_numpy(float)
        return choose([self.difficult(X), v >= self.vip_cut_, v >= self.good_cut_],
                      ["difficult", "vip", "good"], "regular")


def actions() -> dict[str, dict[str, Any]]:
    """Label -> action per value baseline (for the report)."""
    from clustering.baselines.classic import BCG_ACTIONS

    return {"value_potential": VALUE_POTENTIAL_ACTIONS, "vip": VIP_ACTIONS, "bcg": BCG_ACTIONS}
