"""Segmenters: scikit-learn estimators that assign customers to segments.

============ ===============================================================================
module       holds
============ ===============================================================================
base         criteria, nearest centre, size-ordered ids, the base estimator (membership,
             diagnostics)
selection    ``SelectK`` (the k loop, its curve and stability) and ``stability_ari``
centroid     k-means, mini-batch k-means, Gaussian mixture, fuzzy c-means
hierarchical Ward / average / complete, exact or over weighted micro-clusters
density      HDBSCAN and the assignment of new customers to its segments
mixed        k-prototypes: numeric features plus categorical attributes
spark        k-means, bisecting k-means and Gaussian mixtures trained by Spark MLlib
============ ===============================================================================

:func:`make_segmenter` builds a family by its configured name, wrapped in ``SelectK`` when k is
to be chosen over a range.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from clustering.errors import ConfigError
from clustering.segmenters.base import CRITERIA, Segmenter, nearest_center, size_order
from clustering.segmenters.centroid import (
    FuzzyCMeansSegmenter,
    GaussianMixtureSegmenter,
    KMeansSegmenter,
)
from clustering.segmenters.density import HDBSCANSegmenter
from clustering.segmenters.hierarchical import HierarchicalSegmenter
from clustering.segmenters.mixed import KPrototypesSegmenter
from clustering.segmenters.selection import SelectK, stability_ari


class _Families(dict):
    """Families by name. Spark's are given by import path (``module:Class``) and loaded on
    first use, as plugins are: they live in ``spark/``, build on this package's base classes,
    and pyspark stays unimported until a Spark family is asked for."""

    def __getitem__(self, name: str) -> type:
        family = super().__getitem__(name)
        if isinstance(family, str):
            module, _, cls = family.partition(":")
            family = getattr(importlib.import_module(module), cls)
            super().__setitem__(name, family)
        return family


SEGMENTERS: dict[str, type] = _Families({
    "kmeans": KMeansSegmenter,
    "gmm": GaussianMixtureSegmenter,
    "fuzzy_cmeans": FuzzyCMeansSegmenter,
    "hierarchical": HierarchicalSegmenter,
    "hdbscan": HDBSCANSegmenter,
    "kprototypes": KPrototypesSegmenter,
    "spark_kmeans": "clustering.spark.segmenter:SparkKMeansSegmenter",
    "spark_gmm": "clustering.spark.segmenter:SparkGaussianMixtureSegmenter",
})

#: families whose k curve is computed on a sample of this many customers, the chosen k then
#: refitted on everyone (the hierarchical tree is built once for every k, HDBSCAN has no k)
SELECTION_SAMPLE: dict[str, int] = {"kmeans": 200_000, "gmm": 200_000, "fuzzy_cmeans": 200_000,
                                    "kprototypes": 200_000,
                                    "spark_kmeans": 200_000, "spark_gmm": 200_000}


def build(registry: dict[str, type], name: str, params: dict[str, Any], what: str):
    """``registry[name](**params)``; an unknown name or a misspelt option is a ConfigError."""
    if name not in registry:
        raise ConfigError(f"unknown {what} '{name}'; choose one of {sorted(registry)}")
    try:
        return registry[name](**params)
    except TypeError as exc:
        raise ConfigError(f"{what} '{name}': {exc}") from None


def takes_k(name: str) -> bool:
    """Whether the family is given a number of segments (HDBSCAN finds its own)."""
    return "n_clusters" in SEGMENTERS[name]().get_params() if name in SEGMENTERS else True


def make_segmenter(
    name: str, k: int | None = None, k_range: tuple[int, int] | None = None,
    criterion: str = "calinski_harabasz", stability_runs: int = 0, sample_size: int = 5_000,
    random_state: int = 0, progress: Callable[[str], None] | None = None, **params: Any,
) -> Segmenter | SelectK:
    """The family ``name`` with ``params``; with ``k`` None and a ``k_range`` (and no distance
    threshold), wrapped in :class:`SelectK`. ``selection_sample`` in ``params`` overrides the
    family's default sample for the k curve."""
    selection_sample = params.pop("selection_sample", SELECTION_SAMPLE.get(name))
    common = {"random_state": random_state, "progress": progress}
    if not takes_k(name):
        return build(SEGMENTERS, name, common | params, "model")
    if params.get("distance_threshold") is not None and k is None:
        return build(SEGMENTERS, name, common | params | {"n_clusters": None}, "model")
    if k is not None or k_range is None:
        return build(SEGMENTERS, name, common | params | ({"n_clusters": k} if k else {}), "model")
    family = build(SEGMENTERS, name, common | params | {"n_clusters": int(k_range[0])}, "model")
    return SelectK(family, tuple(k_range), criterion, stability_runs, selection_sample,
                   sample_size, random_state, progress)


__all__ = ["CRITERIA", "SEGMENTERS", "FuzzyCMeansSegmenter", "GaussianMixtureSegmenter",
           "HDBSCANSegmenter", "HierarchicalSegmenter", "KMeansSegmenter", "KPrototypesSegmenter",
           "SelectK", "Segmenter",
           "build", "make_segmenter", "nearest_center", "size_order", "stability_ari"]
