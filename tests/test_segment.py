"""k-means segmenter: k selection, stable size-ordered ids, predict reproduces labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from clustering.errors import ConfigError, DataError
from clustering.segment import CRITERIA, KMeansSegmenter, make_segmenter


@pytest.mark.parametrize("criterion", sorted(CRITERIA))
def test_k_selection_finds_planted_k_on_clean_blobs(criterion):
    X, _ = make_blobs(n_samples=1500, centers=5, cluster_std=0.6, random_state=3)
    seg = KMeansSegmenter(k_range=(2, 9), criterion=criterion, random_state=0).fit(X)
    assert seg.n_clusters_ == 5
    assert list(seg.k_curve_["k"]) == list(range(2, 10))


def test_ids_ordered_by_size_and_predict_reproduces_labels():
    X, _ = make_blobs(n_samples=[600, 100, 300], centers=None, cluster_std=0.5, random_state=1)
    seg = KMeansSegmenter(n_clusters=3, random_state=0).fit(X)
    assert np.bincount(seg.labels_).tolist() == [600, 300, 100]
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    # distances: the nearest centre is the assigned segment
    np.testing.assert_array_equal(seg.transform(X).argmin(axis=1), seg.labels_)


def test_same_seed_same_labels():
    X, _ = make_blobs(n_samples=800, centers=4, random_state=2)
    a = KMeansSegmenter(k_range=(2, 6), random_state=5).fit(X).labels_
    b = KMeansSegmenter(k_range=(2, 6), random_state=5).fit(X).labels_
    np.testing.assert_array_equal(a, b)


def test_bad_settings_are_clear():
    with pytest.raises(ConfigError, match="unknown model 'kmedoids'"):
        make_segmenter("kmedoids")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_segmenter("kmeans", n_clusterz=3)
    with pytest.raises(DataError, match="3 customers cannot form 5 segments"):
        KMeansSegmenter(n_clusters=5).fit(np.zeros((3, 2)))
