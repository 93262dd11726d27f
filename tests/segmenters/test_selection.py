"""Choosing k: SelectK's curve, criteria and stability."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from clustering.errors import ConfigError
from clustering.segmenters import KMeansSegmenter, SelectK, make_segmenter, stability_ari


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


@pytest.mark.parametrize(("name", "criterion"), [("kmeans", "bic"), ("gmm", "fpc"),
                                                 ("hierarchical", "bic")])
def test_a_criterion_the_model_does_not_compute_is_refused(name, criterion, blobs):
    X, _ = blobs
    with pytest.raises(ConfigError, match=f"criterion '{criterion}' is not computed"):
        make_segmenter(name, k_range=(3, 5), criterion=criterion).fit(X[:500])
    # a fixed k needs no criterion
    assert make_segmenter(name, n_clusters=3, criterion=criterion).fit(X[:500]).n_clusters_ == 3


def test_k_curve_carries_the_stability_of_every_k():
    X, _ = make_blobs(n_samples=1500, centers=5, cluster_std=0.6, random_state=3)
    seg = SelectK(KMeansSegmenter(), (3, 7), stability_runs=3).fit(X)
    stab = seg.k_curve_.set_index("k")["stability"]
    assert list(stab.index) == [3, 4, 5, 6, 7] and stab.between(-1, 1).all()
    assert stab[5] > 0.95  # the planted k refits the same way every time
    assert "stability" not in SelectK(KMeansSegmenter(), (3, 7)).fit(X).k_curve_


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
    # uniform noise has no structure to find again: measured 0.27 (blobs: 1.0)
    assert stability_ari(KMeansSegmenter(n_clusters=5), U) < 0.5


def test_same_seed_same_labels():
    X, _ = make_blobs(n_samples=800, centers=4, random_state=2)
    a = SelectK(KMeansSegmenter(random_state=5), (2, 6), random_state=5).fit(X).labels_
    b = SelectK(KMeansSegmenter(random_state=5), (2, 6), random_state=5).fit(X).labels_
    np.testing.assert_array_equal(a, b)


def test_selection_sample_chooses_k_on_a_sample_and_refits_everyone(blobs):
    X, _ = blobs
    seg = SelectK(KMeansSegmenter(), (3, 7), selection_sample=1000).fit(X)
    assert seg.n_clusters_ == 5 and len(seg.labels_) == len(X)
    full = KMeansSegmenter(n_clusters=5).fit(X)
    np.testing.assert_array_equal(seg.labels_, full.labels_)  # the chosen k, fitted on everyone
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)


def test_the_family_fitted_by_selectk_is_a_plain_family(blobs):
    """What the saved model keeps: the fitted family with its k, no selection machinery."""
    X, _ = blobs
    seg = make_segmenter("kmeans", k_range=(3, 6), progress=print).fit(X)
    best = seg.best_estimator_
    assert isinstance(best, KMeansSegmenter) and best.n_clusters == 5 and best.progress is None


def test_hdbscan_takes_no_k():
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_segmenter("hdbscan", n_clusters=4)
    assert not isinstance(make_segmenter("hdbscan", k_range=(3, 6)), SelectK)
