"""Centroid families against their libraries."""

from __future__ import annotations

import numpy as np

from clustering.segmenters import make_segmenter


def test_fuzzy_cmeans_memberships_match_scikit_fuzzy(blobs):
    """Soft memberships for new customers against scikit-fuzzy's own cmeans_predict."""
    import skfuzzy

    X, y = blobs
    seg = make_segmenter("fuzzy_cmeans", n_clusters=5, m=2.0, random_state=0).fit(X)
    new = X[:300] + np.random.default_rng(0).normal(0, 1.0, (300, X.shape[1]))
    u = skfuzzy.cluster.cmeans_predict(new.T, seg.centers_raw_, 2.0, error=1e-9, maxiter=2)[0]
    ours = seg.predict_proba(new)
    np.testing.assert_allclose(ours[:, seg.mapping_], u.T, atol=1e-6)
    labels, conf, _ = seg.membership(new)
    np.testing.assert_array_equal(labels, seg.predict(new))
    np.testing.assert_allclose(conf, ours.max(axis=1))
    assert 0.2 < conf.min() and conf.mean() > 0.6   # fuzzy, but confident on clear blobs


def test_kmeans_starts_on_a_sample_reach_the_optimum_of_starts_on_everyone():
    """Beyond ``fit_sample`` customers the starts race on a sample and the best is refined on
    everyone: same partition and inertia as every start on everyone, reproducible."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    X, y = make_blobs(n_samples=20_000, centers=6, n_features=5, cluster_std=2.5, random_state=7)
    seg = make_segmenter("kmeans", n_clusters=6, n_init=8, random_state=1, fit_sample=2_000).fit(X)
    full = KMeans(6, n_init=8, random_state=1).fit(X)
    assert adjusted_rand_score(full.labels_, seg.labels_) > 0.99
    assert seg.inertia_ <= full.inertia_ * (1 + 1e-6)
    again = make_segmenter("kmeans", n_clusters=6, n_init=8, random_state=1, fit_sample=2_000).fit(X)
    np.testing.assert_array_equal(seg.labels_, again.labels_)
    assert adjusted_rand_score(y, seg.labels_) > 0.9
