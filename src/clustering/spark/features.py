"""The Spark engine: the same transactions checks and customer features as the local DuckDB
engine, written as Spark SQL, for data that outgrows one machine.

``engine=spark`` reads the files with Spark, applies the same row checks as
:mod:`clustering.inputs.checks` (counts only), and computes the features of
:mod:`clustering.features.customer` with the same definitions, customers table (attributes, signup
date, prospects) included. With ``engine.distributed=false`` the result (one row per customer)
is collected for the rest of the pipeline (the hold-out validation's calibration features and
outcomes run on Spark too); with ``true`` it stays a DataFrame
(:func:`customer_features_frame`, :mod:`clustering.spark.stages`). Point ``engine.master``
at a cluster (``spark://host:7077``, ``yarn``) to run the heavy part there. Requires
``pip install .[spark]``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import warnings
from dataclasses import dataclass

from clustering.errors import ConfigError, DataError
from clustering.features.customer import (
    BEHAVIOURAL,
    FEATURE_SOURCES,
    QUARTER_DAYS,
    FeatureResult,
    with_derived,
)
from clustering.inputs.attributes import NUMBER, PLACEHOLDERS
from clustering.inputs.checks import future_from, plausible_date_sql, resolve_snapshot
from clustering.inputs.ids import id_sql, no_customer_sql, total_row_sql
from clustering.inputs.return_flags import cancelled_sql, duckdb_type, return_flag_sql
from clustering.inputs.sources import file_format, resolve_files
from clustering.inputs.sql import literals
from clustering.inputs.tables import TableSource, missing_column

STRFTIME_TO_JAVA = {"%Y": "yyyy", "%y": "yy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm",
                    "%S": "ss", "%b": "MMM", "%p": "a", "%I": "hh"}


def spark_session(master: str = "local[2]", driver_memory: str = "2g",
                  conf: dict[str, str] | None = None):
    """A Spark session whose Python workers run this interpreter (the project's venv)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("engine=spark needs PySpark: pip install '.[spark]'") from None
    # PySpark warns about pandas >= 3 when imported and again at every conversion (hundreds of
    # lines a run, "once" filters did not hold); the Spark path is tested equal to the local
    # engine with this pandas: after the import's warning, the repeats are silenced
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName("customer-segmentation")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", driver_memory)
               .config("spark.sql.shuffle.partitions", "8")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # a Py4JJavaError whose Java log came above: one line for the user
        raise spark_failure(exc, master) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_failure(exc: Exception, master: str) -> ConfigError:
    """Why Spark did not start, in one line: the deepest cause the Java error names."""
    causes = [line.strip().removeprefix("Caused by: ") for line in str(exc).splitlines()
              if line.strip().startswith(("Caused by:", "org.apache.spark.SparkException:",
                                          "java.lang."))]
    why = causes[-1] if causes else str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ConfigError(f"Spark did not start with engine.master={master}: "
                       f"{why[:240].rstrip('. ')}. Check that "
                       "the master answers and engine.conf, or run with engine.master=local[2]")


def java_date_pattern(fmt: str) -> str:
    out = fmt
    for k, v in STRFTIME_TO_JAVA.items():
        out = out.replace(k, v)
    return out


def _read(spark, source: TableSource, what: str):
    files = resolve_files(source.path, source.fmt, what=what)
    if file_format(files, source.fmt) == "parquet":
        return files, spark.read.parquet(*files)
    return files, (spark.read.option("header", True).option("multiLine", True)
                   .option("sep", source.delimiter or ",")
                   .option("encoding", "utf-8" if source.encoding == "auto" else source.encoding)
                   .csv(files))


@dataclass
class SparkCustomers:
    """What the ``customers`` view holds (see :func:`read_customers`)."""

    files: list[str]
    attributes: list[str]
    has_signup: bool


def _norm(col: str) -> str:
    """Spark SQL twin of :func:`clustering.inputs.attributes._norm` (Java regex in a SQL literal)."""
    text = f"CAST({col} AS STRING)"
    return (f"(CASE WHEN trim({text}) RLIKE '^{NUMBER}$' THEN lower(trim({text})) ELSE "
            f"nullif(trim(regexp_replace(lower({text}), '[\\\\s_.\\\\-]+', ' ')), '') END)")


def _placeholders() -> str:
    return literals(PLACEHOLDERS, spark=True)


def read_customers(spark, source: TableSource, attributes: list[str]) -> SparkCustomers:
    """The canonical ``customers`` view (id, optional signup date, attributes), one row per
    customer, as :func:`clustering.inputs.customers.register_customers` builds it locally."""
    files, raw = _read(spark, source, "customers")
    cid = source.columns.get("customer_id") or "customer_id"
    if cid not in raw.columns:
        raise missing_column("customer_id", cid, raw.columns, files[0], "data.customer_columns")
    floating = dict(raw.dtypes)[cid] in ("float", "double")
    select = [f"{id_sql(f'r.`{cid}`', spark=True, floating=floating)} AS customer_id"]
    signup = source.columns.get("signup_date")
    has_signup = bool(signup and signup in raw.columns)
    if has_signup:
        select.append(
            f"to_timestamp(CAST(r.`{signup}` AS STRING), '{java_date_pattern(source.date_format)}')"
            if source.date_format else f"CAST(r.`{signup}` AS TIMESTAMP)")
        select[-1] = f"(CASE WHEN {plausible_date_sql(select[-1])} THEN {select[-1]} END) AS signup_date"
    raw.createOrReplaceTempView("customers_raw")
    joins = []
    for i, a in enumerate(attributes):
        if a not in raw.columns:
            raise missing_column("attribute", a, raw.columns, files[0], "data.attributes")
        # as clustering.inputs.attributes does locally: the most common spelling, placeholders blank
        spark.sql(f"""
            SELECT k, CASE WHEN k IN ({_placeholders()}) THEN NULL ELSE v END AS canonical
            FROM (SELECT k, v, row_number() OVER (PARTITION BY k ORDER BY n DESC, v) AS rk
                  FROM (SELECT k, v, count(*) AS n FROM (
                          SELECT {_norm(f'`{a}`')} AS k, trim(CAST(`{a}` AS STRING)) AS v
                          FROM customers_raw) WHERE k IS NOT NULL GROUP BY k, v))
            WHERE rk = 1""").createOrReplaceTempView(f"_attr_canon_{i}")
        select.append(f"c{i}.canonical AS `{a}`")
        joins.append(f"LEFT JOIN _attr_canon_{i} c{i} ON c{i}.k = {_norm(f'r.`{a}`')}")
    names = ["customer_id"] + (["signup_date"] if has_signup else []) + [f"`{a}`" for a in attributes]
    rid = id_sql(f"r.`{cid}`", spark=True, floating=floating)
    order = ", ".join(f"CAST(r.`{c}` AS STRING) ASC NULLS LAST"  # the local engine's row
                      for c in [cid, *([signup] if has_signup else []), *attributes])
    spark.sql(f"""SELECT {', '.join(names)} FROM (
        SELECT {', '.join(select)}, row_number() OVER (PARTITION BY {rid} ORDER BY {order}) AS _n
        FROM customers_raw r {' '.join(joins)} WHERE NOT {no_customer_sql(rid)}
          -- a total row's label is no prospect, unless that id bought (as the local engine)
          AND NOT ({total_row_sql(rid, 'true')} AND {rid} NOT IN
                   (SELECT customer_id FROM transactions))) WHERE _n = 1"""
              ).createOrReplaceTempView("customers")
    return SparkCustomers(files, list(attributes), has_signup)


def holdout_outcomes_spark(spark, customer_ids, split: dt.date, horizon_days: int):
    """:func:`clustering.evaluation.holdout.holdout_outcomes` on the Spark ``transactions`` view."""
    from clustering.evaluation.holdout import outcome_frame

    end = split + dt.timedelta(days=horizon_days)
    out = spark.sql(f"""
        SELECT customer_id, count(DISTINCT order_id) AS holdout_orders,
               sum(amount) AS holdout_spend
        FROM transactions
        WHERE ts >= TIMESTAMP'{split.isoformat()} 00:00:00' AND ts < TIMESTAMP'{end.isoformat()} 00:00:00'
          AND amount > 0 AND NOT is_return
        GROUP BY customer_id""").toPandas()
    return outcome_frame(customer_ids, out)


def read_transactions(spark, source: TableSource, snapshot_date=None):
    """Checked transactions (view ``transactions``), the snapshot, the roles available and
    warnings: the local engine's data checks (lines dated after today left out, counted)."""
    files, raw = _read(spark, source, "transactions")
    cols = {k: v for k, v in source.columns.items() if v and v in raw.columns}
    for role in ("customer_id", "timestamp"):
        if role not in cols:
            raise DataError(f"{files[0]}: column for {role} not found; present: {raw.columns}")
    raw.createOrReplaceTempView("transactions_raw")
    q = {r: f"`{c}`" for r, c in cols.items()}
    if "amount" in q:
        amount = f"CAST({q['amount']} AS DOUBLE)"
    elif "quantity" in q and "unit_price" in q:
        amount = f"(CAST({q['quantity']} AS DOUBLE) * CAST({q['unit_price']} AS DOUBLE))"
    else:
        raise DataError(f"{files[0]}: no amount column (or quantity and unit price)")
    types = dict(raw.dtypes)
    cid_sql = id_sql(q["customer_id"], spark=True,
                     floating=types[cols["customer_id"]] in ("float", "double"))
    if "is_return" in q:  # the local engine's rule (clustering.inputs.return_flags) by the column's type
        returned = return_flag_sql(q["is_return"], duckdb_type(types[cols["is_return"]]),
                                   source.return_values, spark=True)
        amount = f"(CASE WHEN {returned} AND {amount} > 0 THEN -{amount} ELSE {amount} END)"
    ts_type = duckdb_type(types[cols["timestamp"]])
    if source.date_format:
        digits = (f"CAST(CAST({q['timestamp']} AS BIGINT) AS STRING)" if ts_type == "DOUBLE"
                  else f"CAST({q['timestamp']} AS STRING)")
        ts = f"to_timestamp({digits}, '{java_date_pattern(source.date_format)}')"
    elif ts_type == "DOUBLE":  # as the local engine: yyyymmdd, epoch seconds or ms by size
        v = f"CAST({q['timestamp']} AS DOUBLE)"
        ts = (f"(CASE WHEN {v} BETWEEN 19000101 AND 21991231 THEN to_timestamp(CAST(CAST({v} "
              f"AS BIGINT) AS STRING), 'yyyyMMdd') WHEN {v} >= 1e8 AND {v} < 1e11 THEN "
              f"timestamp_micros(CAST({v} * 1e6 AS BIGINT)) WHEN {v} >= 1e11 AND {v} < 1e14 "
              f"THEN timestamp_micros(CAST({v} * 1e3 AS BIGINT)) END)")
    else:
        ts = f"CAST({q['timestamp']} AS TIMESTAMP)"
    order = (f"coalesce(CAST({q['order_id']} AS STRING), CAST(CAST({ts} AS DATE) AS STRING))"
             if "order_id" in q else f"CAST(CAST({ts} AS DATE) AS STRING)")
    no_order = (f"nullif(trim(CAST({q['order_id']} AS STRING)), '') IS NULL" if "order_id" in q
                else "true")
    is_ret = (f"({returned} OR {amount} < 0)" if "is_return" in q
              else f"({amount} < 0)")
    opt = {r: (f"CAST({q[r]} AS DOUBLE)" if r in q else "CAST(NULL AS DOUBLE)")
           for r in ("quantity", "payment_delay_days")}
    spark.sql(f"""
        SELECT {cid_sql} AS customer_id, {order} AS order_id,
               {ts} AS ts, {amount} AS amount, {opt['quantity']} AS quantity,
               {'CAST(' + q['category'] + ' AS STRING)' if 'category' in q else 'CAST(NULL AS STRING)'} AS category,
               {is_ret} AS is_return, {opt['payment_delay_days']} AS payment_delay_days,
               {'CAST(' + q['is_new_product'] + ' AS BOOLEAN)' if 'is_new_product' in q else 'CAST(NULL AS BOOLEAN)'} AS is_new_product,
               {cancelled_sql(q['status'], source.cancelled_statuses, spark=True) if 'status' in q else 'false'} AS _cancelled,
               {no_order} AS _no_order
        FROM (SELECT DISTINCT * FROM transactions_raw)""").createOrReplaceTempView("typed")
    future = f"TIMESTAMP'{future_from().isoformat()} 00:00:00'"

    def valid(p: str = "") -> str:
        return (f"NOT {no_customer_sql(p + 'customer_id')} AND NOT {p}_cancelled "
                f"AND NOT {total_row_sql(p + 'customer_id', p + '_no_order')} "
                f"AND {p}ts IS NOT NULL AND {plausible_date_sql(p + 'ts')} AND {p}ts < {future} "
                f"AND {p}amount IS NOT NULL AND NOT isnan({p}amount) "
                f"AND abs({p}amount) < double('inf')")
    snapshot = resolve_snapshot(
        snapshot_date,
        lambda: spark.sql(f"SELECT max(ts) FROM typed WHERE {valid()}").collect()[0][0],
        files[0])
    snap = f"TIMESTAMP'{snapshot.isoformat()} 00:00:00'"
    spark.sql(f"""
        SELECT t.* FROM typed t
        LEFT JOIN (SELECT customer_id, min(ts) AS first_buy FROM typed
                   WHERE {valid()} AND amount > 0 AND NOT is_return AND ts < {snap}
                   GROUP BY customer_id) f ON t.customer_id = f.customer_id
        WHERE {valid("t.")}
          AND t.ts < {snap} AND t.amount <> 0
          AND NOT ((t.is_return OR t.amount < 0) AND (f.first_buy IS NULL OR f.first_buy > t.ts))
    """).cache().createOrReplaceTempView("transactions")
    if snapshot_date is None:  # the day after the last line that passed the checks
        snapshot = resolve_snapshot(
            None, lambda: spark.sql("SELECT max(ts) FROM transactions").collect()[0][0], files[0])
    available = {r for r in cols} | {"amount", "is_return"}
    return snapshot, available, _future_lines(spark, future, files[0])


def _future_lines(spark, future: str, where: str) -> list[str]:
    """The warning counting the lines dated after today, which the checks left out."""
    n, latest = spark.sql(f"SELECT count(*), max(ts) FROM typed WHERE ts >= {future}").collect()[0]
    return [f"{where}: {n:,} lines dated after today (the latest {latest.date()}) left out as "
            "future_date: a mistyped year? Left in, they would have moved the snapshot "
            "there"] if n else []


@dataclass
class SparkFeatures:
    """The feature table as a Spark DataFrame (one row per customer, nothing collected) and
    what went into it, as :class:`clustering.features.customer.FeatureResult` says it."""

    frame: object  # pyspark.sql.DataFrame
    snapshot_date: dt.date
    window_start: dt.date
    features: list[str]
    attributes: list[str]
    skipped: dict[str, str]


def build_customer_features_spark(spark, snapshot: dt.date, available: set[str],
                                  lookback_days: int = 1095,
                                  customers: SparkCustomers | None = None) -> FeatureResult:
    """The features of :func:`clustering.features.customer.build_customer_features` in Spark SQL, as of
    ``snapshot`` (any date up to the one the transactions were checked for); with
    ``customers``, attributes, days since signup and prospects as well; collected."""
    sf = customer_features_frame(spark, snapshot, available, lookback_days, customers,
                                 derived=False)
    table = sf.frame.toPandas().sort_values("customer_id").reset_index(drop=True)
    if not table["is_buyer"].any():
        raise DataError(f"no customer bought anything between {sf.window_start} and {snapshot}")
    return FeatureResult(table=table, snapshot_date=snapshot, window_start=sf.window_start,
                         features=with_derived(table, sf.features), attributes=sf.attributes,
                         skipped=sf.skipped)


#: sources whose features (profit, discounts, events, cancellations) only the local engine
#: computes so far
LOCAL_ONLY = {"profit", "discount", "events", "status"}


def _lit(d: dt.date) -> str:
    """A Spark SQL timestamp literal for the start of day ``d``."""
    return f"TIMESTAMP'{d.isoformat()} 00:00:00'"


def _spark_feature_exprs(snapshot: dt.date, lookback_days: int) -> dict[str, str]:
    """Each feature the Spark engine computes, from the aggregates of the feature query."""
    snap_d = f"DATE'{snapshot.isoformat()}'"
    return {
        "recency_days": f"datediff({snap_d}, CAST(l.last_buy AS DATE))",
        "frequency": "coalesce(o.frequency, 0)",
        "monetary_total": "coalesce(n.net, 0)",
        "avg_order_value": "o.gross / o.frequency",
        "tenure_days": f"datediff({snap_d}, CAST(l.first_ts AS DATE))",
        "mean_interpurchase_days": (
            "CASE WHEN o.frequency > 1 THEN datediff(CAST(o.last_w AS DATE), CAST(o.first_w AS DATE))"
            f" / (o.frequency - 1) WHEN o.frequency = 1 THEN {float(lookback_days)} END"),
        "revenue_cv_monthly": (
            "CASE WHEN m.n_months >= 2 THEN sqrt(greatest(m.s2 / m.n_months - "
            "pow(m.s1 / m.n_months, 2), 0)) / (m.s1 / m.n_months) END"),
        "revenue_growth": "(h.late - h.early) / nullif(h.late + h.early, 0)",
        "return_rate": "CASE WHEN o.gross > 0 THEN least(coalesce(n.returned, 0) / o.gross, 1.0) END",
        "n_categories": "b.n_categories",
        "new_product_share": "b.new_product_share",
        "mean_payment_delay": "o.mean_payment_delay",
        "days_since_signup": (f"CASE WHEN c.signup_date < {_lit(snapshot)} THEN "
                              f"datediff({snap_d}, CAST(c.signup_date AS DATE)) END"),
        "spend_last_quarter": "coalesce(q.spend, 0)",
        "orders_last_quarter": "coalesce(q.orders, 0)",
        "weekend_share": "o.weekend_share",
        "max_order_share": "CASE WHEN o.gross > 0 THEN o.max_order / o.gross END",
        "order_value_trend": ("CASE WHEN o.n_late >= 2 AND o.n_early >= 2 THEN o.aov_late / "
                              "nullif(o.aov_early, 0) - 1 END"),
    }


def _spark_skipped(available: set[str], customers: SparkCustomers | None,
                   computed: dict[str, str]) -> dict[str, str]:
    """Why each feature the Spark engine leaves out is skipped: a missing column, a source only
    the local engine uses, or no Spark SQL for it (``computed`` has the ones it has)."""
    skipped = {f: "missing column(s) " + ", ".join(c for c in FEATURE_SOURCES[f] if c not in available)
               for f in BEHAVIOURAL if any(c not in available for c in FEATURE_SOURCES[f])}
    for f in BEHAVIOURAL:  # whatever the data has: these are computed by the local engine only
        if LOCAL_ONLY & set(FEATURE_SOURCES[f]):
            skipped[f] = ("not computed by the Spark engine (engine=local computes it from "
                          "costs or margins, discounts, events and order statuses)")
    if customers is not None and customers.has_signup:
        skipped.pop("days_since_signup", None)
    else:
        skipped["days_since_signup"] = "missing column(s) signup_date"
    for f in BEHAVIOURAL:
        if f not in computed and f not in skipped:
            skipped[f] = "not computed by the Spark engine"
    return skipped


def _spark_ids(snapshot: dt.date, customers: SparkCustomers | None) -> tuple[str, str]:
    """Every customer (buyers, and the customers table's prospects who signed up before the
    snapshot) and the join of the customers table, when there is one."""
    ids = "SELECT customer_id FROM l"
    cust_join = ""
    if customers is not None:
        ids += " UNION SELECT customer_id FROM customers" + (
            f" WHERE signup_date IS NULL OR signup_date < {_lit(snapshot)}"
            if customers.has_signup else "")
        cust_join = "LEFT JOIN customers c USING (customer_id)"
    return ids, cust_join


def _spark_feature_sql(snapshot: dt.date, lookback_days: int, cols: str,
                       customers: SparkCustomers | None) -> str:
    """The feature query: per-customer aggregates of the lines (``l`` whole history, ``n`` the
    window), orders, categories, months, halves and the last quarter, joined on ids."""
    start = snapshot - dt.timedelta(days=lookback_days)
    mid = snapshot - dt.timedelta(days=lookback_days // 2)
    quarter = snapshot - dt.timedelta(days=min(QUARTER_DAYS, lookback_days))
    last_month = f"date_trunc('MONTH', {_lit(snapshot)} - INTERVAL 1 SECOND)"
    ids, cust_join = _spark_ids(snapshot, customers)
    return f"""
    WITH tx AS (SELECT * FROM transactions WHERE ts < {_lit(snapshot)}),
    win AS (SELECT * FROM tx WHERE ts >= {_lit(start)}),
    buys AS (SELECT * FROM win WHERE amount > 0 AND NOT is_return),
    l AS (SELECT customer_id, min(ts) AS first_ts,
                 max(CASE WHEN amount > 0 AND NOT is_return THEN ts END) AS last_buy
          FROM tx GROUP BY customer_id),
    orders AS (SELECT customer_id, order_id, min(ts) AS ts, sum(amount) AS amount,
                      avg(payment_delay_days) AS delay FROM buys GROUP BY customer_id, order_id),
    o AS (SELECT customer_id, count(*) AS frequency, sum(amount) AS gross, min(ts) AS first_w,
                 max(ts) AS last_w, avg(delay) AS mean_payment_delay,
                 avg(CASE WHEN dayofweek(ts) IN (1, 7) THEN CAST(1 AS DOUBLE)
                          ELSE CAST(0 AS DOUBLE) END) AS weekend_share,
                 max(amount) AS max_order,
                 avg(CASE WHEN ts >= {_lit(mid)} THEN amount END) AS aov_late,
                 avg(CASE WHEN ts < {_lit(mid)} THEN amount END) AS aov_early,
                 count(CASE WHEN ts >= {_lit(mid)} THEN 1 END) AS n_late,
                 count(CASE WHEN ts < {_lit(mid)} THEN 1 END) AS n_early
          FROM orders GROUP BY customer_id),
    n AS (SELECT customer_id, sum(amount) AS net,
                 sum(CASE WHEN is_return OR amount < 0 THEN -amount ELSE 0 END) AS returned
          FROM win GROUP BY customer_id),
    b AS (SELECT customer_id, count(DISTINCT category) AS n_categories,
                 avg(CAST(is_new_product AS DOUBLE)) AS new_product_share
          FROM buys GROUP BY customer_id),
    monthly AS (SELECT customer_id, date_trunc('MONTH', ts) AS month, sum(amount) AS rev
                FROM buys GROUP BY customer_id, date_trunc('MONTH', ts)),
    m AS (SELECT customer_id, sum(rev) AS s1, sum(rev * rev) AS s2,
                 CAST(months_between({last_month}, min(month)) AS INT) + 1 AS n_months
          FROM monthly GROUP BY customer_id),
    h AS (SELECT customer_id,
                 coalesce(sum(CASE WHEN ts < {_lit(mid)} THEN amount END), 0) AS early,
                 coalesce(sum(CASE WHEN ts >= {_lit(mid)} THEN amount END), 0) AS late
          FROM buys GROUP BY customer_id),
    q AS (SELECT customer_id, sum(amount) AS spend, count(DISTINCT order_id) AS orders
          FROM buys WHERE ts >= {_lit(quarter)} GROUP BY customer_id),
    ids AS ({ids})
    SELECT ids.customer_id, coalesce(o.frequency, 0) > 0 AS is_buyer,
           l.customer_id IS NULL AS is_prospect,
           {cols}
    FROM ids LEFT JOIN l USING (customer_id) LEFT JOIN o USING (customer_id)
    LEFT JOIN n USING (customer_id)
    LEFT JOIN b USING (customer_id) LEFT JOIN m USING (customer_id)
    LEFT JOIN h USING (customer_id) LEFT JOIN q USING (customer_id)
    {cust_join}
    """


def customer_features_frame(spark, snapshot: dt.date, available: set[str],
                            lookback_days: int = 1095, customers: SparkCustomers | None = None,
                            derived: bool = True) -> SparkFeatures:
    """The feature query as a Spark DataFrame; with ``derived``, the features computed from
    other features too (:func:`clustering.features.customer.with_derived`, in Spark SQL)."""
    expr = _spark_feature_exprs(snapshot, lookback_days)
    skipped = _spark_skipped(available, customers, expr)
    features = [f for f in BEHAVIOURAL if f not in skipped]
    attrs = customers.attributes if customers is not None else []
    cols = ",\n".join(f"CAST({expr[f]} AS DOUBLE) AS {f}" for f in features)
    cols += "".join(f",\n           c.`{a}`" for a in attrs)
    table = spark.sql(_spark_feature_sql(snapshot, lookback_days, cols, customers))
    if derived and {"recency_days", "mean_interpurchase_days", "frequency"} <= set(features):
        table = table.selectExpr("*", "recency_days / CASE WHEN frequency > 1 AND "
                                 "mean_interpurchase_days > 0 THEN mean_interpurchase_days END "
                                 "AS cycles_missed")
        features = [*features, "cycles_missed"]
    return SparkFeatures(table, snapshot, snapshot - dt.timedelta(days=lookback_days), features,
                         attrs, skipped)
