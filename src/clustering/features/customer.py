"""Customer features as of a snapshot date, computed in DuckDB SQL.

Only transactions strictly before the snapshot are used (nothing at or after it leaks in).
Behavioural features look at the lookback window ``[snapshot - lookback_days, snapshot)``;
recency and tenure look at the whole history before the snapshot. A *purchase* is a line with
a positive amount that is not a return; *orders* are distinct order ids among purchases.

Feature definitions (units in brackets):

recency_days [days]
    Days from the date of the last purchase (whole history) to the snapshot date; >= 1.
frequency [orders]
    Number of distinct purchase orders in the window.
monetary_total [currency]
    Net revenue in the window: purchases minus returns and cancellations (a huge order and
    its exact negative mirror net to zero).
avg_order_value [currency]
    Gross purchase value in the window divided by ``frequency``.
tenure_days [days]
    Days from the first transaction (whole history) to the snapshot date; >= recency_days.
mean_interpurchase_days [days]
    (last order date - first order date) / (frequency - 1) in the window. A customer with a
    single order in the window gets the window length: they did not repeat within it.
revenue_cv_monthly [ratio]
    Coefficient of variation (population std / mean) of gross revenue per calendar month, over
    the months from the customer's first month in the window to the snapshot month, months
    without purchases counted as 0. The XYZ stability measure: 0 = the same every month.
    Undefined (NULL) with fewer than two months to compare.
revenue_growth [ratio in -1..1]
    (late - early) / (late + early), where early and late are gross revenue in the older and
    the more recent half of the window: -1 = bought only early, +1 = only recently.
return_rate [ratio in 0..1]
    Value of returned or cancelled lines / gross purchase value in the window, capped at 1.
n_categories [count]       (needs ``category``)
    Distinct product categories bought in the window.
new_product_share [ratio]  (needs ``is_new_product``)
    Share of purchase lines in the window that were flagged as new products.
mean_payment_delay [days]  (needs ``payment_delay_days``)
    Mean payment delay over purchase orders in the window.
days_since_signup [days]   (needs a customers table with a signup date)
    Days from signup / first contact to the snapshot date (NULL for a signup on or after it:
    customers who sign up after the snapshot are not in the table at all).
cycles_missed [cycles]      (derived: recency_days / mean_interpurchase_days)
    How many of their own usual purchase cycles a repeat buyer has let pass since the last
    purchase (NULL for a single order in the window): the own-rhythm sleeping signal, a
    customer who buys weekly is overdue after weeks, one who buys yearly after years.
profit_total [currency]     (needs costs or margins: ``profit``)
    Net profit in the window: per line amount minus cost (a return gives its cost back), or
    amount x the category's margin rate (``data.margins``).
margin_rate [ratio]          (needs ``profit``)
    profit_total / gross purchase value in the window.
profit_last_quarter [currency]  (needs ``profit``)
    Profit of the last 91 days' purchases (value classes on profit).
cancel_rate [ratio]          (needs ``status``)
    Orders called off by their status (cancelled, storniert, annulé: set aside by the checks
    as ``cancelled_order``; not unavailable, voided, refunded or failed ones) /
    (purchase orders + those orders) in the window: how often a customer cancels. An order
    with purchase lines too counts as a purchase only; NULL without a purchase in the window.
discount_share [ratio]       (needs ``discount``)
    Discounts granted / (purchase value + discounts) on purchases in the window: the share of
    list value given away.
days_since_event [days], events_last_quarter [events], contacts_last_30d [events],
visits_last_quarter [events]
    (need an events table) Days since the last event of any kind (visit, e-mail open or click,
    request, call, meeting); events in the last 91 days; requests, calls and meetings in the
    last 30 days; visits in the last 91 days (with no order: a window shopper). Ids known only
    from events are prospects (leads).
weekend_share [ratio], max_order_share [ratio]
    Purchase orders in the window placed on a Saturday or Sunday / all of them (weekday or
    weekend buyers); the largest order's share of the window's purchase value (one order
    making nearly all of it: a one-off big buyer, not yet a VIP).
order_value_trend [ratio]
    The mean value of a customer's orders in the later half of the window / that of their
    orders in the earlier half, minus 1 (-0.5: their orders halved); NULL without two orders
    in each half.
spend_last_quarter [currency], orders_last_quarter [orders]
    Gross purchase value and purchase orders in the last 91 days before the snapshot (for the
    quarterly value classes baseline; not used by the segmenters by default).

Customer attributes from the customers table are passed through as categorical columns and
encoded by the preprocessing step. Customers with no purchase in the window (``frequency`` 0:
prospects from the customers table, and lapsed buyers) are kept in the table with
``is_buyer = false`` so they can be reported; the segmenters fit on buyers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa

from clustering.errors import DataError
from clustering.inputs.checks import resolve_snapshot
from clustering.inputs.events import CONTACT
from clustering.inputs.sources import LoadedData

#: feature -> canonical source columns it needs beyond customer_id, ts and amount
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    "recency_days": (),
    "frequency": (),
    "monetary_total": (),
    "avg_order_value": (),
    "tenure_days": (),
    "mean_interpurchase_days": (),
    "revenue_cv_monthly": (),
    "revenue_growth": (),
    "return_rate": (),
    "n_categories": ("category",),
    "new_product_share": ("is_new_product",),
    "mean_payment_delay": ("payment_delay_days",),
    "days_since_signup": ("signup_date",),
    "spend_last_quarter": (),
    "orders_last_quarter": (),
    "profit_total": ("profit",),
    "margin_rate": ("profit",),
    "profit_last_quarter": ("profit",),
    "discount_share": ("discount",),
    "cancel_rate": ("status",),
    "days_since_event": ("events",),
    "events_last_quarter": ("events",),
    "contacts_last_30d": ("events",),
    "visits_last_quarter": ("events",),
    "weekend_share": (),
    "max_order_share": (),
    "order_value_trend": (),
}
#: where a source column comes from, in the words of the settings that give it
SOURCE_SETTINGS = {"profit": "data.columns.cost or data.margins",
                   "events": "data.events_path",
                   "signup_date": "data.customer_columns.signup_date"}


def skipped_line(skipped: dict[str, str]) -> str | None:
    """The features skipped for want of a column, on one line, grouped by what would give
    them ("profit_total, margin_rate, ...: give data.columns.cost or data.margins"); a
    skip for another reason is named as it is. None when nothing was skipped."""
    if not skipped:
        return None
    by_need: dict[str, list[str]] = {}
    for f, why in skipped.items():
        if why.startswith("missing column(s) "):
            need = ", ".join(SOURCE_SETTINGS.get(c, f"data.columns.{c}")
                             for c in why.removeprefix("missing column(s) ").split(", "))
        else:
            need = why
        by_need.setdefault(need, []).append(f)
    return "features not computed: " + "; ".join(
        f"{', '.join(fs)} (give {need})" if need.startswith("data.") else f"{', '.join(fs)} "
        f"({need})" for need, fs in by_need.items())


HOT_DAYS = 30  # contacts_last_30d
QUARTER_DAYS = 91
BEHAVIOURAL = list(FEATURE_SOURCES)


@dataclass
class FeatureResult:
    """The feature table and what went into it."""

    table: pd.DataFrame
    snapshot_date: dt.date
    window_start: dt.date
    features: list[str]
    attributes: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def buyers(self) -> pd.DataFrame:
        """The customers who bought in the window. The query puts them first (each part in
        id order), so this is a slice of the table that copies nothing until written to
        (copy-on-write): a copy held 400 MB more at a million customers."""
        is_buyer = self.table["is_buyer"].to_numpy(bool)
        n = int(is_buyer.sum())
        if is_buyer[:n].all():
            return self.table.iloc[:n].reset_index(drop=True)
        return self.table[is_buyer].reset_index(drop=True)  # a table made elsewhere

    @property
    def n_prospects(self) -> int:
        """Customers who never bought (from the customers table)."""
        return int(self.table["is_prospect"].sum())

    @property
    def n_lapsed(self) -> int:
        """Customers who bought before the window but not in it."""
        return int((~self.table["is_buyer"] & ~self.table["is_prospect"]).sum())


@dataclass(frozen=True)
class CustomerSample:
    """A seeded 1-in-``modulus`` sample of the customers by a hash of their id: the same
    customers in every query that uses it, chosen where the lines are read, so the lines of
    the others are never aggregated (a quarter of the customers: 3.5x faster)."""

    modulus: int
    seed: int = 0

    def where(self, column: str = "customer_id") -> str:
        return f"hash({column}, {int(self.seed)}) % {int(self.modulus)} = 0"

    def __str__(self) -> str:
        return f"1 customer in {self.modulus} (seed {self.seed})"


def with_derived(table: pd.DataFrame, features: list[str]) -> list[str]:
    """Add the features computed from other features (the same for every engine) to
    ``table`` in place; the feature list with them."""
    if {"recency_days", "mean_interpurchase_days", "frequency"} <= set(table.columns):
        cycle = table["mean_interpurchase_days"].where(table["frequency"] > 1)
        table["cycles_missed"] = table["recency_days"] / cycle.where(cycle > 0)
        features = [*features, "cycles_missed"]
    return features


def default_snapshot(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The day after the last transaction of a ``transactions`` table registered without the
    checks' report (the checks give the same date in ``QualityReport.snapshot_date``)."""
    return resolve_snapshot(
        None, lambda: con.execute("SELECT max(ts) FROM transactions").fetchall()[0][0],
        "transactions")


