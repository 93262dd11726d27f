"""k-prototypes on mixed data: planted segments that only the attributes tell apart are found
(ARI >= 0.8, where k-means on the numbers alone cannot), one-hot blocks read off the matrix,
the same labels for the same seed, and new customers assigned as in training."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from clustering.segmenters import make_segmenter
from clustering.segmenters.mixed import KPrototypesSegmenter, onehot_blocks


def planted_mixed(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four segments: two numeric centres, each split in two by the attributes (an 85%-clean
    channel and a four-valued region); the numbers cannot tell the halves apart."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    num = rng.normal(0, 1, (n, 3)) + np.array([[0, 0, 0], [0, 0, 0], [3, 3, 0], [3, 3, 0]])[y]
    channel = np.where(rng.random(n) < 0.85, y % 2, rng.integers(0, 2, n))
    region = np.where(rng.random(n) < 0.85, y, rng.integers(0, 4, n))
    onehot = OneHotEncoder(sparse_output=False).fit_transform(np.column_stack([channel, region]))
    return np.column_stack([StandardScaler().fit_transform(num), onehot]), y


def test_planted_mixed_segments_are_recovered():
    X, y = planted_mixed(20_000)
    seg = KPrototypesSegmenter(4, n_numeric=3, random_state=0).fit(X)
    assert adjusted_rand_score(y, seg.labels_) >= 0.8
    numbers_only = KMeans(4, n_init=4, random_state=0).fit_predict(X[:, :3])
    assert adjusted_rand_score(y, numbers_only) < 0.5
    # prototypes: each segment's attribute modes are one category per attribute
    assert seg.modes_.sum(axis=1).tolist() == [2.0] * 4
    assert (seg.predict(X) == seg.labels_).all()
    again = KPrototypesSegmenter(4, n_numeric=3, random_state=0).fit(X)
    assert (again.labels_ == seg.labels_).all()


def test_a_sample_race_then_everyone_finds_the_same_segments():
    X, y = planted_mixed(30_000, seed=1)
    seg = make_segmenter("kprototypes", k=4, n_numeric=3, fit_sample=5_000, random_state=0)
    assert adjusted_rand_score(y, seg.fit(X).labels_) >= 0.8
    labels, confidence, outlier = seg.membership(X[:100])
    assert (labels == seg.labels_[:100]).all()
    assert ((0 <= confidence) & (confidence <= 1)).all() and outlier.mean() < 0.05


def test_onehot_blocks_are_read_off_the_rows():
    X, _ = planted_mixed(500)
    assert onehot_blocks(X[:, 3:]) == [slice(0, 2), slice(2, 6)]
    with pytest.raises(ValueError, match="not one-hot blocks"):
        onehot_blocks(X[:, :4])


def test_without_attributes_it_is_k_means_on_the_numbers():
    X, _ = planted_mixed(5_000)
    seg = KPrototypesSegmenter(2, random_state=0).fit(X[:, :3])
    km = KMeans(2, n_init=4, random_state=0).fit(X[:, :3])
    assert adjusted_rand_score(km.labels_, seg.labels_) > 0.99


def test_kprototypes_on_an_own_csv_export_with_attributes(tmp_path, mlflow_uri, small_sample,
                                                          settings_for):
    """`make train ARGS="model=kprototypes data=csv ..."`: the customers table's attributes
    shape the segments, and the segment rules ask about them."""
    import pandas as pd

    from clustering.training import run_training

    tx = pd.read_parquet(small_sample["transactions"])
    customers = pd.read_parquet(small_sample["customers"])
    tx[["customer_id", "order_id", "timestamp", "amount"]].to_csv(tmp_path / "tx.csv",
                                                                    index=False)
    customers[["customer_id", "region", "channel"]].to_csv(tmp_path / "kunden.csv", index=False)
    result = run_training(*settings_for(
        "data=csv", "data.name=shop", f"data.path={tmp_path / 'tx.csv'}",
        f"data.customers_path={tmp_path / 'kunden.csv'}", "data.attributes=[region,channel]",
        "data.columns.quantity=null", "data.columns.unit_price=null",
        "data.columns.category=null", "model=kprototypes", "model.k=5",
        "evaluate.holdout_days=0", "baselines.log_runs=false", "mlflow.log_model=false"))
    seg = result.model.pipeline[-1]
    n_attr_columns = len(result.feature_names) - seg.n_numeric
    assert seg.n_numeric > 0 and n_attr_columns >= 2 and len(seg.blocks_) == 2
    assert result.metrics["k"] == 5
    assert {"region", "channel"} <= set(result.rules.categorical)


def test_a_resample_without_the_last_category_keeps_its_blocks():
    X, _ = planted_mixed(500)
    C = X[:, 3:].copy()
    C[C[:, -1] == 1, -2] = 1  # region's last category absent in this resample
    C[:, -1] = 0
    assert onehot_blocks(C) == [slice(0, 2), slice(2, 6)]
