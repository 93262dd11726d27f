"""The segmentation stage: preprocess the buyers' features, segment them, and ask the fitted
family for its own diagnostics (stability, DBCV, agreement with an exact tree)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from clustering.config import EvaluateConfig, ModelConfig, PreprocessConfig
from clustering.features.preprocess import build_preprocessor, check_finite
from clustering.segmenters import SEGMENTERS, make_segmenter, stability_ari


def _family_params(m: ModelConfig, spark_master: str | None) -> dict:
    params = dict(m.params)
    if spark_master and "master" in SEGMENTERS[m.name]().get_params():
        params.setdefault("master", spark_master)
    return params


def preprocessor_for(numeric: list[str], categorical: list[str], pre_cfg: PreprocessConfig,
                     seed: int, potential=None):
    """The unfitted preprocessing step of the configuration; with ``potential`` (an unfitted
    :class:`clustering.features.potential.PotentialModel`) its columns are computed first, so scoring
    raw feature rows computes them too."""
    pre = build_preprocessor(numeric, categorical, pre_cfg.log_features, pre_cfg.scaler,
                             tuple(pre_cfg.winsorize) if pre_cfg.winsorize else None, seed)
    return pre if potential is None else Pipeline([("potential", potential), ("columns", pre)])


def family_at_k(model_cfg: ModelConfig, k: int, seed: int, spark_master: str | None = None):
    """An unfitted segmenter family of the configuration with ``k`` segments."""
    return make_segmenter(model_cfg.name, k=k, random_state=seed,
                          **_family_params(model_cfg, spark_master))


def fit_segmentation(
    X: pd.DataFrame, numeric: list[str], categorical: list[str], pre_cfg: PreprocessConfig,
    model_cfg: ModelConfig, eval_cfg: EvaluateConfig, seed: int, say: Callable[[str], None],
    spark_master: str | None = None, potential=None,
) -> tuple[Pipeline, np.ndarray, list[str], pd.DataFrame | None, dict[str, float]]:
    """(fitted pipeline, scaled matrix, its column names, k curve or None, metrics).
    ``spark_master``: where a Spark MLlib family starts Spark when no session is active;
    ``potential``: see :func:`preprocessor_for`."""
    m = model_cfg
    params = _family_params(m, spark_master)
    pre = preprocessor_for(numeric, categorical, pre_cfg, seed, potential)
    Xs = pre.fit_transform(X)
    names = list(pre.get_feature_names_out())
    check_finite(Xs, names, "preprocessed features")
    fitted = make_segmenter(m.name, k=m.k, k_range=(m.k_min, m.k_max), criterion=m.criterion,
                            stability_runs=eval_cfg.stability_runs,
                            sample_size=eval_cfg.silhouette_sample, random_state=seed,
                            progress=say, **params).fit(Xs)
    seg = getattr(fitted, "best_estimator_", fitted).set_params(progress=None)
    metrics = {"k": float(seg.n_clusters_)}
    runs = eval_cfg.stability_runs
    if runs > 1:
        metrics["stability_ari"] = stability_ari(seg, Xs, n_runs=runs, seed=seed)
        say(f"stability (mean ARI of {runs} refits on 80% subsamples of at most 20,000 "
            f"customers): {metrics['stability_ari']:.3f}")
    metrics |= seg.diagnostics(Xs, seed=seed)
    if "exact_agreement_ari" in metrics:
        say(f"agreement with the exact tree on a {int(metrics['exact_agreement_sample']):,}"
            f"-customer sample: ARI {metrics['exact_agreement_ari']:.3f} (the exact tree on "
            f"another sample: {metrics['exact_self_agreement_ari']:.3f})")
    labels = seg.labels_
    say(f"{seg.n_clusters_} segments" + (f", {int((labels < 0).sum()):,} customers unassigned"
                                         if (labels < 0).any() else ""))
    curve = getattr(fitted, "k_curve_", None)
    return Pipeline([("preprocess", pre), ("segment", seg)]), Xs, names, curve, metrics
