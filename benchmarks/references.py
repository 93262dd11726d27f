"""Hand-written reference implementations of the customer features, for the benchmarks.

The same columns as :mod:`clustering.features.customer` (recency, frequency, monetary, mean order value,
tenure, inter-purchase interval, monthly revenue CV, growth, return rate, categories,
new-product share, payment delay) written the way an analyst would, straight on the Parquet
files, without the data checks. They set the speed a well-written single query achieves;
``duckdb_checked_reference`` adds the product's data checks first, for a like-for-like ratio.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd


def duckdb_reference(files: str, snapshot: dt.date, lookback_days: int,
                     con: duckdb.DuckDBPyConnection | None = None,
                     source: str | None = None) -> pd.DataFrame:
    start = snapshot - dt.timedelta(days=lookback_days)
    mid = snapshot - dt.timedelta(days=lookback_days // 2)
    source = source or f"read_parquet('{files}')"
    return (con or duckdb).execute(f"""
    WITH t AS (SELECT * FROM {source} WHERE timestamp < $snap::TIMESTAMP),
    w AS (SELECT * FROM t WHERE timestamp >= $start::TIMESTAMP),
    b AS (SELECT * FROM w WHERE amount > 0 AND NOT is_return),
    o AS (SELECT customer_id, order_id, min(timestamp) ts, sum(amount) amt,
                 avg(payment_delay_days) delay FROM b GROUP BY ALL),
    m AS (SELECT customer_id, date_trunc('month', timestamp) mo, sum(amount) rev
          FROM b GROUP BY ALL)
    SELECT o.customer_id,
      date_diff('day', CAST(max(ts) AS DATE), $snap::DATE) AS recency_days,
      count(*) AS frequency, sum(amt) / count(*) AS avg_order_value,
      (max(ts)::DATE - min(ts)::DATE) / greatest(count(*) - 1, 1) AS mean_interpurchase_days,
      avg(delay) AS mean_payment_delay,
      any_value(net) AS monetary_total, any_value(ret) / sum(amt) AS return_rate,
      any_value(tenure) AS tenure_days, any_value(cv) AS revenue_cv_monthly,
      any_value(growth) AS revenue_growth, any_value(ncat) AS n_categories,
      any_value(newshare) AS new_product_share
    FROM o
    JOIN (SELECT customer_id, sum(amount) net,
                 sum(CASE WHEN amount < 0 OR is_return THEN -amount ELSE 0 END) ret
          FROM w GROUP BY 1) n USING (customer_id)
    JOIN (SELECT customer_id, date_diff('day', CAST(min(timestamp) AS DATE), $snap::DATE) tenure
          FROM t GROUP BY 1) l USING (customer_id)
    JOIN (SELECT customer_id, stddev_pop(coalesce(rev, 0)) / avg(coalesce(rev, 0)) cv FROM (
            SELECT customer_id, mo, rev FROM m) GROUP BY 1) v USING (customer_id)
    JOIN (SELECT customer_id,
                 (sum(amount) FILTER (WHERE timestamp >= $mid::TIMESTAMP)
                  - coalesce(sum(amount) FILTER (WHERE timestamp < $mid::TIMESTAMP), 0))
                 / sum(amount) AS growth,
                 count(DISTINCT category) ncat, avg(is_new_product::INT) newshare
          FROM b GROUP BY 1) g USING (customer_id)
    GROUP BY ALL
    """, {"snap": snapshot, "start": start, "mid": mid}).df()


def duckdb_checked_reference(files: str, snapshot: dt.date, lookback_days: int) -> pd.DataFrame:
    """The DuckDB reference after the same data checks as the product, written plainly: exact
    duplicate lines counted and kept once, rows without id, date or finite amount, zero
    amounts, lines after the snapshot and returns before the customer's first purchase set
    aside with their reason and counted; the features on what is left. The like-for-like
    reference for the product's features stage (which also reads any file format, sniffs
    dialects and writes the quarantine only when asked)."""
    con = duckdb.connect()
    con.execute(f"""CREATE TEMP TABLE raw AS SELECT *, count(*) - 1 AS copies
                    FROM read_parquet('{files}') GROUP BY ALL""")
    valid = ("customer_id IS NOT NULL AND timestamp IS NOT NULL AND amount IS NOT NULL "
             "AND isfinite(amount)")
    con.execute(f"""CREATE TEMP TABLE first_buy AS SELECT customer_id, min(timestamp) AS fb
                    FROM raw WHERE {valid} AND amount > 0 AND NOT is_return
                      AND timestamp < $snap::TIMESTAMP GROUP BY 1""", {"snap": snapshot})
    con.execute("""CREATE TEMP TABLE checked AS SELECT r.*, CASE
            WHEN r.customer_id IS NULL THEN 'missing_customer_id'
            WHEN r.timestamp IS NULL THEN 'bad_date'
            WHEN r.amount IS NULL OR NOT isfinite(r.amount) THEN 'bad_amount'
            WHEN r.timestamp >= $snap::TIMESTAMP THEN 'after_snapshot'
            WHEN r.amount = 0 THEN 'zero_amount'
            WHEN (r.is_return OR r.amount < 0) AND (f.fb IS NULL OR f.fb > r.timestamp)
                THEN 'unmatched_return' END AS reason
        FROM raw r LEFT JOIN first_buy f USING (customer_id)""", {"snap": snapshot})
    con.execute("CREATE TEMP TABLE clean AS SELECT * EXCLUDE (reason, copies) FROM checked "
                "WHERE reason IS NULL")
    con.execute("SELECT reason, count(*) FROM checked WHERE reason IS NOT NULL GROUP BY 1 "
                "UNION ALL SELECT 'duplicate', sum(copies) FROM checked").fetchall()
    return duckdb_reference(files, snapshot, lookback_days, con, "clean")


def polars_reference(files: str, snapshot: dt.date, lookback_days: int) -> pd.DataFrame:
    import polars as pl

    snap = dt.datetime.combine(snapshot, dt.time())
    start = snap - dt.timedelta(days=lookback_days)
    mid = snap - dt.timedelta(days=lookback_days // 2)
    t = pl.scan_parquet(files).filter(pl.col("timestamp") < snap)
    w = t.filter(pl.col("timestamp") >= start)
    b = w.filter((pl.col("amount") > 0) & ~pl.col("is_return"))
    orders = b.group_by("customer_id", "order_id").agg(
        pl.col("timestamp").min().alias("ts"), pl.col("amount").sum().alias("amt"),
        pl.col("payment_delay_days").mean().alias("delay"))
    o = orders.group_by("customer_id").agg(
        ((pl.lit(snap) - pl.col("ts").max()).dt.total_days()).alias("recency_days"),
        pl.len().alias("frequency"),
        (pl.col("amt").sum() / pl.len()).alias("avg_order_value"),
        ((pl.col("ts").max() - pl.col("ts").min()).dt.total_days()
         / pl.max_horizontal(pl.len() - 1, 1)).alias("mean_interpurchase_days"),
        pl.col("delay").mean().alias("mean_payment_delay"),
        pl.col("amt").sum().alias("gross"))
    n = w.group_by("customer_id").agg(
        pl.col("amount").sum().alias("monetary_total"),
        pl.when((pl.col("amount") < 0) | pl.col("is_return")).then(-pl.col("amount"))
        .otherwise(0).sum().alias("ret"))
    life = t.group_by("customer_id").agg(
        (pl.lit(snap) - pl.col("timestamp").min()).dt.total_days().alias("tenure_days"))
    monthly = b.group_by("customer_id", pl.col("timestamp").dt.truncate("1mo").alias("mo")).agg(
        pl.col("amount").sum().alias("rev"))
    cv = monthly.group_by("customer_id").agg(
        (pl.col("rev").std(ddof=0) / pl.col("rev").mean()).alias("revenue_cv_monthly"))
    g = b.group_by("customer_id").agg(
        ((pl.col("amount").filter(pl.col("timestamp") >= mid).sum()
          - pl.col("amount").filter(pl.col("timestamp") < mid).sum())
         / pl.col("amount").sum()).alias("revenue_growth"),
        pl.col("category").n_unique().alias("n_categories"),
        pl.col("is_new_product").cast(pl.Float64).mean().alias("new_product_share"))
    out = (o.join(n, on="customer_id").join(life, on="customer_id").join(cv, on="customer_id")
           .join(g, on="customer_id")
           .with_columns((pl.col("ret") / pl.col("gross")).alias("return_rate")))
    return out.collect().to_pandas()


def pandas_reference(files: str, snapshot: dt.date, lookback_days: int) -> pd.DataFrame:
    snap = pd.Timestamp(snapshot)
    start = snap - pd.Timedelta(days=lookback_days)
    mid = snap - pd.Timedelta(days=lookback_days // 2)
    t = pd.read_parquet(files.rsplit("/", 1)[0])
    t = t[t["timestamp"] < snap]
    w = t[t["timestamp"] >= start]
    b = w[(w["amount"] > 0) & ~w["is_return"]]
    orders = b.groupby(["customer_id", "order_id"], sort=False).agg(
        ts=("timestamp", "min"), amt=("amount", "sum"), delay=("payment_delay_days", "mean"))
    o = orders.groupby(level=0, sort=False).agg(last=("ts", "max"), first=("ts", "min"),
                                                frequency=("amt", "size"), gross=("amt", "sum"),
                                                mean_payment_delay=("delay", "mean"))
    o["recency_days"] = (snap - o["last"]).dt.days
    o["avg_order_value"] = o["gross"] / o["frequency"]
    o["mean_interpurchase_days"] = (o["last"] - o["first"]).dt.days / (o["frequency"] - 1).clip(lower=1)
    ret = (-w["amount"]).where((w["amount"] < 0) | w["is_return"], 0)
    n = pd.DataFrame({"monetary_total": w.groupby("customer_id")["amount"].sum(),
                      "ret": ret.groupby(w["customer_id"]).sum()})
    tenure = (snap - t.groupby("customer_id")["timestamp"].min()).dt.days.rename("tenure_days")
    monthly = b.groupby(["customer_id", b["timestamp"].dt.to_period("M")])["amount"].sum()
    per_customer = monthly.groupby(level=0)
    cv = (per_customer.std(ddof=0) / per_customer.mean()).rename("revenue_cv_monthly")
    late = b["amount"].where(b["timestamp"] >= mid, 0).groupby(b["customer_id"]).sum()
    early = b["amount"].where(b["timestamp"] < mid, 0).groupby(b["customer_id"]).sum()
    g = pd.DataFrame({"revenue_growth": (late - early) / (late + early),
                      "n_categories": b.groupby("customer_id")["category"].nunique(),
                      "new_product_share": b.groupby("customer_id")["is_new_product"].mean()})
    out = o.join(n).join(tenure).join(cv).join(g)
    out["return_rate"] = out["ret"] / out["gross"]
    return out.reset_index()
