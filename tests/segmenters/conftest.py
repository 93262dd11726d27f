"""Shared data of the segmenter tests."""

from __future__ import annotations

import pytest
from sklearn.datasets import make_blobs


@pytest.fixture(scope="module")
def blobs():
    """Five well-separated blobs in six dimensions, 3,000 customers."""
    X, y = make_blobs(n_samples=3000, centers=5, n_features=6, cluster_std=1.2, random_state=3)
    return X, y