#: a purchase in the window (the lines ``buys`` holds), for the FILTERs of ``life``
_BUY = "ts >= $start::TIMESTAMP AND amount > 0 AND NOT is_return"


def _resolve_snap(con: duckdb.DuckDBPyConnection, loaded: LoadedData,
                  snapshot_date: dt.date | str | None) -> dt.date:
    """The snapshot date: the one asked for, else the checks' (one rule for every path)."""
    if snapshot_date:
        return pd.Timestamp(snapshot_date).date()
    if loaded.quality is not None:
        return loaded.quality.snapshot_date
    return default_snapshot(con)


def _choose_features(include: list[str] | None,
                     available: set[str]) -> tuple[list[str], dict[str, str]]:
    """The requested features the data can give, and why the others are skipped."""
    wanted = list(include) if include else list(BEHAVIOURAL)
    unknown = [f for f in wanted if f not in FEATURE_SOURCES]
    if unknown:
        raise DataError(f"unknown features {unknown}; choose from {BEHAVIOURAL}")
    skipped = {
        f: "missing column(s) " + ", ".join(c for c in FEATURE_SOURCES[f] if c not in available)
        for f in wanted
        if any(c not in available for c in FEATURE_SOURCES[f])
    }
    return [f for f in wanted if f not in skipped], skipped


