"""Preprocessing: winsorising, signed log, scalers, one-hot; all picklable without lambdas."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from clustering.errors import ConfigError
from clustering.features.preprocess import SCALERS, SignedLog1p, Winsorizer, build_preprocessor


def test_winsorizer_clips_at_fitted_quantiles():
    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(1000, 2))
    X[::7, 1] = np.round(X[::7, 1])  # ties
    w = Winsorizer(0.05, 0.95).fit(X)
    # the same numbers, to the bit, as each quantile taken on its own
    np.testing.assert_array_equal(w.low_, np.quantile(X, 0.05, axis=0))
    np.testing.assert_array_equal(w.high_, np.quantile(X, 0.95, axis=0))
    out = w.transform(np.array([[1e9, -1e9]]))
    np.testing.assert_allclose(out, [[w.high_[0], w.low_[1]]])


def test_signed_log_keeps_sign_and_only_masked_columns():
    X = np.array([[-np.e + 1, 5.0], [np.e - 1, 5.0]])
    out = SignedLog1p(mask=[True, False]).fit_transform(X)
    np.testing.assert_allclose(out, [[-1.0, 5.0], [1.0, 5.0]])


@pytest.mark.parametrize("scaler", sorted(SCALERS))
def test_every_scaler_fits_and_pickles(scaler):
    df = pd.DataFrame({"frequency": np.arange(1, 101, dtype=float),
                       "revenue_growth": np.linspace(-1, 1, 100),
                       "region": ["a", "b"] * 50})
    df.loc[3, "revenue_growth"] = np.nan
    pre = build_preprocessor(["frequency", "revenue_growth"], ["region"], scaler=scaler)
    X = pre.fit_transform(df)
    assert X.shape == (100, 4) and np.isfinite(X).all()
    again = pickle.loads(pickle.dumps(pre))
    np.testing.assert_allclose(again.transform(df), X)
    assert list(pre.get_feature_names_out()) == ["frequency", "revenue_growth", "region_a", "region_b"]


def test_unknown_scaler_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown scaler 'zscore'"):
        build_preprocessor(["frequency"], scaler="zscore")


def test_median_imputer_equals_scikit_learns():
    from sklearn.impute import SimpleImputer

    from clustering.features.preprocess import MedianImputer

    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(5001, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    ours = MedianImputer().fit(X)
    ref = SimpleImputer(strategy="median").fit(X)
    np.testing.assert_allclose(ours.statistics_, ref.statistics_)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X))
    Z = np.column_stack([X[:, 0], np.full(len(X), np.nan)])  # an empty column becomes 0
    assert (MedianImputer().fit_transform(Z)[:, 1] == 0).all()


def test_a_scoring_files_spelling_of_a_category_is_the_training_one():
    """The customers table's spelling is its own file's most common one: 'NORTH' in a scoring
    file must encode as the training run's 'North', not as an unknown category (all zeros)."""
    import pandas as pd

    from clustering.features.preprocess import build_preprocessor

    pre = build_preprocessor(["x"], ["region", "size"])
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "region": ["North", "South", "North", None],
                          "size": ["10-49", "1-9", "250+", "1-9"]})
    pre.fit(train)
    again = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "region": ["NORTH", "south ", "north", None],
                          "size": ["10_49", "1-9", "250+", "1 9"]})
    assert (pre.transform(again) == pre.transform(train)).all()
    unknown = pd.DataFrame({"x": [1.0], "region": ["East"], "size": ["5"]})
    assert pre.transform(unknown)[0, 1:].sum() == 0  # unknown under every spelling: none
