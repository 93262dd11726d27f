"""k-means, bisecting k-means and Gaussian mixtures trained by Spark MLlib, scored without Spark.

A segmenter here learns on a Spark DataFrame of feature vectors (``fit_frame``: the
distributed path, nothing collected but the centres and the cluster sizes) or on a matrix
(``fit``: the matrix becomes a DataFrame first). Customers are then assigned with numpy, so
the saved model needs no Spark to score and ``predict`` reproduces the training assignment.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from clustering.segmenters.base import Segmenter, check_k, nearest_center
from clustering.segmenters.centroid import GaussianMixtureSegmenter


def active_or_new_session(master: str):
    """The active Spark session (the engine's, with its master and settings), else a new one
    on ``master``."""
    from pyspark.sql import SparkSession

    from clustering.spark.features import spark_session

    return SparkSession.getActiveSession() or spark_session(master)


def vector_frame(spark, X: np.ndarray, shift: float = 0.0):
    """A Spark DataFrame with the rows of ``X`` (plus ``shift``) in a ``features`` vector column."""
    from pyspark.ml.functions import array_to_vector

    return spark.createDataFrame(pd.DataFrame({"f": list(np.asarray(X) + shift)})).select(
        array_to_vector("f").alias("features"))


class _MLlibSegmenter(Segmenter):
    """What the MLlib families share: fit on a DataFrame, finish from MLlib's cluster sizes."""

    #: added to every coordinate before MLlib sees it (see SparkKMeansSegmenter)
    shift: float = 0.0

    def _estimator(self, k: int):
        raise NotImplementedError

    def _keep(self, fitted, k: int) -> None:
        """Keep what ``_raw_predict`` needs from the fitted MLlib model."""
        raise NotImplementedError

    def _fit_raw(self, X):
        k = check_k(self.n_clusters, len(X))
        spark = active_or_new_session(self.master)
        self._keep(self._best_of_starts(vector_frame(spark, X, self.shift), k), k)

    def _best_of_starts(self, frame, k: int):
        """The best of ``n_init`` MLlib fits from seeds ``random_state``, +1, ... (lowest
        within-cluster cost; highest log-likelihood for mixtures): MLlib starts once."""
        best, best_score = None, None
        for i in range(max(int(getattr(self, "n_init", 1)), 1)):
            est = self._estimator(k).setSeed(int(self.random_state) + i)
            fitted = est.fit(frame)
            s = self._fit_score(fitted)
            if best is None or s > best_score:
                best, best_score = fitted, s
        return best

    def _fit_score(self, fitted) -> float:
        return -float(fitted.summary.trainingCost)

    def fit_frame(self, frame, sample: np.ndarray):
        """Fit on ``frame`` (a ``features`` vector column, already shifted by ``shift``) and
        finish from the sizes MLlib counted on all of it; ``sample`` (rows of the same
        matrix, unshifted) sets the outlier cut-off and ``labels_``."""
        k = int(self.n_clusters)
        fitted = self._best_of_starts(frame, k)
        self._keep(fitted, k)
        sizes = np.zeros(k, dtype=np.int64)
        got = np.asarray(fitted.summary.clusterSizes, dtype=np.int64)
        sizes[:len(got)] = got
        self.training_sizes_ = sizes
        order = np.lexsort((np.arange(k), -sizes))
        self.mapping_ = np.empty(k, dtype=int)
        self.mapping_[order] = np.arange(k)
        self.n_clusters_ = int((sizes > 0).sum())
        self.cluster_centers_ = self._component_means()[order[:self.n_clusters_]]
        sample = np.asarray(sample, dtype=np.float64)
        self.labels_ = self.predict(sample)
        self._finish_outliers(sample)
        return self

    def _component_means(self) -> np.ndarray:
        raise NotImplementedError

    def _finish_outliers(self, sample: np.ndarray) -> None:
        d1 = self._distances(sample)[np.arange(len(sample)), np.maximum(self.labels_, 0)]
        self.outlier_distance_ = float(np.quantile(d1, 0.999)) if len(d1) else 0.0


class SparkKMeansSegmenter(_MLlibSegmenter):
    """k-means or bisecting k-means (divisive hierarchical) trained by Spark MLlib.

    MLlib learns the centres on a Spark DataFrame in the active session (``engine=spark``
    starts it with ``engine.master``; otherwise one is started on ``master``); customers are
    then assigned to the nearest centre. (Bisecting k-means assigns through its tree; the
    nearest leaf centre agrees with it for all but borderline customers.)
    """

    def __init__(self, n_clusters: int = 8, bisecting: bool = False, max_iter: int = 50,
                 n_init: int = 1, master: str = "local[2]", random_state: int = 0,
                 progress: Callable[[str], None] | None = None):
        self.n_clusters = n_clusters
        self.bisecting = bisecting
        self.max_iter = max_iter
        self.n_init = n_init
        self.master = master
        self.random_state = random_state
        self.progress = progress

    @property
    def shift(self) -> float:
        # MLlib's bisecting split perturbs the parent centre in proportion to its norm: on
        # standardised data the root centre is exactly 0 and nothing ever splits. Clustering
        # is translation invariant, so the data is shifted and the centres shifted back.
        return 1.0 if self.bisecting else 0.0

    def _estimator(self, k: int):
        from pyspark.ml.clustering import BisectingKMeans
        from pyspark.ml.clustering import KMeans as SparkKMeans

        cls = BisectingKMeans if self.bisecting else SparkKMeans
        return cls(k=k, seed=self.random_state, maxIter=self.max_iter)

    def _keep(self, fitted, k: int) -> None:
        self.centers_ = np.array(fitted.clusterCenters()) - self.shift

    def _component_means(self) -> np.ndarray:
        return self.centers_

    def _n_components(self) -> int:
        return len(self.centers_)

    def _raw_predict(self, X):
        return nearest_center(X, self.centers_)


class SparkGaussianMixtureSegmenter(_MLlibSegmenter, GaussianMixtureSegmenter):
    """A Gaussian mixture (full covariances) trained by Spark MLlib's EM; the fitted weights,
    means and covariances become a scikit-learn ``GaussianMixture``, which scores (soft
    membership, log-likelihood outliers) exactly as the local ``gmm`` family does."""

    def __init__(self, n_clusters: int = 8, max_iter: int = 100, tol: float = 0.01,
                 n_init: int = 1, master: str = "local[2]", random_state: int = 0,
                 progress: Callable[[str], None] | None = None):
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.master = master
        self.random_state = random_state
        self.progress = progress

    covariance_type = "full"

    def _fit_score(self, fitted) -> float:
        return float(fitted.summary.logLikelihood)

    def _estimator(self, k: int):
        from pyspark.ml.clustering import GaussianMixture

        return GaussianMixture(k=k, seed=self.random_state, maxIter=self.max_iter, tol=self.tol)

    def _keep(self, fitted, k: int) -> None:
        from sklearn.mixture import GaussianMixture
        from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

        g = fitted.gaussians
        means = np.array([gi.mean.toArray() for gi in g])
        covs = np.array([gi.cov.toArray() for gi in g])
        # MLlib regularises nothing: a degenerate direction gets scikit-learn's default floor
        covs += 1e-6 * np.eye(means.shape[1])[None]
        gm = GaussianMixture(n_components=k, covariance_type="full", random_state=self.random_state)
        gm.weights_ = np.asarray(fitted.weights, dtype=np.float64)
        gm.means_, gm.covariances_ = means, covs
        gm.precisions_cholesky_ = _compute_precision_cholesky(covs, "full")
        gm.precisions_ = np.array([c @ c.T for c in gm.precisions_cholesky_])
        gm.converged_, gm.n_iter_, gm.lower_bound_ = True, self.max_iter, float("nan")
        gm.n_features_in_ = means.shape[1]
        self.model_ = gm
        self.fit_scores_ = {}

    def _component_means(self) -> np.ndarray:
        return self.model_.means_

    def _finish_outliers(self, sample: np.ndarray) -> None:
        super()._finish_outliers(sample)
        self.outlier_loglik_ = float(np.quantile(self.model_.score_samples(sample), 0.001))

    def _n_components(self) -> int:
        return int(self.model_.n_components)

    def _raw_predict(self, X):
        return self.model_.predict(X)