def _select_columns(features: list[str], attrs: list[str], loaded: LoadedData) -> str:
    """The SELECT list after the flags: each feature from the aggregates (``l`` lines, ``o``
    orders, ``m`` months, ...), then the customers table's attributes and lead flags."""
    expr = {
        "recency_days": "date_diff('day', CAST(l.last_buy AS DATE), $snap::DATE)",
        "frequency": "coalesce(o.frequency, 0)",
        "monetary_total": "coalesce(l.net, 0)",
        "avg_order_value": "o.gross / o.frequency",
        "tenure_days": "date_diff('day', CAST(l.first_ts AS DATE), $snap::DATE)",
        "mean_interpurchase_days": (
            "CASE WHEN o.frequency > 1 THEN date_diff('day', CAST(o.first_w AS DATE), "
            "CAST(o.last_w AS DATE)) / (o.frequency - 1) WHEN o.frequency = 1 THEN $lookback END"
        ),
        "revenue_cv_monthly": (
            "CASE WHEN m.n_months >= 2 THEN sqrt(greatest(m.s2 / m.n_months - "
            "(m.s1 / m.n_months) ^ 2, 0)) / (m.s1 / m.n_months) END"
        ),
        "revenue_growth": "(l.late - l.early) / nullif(l.late + l.early, 0)",
        "return_rate": "CASE WHEN o.gross > 0 THEN least(coalesce(l.returned, 0) / o.gross, 1.0) END",
        "n_categories": "CASE WHEN o.frequency > 0 THEN coalesce(cats.n_categories, 0) END",
        "new_product_share": "l.new_product_share",
        "mean_payment_delay": "o.mean_payment_delay",
        "days_since_signup": ("CASE WHEN c.signup_date < $snap::TIMESTAMP THEN "
                              "date_diff('day', CAST(c.signup_date AS DATE), $snap::DATE) END"),
        "spend_last_quarter": "coalesce(l.spend_quarter, 0)",
        "orders_last_quarter": "coalesce(o.orders_quarter, 0)",
        "profit_total": "coalesce(l.profit, 0)",
        "margin_rate": "CASE WHEN o.gross > 0 THEN l.profit / o.gross END",
        "profit_last_quarter": "coalesce(l.profit_quarter, 0)",
        "discount_share": "CASE WHEN o.gross > 0 THEN l.discount / (o.gross + l.discount) END",
        "cancel_rate": ("CASE WHEN o.frequency > 0 THEN coalesce(cx.n_cancelled, 0) / "
                        "(o.frequency + coalesce(cx.n_cancelled, 0)) END"),
        "days_since_event": "date_diff('day', CAST(ev.last_event AS DATE), $snap::DATE)",
        "events_last_quarter": "coalesce(ev.n_quarter, 0)",
        "contacts_last_30d": "coalesce(ev.n_contacts, 0)",
        "visits_last_quarter": "coalesce(ev.n_visits, 0)",
        "weekend_share": "o.weekend_share",
        "max_order_share": "CASE WHEN o.gross > 0 THEN o.max_order / o.gross END",
        "order_value_trend": ("CASE WHEN o.n_late >= 2 AND o.n_early >= 2 THEN o.aov_late / "
                              "nullif(o.aov_early, 0) - 1 END"),
    }
    cols = ",\n  ".join(f"CAST({expr[f]} AS DOUBLE) AS {f}" for f in features)
    attr_cols = "".join(f',\n  c."{a}"' for a in attrs)
    if loaded.customer_files:
        attr_cols += "".join(f",\n  c.has_{f}" for f in loaded.lead_fields)
    return cols + attr_cols


