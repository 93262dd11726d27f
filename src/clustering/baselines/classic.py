"""Heuristic segmentations that practitioners use, as scikit-learn style estimators.

Each baseline reads the customer feature table (:mod:`clustering.features.customer`), learns its cut
points in ``fit`` (quantiles, revenue shares) and assigns named segments with ``predict``;
``labels_`` holds the training labels. Every threshold is a constructor argument whose default
is the practitioners' number from the domain notes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from clustering.baselines.base import (
    _Baseline,
    _require,
    categorical,
    choose,
    robust_cut,
    score_steps,
    scores_at,
)
from clustering.errors import ConfigError, DataError

#: default named RFM segments for 1-5 scores: first matching rule wins; ranges are inclusive
RFM_RULES: list[dict[str, Any]] = [
    {"name": "champions", "r": [4, 5], "f": [4, 5], "m": [4, 5]},
    {"name": "loyal", "r": [3, 5], "f": [4, 5]},
    {"name": "new", "r": [5, 5], "f": [1, 1]},
    {"name": "promising", "r": [4, 5], "f": [1, 3]},
    {"name": "at_risk", "r": [1, 2], "f": [3, 5]},
    {"name": "hibernating", "r": [1, 2], "f": [1, 2]},
    {"name": "need_attention"},
]


class RFMSegmenter(_Baseline):
    """RFM scores and named RFM segments.

    Scores are quantile scores 1..``n_scores`` (recency: fewer days is better) unless ``bins``
    gives edges per dimension, e.g. ``{"recency": [30, 60, 90], "monetary": [200, 600, 1000]}``:
    recency bins are upper-inclusive (0-30, 31-60, ...), frequency and monetary bins
    lower-inclusive (0-199, 200-599, ...); there, scores run 1..len(edges)+1 with the best
    bin highest. ``rules`` is the named-segment table (first match wins; see ``RFM_RULES``).
    """

    def __init__(self, n_scores: int = 5, bins: dict[str, list[float]] | None = None,
                 rules: list[dict[str, Any]] | None = None):
        self.n_scores = n_scores
        self.bins = bins
        self.rules = rules

    COLUMNS = {"recency": "recency_days", "frequency": "frequency", "monetary": "monetary_total"}

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, list(self.COLUMNS.values()), "RFM")
        if self.n_scores < 2:
            raise ConfigError(f"RFM n_scores must be at least 2, got {self.n_scores}")
        if self.bins and not self.rules and any(len(e) + 1 != 5 for e in self.bins.values() if e):
            raise ConfigError("RFM bins give scores 1..len(edges)+1 but the default rule table "
                              "expects 1..5: give 4 edges per dimension, or your own rules")
        self.steps_ = {k: score_steps(-X[c].to_numpy(dtype=float) if k == "recency"
                                      else X[c].to_numpy(dtype=float), self.n_scores)
                       for k, c in self.COLUMNS.items()}
        self.train_ = {k: self._stand_in(k, X[c].to_numpy(dtype=float))
                       for k, c in self.COLUMNS.items()}
        self.rules_ = list(self.rules or RFM_RULES)
        self.labels_ = self.predict(X)
        return self

    def _stand_in(self, k: str, values: np.ndarray) -> np.ndarray:
        """What the previous release kept as ``train_`` (every training value, sorted at each
        call), shrunk to ``n_scores`` values that give it the same scores: a model saved
        here still scores where that release is installed. Beyond ``n_scores`` training
        values the steps are ``n_scores - 1`` values above a lowest score of 1, and a sorted
        array of ``n_scores`` values gives exactly those steps."""
        base, steps = self.steps_[k]
        if len(values) < self.n_scores or base != 1 or len(steps) != self.n_scores - 1:
            return values  # a handful of customers: kept as they are
        stand_in = np.append(steps, steps[-1])
        return -stand_in if k == "recency" else stand_in

    def scores(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "steps_") and hasattr(self, "train_"):  # saved before steps_
            self.steps_ = {k: score_steps(-v if k == "recency" else v, self.n_scores)
                           for k, v in self.train_.items()}
        check_is_fitted(self, "steps_")
        out = {}
        bins = self.bins or {}
        for k, c in self.COLUMNS.items():
            x = X[c].to_numpy(dtype=float)
            if k in bins and bins[k]:
                edges = np.sort(np.asarray(bins[k], dtype=float))
                if k == "recency":
                    out[k[0]] = len(edges) + 1 - np.searchsorted(edges, x, side="left")
                else:
                    out[k[0]] = 1 + np.searchsorted(edges, x, side="right")
            else:
                out[k[0]] = scores_at(self.steps_[k], -x if k == "recency" else x)
        return pd.DataFrame(out, index=X.index)

    def label_columns(self, X: pd.DataFrame, name: str) -> pd.DataFrame:
        """The RFM cell (e.g. ``R5F4M3``) and the named segment."""
        s = self.scores(X)
        r, f, m = (s[c].to_numpy(np.int64) for c in "rfm")
        # each distinct cell's text once, then looked up by code (not built per customer)
        codes, cells = pd.factorize((r * 1000 + f) * 1000 + m, sort=True)
        text = pd.Index([f"R{c // 1_000_000}F{c // 1000 % 1000}M{c % 1000}" for c in cells],
                        dtype="str")
        return pd.DataFrame({f"{name}_cell": pd.Categorical.from_codes(codes, text),
                             name: categorical(self._name(s))}, index=X.index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._name(self.scores(X))

    def _name(self, s: pd.DataFrame) -> np.ndarray:
        """Each customer's first matching rule's name, "unmatched" without one (set as rule
        numbers, then the names taken once: a name set per rule on an object array held the
        GIL for 0.2 s at a million customers)."""
        rule_of = np.full(len(s), len(self.rules_))
        free = np.ones(len(s), bool)
        scores = {dim: s[dim].to_numpy() for dim in ("r", "f", "m")}
        for i, rule in enumerate(self.rules_):
            m = free.copy()
            for dim in ("r", "f", "m"):
                if dim in rule:
                    lo, hi = rule[dim]
                    m &= (scores[dim] >= lo) & (scores[dim] <= hi)
            rule_of[m] = i
            free &= ~m
        return np.array([r["name"] for r in self.rules_] + ["unmatched"], dtype=object)[rule_of]


#: attention tiers per ABC-XYZ cell (the domain notes' reading); the last tier takes the rest
ABC_XYZ_TIERS: dict[str, dict[str, Any]] = {
    "first": {"cells": ["AX", "AY", "AZ"],
              "action": "most attention: key-account care, loyalty programme, supply secured"},
    "extra": {"cells": ["BX", "BY"],
              "action": "extra attention: regular personal contact, offers that grow them to A"},
    "standard": {"cells": ["BZ", "CX", "CY", "CZ"],
                 "action": "serve at lower cost: standard offers, automated contact"},
}


class ABCXYZSegmenter(_Baseline):
    """ABC by value (Pareto) crossed with XYZ by revenue stability, and attention tiers.

    ABC: customers sorted by value (profit where the data has costs or margins, else net
    revenue); A = those making the first ``a_share`` of it (the customer crossing the line
    included), B = the next ``b_share``, C = the rest. The cut is learnt as a value level, so
    customers with equal value share a class.
    XYZ: coefficient of variation of monthly revenue; X = lowest third, Y = middle, Z =
    highest third (terciles), or fixed ``xyz_thresholds`` (X <= t1 < Y <= t2 < Z).
    Tiers: ``tiers`` maps a tier name to its cells and action (first listed tier first);
    cells of no tier get the last one. Default: the domain notes' AX/AY/AZ first, BX/BY
    extra attention, the rest served at lower cost (:data:`ABC_XYZ_TIERS`).
    """

    def __init__(self, a_share: float = 0.80, b_share: float = 0.15,
                 xyz_thresholds: list[float] | None = None,
                 tiers: dict[str, dict[str, Any]] | None = None):
        self.a_share = a_share
        self.b_share = b_share
        self.xyz_thresholds = xyz_thresholds
        self.tiers = tiers

    def fit(self, X: pd.DataFrame, y=None):
        from clustering.features.signals import value_column

        _require(X, ["monetary_total", "revenue_cv_monthly"], "ABC-XYZ")
        if not (0 < self.a_share < 1 and 0 <= self.b_share <= 1 - self.a_share):
            raise ConfigError("ABC shares must satisfy 0 < a_share < 1 and a_share + b_share <= 1")
        self.value_ = value_column(X)
        rev = np.sort(np.clip(X[self.value_].to_numpy(float), 0, None))[::-1]
        total = rev.sum()
        if total <= 0:
            raise DataError(f"ABC needs positive value; all customers have {self.value_} <= 0")
        before = (np.cumsum(rev) - rev) / total
        a = rev[before < self.a_share - 1e-12]
        b = rev[before < self.a_share + self.b_share - 1e-12]
        self.a_cut_ = robust_cut(rev, float(a.min())) if len(a) else math.inf
        self.b_cut_ = robust_cut(rev, float(b.min())) if len(b) else math.inf
        if self.xyz_thresholds:
            self.xyz_cuts_ = [float(t) for t in self.xyz_thresholds]
        else:
            cv = X["revenue_cv_monthly"].dropna().to_numpy(float)
            # no customer with two months to compare (all lines in one month): no one's demand
            # is known to be steady, so every customer is Z (an undefined CV is Z anyway)
            self.xyz_cuts_ = ([float(np.quantile(cv, 1 / 3)), float(np.quantile(cv, 2 / 3))]
                              if len(cv) else [0.0, 0.0])
        self.labels_ = self.predict(X)
        return self

    #: the nine cells, numbered ABC code x 3 + XYZ code
    CELLS = np.array([a + x for a in "ABC" for x in "XYZ"], dtype=object)

    def _abc_codes(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "a_cut_")
        m = np.clip(X[getattr(self, "value_", "monetary_total")].to_numpy(float), 0, None)
        return np.where(m >= self.a_cut_, 0, np.where((m >= self.b_cut_) & (m > 0), 1, 2))

    def _xyz_codes(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "xyz_cuts_")
        cv = X["revenue_cv_monthly"].fillna(np.inf).to_numpy(float)
        t1, t2 = self.xyz_cuts_
        return np.where(cv <= t1, 0, np.where(cv <= t2, 1, 2))

    def abc(self, X: pd.DataFrame) -> np.ndarray:
        return np.array(list("ABC"))[self._abc_codes(X)]

    def xyz(self, X: pd.DataFrame) -> np.ndarray:
        return np.array(list("XYZ"))[self._xyz_codes(X)]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.CELLS[self._abc_codes(X) * 3 + self._xyz_codes(X)]

    def tier_table(self) -> dict[str, dict[str, Any]]:
        """Tier name -> {cells, action} (the configured table or :data:`ABC_XYZ_TIERS`)."""
        return dict(getattr(self, "tiers", None) or ABC_XYZ_TIERS)  # models saved before: none

    def tier_of(self, cells: np.ndarray) -> np.ndarray:
        table = self.tier_table()
        out = np.full(len(cells), list(table)[-1], dtype=object)
        for tier, spec in reversed(list(table.items())):
            out[np.isin(cells, list(spec.get("cells", [])))] = tier
        return out

    def label_columns(self, X: pd.DataFrame, name: str) -> pd.DataFrame:
        """ABC, XYZ, the ABC-XYZ cell and its attention tier."""
        a, x = self._abc_codes(X), self._xyz_codes(X)
        cell = a * 3 + x  # codes, looked up: no text built per customer
        tiers, tier = pd.factorize(self.tier_of(self.CELLS), sort=True)
        cat = lambda codes, texts: pd.Categorical.from_codes(  # noqa: E731 - one byte a row
            codes, pd.Index(list(texts), dtype="str"))
        return pd.DataFrame({"abc": cat(a, "ABC"), "xyz": cat(x, "XYZ"),
                             name: cat(cell, self.CELLS), f"{name}_tier": cat(tiers[cell], tier)},
                            index=X.index)


#: what to do with each cell of the BCG growth matrix
BCG_ACTIONS = {
    "star": "invest: key-account care and offers that keep them growing",
    "cash_cow": "keep efficiently: retain at low cost, cross-sell where it pays",
    "dark_horse": "develop selectively: the growing small ones can become stars",
    "dog": "serve at lower cost: standard offers, automated contact",
}


class BCGSegmenter(_Baseline):
    """BCG growth matrix: size (net revenue) x revenue growth.

    Big = revenue at or above ``size_threshold`` (default: the median, learnt in ``fit``);
    growing = a repeat buyer whose ``revenue_growth`` is above ``growth_threshold`` (default:
    the upper quartile of the repeat buyers' growth, learnt in ``fit``, and never below 0: any
    growth above 0 made 40% of buyers stars; a one-order customer's growth is an imputation,
    never growth). Stars (big, growing), cash cows (big, not growing), dark horses (small,
    growing), dogs (small, not growing); actions per cell in :data:`BCG_ACTIONS`.
    """

    def __init__(self, size_threshold: float | None = None,
                 growth_threshold: float | None = None, growth_quantile: float = 0.75):
        self.size_threshold = size_threshold
        self.growth_threshold = growth_threshold
        self.growth_quantile = growth_quantile

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, ["monetary_total", "revenue_growth"], "BCG")
        self.size_cut_ = (float(self.size_threshold) if self.size_threshold is not None
                          else float(X["monetary_total"].median()))
        growth = X["revenue_growth"].to_numpy(float)[self._repeat(X)]
        growth = growth[np.isfinite(growth)]
        self.growth_cut_ = (float(self.growth_threshold) if self.growth_threshold is not None
                            else max(0.0, float(np.quantile(growth, self.growth_quantile)))
                            if len(growth) else 0.0)
        self.labels_ = self.predict(X)
        return self

    @staticmethod
    def _repeat(X: pd.DataFrame) -> np.ndarray:
        if "frequency" not in X:
            return np.ones(len(X), bool)
        return X["frequency"].fillna(0).to_numpy(float) >= 2

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "size_cut_")
        cut = getattr(self, "growth_cut_", None)  # models saved before: the fixed threshold
        cut = float(self.growth_threshold or 0.0) if cut is None else cut
        big = X["monetary_total"].to_numpy(float) >= self.size_cut_
        grow = (X["revenue_growth"].fillna(-np.inf).to_numpy(float) > cut) & self._repeat(X)
        return choose([big & grow, big & ~grow, ~big & grow], ["star", "cash_cow", "dark_horse"],
                      "dog")


class LifecycleSegmenter(_Baseline):
    """Recency lifecycle states, first match wins.

    prospect (no purchase), new (first purchase at most ``new_days`` ago), new_churned (a
    single purchase, more than ``new_days`` ago, at any recency: new-customer churn), closed
    (last purchase more than ``sleeping_days`` ago), sleeping (a repeat buyer who let
    ``sleeping_cycles`` of their own usual purchase cycles pass: ``cycles_missed``), active
    (last purchase within ``active_days``), inactive (within ``inactive_days``), sleeping
    (within ``sleeping_days``).
    """

    def __init__(self, active_days: int = 90, inactive_days: int = 180,
                 sleeping_days: int = 365, new_days: int = 60,
                 sleeping_cycles: float | None = 2.0):
        self.active_days = active_days
        self.inactive_days = inactive_days
        self.sleeping_days = sleeping_days
        self.new_days = new_days
        self.sleeping_cycles = sleeping_cycles

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, ["recency_days", "frequency", "tenure_days"], "lifecycle")
        if not self.active_days < self.inactive_days < self.sleeping_days:
            raise ConfigError("lifecycle thresholds must satisfy active < inactive < sleeping days")
        self.fitted_ = True
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "fitted_")
        rec = X["recency_days"].to_numpy(float)
        freq = X["frequency"].fillna(0).to_numpy(float)
        ten = X["tenure_days"].to_numpy(float)
        cycles = (X["cycles_missed"].to_numpy(float) if "cycles_missed" in X
                  else np.full(len(X), np.nan))
        overdue = (np.nan_to_num(cycles, nan=0.0) >= self.sleeping_cycles
                   if self.sleeping_cycles else np.zeros(len(X), bool))
        conds = [
            (freq <= 0) | np.isnan(rec),
            ten <= self.new_days,
            (freq == 1) & (ten > self.new_days),
            rec > self.sleeping_days,
            overdue,
            rec <= self.active_days,
            rec <= self.inactive_days,
        ]
        names = ["prospect", "new", "new_churned", "closed", "sleeping", "active", "inactive"]
        return choose(conds, names, "sleeping")


class ValueClassSegmenter(_Baseline):
    """Quarterly value classes of a retail chain, on spend and visits in the last quarter.

    premium: spend >= ``high`` with >= ``visits`` visits; loyal: ``mid`` <= spend < ``high``
    with >= ``visits``; big_ticket_saver: spend >= ``mid`` with fewer visits; frequent_small:
    spend < ``mid`` with >= ``visits``; disloyal: spend < ``mid`` with 1..visits-1;
    no_visit: nothing bought in the quarter.

    ``high`` and ``mid`` are amounts in the data's currency; left empty (the default) they are
    the ``quantiles`` of quarterly spend among the customers who bought in the quarter, so the
    classes scale with the data's currency and price level (the practitioners' 9,000 / 3,000
    were roubles of one retail chain: the 90th and 60th percentile there). With quantile cuts
    and data that gives costs or margins, the classes are on the quarter's profit
    (``profit_last_quarter``) instead of its spend: a big spender on loss-making lines is not
    premium. Amounts given in ``high`` and ``mid`` are spend, as the practitioners' are.
    """

    def __init__(self, high: float | None = None, mid: float | None = None, visits: int = 3,
                 quantiles: tuple[float, float] = (0.6, 0.9)):
        self.high = high
        self.mid = mid
        self.visits = visits
        self.quantiles = quantiles

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, ["spend_last_quarter", "orders_last_quarter"], "value-class")
        on_profit = (self.high is None and self.mid is None and "profit_last_quarter" in X
                     and X["profit_last_quarter"].notna().any())
        self.value_ = "profit_last_quarter" if on_profit else "spend_last_quarter"
        spend = X[self.value_].fillna(0).to_numpy(float)
        bought = spend[X["orders_last_quarter"].fillna(0).to_numpy(float) > 0]
        q_mid, q_high = self.quantiles
        if not 0 < q_mid < q_high < 1:
            raise ConfigError(f"value-class quantiles must satisfy 0 < mid < high < 1, got "
                              f"{list(self.quantiles)}")
        def cut(given, q):
            if given is not None:
                return float(given)
            return robust_cut(bought, float(np.quantile(bought, q))) if len(bought) else math.inf
        self.mid_, self.high_ = cut(self.mid, q_mid), cut(self.high, q_high)
        if not self.mid_ < self.high_:
            raise ConfigError(f"value classes need mid < high, got {self.mid_:g} and {self.high_:g}")
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "high_")
        # models saved before the classes could be on profit have no ``value_``: spend
        spend = X[getattr(self, "value_", "spend_last_quarter")].fillna(0).to_numpy(float)
        n = X["orders_last_quarter"].fillna(0).to_numpy(float)
        many = n >= self.visits
        conds = [n <= 0, (spend >= self.high_) & many, (spend >= self.mid_) & many,
                 spend >= self.mid_, many]
        names = ["no_visit", "premium", "loyal", "big_ticket_saver", "frequent_small"]
        return choose(conds, names, "disloyal")
