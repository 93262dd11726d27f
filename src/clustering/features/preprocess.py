"""Preprocessing as one fitted scikit-learn object, saved with the model.

Numeric features: median imputation, a signed log transform for skewed amounts and counts,
winsorising at fitted quantiles, then a scaler (standard, robust, quantile or min-max).
Categorical attributes: one-hot encoding (unknown categories at scoring time are ignored).
Every step is a class of this package (no lambdas), so the pickled model loads anywhere the
package is installed.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from clustering.errors import ConfigError, DataError

SCALERS = {
    "standard": lambda seed: StandardScaler(),
    "robust": lambda seed: RobustScaler(),
    "quantile": lambda seed: QuantileTransformer(
        n_quantiles=1000, output_distribution="normal", subsample=100_000, random_state=seed
    ),
    "minmax": lambda seed: MinMaxScaler(),
}

#: features whose distribution is heavy-tailed by nature (amounts, counts, durations)
DEFAULT_LOG_FEATURES = [
    "frequency",
    "monetary_total",
    "avg_order_value",
    "recency_days",
    "tenure_days",
    "mean_interpurchase_days",
    "mean_payment_delay",
    "n_categories",
]


def signed_log(x) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: a log scale for amounts that can be negative (net revenue)."""
    y = np.array(x, dtype=np.float64)  # a copy, then in place: 5-10x np.copysign(np.log1p(...))
    negative = y < 0
    np.abs(y, out=y)
    np.log1p(y, out=y)
    return np.negative(y, out=y, where=negative)