def _ids_sql(loaded: LoadedData, has_events: bool, sample: CustomerSample | None) -> str:
    """Every customer as of the snapshot: buyers, the customers table's prospects who signed up
    before it, and leads known only from their events (as prospects)."""
    all_ids = (
        "SELECT customer_id FROM life UNION SELECT customer_id FROM customers"
        + (" WHERE signup_date IS NULL OR signup_date < $snap::TIMESTAMP" if loaded.has_signup else "")
        if loaded.customer_files else "SELECT customer_id FROM life"
    )
    if has_events:
        all_ids += " UNION SELECT customer_id FROM events WHERE ts < $snap::TIMESTAMP"
    if sample:
        all_ids = f"SELECT customer_id FROM ({all_ids}) WHERE {sample.where()}"
    return all_ids


def _life_extra(available: set[str]) -> str:
    """The aggregates of ``life`` over the columns only some data has (profit, discount)."""
    extra = ""
    if "profit" in available:
        extra += (",\n         sum(profit) FILTER (WHERE ts >= $start::TIMESTAMP) AS profit,"
                  f"\n         sum(profit) FILTER (WHERE {_BUY} AND ts >= $quarter::TIMESTAMP)"
                  " AS profit_quarter")
    if "discount" in available:
        extra += f",\n         coalesce(sum(discount) FILTER (WHERE {_BUY}), 0) AS discount"
    return extra


