"""Hierarchical: the weighted tree equals scipy's, compression follows the exact tree."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from clustering.segmenters import HierarchicalSegmenter, SelectK
from clustering.segmenters.hierarchical import weighted_linkage


@pytest.mark.parametrize("method", ["ward", "average", "complete"])
def test_weighted_linkage_with_unit_weights_equals_scipy(method):
    X, _ = make_blobs(n_samples=300, centers=4, random_state=5)
    ours = weighted_linkage(X, np.ones(len(X)), method)
    ref = linkage(X, method=method)
    np.testing.assert_allclose(np.sort(ours[:, 2]), np.sort(ref[:, 2]), rtol=1e-8)
    for k in (2, 4, 7):
        assert adjusted_rand_score(fcluster(ours, k, "maxclust"), fcluster(ref, k, "maxclust")) == 1.0


def test_weighted_ward_equals_ward_on_duplicated_points():
    """A centre of weight w is w identical customers: the weighted tree must cut the same."""
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(40, 3)) * 4
    w = rng.integers(1, 6, size=40)
    ours = weighted_linkage(centers, w.astype(float), "ward")
    ref = linkage(np.repeat(centers, w, axis=0), method="ward")
    for k in (2, 3, 5, 8):
        a = fcluster(ours, k, "maxclust")
        b = fcluster(ref, k, "maxclust")
        assert adjusted_rand_score(np.repeat(a, w), b) == 1.0


def test_compressed_hierarchical_agrees_with_exact_tree(blobs):
    X, y = blobs
    exact = HierarchicalSegmenter(n_clusters=5).fit(X)
    compressed = HierarchicalSegmenter(n_clusters=5, exact_max=500, n_micro=300).fit(X)
    assert exact.exact_ and not compressed.exact_
    # floor 0.9 (the bar): compression must not change the segments it finds
    assert adjusted_rand_score(exact.labels_, compressed.labels_) >= 0.9
    agreement = compressed.exact_agreement(X, sample=1500, perturbed=True)
    assert agreement["exact_agreement_ari"] >= 0.9
    # separated blobs: Ward is stable across samples and when 1% of the customers go
    assert agreement["exact_self_agreement_ari"] >= 0.9
    assert agreement["exact_perturbed_ari"] >= 0.9
    np.testing.assert_array_equal(compressed.predict(X), compressed.labels_)


@pytest.mark.parametrize("linkage", ["average", "complete"])
def test_compressed_average_and_complete_linkage_follow_their_exact_trees(linkage, blobs,
                                                                           monkeypatch):
    X, y = blobs
    exact = HierarchicalSegmenter(n_clusters=5, linkage=linkage).fit(X)
    compressed = HierarchicalSegmenter(n_clusters=5, linkage=linkage, exact_max=500,
                                       n_micro=300).fit(X)
    assert exact.exact_ and not compressed.exact_
    assert adjusted_rand_score(exact.labels_, compressed.labels_) >= 0.9
    assert adjusted_rand_score(y, compressed.labels_) >= 0.9
    agreement = compressed.exact_agreement(X, sample=50_000)
    assert agreement["exact_agreement_sample"] == len(X) // 2  # two disjoint samples
    assert agreement["exact_agreement_ari"] >= 0.9
    monkeypatch.setattr(HierarchicalSegmenter, "dense_limit", 800)  # the O(n^2) memory cap
    assert compressed.exact_agreement(X, sample=50_000)["exact_agreement_sample"] == 800
    np.testing.assert_array_equal(compressed.predict(X), compressed.labels_)


@pytest.mark.parametrize("exact_max", [100_000, 500])
def test_hierarchical_confidence_follows_the_tree_not_the_centres(exact_max):
    # a long bar beside a compact blob: the bar's segment is not convex around its centre,
    # so some customers are labelled by a segment whose centre is not their nearest
    rng = np.random.default_rng(0)
    X = np.vstack([np.column_stack([rng.uniform(-10, 10, 1500), rng.normal(0, 0.3, 1500)]),
                   rng.normal([0, 4], 0.5, size=(500, 2))])
    h = HierarchicalSegmenter(n_clusters=2, exact_max=exact_max, n_micro=200).fit(X)
    labels, conf, _ = h.membership(X)
    np.testing.assert_array_equal(labels, h.labels_)
    d = h.transform(X)
    farther = d[np.arange(len(X)), labels] > d.min(axis=1)
    assert farther.sum() >= 10
    # a centre margin gives all of these customers 0; the tree's own margin only those whose
    # nearest other customer (leave-one-out, exact tree) sits in the other segment
    assert (conf[farther] > 0).mean() > 0.9 and (conf > 0).mean() > 0.99 and conf.max() <= 1
    # new customers: one far inside a segment is more certain than one on the boundary
    _, c, _ = h.membership(np.array([[0.0, 4.0], [0.0, 2.0]]))
    assert c[0] > c[1]


def test_dendrogram_leaves_count_customers_not_micro_clusters(blobs):
    from clustering.reporting.plots import plot_dendrogram

    X, _ = blobs
    h = HierarchicalSegmenter(n_clusters=5, exact_max=500, n_micro=300).fit(X)
    fig = plot_dendrogram(h.tree_, 5, weights=np.bincount(h.point_map_))
    counts = [int(t.get_text().replace(",", "")) for t in fig.axes[0].get_xticklabels()]
    assert len(counts) == 30 and sum(counts) == len(X)


def test_hierarchical_cut_by_distance(blobs):
    X, _ = blobs
    seg = HierarchicalSegmenter(n_clusters=None, distance_threshold=60.0).fit(X)
    assert seg.n_clusters_ >= 2
    from scipy.cluster.hierarchy import fcluster as cut

    assert seg.n_clusters_ == len(set(cut(seg.tree_, 60.0, "distance")))


def test_one_tree_cut_at_every_k_equals_a_fit_per_k(blobs):
    """SelectK's path over k builds the tree once; every cut is what a fresh fit at k gives."""
    X, _ = blobs
    family = HierarchicalSegmenter(exact_max=500, n_micro=300)
    for k, cut in zip(range(3, 7), family.fit_path(X, list(range(3, 7))), strict=True):
        fresh = HierarchicalSegmenter(n_clusters=k, exact_max=500, n_micro=300).fit(X)
        np.testing.assert_array_equal(cut.labels_, fresh.labels_)
        cut._finish_geometry(X)
        np.testing.assert_allclose(cut.cluster_centers_, fresh.cluster_centers_)
        assert cut.outlier_distance_ == pytest.approx(fresh.outlier_distance_)
    selector = SelectK(family, (3, 6)).fit(X)
    assert selector.n_clusters_ == 5 and hasattr(selector.best_estimator_, "cluster_centers_")