class SignedLog1p(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """``sign(x) * log1p(|x|)`` on the columns flagged in ``mask`` (net revenue can be < 0)."""

    def __init__(self, mask: list[bool] | None = None):
        self.mask = mask

    def fit(self, X, y=None):
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        self.mask_ = np.ones(X.shape[1], bool) if self.mask is None else np.asarray(self.mask, bool)
        return self

    def transform(self, X):
        check_is_fitted(self, "mask_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        out = signed_log(X)  # every column, then the others put back: no column gathering
        if not self.mask_.all():
            np.copyto(out, X, where=~self.mask_[None, :])
        return out


class MedianImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace missing values by the column median learnt in ``fit`` (0 for an empty column).

    scikit-learn's SimpleImputer(strategy="median") computes the same medians through masked
    arrays and a full sort: 2.6 s on 1M customers against 0.3 s for ``np.nanmedian``.
    """

    def fit(self, X, y=None):
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        with np.errstate(all="ignore"):
            empty = np.isnan(X).all(axis=0)
            med = np.zeros(X.shape[1])
            if (~empty).any():
                med[~empty] = np.nanmedian(X[:, ~empty], axis=0)
        self.statistics_ = med
        return self

    def transform(self, X):
        check_is_fitted(self, "statistics_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", copy=True)
        missing = np.isnan(X)
        if missing.any():
            X[missing] = np.broadcast_to(self.statistics_, X.shape)[missing]
        return X


class Winsorizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip each column to its ``lower`` and ``upper`` quantiles learnt in ``fit``."""

    def __init__(self, lower: float = 0.01, upper: float = 0.99):
        self.lower = lower
        self.upper = upper

    def fit(self, X, y=None):
        X = validate_data(self, X)
        if not 0 <= self.lower < self.upper <= 1:
            raise ConfigError(
                f"winsorize quantiles must satisfy 0 <= lower < upper <= 1, got {self.lower}, {self.upper}"
            )
        # both quantiles from one partition of each column (a call each: 2.4x the time)
        self.low_, self.high_ = np.quantile(X, [self.lower, self.upper], axis=0)
        return self

    def transform(self, X):
        check_is_fitted(self, "low_")
        X = validate_data(self, X, reset=False)
        return np.clip(X, self.low_, self.high_)


def spelling_key(value) -> str | None:
    """The comparison key of an attribute value, as :mod:`clustering.inputs.attributes` merges
    spellings: lower case, separators collapsed; a number is its own key."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    from clustering.inputs.attributes import NUMBER

    text = str(value).strip()
    if re.fullmatch(NUMBER, text):
        return text.lower()
    return re.sub(r"[\s_.\-]+", " ", text.lower()).strip() or None


class CategorySpelling(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Attribute values spelt otherwise than in training ('NORTH', 'north ' for 'North') read
    as the training value, so that a scoring file's spelling does not make a known category
    unknown (encoded as none). Values unknown under every spelling pass unchanged."""

    def fit(self, X, y=None):
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
            self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        X = pd.DataFrame(X)
        self.n_features_in_ = X.shape[1]
        self.known_ = [{spelling_key(v): v for v in pd.unique(X[c].dropna())} for c in X.columns]
        return self

    def transform(self, X):
        check_is_fitted(self, "known_")
        X = pd.DataFrame(X).copy()
        for c, known in zip(X.columns, self.known_, strict=True):
            seen = set(known.values())
            codes, values = pd.factorize(X[c])  # distinct values, mapped once each
            mapped = [known.get(spelling_key(v), v) if v not in seen else v for v in values]
            if any(m is not v for m, v in zip(mapped, values, strict=True)):
                out = np.asarray(mapped + [None], dtype=object)[codes]  # code -1: missing
                X[c] = pd.Series(out, index=X.index).where(codes >= 0, X[c])
        return X


def build_preprocessor(
    numeric: list[str],
    categorical: list[str] | None = None,
    log_features: list[str] | None = None,
    scaler: str = "standard",
    winsorize: tuple[float, float] | None = (0.01, 0.99),
    seed: int = 0,
) -> ColumnTransformer:
    """The unfitted preprocessing step; input is the feature DataFrame, output a float matrix."""
    if scaler not in SCALERS:
        raise ConfigError(f"unknown scaler '{scaler}'; choose one of {sorted(SCALERS)}")
    if not numeric and not categorical:
        raise ConfigError("no features selected for the model (preprocess.features is empty)")
    logs = DEFAULT_LOG_FEATURES if log_features is None else log_features
    steps = [
        ("impute", MedianImputer()),
        ("log", SignedLog1p(mask=[c in logs for c in numeric])),
    ]
    if winsorize is not None:
        steps.append(("winsorize", Winsorizer(*winsorize)))
    steps.append(("scale", SCALERS[scaler](seed)))
    parts = [("num", Pipeline(steps), list(numeric))]
    if categorical:
        parts.append(("cat", Pipeline([
            ("spelling", CategorySpelling()),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), list(categorical)))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def select_columns(wanted: list[str], categorical: list[str], features: list[str],
                   skipped: dict[str, str], attributes: list[str]) -> tuple[list[str], list[str]]:
    """Model columns: the configured features that exist (all computed ones when none are
    configured); those skipped for a missing source column are left out (they are reported),
    unknown names are an error, and so are categorical columns that are not attributes."""
    wanted = list(wanted) or list(features)
    unknown = [f for f in wanted if f not in features and f not in skipped]
    if unknown:
        raise ConfigError(f"preprocess.features {unknown} are not features; computed features: "
                          f"{features}")
    bad = [c for c in categorical if c not in attributes]
    if bad:
        raise ConfigError(f"preprocess.categorical {bad} are not customer attributes; "
                          f"attributes loaded (data.attributes): {attributes}")
    return [f for f in wanted if f in features], list(categorical)


def check_finite(X: np.ndarray, names: list[str], where: str) -> None:
    """Fail naming the columns (and rows) with NaN or infinite values."""
    bad = ~np.isfinite(X)
    if bad.any():
        cols = [f"{names[j]} ({int(bad[:, j].sum())} rows)" for j in np.flatnonzero(bad.any(axis=0))]
        raise DataError(f"{where}: NaN or infinite values in {', '.join(cols)}")

