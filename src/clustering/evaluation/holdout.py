"""Future validation: does a segmentation made before a date separate what happens after it?

Calibration features are built as of a split date; the hold-out is the ``horizon_days`` after
it. For every segment: the hold-out repeat-purchase rate and mean spend. Overall:

auc_repeat
    ROC AUC of "buys again in the hold-out" when each customer is scored by their segment's
    hold-out repeat rate (0.5 = segments say nothing about who comes back, 1 = perfectly).
eta2_spend
    Share of the variance of hold-out spend explained by the segments (between-segment sum of
    squares / total sum of squares), 0..1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import clone

from clustering.errors import DataError
from clustering.evaluation.metrics import eta_squared
from clustering.features.customer import CustomerSample
from clustering.graph import map_side_by_side

#: a diagnostic: the calibration clusters are fitted on at most this many customers
CALIBRATION_FIT_MAX = 200_000
#: ... and k-means' starts race on at most this many of them, the best refined on all (the
#: model's own fit races on 200,000 of a million: the same ratio)
CALIBRATION_RACE = 50_000
#: beyond twice this many buyers, the calibration pass (features as of the split date and the
#: hold-out outcomes) covers a seeded 1-in-m sample of the customers, m = buyers // this: 250k
#: to 375k of the buyers, where the hold-out AUC's standard error is about 0.001 (the pass took
#: 6.5 s and 300 MB for a million). The sample hashes ids with DuckDB's hash(): another DuckDB
#: version may draw another sample (and, at the margin, choose another k)
CALIBRATION_CUSTOMERS = 250_000


def calibration_sample(n_customers: int, seed: int) -> CustomerSample | None:
    """The customers the calibration pass covers (``n_customers``: the buyers at the
    snapshot): all of them up to twice ``CALIBRATION_CUSTOMERS``, else a seeded 1-in-m sample
    of the customers, m = n_customers // ``CALIBRATION_CUSTOMERS``."""
    modulus = n_customers // CALIBRATION_CUSTOMERS
    return CustomerSample(modulus, seed) if modulus >= 2 else None
#: choosing k by future separation fits one model per k: on at most this many customers
FUTURE_CURVE_FIT_MAX = 50_000


def holdout_outcomes(
    con: duckdb.DuckDBPyConnection, customer_ids: pd.Series, split: dt.date, horizon_days: int,
    sample: CustomerSample | None = None,
) -> pd.DataFrame:
    """Per customer: bought again in ``[split, split + horizon)`` and gross spend there
    (``sample``: the ids are that sample's, the other customers' lines are not read)."""
    end = split + dt.timedelta(days=horizon_days)
    out = con.execute(
        f"""SELECT customer_id, count(DISTINCT order_id) AS holdout_orders,
                  sum(amount) AS holdout_spend
           FROM transactions
           WHERE ts >= $split::TIMESTAMP AND ts < $end::TIMESTAMP AND amount > 0 AND NOT is_return
             {f"AND {sample.where()}" if sample else ""}
           GROUP BY customer_id""",
        {"split": split, "end": end},
    ).df()
    return outcome_frame(customer_ids, out)


def outcome_frame(customer_ids: pd.Series, per_buyer: pd.DataFrame) -> pd.DataFrame:
    """Every calibration customer with their hold-out orders and spend (0 when they did not
    buy) from the per-buyer aggregate of either engine."""
    frame = customer_ids.reset_index(drop=True).rename("customer_id").to_frame()
    frame = frame.merge(per_buyer, on="customer_id", how="left")
    frame["holdout_orders"] = frame["holdout_orders"].fillna(0).astype(int)
    frame["holdout_spend"] = frame["holdout_spend"].fillna(0.0).astype(float)
    frame["bought_again"] = frame["holdout_orders"] > 0
    return frame