def test_compressed_tree_reports_its_agreement_with_exact_trees(blobs):
    X, _ = blobs
    seg = HierarchicalSegmenter(n_clusters=5, exact_max=500, n_micro=300).fit(X)
    d = seg.diagnostics(X)
    assert d["hierarchical_exact"] == 0.0
    # separated blobs: the compressed tree finds what exact trees find
    assert d["exact_agreement_ari"] >= 0.95 and d["exact_self_agreement_ari"] >= 0.95


@pytest.mark.parametrize("exact_max", [100_000, 500])
def test_membership_margin_equals_a_brute_force_computation(exact_max, blobs):
    """The chunked per-segment minimum against scipy's full distance matrix."""
    from scipy.spatial.distance import cdist

    X, _ = blobs
    h = HierarchicalSegmenter(n_clusters=5, exact_max=exact_max, n_micro=300).fit(X)
    new = X[:400] + np.random.default_rng(0).normal(0, 0.5, (400, X.shape[1]))
    labels, conf, _ = h.membership(new)
    seg_of_point = h._map(h.point_labels_)
    d = cdist(new, h.points_)
    per_seg = np.column_stack([d[:, seg_of_point == s].min(axis=1) for s in range(5)])
    own = per_seg[np.arange(len(new)), labels]
    per_seg[np.arange(len(new)), labels] = np.inf
    np.testing.assert_allclose(conf, np.clip(1 - own / per_seg.min(axis=1), 0, 1), atol=1e-9)
