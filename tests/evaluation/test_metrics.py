"""Segmentation metrics against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustering.evaluation.metrics import (
    agreement,
    checklist_metrics,
    eta_squared,
    internal_indices,
)


def test_checklist_small_segments_and_separation():
    labels = np.array([0] * 97 + [1] * 3)
    m = checklist_metrics(labels, np.ones(100), min_share=0.05, persona_fit=0.8)
    assert m["small_segment_share"] == pytest.approx(0.03)
    assert np.isnan(m["business_separation"])  # no variance in revenue
    assert m["persona_fit"] == 0.8


@pytest.mark.parametrize("case", ["random", "nested", "identical", "one_side_single", "all_singletons",
                                  "strings"])
def test_agreement_equals_scikit_learns_ari_and_nmi(case):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(3)
    a = rng.integers(0, 6, 2000)
    b = {"random": rng.integers(-1, 4, 2000), "nested": a // 2, "identical": a.copy(),
         "one_side_single": np.zeros(2000, int), "all_singletons": np.arange(2000),
         "strings": np.array(list("ABCD"))[a % 4]}[case]
    ari, nmi = agreement(a, b)
    assert ari == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert nmi == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)


def test_eta_squared_is_the_anova_ratio():
    # groups {1, 3} and {5, 7}: SS_total 20, SS_between 16
    assert eta_squared([0, 0, 1, 1], [1.0, 3, 5, 7]) == pytest.approx(0.8)
    assert np.isnan(eta_squared([0, 1], [2.0, 2.0]))


def test_internal_indices_leave_out_unassigned_customers():
    from sklearn.datasets import make_blobs
    from sklearn.metrics import calinski_harabasz_score

    X, y = make_blobs(n_samples=600, centers=3, random_state=0)
    noisy = y.copy()
    noisy[:50] = -1
    got = internal_indices(X, noisy, 0, 0)
    assert got["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X[50:], y[50:]))
    assert np.isnan(internal_indices(X, np.zeros(600, int), 0, 0)["silhouette"])


@pytest.mark.parametrize("case", ["blobs", "sparse_ids", "singletons", "identical_points",
                                  "one_point_per_segment"])
def test_dispersion_indices_equal_scikit_learns(case):
    from sklearn.datasets import make_blobs
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    from clustering.evaluation.metrics import dispersion_indices

    X, y = make_blobs(n_samples=3000, centers=5, n_features=7, random_state=1)
    if case == "sparse_ids":  # ids with gaps, unsorted
        y = np.array([7, 2, 40, 11, 3])[y]
    elif case == "singletons":  # two segments of one customer
        y = y.copy()
        y[:2] = [5, 6]
    elif case == "identical_points":  # every customer of a segment at one point
        X = np.repeat(np.eye(7)[:3] * 5, 1000, axis=0)
        y = np.repeat([0, 1, 2], 1000)
    elif case == "one_point_per_segment":  # all but one segment a single customer
        X, y = X[:5], np.array([0, 1, 2, 3, 3])
    ch, db = dispersion_indices(X, y, chunk=1024)
    assert ch == pytest.approx(calinski_harabasz_score(X, y), rel=1e-10)
    # scikit-learn's distances expand |x - c|^2 and lose ~1e-8 where a segment is one point
    assert db == pytest.approx(davies_bouldin_score(X, y), rel=1e-7, abs=1e-12)


def test_sampled_silhouette_equals_scikit_learns_for_every_labelling_of_one_matrix():
    from sklearn.datasets import make_blobs
    from sklearn.metrics import silhouette_score

    X, y = make_blobs(n_samples=4000, centers=4, n_features=5, random_state=2)
    other = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    for labels in (y, other, y):  # the cached distances serve the second and third
        got = internal_indices(X, labels, 500, 7)["silhouette"]
        assert got == pytest.approx(silhouette_score(X, labels, sample_size=500, random_state=7),
                                    rel=1e-12)
    shifted = X + 1.0  # another matrix: new distances (same sample rows), same silhouette
    assert internal_indices(shifted, y, 500, 7)["silhouette"] == pytest.approx(
        silhouette_score(shifted, y, sample_size=500, random_state=7), rel=1e-9)
    assert internal_indices(X, y, 500, 8)["silhouette"] == pytest.approx(
        silhouette_score(X, y, sample_size=500, random_state=8), rel=1e-12)


def test_crosstab_equals_pandas_crosstab():
    import pandas as pd

    from clustering.personas.profiles import crosstab

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, 3000)
    other = np.array(["loyal", "lost", "new", None], dtype=object)[rng.integers(0, 4, 3000)]
    other[labels == 4] = None  # a segment whose customers all lack the other label
    want = pd.crosstab(pd.Series(labels, name="segment"), pd.Series(other, name="rfm"))
    got = crosstab(labels, other, "rfm")
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_index_type=False,
                                  check_column_type=False)


def test_silhouette_of_equals_scikit_learns_with_singletons_and_string_labels():
    from sklearn.metrics import pairwise_distances, silhouette_samples

    from clustering.evaluation.metrics import silhouette_of

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    D = pairwise_distances(X)
    labels = rng.choice(["gold", "loyal", "sleeping"], size=300).astype(object)
    labels[17] = "alone"  # a segment of one customer scores 0
    expected = silhouette_samples(D, labels, metric="precomputed").mean()
    assert silhouette_of(D, labels) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(silhouette_of(D, np.zeros(300, int)))


def test_dispersion_indices_beyond_the_sample_size_are_those_of_a_seeded_sample(monkeypatch):
    """Beyond DISPERSION_SAMPLE customers, Calinski-Harabasz and Davies-Bouldin come from the
    same seeded sample for every labelling, within a percent of everyone's."""
    from sklearn.datasets import make_blobs
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    from clustering.evaluation import metrics

    X, y = make_blobs(n_samples=40_000, centers=5, n_features=4, random_state=3)
    monkeypatch.setattr(metrics, "DISPERSION_SAMPLE", 10_000)
    got = internal_indices(X, y, 500, 0)
    assert got["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X, y), rel=0.02)
    assert got["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, y), rel=0.02)
    rows = metrics._DISPERSION["rows"]
    assert len(rows) == 10_000 and got["calinski_harabasz"] == pytest.approx(
        calinski_harabasz_score(X[rows], y[rows]) * (40_000 - 5) / (10_000 - 5), rel=1e-9)
    assert internal_indices(X, y, 500, 0) == got  # the same customers again


def test_segment_sizes_from_codes_count_as_value_counts_with_ties_in_order_of_appearance():
    """Sizes counted on the integer codes: the counts of ``value_counts``, the most first,
    ties in order of appearance; few and many labels, ties, missing labels, integer labels."""
    from clustering.evaluation.metrics import Segmentation, int_codes

    rng = np.random.default_rng(5)
    for trial in range(40):
        n, k = int(rng.integers(0, 300)), int(rng.integers(1, 30))
        labels = np.array([f"s{i}" for i in rng.integers(0, k, n)], dtype=object)
        if trial % 3 == 0:
            labels[rng.random(n) < 0.1] = None
        if trial % 5 == 0:
            labels = rng.integers(-1, k, n)
        sizes = Segmentation("b", labels, {}, int_codes(labels)).sizes()
        assert sizes.to_dict() == pd.Series(labels, dtype=object).value_counts().to_dict()
        appearance = list(dict.fromkeys(x for x in labels.tolist() if x is not None))
        assert list(sizes.index) == sorted(appearance, key=lambda x: -sizes[x])
