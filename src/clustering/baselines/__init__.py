"""Heuristic segmentations that practitioners use, as scikit-learn style estimators.

Each baseline reads the customer feature table (:mod:`clustering.features.customer`), learns its cut
points in ``fit`` (quantiles, revenue shares) and assigns named segments with ``predict``;
``labels_`` holds the training labels. Every threshold is a constructor argument whose default
is the practitioners' number from the domain notes. The classic ones (RFM, ABC-XYZ, BCG,
lifecycle, value classes) are in :mod:`.classic`, those on value and potential in :mod:`.value`.
"""

from __future__ import annotations

from clustering.baselines.base import _Baseline, quantile_scores
from clustering.baselines.classic import (
    ABC_XYZ_TIERS,
    RFM_RULES,
    ABCXYZSegmenter,
    BCGSegmenter,
    LifecycleSegmenter,
    RFMSegmenter,
    ValueClassSegmenter,
)
from clustering.baselines.value import ValuePotentialSegmenter, VIPSegmenter

__all__ = ["ABC_XYZ_TIERS", "BASELINES", "RFM_RULES", "ABCXYZSegmenter", "BCGSegmenter",
           "LifecycleSegmenter", "RFMSegmenter", "VIPSegmenter", "ValueClassSegmenter",
           "ValuePotentialSegmenter", "make_baseline", "quantile_scores"]

BASELINES: dict[str, type] = {
    "rfm": RFMSegmenter,
    "abc_xyz": ABCXYZSegmenter,
    "bcg": BCGSegmenter,
    "lifecycle": LifecycleSegmenter,
    "value_class": ValueClassSegmenter,
    "value_potential": ValuePotentialSegmenter,
    "vip": VIPSegmenter,
}


def make_baseline(name: str, **params) -> _Baseline:
    from clustering.segmenters import build

    return build(BASELINES, name, params, "baseline")