def _optional_ctes(features: list[str], has_events: bool, in_sample: str,
                   categories: str | None = None) -> tuple[str, str]:
    """The per-customer aggregates that only some features need (events ``ev``, categories
    ``cats``, cancelled orders ``cx``): their CTEs and their joins, only when asked for
    (``categories``: a table of each customer's categories in the window, counted instead)."""
    ev_cte = ev_join = cats_cte = cats_join = cx_cte = cx_join = ""
    if has_events:
        contact = ", ".join(f"'{k}'" for k in CONTACT)
        ev_cte = f"""
ev AS (
  SELECT customer_id, max(ts) AS last_event,
         count(*) FILTER (WHERE ts >= $quarter::TIMESTAMP) AS n_quarter,
         count(*) FILTER (WHERE kind IN ({contact}) AND ts >= $hot::TIMESTAMP) AS n_contacts,
         count(*) FILTER (WHERE kind = 'visit' AND ts >= $quarter::TIMESTAMP) AS n_visits
  FROM events WHERE ts < $snap::TIMESTAMP GROUP BY customer_id),"""
        ev_join = "LEFT JOIN ev USING (customer_id)"
    if "n_categories" in features and categories:
        cats_cte = f"""
cats AS (SELECT customer_id, count(*) AS n_categories FROM {categories} GROUP BY customer_id),"""
        cats_join = "LEFT JOIN cats USING (customer_id)"
    elif "n_categories" in features:
        # its own grouping of distinct pairs: a DISTINCT aggregate inside ``life`` made that
        # whole aggregation 5x slower (1.6 s against 0.3 + 0.75 s at 10M lines)
        cats_cte = """
cats AS (
  SELECT customer_id, count(*) AS n_categories
  FROM (SELECT DISTINCT customer_id, category FROM buys WHERE category IS NOT NULL)
  GROUP BY customer_id),"""
        cats_join = "LEFT JOIN cats USING (customer_id)"
    if "cancel_rate" in features:
        cx_cte = f"""
cx AS (
  SELECT customer_id, count(*) AS n_cancelled FROM cancelled_orders c
  WHERE ts >= $start::TIMESTAMP AND ts < $snap::TIMESTAMP{in_sample}
    AND NOT EXISTS (SELECT 1 FROM buys b WHERE b.customer_id = c.customer_id
                                          AND b.order_id = c.order_id)
  GROUP BY customer_id),"""
        cx_join = "LEFT JOIN cx USING (customer_id)"
    return ev_cte + cats_cte + cx_cte, "\n".join((ev_join, cats_join, cx_join))


