"""The practitioners' baselines in Spark SQL, for the distributed path: the same labels as
:mod:`clustering.baselines` computes on a pandas table, with nothing per customer collected.

RFM quantile scores and XYZ terciles need the training distribution's order statistics: one
aggregate query asks ``percentile_approx`` for exactly the ranks the local code uses (with an
accuracy above the customer count, Spark's answer is the exact order statistic; beyond it,
within ``1 / accuracy`` of the rank). ABC's value levels are found exactly: quantiles bracket
them, the distinct values inside the bracket settle them. Lifecycle states are a ``CASE``.
"""

from __future__ import annotations

import math
from typing import Any

from clustering.baselines.classic import (
    RFM_RULES,
    ABCXYZSegmenter,
    LifecycleSegmenter,
    RFMSegmenter,
)

#: breakpoints per round that narrow the bracket around an ABC value level, and the distinct
#: values at most left in it for the exact search (one aggregated row per value)
BRACKETS = 200
MAX_EXACT = 20_000

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


def _value_level(spark, view: str, value: str, share: float) -> float:
    """The value of the customer who crosses ``share`` of the total when customers are sorted
    by value, descending (the local ABC's ``a.min()``): the smallest value v with
    sum(values > v) < share * total. Approximate quantiles narrow a bracket around it (one
    aggregate sums above every breakpoint) until at most ``MAX_EXACT`` distinct values remain,
    which, aggregated per value, settle it exactly."""
    total = float(spark.sql(f"SELECT sum({value}) FROM {view}").collect()[0][0])
    target = (share - 1e-12) * total
    lo_q, hi_q, hi_sum = -math.inf, math.inf, 0.0  # the level lies in (lo_q, hi_q]
    probs = ", ".join(repr(i / BRACKETS) for i in range(1, BRACKETS))
    for _ in range(8):
        inside = f"{value} > {_literal(lo_q)} AND {value} <= {_literal(hi_q)}"
        n_distinct = spark.sql(f"SELECT count(DISTINCT {value}) FROM {view} WHERE {inside}"
                               ).collect()[0][0]
        if n_distinct <= MAX_EXACT:
            break
        qs = sorted(set(spark.sql(f"SELECT percentile_approx({value}, array({probs}), 10000) "
                                  f"FROM {view} WHERE {inside}").collect()[0][0]))
        above = ", ".join(f"sum(CASE WHEN {value} > {q!r} THEN {value} ELSE 0 END)" for q in qs)
        sums = [float(x) for x in spark.sql(f"SELECT {above} FROM {view}").collect()[0]]
        hi = next((i for i, s in enumerate(sums) if s < target), None)  # sums fall as q grows
        if hi is None:
            lo_q = qs[-1]
        else:
            lo_q = qs[hi - 1] if hi else lo_q
            hi_q, hi_sum = qs[hi], sums[hi]
    rows = spark.sql(f"SELECT {value} AS v, sum({value}) AS s FROM {view} WHERE {value} > "
                     f"{_literal(lo_q)} AND {value} <= {_literal(hi_q)} GROUP BY {value} "
                     "ORDER BY v DESC").collect()
    level, running = math.inf, hi_sum  # running: the sum of the values above the current one
    for r in rows:
        if running >= target:
            break
        level = float(r.v)
        running += float(r.s)
    return level


def _robust_level(spark, view: str, value: str, level: float) -> float:
    """:func:`clustering.baselines.base.robust_cut` of ``level``: halfway to the next lower
    value, or just under the level when none lies below."""
    if not math.isfinite(level):
        return level
    below = spark.sql(f"SELECT max({value}) FROM {view} WHERE {value} < {level!r}").collect()[0][0]
    if below is None:
        return level - 1e-9 * max(1.0, abs(level))
    return (float(below) + level) / 2


def abc_xyz_columns(spark, view: str, params: dict[str, Any]) -> list[str]:
    """SQL for ``abc``, ``xyz``, ``abc_xyz`` and ``abc_xyz_tier`` as
    :class:`clustering.baselines.classic.ABCXYZSegmenter` labels them (on net revenue: the
    Spark engine has no profit)."""
    est = ABCXYZSegmenter(**params)
    value = "greatest(CAST(monetary_total AS DOUBLE), 0.0)"
    values = spark.sql(f"SELECT {value} AS v, CAST(revenue_cv_monthly AS DOUBLE) AS cv "
                       f"FROM {view}").persist()  # two columns, scanned a few times below
    values.createOrReplaceTempView("_abc_values")
    a_cut = _robust_level(spark, "_abc_values", "v", _value_level(spark, "_abc_values", "v",
                                                                  est.a_share))
    b_cut = _robust_level(spark, "_abc_values", "v", _value_level(
        spark, "_abc_values", "v", est.a_share + est.b_share))
    if est.xyz_thresholds:
        t1, t2 = (float(t) for t in est.xyz_thresholds)
    else:  # numpy's linear quantiles from the two order statistics around each
        n = int(spark.sql("SELECT count(cv) FROM _abc_values").collect()[0][0])
        t1 = t2 = -math.inf  # no customer with two months of revenue: all Z
        if n:
            hs = [(n - 1) * p for p in (1 / 3, 2 / 3)]
            ranks = [r for h in hs for r in (math.floor(h) + 1, min(math.floor(h) + 2, n))]
            x = _order_statistics(spark, "_abc_values", "cv", ranks, n)
            t1, t2 = (x[2 * i] + (h - math.floor(h)) * (x[2 * i + 1] - x[2 * i])
                      for i, h in enumerate(hs))
    values.unpersist()
    abc = (f"CASE WHEN {value} >= {_literal(a_cut)} THEN 'A' WHEN {value} >= {_literal(b_cut)} "
           f"AND {value} > 0 THEN 'B' ELSE 'C' END")
    cv = "coalesce(CAST(revenue_cv_monthly AS DOUBLE), double('inf'))"
    xyz = (f"CASE WHEN {cv} <= {_literal(t1)} THEN 'X' WHEN {cv} <= {_literal(t2)} THEN 'Y' "
           "ELSE 'Z' END")
    cell = f"concat({abc}, {xyz})"
    table = est.tier_table()
    whens = " ".join(f"WHEN {cell} IN ({', '.join(repr(str(c)) for c in spec.get('cells', []))}) "
                     f"THEN {tier!r}" for tier, spec in table.items() if spec.get("cells"))
    tier = f"CASE {whens} ELSE {list(table)[-1]!r} END" if whens else repr(list(table)[-1])
    return [f"{abc} AS abc", f"{xyz} AS xyz", f"{cell} AS abc_xyz", f"{tier} AS abc_xyz_tier"]


def baseline_frame(spark, view: str, n_rows: int, params: dict[str, dict], enabled: list[str]):
    """``customer_id`` and the label columns of every enabled baseline the distributed path
    computes, over the buyers in ``view`` (``params``: each baseline's settings); and the
    enabled baselines it skips."""
    cols, skipped = [], []
    for b in enabled:
        if b == "rfm":
            cols += rfm_columns(spark, view, n_rows, params.get(b) or {})
        elif b == "lifecycle":
            cols += lifecycle_columns(params.get(b) or {})
        elif b == "abc_xyz":
            cols += abc_xyz_columns(spark, view, params.get(b) or {})
        else:
            skipped.append(b)
    return spark.sql(f"SELECT customer_id, {', '.join(cols) or 'NULL AS none'} FROM {view}"), skipped
