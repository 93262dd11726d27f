"""Every family: planted blobs found, ids by size, predict reproduces labels, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from clustering.errors import ConfigError, DataError
from clustering.segmenters import (
    SEGMENTERS,
    HierarchicalSegmenter,
    KMeansSegmenter,
    make_segmenter,
    nearest_center,
)


@pytest.mark.parametrize("name", [*sorted(set(SEGMENTERS) - {"spark_kmeans", "spark_gmm"}), "minibatch_kmeans",
                                  pytest.param("spark_kmeans", marks=pytest.mark.slow),
                                  pytest.param("spark_gmm", marks=pytest.mark.slow)])
def test_each_algorithm_recovers_planted_blobs_and_predict_reproduces_labels(name, blobs):
    X, y = blobs
    params = {"min_cluster_size": 100} if name == "hdbscan" else {"n_clusters": 5}
    if name == "minibatch_kmeans":
        name, params = "kmeans", {**params, "minibatch": True, "n_init": 3}
    seg = make_segmenter(name, random_state=0, **params).fit(X)
    # floor 0.95: five well-separated blobs; anything lower means a broken assignment path
    assert adjusted_rand_score(y, seg.labels_) >= 0.95, name
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    labels, conf, outlier = seg.membership(X[:200])
    np.testing.assert_array_equal(labels, seg.labels_[:200])
    assert ((conf >= 0) & (conf <= 1)).all() and outlier.dtype == bool
    assert seg.cluster_centers_.shape == (seg.n_clusters_, X.shape[1])
    # ids ordered by size
    sizes = np.bincount(seg.labels_[seg.labels_ >= 0])
    assert (np.diff(sizes) <= 0).all()


def test_bad_settings_are_clear():
    with pytest.raises(ConfigError, match="unknown model 'kmedoids'"):
        make_segmenter("kmedoids")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_segmenter("kmeans", n_clusterz=3)
    with pytest.raises(DataError, match="3 customers cannot form 5 segments"):
        KMeansSegmenter(n_clusters=5).fit(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="unknown linkage"):
        HierarchicalSegmenter(n_clusters=2, linkage="single").fit(np.random.rand(20, 2))


@pytest.mark.parametrize("name", ["kmeans", "gmm", "fuzzy_cmeans"])
def test_fewer_distinct_points_than_k_does_not_crash(name):
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 0.0]]), 50, axis=0)
    seg = make_segmenter(name, n_clusters=5, random_state=0).fit(X)
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    labels, conf, _ = seg.membership(X)
    assert len(labels) == len(X) and np.isfinite(conf).all()


def test_distances_to_equals_scikit_learn():
    from sklearn.metrics.pairwise import euclidean_distances

    from clustering.segmenters.base import distances_to

    rng = np.random.default_rng(1)
    X, C = rng.normal(size=(3000, 12)), rng.normal(size=(7, 12))
    np.testing.assert_allclose(distances_to(X, C), euclidean_distances(X, C), atol=1e-9)


def test_nearest_center_equals_scikit_learn():
    from sklearn.metrics import pairwise_distances_argmin

    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(5000, 12)), rng.normal(size=(9, 12))
    np.testing.assert_array_equal(nearest_center(X, C, chunk=777), pairwise_distances_argmin(X, C))


@pytest.mark.parametrize("name", ["kmeans", "hierarchical", "hdbscan"])
def test_family_diagnostics_are_the_familys_own(name, blobs):
    X, _ = blobs
    params = {"min_cluster_size": 100} if name == "hdbscan" else {"n_clusters": 5}
    seg = make_segmenter(name, **params).fit(X)
    keys = set(seg.diagnostics(X))
    expected = {"kmeans": set(), "hierarchical": {"hierarchical_exact"},
                "hdbscan": {"noise_share", "dbcv", "hdbscan_fast_backend", "mean_membership"}}
    assert keys == expected[name]
    assert set(seg.figures()) == {"kmeans": set(), "hierarchical": {"plots/dendrogram.png"},
                                  "hdbscan": {"plots/condensed_tree.png"}}[name]

