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
