"""The practitioners' baselines in Spark SQL, for the distributed path: the same labels as
:mod:`clustering.baselines` computes on a pandas table, with nothing per customer collected.

RFM quantile scores need the training distribution's order statistics: one aggregate query
asks ``percentile_approx`` for exactly the ranks the local scores compare against (with an
accuracy above the customer count, Spark's answer is the exact order statistic; beyond it,
within ``1 / accuracy`` of the rank). Lifecycle states are a ``CASE`` per customer.
"""

from __future__ import annotations

import math
from typing import Any

from clustering.baselines import baseline_params
from clustering.baselines.classic import RFM_RULES, LifecycleSegmenter, RFMSegmenter

#: baselines the distributed path computes; the others are reported as skipped
SPARK_BASELINES = ("rfm", "lifecycle")

#: percentile_approx accuracy: exact below this many customers, 1e-6 of the rank beyond
ACCURACY = 1_000_000


def _ranks(n_rows: int, n_scores: int) -> list[int]:
    """The ranks j_s = floor(s N / n), s = 1..n-1, that quantile scores compare against."""
    return [(s * n_rows) // n_scores for s in range(1, n_scores)]


def _order_statistics(spark, view: str, column: str, ranks: list[int], n_rows: int,
                      descending: bool = False) -> list[float]:
    """The ``ranks``-th smallest values of ``column`` (largest with ``descending``); rank 0 is
    -inf (+inf). Probabilities sit half a rank below the target, so rounding cannot move them."""
    wanted = [(n_rows + 1 - j) if descending else j for j in ranks]
    probs = [min(max((w - 0.5) / n_rows, 0.0), 1.0) for w in wanted]
    got = spark.sql(f"SELECT percentile_approx(CAST(`{column}` AS DOUBLE), array("
                    f"{', '.join(repr(p) for p in probs)}), {ACCURACY}) FROM {view}").collect()[0][0]
    edge = math.inf if descending else -math.inf
    return [edge if j <= 0 else float(v) for j, v in zip(ranks, got, strict=True)]


def _literal(x: float) -> str:
    return f"double('{'-' if x < 0 else ''}inf')" if math.isinf(x) else repr(float(x))


def rfm_columns(spark, view: str, n_rows: int, params: dict[str, Any]) -> list[str]:
    """SQL expressions for ``rfm_cell`` and ``rfm`` over ``view`` (the buyers' features), as
    :class:`clustering.baselines.classic.RFMSegmenter` labels them."""
    est = RFMSegmenter(**params)
    n, bins = int(est.n_scores), est.bins or {}
    scores = {}
    for dim, col in est.COLUMNS.items():
        edges = sorted(float(e) for e in (bins.get(dim) or []))
        if edges and dim == "recency":  # upper-inclusive bins, fewer days better
            scores[dim[0]] = (f"({len(edges) + 1} - (" + " + ".join(
                f"CASE WHEN `{col}` > {e!r} THEN 1 ELSE 0 END" for e in edges) + "))")
            continue
        if edges:
            scores[dim[0]] = "(1 + " + " + ".join(
                f"CASE WHEN `{col}` >= {e!r} THEN 1 ELSE 0 END" for e in edges) + ")"
            continue
        ranks = _ranks(n_rows, n)
        if dim == "recency":  # scored on -recency: x scores past a cut when fewer days
            cuts = _order_statistics(spark, view, col, ranks, n_rows, descending=True)
            terms = [f"CASE WHEN `{col}` < {_literal(c)} THEN 1 ELSE 0 END" for c in cuts]
        else:
            cuts = _order_statistics(spark, view, col, ranks, n_rows)
            terms = [f"CASE WHEN `{col}` > {_literal(c)} THEN 1 ELSE 0 END" for c in cuts]
        scores[dim[0]] = "(1 + " + " + ".join(terms) + ")" if terms else "1"
    whens = []
    for rule in est.rules or RFM_RULES:
        conds = [f"{scores[d]} BETWEEN {int(rule[d][0])} AND {int(rule[d][1])}"
                 for d in ("r", "f", "m") if d in rule]
        whens.append(f"WHEN {' AND '.join(conds) or 'true'} THEN '{rule['name']}'")
    cell = f"concat('R', {scores['r']}, 'F', {scores['f']}, 'M', {scores['m']})"
    return [f"{cell} AS rfm_cell", f"CASE {' '.join(whens)} ELSE 'unmatched' END AS rfm"]


def lifecycle_columns(params: dict[str, Any]) -> list[str]:
    """SQL for ``lifecycle``, as :class:`clustering.baselines.classic.LifecycleSegmenter`."""
    est = LifecycleSegmenter(**params)
    overdue = (f"coalesce(cycles_missed, 0) >= {float(est.sleeping_cycles)!r}"
               if est.sleeping_cycles else "false")
    return [f"""CASE WHEN coalesce(frequency, 0) <= 0 OR recency_days IS NULL THEN 'prospect'
        WHEN tenure_days <= {int(est.new_days)} THEN 'new'
        WHEN coalesce(frequency, 0) = 1 AND tenure_days > {int(est.new_days)} THEN 'new_churned'
        WHEN recency_days > {int(est.sleeping_days)} THEN 'closed'
        WHEN {overdue} THEN 'sleeping'
        WHEN recency_days <= {int(est.active_days)} THEN 'active'
        WHEN recency_days <= {int(est.inactive_days)} THEN 'inactive'
        ELSE 'sleeping' END AS lifecycle"""]


def baseline_frame(spark, view: str, n_rows: int, settings, enabled: list[str]):
    """``customer_id`` and the label columns of every enabled baseline the distributed path
    computes, over the buyers in ``view``; and the enabled baselines it skips."""
    cols, skipped = [], []
    for b in enabled:
        if b == "rfm":
            cols += rfm_columns(spark, view, n_rows, baseline_params(settings, b))
        elif b == "lifecycle":
            cols += lifecycle_columns(baseline_params(settings, b))
        else:
            skipped.append(b)
    return spark.sql(f"SELECT customer_id, {', '.join(cols) or 'NULL AS none'} FROM {view}"), skipped
