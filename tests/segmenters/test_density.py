"""HDBSCAN: explicit noise, both backends, assignment of new customers as the library does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from clustering.segmenters import make_segmenter
from clustering.segmenters.density import DensityPredictor


@pytest.mark.parametrize("backend", ["hdbscan", "fast_hdbscan"])
def test_hdbscan_noise_is_explicit_and_predicted_again(backend):
    rng = np.random.default_rng(0)
    X, _ = make_blobs(n_samples=2000, centers=3, n_features=2, cluster_std=0.4, random_state=1)
    noise = rng.uniform(-15, 15, size=(150, 2))
    Xn = np.vstack([X, noise])
    seg = make_segmenter("hdbscan", min_cluster_size=50, min_samples=50, n_components=None,
                         backend=backend).fit(Xn)
    assert seg.backend_ == backend
    assert seg.n_clusters_ == 3
    assert (seg.labels_[2000:] == -1).mean() > 0.8   # most uniform noise is unassigned
    assert (seg.labels_[:2000] >= 0).mean() > 0.95
    np.testing.assert_array_equal(seg.predict(Xn), seg.labels_)  # outliers included
    labels, strength, outlier = seg.membership(np.array([[100.0, 100.0]]))
    assert labels[0] == -1 and outlier[0]


def test_density_predictor_agrees_with_hdbscans_approximate_predict():
    """Our assignment of new customers (used for both backends) against the library's own."""
    import hdbscan


    rng = np.random.default_rng(1)
    X, _ = make_blobs(n_samples=3000, centers=4, n_features=3, cluster_std=1.0, random_state=2)
    X = np.vstack([X, rng.uniform(-12, 12, size=(300, 3))])
    ref = hdbscan.HDBSCAN(min_cluster_size=40, min_samples=8, prediction_data=True).fit(X)
    ours = DensityPredictor(X, ref.condensed_tree_._raw_tree, ref.labels_, ref.probabilities_,
                            ref.prediction_data_.core_distances, 8)
    new = np.vstack([X[rng.choice(len(X), 500)] + rng.normal(0, 0.3, (500, 3)),
                     rng.uniform(-14, 14, size=(500, 3))])
    ref_labels, ref_strength = hdbscan.approximate_predict(ref, new)
    labels, strength = ours.predict(new)
    assert (ref_labels == -1).sum() > 50 and (ref_labels >= 0).sum() > 300  # both kinds occur
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(strength, ref_strength, atol=1e-9)
    chunked = ours.predict(new, chunk=137)  # chunks run on threads: same answer
    np.testing.assert_array_equal(chunked[0], labels)


def test_fast_backend_finds_the_same_segments_as_the_reference_library(blobs):
    X, y = blobs
    ref = make_segmenter("hdbscan", min_cluster_size=100, backend="hdbscan").fit(X)
    fast = make_segmenter("hdbscan", min_cluster_size=100, backend="fast_hdbscan").fit(X)
    assert fast.backend_ == "fast_hdbscan" and fast.n_clusters_ == ref.n_clusters_ == 5
    both = (ref.labels_ >= 0) & (fast.labels_ >= 0)
    assert both.mean() > 0.9
    assert adjusted_rand_score(ref.labels_[both], fast.labels_[both]) >= 0.99