def grouped_auc(score: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC when every customer of a group has the group's ``score``: from per-group counts
    of positives and negatives (ties count one half), equal to roc_auc_score on the customers
    without sorting a million of them."""
    order = pd.DataFrame({"s": score, "p": positives, "n": negatives}).groupby("s").sum()
    p, n = order["p"].to_numpy(float), order["n"].to_numpy(float)
    below = np.concatenate([[0.0], np.cumsum(n)[:-1]])  # negatives with a strictly lower score
    return float((p * (below + 0.5 * n)).sum() / (p.sum() * n.sum()))


def future_separation(
    labels: np.ndarray, bought_again: np.ndarray, spend: np.ndarray
) -> tuple[dict[str, float], pd.DataFrame]:
    """Overall metrics and the per-segment hold-out table of one segmentation (segments in
    sorted order; customers without a label count in no segment's row)."""
    labels = np.asarray(labels)
    again = np.asarray(bought_again, bool)
    spend = np.asarray(spend, float)
    codes, uniques = pd.factorize(labels, sort=True)  # hashed: no groupby of a million rows
    keep = codes >= 0
    counts = np.bincount(codes[keep], minlength=len(uniques))
    pos = np.bincount(codes[keep], weights=again[keep], minlength=len(uniques))
    table = pd.DataFrame({"segment": uniques, "customers": counts,
                          "holdout_repeat_rate": pos / counts,
                          "holdout_mean_spend": np.bincount(codes[keep], weights=spend[keep],
                                                            minlength=len(uniques)) / counts})
    auc = (grouped_auc(table["holdout_repeat_rate"].to_numpy(), pos, counts - pos)
           if 0 < again.sum() < len(again) else float("nan"))
    eta2 = eta_squared(labels, spend)
    return {"future_auc_repeat": auc, "future_eta2_spend": eta2}, table


def future_validation(
    engine, snapshot: dt.date, days: int, model, columns: list[str],
    baselines: dict[str, Callable[[], Any]], seed: int, say: Callable[[str], None] = print,
    sample: CustomerSample | None = None,
) -> dict[str, tuple[dict[str, float], pd.DataFrame]]:
    """Refit the clusters (same parameters, same k) and the baselines as of snapshot - days
    and score what customers did in the hold-out; {segmentation name: (metrics, per-segment
    table)}. ``baselines`` maps a name to a factory of an unfitted baseline estimator.

    Validation is a diagnostic: a segmentation that cannot be refitted on the earlier data
    (too few customers for HDBSCAN, no positive revenue for ABC, ...) is reported, not fatal.
    It is the calibration pass's last use: the engine forgets it once its buyers are taken.
    With ``sample`` (:func:`calibration_sample`), the pass covers those customers only.
    """
    split = snapshot - dt.timedelta(days=days)
    try:
        buyers = engine.features_at(split, sample).buyers
        out = engine.outcomes(buyers["customer_id"], split, days, sample)
    except DataError as exc:
        say(f"future validation skipped: {exc}")
        return {}
    finally:
        engine.release(split)  # 300 MB at a million customers
    k = int(getattr(model[-1], "n_clusters_", 2))
    if len(buyers) < max(2 * k, 20):
        say(f"future validation skipped: only {len(buyers)} buyers before {split}")
        return {}
    cal_model = clone(model)
    step, params = cal_model.steps[-1][0], cal_model[-1].get_params()
    if "n_clusters" in params:
        cal_model.set_params(**{f"{step}__n_clusters": k})
    if params.get("fit_sample"):  # k-means' starts race on fewer customers, as in the model's fit
        cal_model.set_params(**{f"{step}__fit_sample": min(params["fit_sample"],
                                                           CALIBRATION_RACE)})
    labelings = {}
    try:
        X_cal = buyers[columns]
        if len(X_cal) > CALIBRATION_FIT_MAX:  # fit on a sample, label everyone
            cal_model.fit(X_cal.sample(CALIBRATION_FIT_MAX, random_state=seed))
            labelings["clusters"] = np.asarray(cal_model.predict(X_cal))
        else:
            labelings["clusters"] = cal_model.fit(X_cal)[-1].labels_
    except DataError as exc:
        say(f"future validation of the clusters skipped: {exc}")
    for name, make in baselines.items():
        try:
            labelings[name] = make().fit(buyers).labels_
        except DataError as exc:
            say(f"future validation of {name} skipped: {exc}")
    say(f"calibration before {split}: {len(buyers):,} buyers{f' ({sample})' if sample else ''}, "
        f"{out['bought_again'].mean():.1%} bought again in the next {days} days")
    return {name: future_separation(lab, out["bought_again"], out["holdout_spend"])
            for name, lab in labelings.items()}


def future_k_curve(
    engine, snapshot: dt.date, days: int, preprocessor, family_at: Callable[[int], Any],
    ks: list[int], columns: list[str], seed: int, say: Callable[[str], None] = print,
    sample: CustomerSample | None = None,
) -> pd.DataFrame:
    """The hold-out separation of every k: segments fitted as of snapshot - days (the
    ``preprocessor`` fitted once, a fresh ``family_at(k)`` per k, on at most
    ``FUTURE_CURVE_FIT_MAX`` customers), scored on who bought again afterwards. One row per k
    with ``future_auc`` (repeat-purchase AUC) and ``future_eta2_spend``; with ``sample``, on
    those customers."""
    split = snapshot - dt.timedelta(days=days)
    buyers = engine.features_at(split, sample).buyers
    if len(buyers) < max(2 * max(ks), 20):
        raise DataError(f"model.criterion=future_auc: only {len(buyers)} buyers before {split} "
                        "(snapshot - evaluate.holdout_days); choose another criterion")
    out = engine.outcomes(buyers["customer_id"], split, days, sample)
    if out["bought_again"].nunique() < 2:
        raise DataError(f"model.criterion=future_auc: every calibration customer did "
                        f"{'' if out['bought_again'].all() else 'not '}buy again after {split}")
    X = buyers[columns]
    fit_on = X.sample(FUTURE_CURVE_FIT_MAX, random_state=seed) if len(X) > FUTURE_CURVE_FIT_MAX else X
    pre = clone(preprocessor).fit(fit_on)
    # row-major once: scikit-learn's k-means copies a column-major matrix at every call
    Xf, Xall = (np.ascontiguousarray(pre.transform(x)) for x in (fit_on, X))

    positives = int(out["bought_again"].sum())

    def score(k: int) -> dict[str, float]:
        labels = np.asarray(family_at(k).fit(Xf).predict(Xall))
        m, _ = future_separation(labels, out["bought_again"], out["holdout_spend"])
        return {"k": k, "future_auc": m["future_auc_repeat"],
                "future_auc_se": auc_standard_error(m["future_auc_repeat"], positives,
                                                    len(out) - positives),
                "future_eta2_spend": m["future_eta2_spend"]}

    rows = map_side_by_side(score, ks)  # each k's fit is the same on any number of cores
    for r in rows:
        say(f"k={r['k']}: future_auc={r['future_auc']:.4f} (segments as of {split})")
    se = max(r["future_auc_se"] for r in rows)
    say(f"k curve: fitted on {len(fit_on):,} and scored on {len(X):,} calibration customers; "
        f"AUC standard error at most {se:.4f}, against the {FUTURE_AUC_TOLERANCE} within which "
        "the fewer segments win")
    return pd.DataFrame(rows)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an ROC AUC from ``positives`` and
    ``negatives``: the precision the k curve's decision has on the customers it scores."""
    if not (np.isfinite(auc) and positives and negatives):
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc ** 2)
           + (negatives - 1) * (q2 - auc ** 2)) / (positives * negatives)
    return float(np.sqrt(max(var, 0.0)))


