"""k-means and bisecting k-means trained by Spark MLlib, scored without Spark."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from clustering.segmenters.base import Segmenter, check_k, nearest_center


def active_or_new_session(master: str):
    """The active Spark session (the engine's, with its master and settings), else a new one
    on ``master``."""
    from pyspark.sql import SparkSession

    from clustering.spark_engine import spark_session

    return SparkSession.getActiveSession() or spark_session(master)


class SparkKMeansSegmenter(Segmenter):
    """k-means or bisecting k-means (divisive hierarchical) trained by Spark MLlib.

    MLlib learns the centres on a Spark DataFrame in the active session (``engine=spark``
    starts it with ``engine.master``; otherwise one is started on ``master``); customers are
    then assigned to the nearest centre with numpy, so the saved model needs no Spark to score
    and ``predict`` reproduces ``labels_``. (Bisecting k-means assigns through its tree; the
    nearest leaf centre agrees with it for all but borderline customers.)
    """

    def __init__(self, n_clusters: int = 8, bisecting: bool = False, max_iter: int = 50,
                 master: str = "local[2]", random_state: int = 0,
                 progress: Callable[[str], None] | None = None):
        self.n_clusters = n_clusters
        self.bisecting = bisecting
        self.max_iter = max_iter
        self.master = master
        self.random_state = random_state
        self.progress = progress

    def _fit_raw(self, X):
        from pyspark.ml.clustering import BisectingKMeans
        from pyspark.ml.clustering import KMeans as SparkKMeans
        from pyspark.ml.functions import array_to_vector

        k = check_k(self.n_clusters, len(X))
        spark = active_or_new_session(self.master)
        # MLlib's bisecting split perturbs the parent centre in proportion to its norm: on
        # standardised data the root centre is exactly 0 and nothing ever splits. Clustering
        # is translation invariant, so the data is shifted and the centres shifted back.
        shift = 1.0
        df = spark.createDataFrame(pd.DataFrame({"f": list(X + shift)})).select(
            array_to_vector("f").alias("features"))
        algo = (BisectingKMeans(k=k, seed=self.random_state, maxIter=self.max_iter)
                if self.bisecting else
                SparkKMeans(k=k, seed=self.random_state, maxIter=self.max_iter))
        self.centers_ = np.array(algo.fit(df).clusterCenters()) - shift

    def _n_components(self) -> int:
        return len(self.centers_)

    def _raw_predict(self, X):
        return nearest_center(X, self.centers_)