def _feature_sql(loaded: LoadedData, available: set[str], features: list[str],
                 attrs: list[str], sample: CustomerSample | None,
                 categories: str | None = None) -> str:
    """The whole feature query: the lines read once (``life`` aggregates them all in one pass),
    orders and months from the window's purchases, the optional aggregates, joined on ids."""
    has_events = "events" in available
    in_sample = f" AND {sample.where()}" if sample else ""
    extra = _life_extra(available)
    ctes, joins = _optional_ctes(features, has_events, in_sample, categories)
    # the mean order value in each half of the window (one pass; ranking each customer's
    # orders took 3 s at a million customers)
    last_two = (",\n         avg(amount) FILTER (WHERE ts >= $mid::TIMESTAMP) AS aov_late,"
                "\n         avg(amount) FILTER (WHERE ts < $mid::TIMESTAMP) AS aov_early,"
                "\n         count(*) FILTER (WHERE ts >= $mid::TIMESTAMP) AS n_late,"
                "\n         count(*) FILTER (WHERE ts < $mid::TIMESTAMP) AS n_early"
                if "order_value_trend" in features else "")
    cust_join = "LEFT JOIN customers c USING (customer_id)" if loaded.customer_files else ""
    # the lines and the purchases are read again where used, not held (NOT MATERIALIZED):
    # holding 10M lines cost 300 MB at the run's peak, and reading them again no time
    return f"""
WITH tx AS NOT MATERIALIZED (SELECT * FROM transactions WHERE ts < $snap::TIMESTAMP{in_sample}),
buys AS NOT MATERIALIZED (
  SELECT * FROM tx WHERE ts >= $start::TIMESTAMP AND amount > 0 AND NOT is_return),
-- everything that aggregates lines directly, in one pass (FILTER picks each feature's lines)
life AS (
  SELECT customer_id, min(ts) AS first_ts,
         max(ts) FILTER (WHERE amount > 0 AND NOT is_return) AS last_buy,
         sum(amount) FILTER (WHERE ts >= $start::TIMESTAMP) AS net,
         sum(CASE WHEN is_return OR amount < 0 THEN -amount ELSE 0 END)
           FILTER (WHERE ts >= $start::TIMESTAMP) AS returned,
         avg(CAST(is_new_product AS DOUBLE)) FILTER (WHERE {_BUY}) AS new_product_share,
         coalesce(sum(amount) FILTER (WHERE {_BUY} AND ts < $mid::TIMESTAMP), 0) AS early,
         coalesce(sum(amount) FILTER (WHERE {_BUY} AND ts >= $mid::TIMESTAMP), 0) AS late,
         sum(amount) FILTER (WHERE {_BUY} AND ts >= $quarter::TIMESTAMP) AS spend_quarter{extra}
  FROM tx GROUP BY customer_id),
orders AS (
  SELECT customer_id, order_id, min(ts) AS ts, max(ts) AS last_ts, sum(amount) AS amount,
         avg(payment_delay_days) AS delay
  FROM buys GROUP BY customer_id, order_id),
o AS (
  SELECT customer_id, count(*) AS frequency, sum(amount) AS gross, min(ts) AS first_w,
         max(ts) AS last_w, avg(delay) AS mean_payment_delay,
         count(*) FILTER (WHERE last_ts >= $quarter::TIMESTAMP) AS orders_quarter,
         avg(CASE WHEN dayofweek(ts) IN (0, 6) THEN 1.0 ELSE 0.0 END) AS weekend_share,
         max(amount) AS max_order{last_two}
  FROM orders GROUP BY customer_id),
monthly AS (
  SELECT customer_id, date_trunc('month', ts) AS month, sum(amount) AS rev
  FROM buys GROUP BY customer_id, date_trunc('month', ts)),
m AS (
  SELECT customer_id, sum(rev) AS s1, sum(rev * rev) AS s2,
         date_diff('month', min(month), date_trunc('month', $snap::TIMESTAMP - INTERVAL 1 SECOND)) + 1
           AS n_months
  FROM monthly GROUP BY customer_id),
{ctes}
ids AS ({_ids_sql(loaded, has_events, sample)})
SELECT ids.customer_id,
  coalesce(o.frequency, 0) > 0 AS is_buyer,
  l.customer_id IS NULL AS is_prospect,
  {_select_columns(features, attrs, loaded)}
FROM ids
LEFT JOIN life l USING (customer_id)
LEFT JOIN o USING (customer_id)
LEFT JOIN m USING (customer_id)
{joins}
{cust_join}
ORDER BY coalesce(o.frequency, 0) = 0, ids.customer_id
"""


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pd.DataFrame:
    """``con.execute(sql, params).df()``, the same frame, with its text columns taken from
    Arrow: DuckDB hands pandas a Python string per row, which pandas then turns into Arrow
    text again (a million customers' id and four attributes: 7.6 s -> 5.5 s for the query).
    Doubles, and booleans without a missing value, are converted by Arrow too: the same
    float64 (NaN where missing) and bool columns, without the table going back through DuckDB
    first (a copy more of every column at the run's peak: 200 MB at a million customers). The
    other columns go through DuckDB's own conversion (nullable integers and booleans, dates
    as datetimes), as before; an all-empty text column too (``.df()`` gives objects)."""
    table = con.sql(sql, params=params).to_arrow_table()
    text, plain = [], []
    for f, col in zip(table.schema, table.columns, strict=True):
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)) \
                and col.null_count < len(col):
            text.append(f.name)
        elif pa.types.is_float64(f.type) or (pa.types.is_boolean(f.type) and not col.null_count):
            plain.append(f.name)
    if not (text or plain) or len(set(table.column_names)) < table.num_columns:
        return con.from_arrow(table).df()
    rest = table.drop_columns(text + plain)
    frame = con.from_arrow(rest).df() if rest.num_columns else None
    plain_frame = table.select(plain).to_pandas() if plain else None
    columns = {c: table.column(c).to_pandas() if c in text
               else plain_frame[c] if c in plain else frame[c] for c in table.column_names}
    return pd.DataFrame(columns, copy=False)