#: hold-out AUCs closer than this are within the noise of one hold-out (its standard error is
#: 0.002-0.004 at 10,000-20,000 customers): prefer the fewer segments
FUTURE_AUC_TOLERANCE = 0.005


def choose_future_k(curve: pd.DataFrame, tolerance: float = FUTURE_AUC_TOLERANCE) -> int:
    """The smallest k whose hold-out repeat-purchase AUC is within ``tolerance`` of the best."""
    good = curve[curve["future_auc"] >= curve["future_auc"].max() - tolerance]
    return int(good["k"].min())



#: the baselines in words, for the verdict
BASELINE_WORDS = {"rfm": "RFM", "abc_xyz": "ABC/XYZ", "bcg": "BCG growth matrix",
                  "lifecycle": "recency lifecycle", "value_class": "value class",
                  "value_potential": "value vs potential", "vip": "VIP"}


def verdict(future: dict[str, tuple[dict[str, float], pd.DataFrame]],
            metric: str = "future_auc_repeat") -> str | None:
    """Whether the clusters or a heuristic baseline separate the hold-out future better, in one
    sentence with both numbers (None without a hold-out). An HDBSCAN run scored 0.721 against the
    recency lifecycle's 0.871 and nothing said so."""
    clusters = future.get("clusters", ({}, None))[0].get(metric)
    if clusters is None or not np.isfinite(clusters):
        return None
    scores = {b: float(m[0][metric]) for b, m in future.items()
              if b != "clusters" and np.isfinite(m[0].get(metric, np.nan))}
    if not scores:
        return f"Hold-out: the segments separate who buys again at {metric} {clusters:.3f}."
    best = max(scores, key=scores.get)
    name = BASELINE_WORDS.get(best, best)
    if scores[best] > clusters:
        return (f"The {name} baseline separates who buys again better than these segments "
                f"({metric} {scores[best]:.3f} vs {clusters:.3f} on the hold-out): prefer it "
                "for targeting, or try another model or k.")
    return (f"These segments separate who buys again better than every baseline ({metric} "
            f"{clusters:.3f} on the hold-out; best baseline: {name}, {scores[best]:.3f}).")
