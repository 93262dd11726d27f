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


def test_kmeans_starts_side_by_side_are_scikit_learns_starts_to_the_bit(monkeypatch):
    """The starts fitted side by side give scikit-learn's own ``n_init`` model on one OpenMP
    thread (as the run's stages fit it): the same centres, labels, inertia and iterations, on
    overlapping clusters (where the starts end in different optima, so the choice of the best
    counts), in float32 too, and on the segmenter's path of starts on a sample refined on
    everyone."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    from clustering.graph import one_openmp_thread
    from clustering.segmenters import centroid
    from clustering.segmenters.centroid import race_starts

    monkeypatch.setattr(centroid, "SIDE_BY_SIDE", 1_000)  # side by side from 1,000 rows here
    X, _ = make_blobs(n_samples=6_000, centers=7, n_features=4, cluster_std=3.0, random_state=5)
    inertias = set()
    for seed, k, n_init, dtype in [(0, 5, 4, np.float64), (3, 7, 8, np.float64),
                                   (11, 3, 2, np.float32), (4, 9, 6, np.float64)]:
        data = X.astype(dtype)
        ours = race_starts(data, k, n_init, 300, seed)
        with one_openmp_thread():
            theirs = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(data)
        np.testing.assert_array_equal(ours.cluster_centers_, theirs.cluster_centers_)
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
        assert (ours.inertia_, ours.n_iter_) == (theirs.inertia_, theirs.n_iter_)
        assert ours.cluster_centers_.dtype == dtype
        starts = [KMeans(n_clusters=k, n_init=1, random_state=s).fit(data).inertia_
                  for s in range(n_init)]
        inertias.add(len(set(np.round(starts, 6))) > 1)
    assert True in inertias  # the starts disagreed somewhere: the choice was exercised
    rows = np.sort(np.random.default_rng(2).choice(len(X), 2_000, replace=False))
    with one_openmp_thread():
        seg = make_segmenter("kmeans", n_clusters=6, n_init=4, random_state=2,
                             fit_sample=2_000).fit(X)
        best = KMeans(n_clusters=6, n_init=4, random_state=2).fit(X[rows])
        refined = KMeans(n_clusters=6, init=best.cluster_centers_, n_init=1,
                         random_state=2).fit(X)
    np.testing.assert_array_equal(seg.model_.cluster_centers_, refined.cluster_centers_)


def test_a_start_that_finds_the_same_partition_is_recognised_with_its_labels_permuted():
    """The test for the same clustering against a hand-written one: every cluster of the
    first labelling maps to one cluster of the second."""
    from clustering.segmenters.centroid import _same_partition

    def by_hand(a, b):
        seen = {}
        return all(seen.setdefault(x, y) == y for x, y in zip(a, b, strict=True))

    rng = np.random.default_rng(0)
    for trial in range(500):
        n, k = int(rng.integers(1, 30)), int(rng.integers(1, 5))
        a = rng.integers(0, k, n).astype(np.int32)
        b = rng.permutation(k).astype(np.int32)[a] if trial % 2 else rng.integers(0, k, n)
        assert _same_partition(a, b) == by_hand(a, b)