def build_customer_features(
    con: duckdb.DuckDBPyConnection,
    loaded: LoadedData,
    snapshot_date: dt.date | str | None = None,
    lookback_days: int = 1095,
    include: list[str] | None = None,
    sample: CustomerSample | None = None,
    categories: str | None = None,
) -> FeatureResult:
    """Aggregate the ``transactions`` (and ``customers``) views into one row per customer.

    Parameters
    ----------
    snapshot_date:
        Features describe customers as of the start of this day; default the day after the
        last transaction.
    lookback_days:
        Length of the behavioural window ending at the snapshot.
    include:
        Features to compute (default all); a requested feature whose source column is absent
        is skipped and reported in ``skipped``.
    sample:
        Only these customers (the calibration pass of a large base).
    categories:
        A table to keep each customer's purchase value per category in the window in
        (:func:`keep_categories`), which ``n_categories`` then counts.
    """
    snap = _resolve_snap(con, loaded, snapshot_date)
    if lookback_days < 2:
        raise DataError(f"features.lookback_days must be at least 2, got {lookback_days}")
    start = snap - dt.timedelta(days=lookback_days)
    available = set(loaded.available) | ({"signup_date"} if loaded.has_signup else set())
    features, skipped = _choose_features(include, available)
    attrs = list(loaded.attributes) if loaded.customer_files else []
    params = {"snap": snap, "start": start, "mid": snap - dt.timedelta(days=lookback_days // 2),
              "lookback": float(lookback_days),
              "quarter": snap - dt.timedelta(days=min(QUARTER_DAYS, lookback_days))}
    if "events" in available:
        params["hot"] = snap - dt.timedelta(days=HOT_DAYS)
    if categories and "category" in available:
        keep_categories(con, categories, snap, start, sample)
    else:
        categories = None
    sql = _feature_sql(loaded, available, features, attrs, sample, categories)
    # only the parameters the query uses (DuckDB refuses unused ones: features.include
    # without mean_interpurchase_days left $lookback unused)
    table = query_frame(con, sql, {k: v for k, v in params.items() if f"${k}" in sql})
    if not table["is_buyer"].any():
        raise DataError(
            f"no customer bought anything between {start} and {snap} (the lookback window). "
            "Check features.snapshot_date and features.lookback_days against the data's dates."
        )
    return FeatureResult(table=table, snapshot_date=snap, window_start=start,
                         features=with_derived(table, features), attributes=attrs,
                         skipped=skipped)


def keep_categories(con: duckdb.DuckDBPyConnection, table: str, snap: dt.date, start: dt.date,
                    sample: CustomerSample | None = None) -> None:
    """Each customer's purchase value per category in [start, snap) as ``table``: the distinct
    pairs ``n_categories`` counts, which the segment mix sums per segment (2M rows instead of
    the 10M lines at a million customers)."""
    in_sample = f" AND {sample.where()}" if sample else ""
    con.execute(f"""CREATE OR REPLACE TABLE {table} AS
        SELECT customer_id, category, sum(amount) AS value FROM transactions
        WHERE ts < $snap::TIMESTAMP AND {_BUY} AND category IS NOT NULL{in_sample}
        GROUP BY customer_id, category""", {"snap": snap, "start": start})
