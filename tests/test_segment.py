"""Segmenters: a common interface, planted segments recovered, predict reproduces labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from clustering.errors import ConfigError, DataError
from clustering.segment import (
    SEGMENTERS,
    HierarchicalSegmenter,
    KMeansSegmenter,
    make_segmenter,
    stability_ari,
    weighted_linkage,
)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=3000, centers=5, n_features=6, cluster_std=1.2, random_state=3)
    return X, y


@pytest.mark.parametrize("name", [*sorted(SEGMENTERS), "minibatch_kmeans"])
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


@pytest.mark.parametrize(("name", "criterion"), [("kmeans", "calinski_harabasz"),
                                                 ("kmeans", "silhouette"),
                                                 ("kmeans", "davies_bouldin"),
                                                 ("gmm", "bic"),
                                                 ("fuzzy_cmeans", "fpc"),
                                                 ("hierarchical", "calinski_harabasz"),
                                                 ("kmeans", "stability")])
def test_k_selection_picks_the_planted_k_on_clean_blobs(name, criterion):
    X, _ = make_blobs(n_samples=1500, centers=5, cluster_std=0.6, random_state=3)
    seg = make_segmenter(name, k_range=(2, 8), criterion=criterion, random_state=0).fit(X)
    assert seg.n_clusters_ == 5, seg.k_curve_
    assert list(seg.k_curve_["k"]) == list(range(2, 9))


@pytest.mark.parametrize("backend", ["hdbscan", "fast_hdbscan"])
def test_hdbscan_noise_is_explicit_and_predicted_again(backend):
    rng = np.random.default_rng(0)
    X, _ = make_blobs(n_samples=2000, centers=3, n_features=2, cluster_std=0.4, random_state=1)
    noise = rng.uniform(-15, 15, size=(150, 2))
    Xn = np.vstack([X, noise])
    seg = make_segmenter("hdbscan", min_cluster_size=50, n_components=None, backend=backend).fit(Xn)
    assert seg.backend_ == backend
    assert seg.n_clusters_ == 3
    assert (seg.labels_[2000:] == -1).mean() > 0.8   # most uniform noise is unassigned
    assert (seg.labels_[:2000] >= 0).mean() > 0.95
    np.testing.assert_array_equal(seg.predict(Xn), seg.labels_)  # outliers included
    labels, strength, outlier = seg.membership(np.array([[100.0, 100.0]]))
    assert labels[0] == -1 and outlier[0]


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


@pytest.mark.parametrize(("name", "criterion"), [("kmeans", "bic"), ("gmm", "fpc"),
                                                 ("hierarchical", "bic")])
def test_a_criterion_the_model_does_not_compute_is_refused(name, criterion, blobs):
    X, _ = blobs
    with pytest.raises(ConfigError, match=f"criterion '{criterion}' is not computed"):
        make_segmenter(name, k_range=(3, 5), criterion=criterion).fit(X[:500])
    # a fixed k needs no criterion
    assert make_segmenter(name, n_clusters=3, criterion=criterion).fit(X[:500]).n_clusters_ == 3


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
    from clustering.plots import plot_dendrogram

    X, _ = blobs
    h = HierarchicalSegmenter(n_clusters=5, exact_max=500, n_micro=300).fit(X)
    fig = plot_dendrogram(h.tree_, 5, weights=np.bincount(h.point_map_))
    counts = [int(t.get_text().replace(",", "")) for t in fig.axes[0].get_xticklabels()]
    assert len(counts) == 30 and sum(counts) == len(X)


def test_hierarchical_cut_by_distance(blobs):
    X, _ = blobs
    seg = HierarchicalSegmenter(distance_threshold=60.0).fit(X)
    assert seg.n_clusters_ >= 2 and seg.k_curve_["k"].isna().all()


def test_k_curve_carries_the_stability_of_every_k():
    X, _ = make_blobs(n_samples=1500, centers=5, cluster_std=0.6, random_state=3)
    seg = KMeansSegmenter(k_range=(3, 7), stability_runs=3, random_state=0).fit(X)
    stab = seg.k_curve_.set_index("k")["stability"]
    assert list(stab.index) == [3, 4, 5, 6, 7] and stab.between(-1, 1).all()
    assert stab[5] > 0.95  # the planted k refits the same way every time
    assert "stability" not in KMeansSegmenter(k_range=(3, 7)).fit(X).k_curve_


def test_stability_compares_segments_not_agreement_on_noise():
    from sklearn.base import BaseEstimator

    class HalfNoise(BaseEstimator):
        """Two fixed segments; each fit leaves a different random 30% unassigned."""

        def __init__(self, n_clusters=None, progress=None):
            self.n_clusters = n_clusters
            self.progress = progress

        def fit(self, X):
            self.rng_ = np.random.default_rng(int(abs(X).sum() * 1e6) % 2**32)
            return self

        def predict(self, X):
            labels = (X[:, 0] > 0).astype(int)
            labels[self.rng_.random(len(X)) < 0.3] = -1
            return labels

    X = np.random.default_rng(1).normal(size=(2000, 2))
    assert stability_ari(HalfNoise(n_clusters=2), X) == 1.0


def test_stability_high_on_blobs_low_on_noise(blobs):
    X, _ = blobs
    assert stability_ari(KMeansSegmenter(n_clusters=5), X) > 0.95
    U = np.random.default_rng(0).uniform(size=(3000, 6))
    assert stability_ari(KMeansSegmenter(n_clusters=5), U) < 0.9


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
    with pytest.raises(ConfigError, match="unknown linkage"):
        HierarchicalSegmenter(n_clusters=2, linkage="single").fit(np.random.rand(20, 2))


@pytest.mark.parametrize("name", ["kmeans", "gmm", "fuzzy_cmeans"])
def test_fewer_distinct_points_than_k_does_not_crash(name):
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 0.0]]), 50, axis=0)
    seg = make_segmenter(name, n_clusters=5, random_state=0).fit(X)
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    labels, conf, _ = seg.membership(X)
    assert len(labels) == len(X) and np.isfinite(conf).all()


def test_density_predictor_agrees_with_hdbscans_approximate_predict():
    """Our assignment of new customers (used for both backends) against the library's own."""
    import hdbscan

    from clustering.density import DensityPredictor

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
