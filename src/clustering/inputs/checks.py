"""Data quality: checks on the typed transactions, with a policy per problem.

Rows are never dropped silently. Each failing row is set aside in the ``quarantine`` table
with the first matching reason code:

=================== =====================================================================
reason              rule
=================== =====================================================================
junk_line           an empty date cell: a report footer (TOTAL row, "Exported by ..."),
                    a blank or separator line; or the header line again (exports joined
                    with ``cat``; in another column order the run stops: its lines would
                    go into the wrong columns)
missing_customer_id the customer id is empty or a placeholder (``N/A``, ``-``, ``0``, ``GUEST``,
                    ...: guest checkouts; :mod:`clustering.inputs.ids`), or the label of a
                    total row (``Total``, ``Summe``) on a line without an order id
bad_date            the date does not parse with the configured format, or its year is
                    outside 1900-2200
future_date         dated after tomorrow (the day the run starts, UTC): a typed year (2042 for
                    2024) would otherwise move the snapshot years ahead; named with its count
bad_amount          the amount (or quantity x unit price) is not a finite number
cancelled_order     the order's status (``data.columns.status``) says it never stood:
                    cancelled, unavailable, voided, refunded (``data.cancelled_statuses``)
unknown_currency    a currency without a rate in ``currency_rates`` (mixed currencies)
after_snapshot      dated on or after the snapshot (kept out of the features: no leakage)
zero_amount         amount 0 (samples, corrections)
unmatched_return    a return / cancellation / negative line of a customer with no purchase
                    on or before it (nothing to net it against)
duplicate           an exact copy of an earlier line (one row per duplicated line, with the
                    number of copies removed)
=================== =====================================================================

Matched returns stay in the data and are netted against their customer's revenue. Mixed
currencies fail unless a rate table converts them to the data's currency. When more than
``max_share`` of the rows (``after_snapshot``, ``duplicate`` and ``cancelled_order`` not
counted: those are deliberate) would be
quarantined, the run fails: the data or the column mapping is wrong, not a few rows. Up to
``JUNK_ALLOWANCE`` junk lines are not counted either: footers are never a reason to reject a
file. With several files, each row of the quarantine names its ``source_file``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from clustering.errors import DataError
from clustering.files import atomic_path
from clustering.inputs.dialect import PLAUSIBLE_YEARS
from clustering.inputs.ids import SCIENTIFIC_ID, no_customer_sql, total_row_sql
from clustering.inputs.reading import FILE_COL, GROUP_COL
from clustering.inputs.return_flags import CALLED_OFF, text_key
from clustering.inputs.sql import ident, literal, literals

#: junk lines (footers) a file set may hold without counting towards ``max_share``
JUNK_ALLOWANCE = 20

CANONICAL = ["customer_id", "order_id", "ts", "amount", "quantity", "category", "is_return",
             "payment_delay_days", "is_new_product"]
#: columns the transactions table has only when the data gives them (costs or margins, discounts)
EXTRA = ["profit", "discount"]


@dataclass
class QualityPolicy:
    """What to do with problem rows (see the module docstring for the reasons)."""

    dedupe: bool = True
    max_share: float = 0.05
    currency_rates: dict[str, float] | None = None
    currency: str | None = None  # what the amounts are in (data.currency; the model's when scoring)


@dataclass
class QualityReport:
    rows_read: int
    rows_kept: int
    counts: dict[str, int] = field(default_factory=dict)
    snapshot_date: dt.date | None = None
    per_file: dict[str, tuple[int, int]] = field(default_factory=dict)  # file: (read, kept)
    warnings: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.quarantined:
            return f"{self.rows_read:,} rows read, none quarantined"
        parts = ", ".join(f"{k} {v:,}" for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1]))
        return (f"{self.rows_read:,} rows read, {self.rows_kept:,} kept, "
                f"{self.quarantined:,} quarantined ({parts})")


#: what to check when a reason accounts for many of the rows that fail
REASON_HINTS = {
    "missing_customer_id": "Lines without a customer id are guest checkouts (a quarter of the "
                           "lines of the UCI Online Retail data) or a wrong data.columns."
                           "customer_id.",
    "bad_date": "Unreadable dates: check data.columns.timestamp and data.date_format (null "
                "sniffs it from the values).",
    "future_date": "Dates after today: a mistyped year (2042 for 2024) or a day-month swap; "
                   "correct them in the export, or leave them in the quarantine.",
    "bad_amount": "Blank or unreadable amounts: check data.columns.amount (or quantity and "
                  "unit_price) and data.decimal.",
    "junk_line": "Lines without a date are footers or subtotals (a customer's or a day's "
                 "total): leave subtotals out of the export, or set them aside.",
    "unknown_currency": "Currencies without a rate: add them to data.currency_rates.",
    "zero_amount": "Zero amounts: check that data.columns.amount is the line's value.",
    "unmatched_return": "Returns without an earlier purchase: the data starts after the "
                        "purchases they return, or data.columns.is_return flags sales.",
}


def resolve_snapshot(snapshot_date, last_timestamp, where: str) -> dt.date:
    """The given snapshot, or the day after ``last_timestamp()`` (only called then); the one
    rule of every engine. The checks call it twice without a configured date: first on the
    lines that have an id, a date and an amount (to set the checks' cut-off), then on the lines
    that passed every check, which is the snapshot the features use."""
    if snapshot_date is not None:
        return pd.Timestamp(snapshot_date).date()
    last = last_timestamp()
    if last is None:
        raise DataError(f"{where}: no row has a customer id, a parseable date and an amount")
    return (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date()


@dataclass
class _Tally:
    """What the split of ``_checked`` counted: the reasons' rows and the exact copies."""

    counts: dict[str, int]  # reason -> quarantined rows
    n_read: int  # lines read, copies included
    n_extra: int  # extra copies of a line (set aside as duplicates)
    copied_value: float  # their absolute value
    kept_value: float  # the absolute value of the distinct lines


def _rates_sql(con: duckdb.DuckDBPyConnection, policy: QualityPolicy, where: str,
               has_currency: bool) -> str:
    """SQL: each line's rate to the data's currency ("NULL" when there is nothing to convert);
    mixed currencies without rates fail."""
    rates_sql = "NULL"
    if has_currency:
        currencies = [r[0] for r in con.execute(
            "SELECT DISTINCT currency FROM transactions_streamed WHERE currency IS NOT NULL "
            "ORDER BY 1").fetchall()]
        if len(currencies) > 1 and not policy.currency_rates:
            raise DataError(f"{where}: {len(currencies)} currencies in the currency column "
                            f"({', '.join(currencies[:8])}); give data.currency_rates "
                            "{CODE: rate to data.currency} or filter the data to one currency")
        if len(currencies) == 1 and not policy.currency_rates:
            _same_currency(currencies[0], policy.currency, where)
        if policy.currency_rates:
            cases = " ".join(f"WHEN '{c.replace(chr(39), '')}' THEN {float(r)}"
                             for c, r in policy.currency_rates.items())
            rates_sql = f"(CASE currency {cases} END)"
    return rates_sql


def _same_currency(found: str, expected: str | None, where: str) -> None:
    """Stop when every line is in one currency, but not the one the amounts are taken to be
    in: a USD file scored with a EUR model was accepted without a word."""
    if expected and found.strip().upper() != str(expected).strip().upper():
        raise DataError(f"{where}: the currency column says {found} on every line, but the "
                        f"amounts are taken as {expected} (data.currency; when scoring, the "
                        f"model's): give data.currency_rates={{{found}: <{expected} per "
                        f"{found}>}} to convert them, or data.currency={found} when training on "
                        "them")


def future_from(today: dt.date | None = None) -> dt.date:
    """The first day no transaction can have: the day after tomorrow in UTC (an export made
    late today in a zone ahead of UTC holds tomorrow's date)."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return today + dt.timedelta(days=2)


def _check_lines(con: duckdb.DuckDBPyConnection, rates_sql: str,
                 snapshot: dt.date | None) -> None:
    """Materialise ``_checked``: the typed lines (amounts converted) with the first failing
    reason of each, NULL for a line that passes."""
    amount = f"(amount * {rates_sql})" if rates_sql != "NULL" else "amount"

    def source(view: str) -> str:
        return (f"SELECT * REPLACE ({amount} AS amount) FROM {view}"
                if rates_sql != "NULL" else f"SELECT * FROM {view}")

    base = source("transactions_typed")
    after = (f"WHEN t.ts >= TIMESTAMP '{snapshot.isoformat()}' THEN 'after_snapshot'"
             if snapshot is not None else "")
    currency_rule = (f"WHEN {rates_sql} IS NULL THEN 'unknown_currency'"
                     if rates_sql != "NULL" else "")
    # (a table, not TEMP: its clean lines become ``transactions``, which the background
    # feature pass reads from its own connection)
    con.execute(f"""
        CREATE OR REPLACE TABLE _checked AS
        SELECT t.*, CASE
            WHEN t._no_date THEN 'junk_line'
            WHEN {no_customer_sql('t.customer_id')} OR {total_row_sql('t.customer_id', 't._no_order')}
                THEN 'missing_customer_id'
            WHEN t.ts IS NULL OR NOT {plausible_date_sql('t.ts')} THEN 'bad_date'
            WHEN t.ts >= TIMESTAMP '{future_from().isoformat()}' THEN 'future_date'
            {currency_rule}
            WHEN t.amount IS NULL OR NOT isfinite(t.amount) THEN 'bad_amount'
            WHEN t._cancelled THEN 'cancelled_order'
            {after}
            WHEN t.amount = 0 THEN 'zero_amount'
            END AS reason
        FROM ({base}) t""")


def _mark_unmatched_returns(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """Set aside the returns with no purchase of their customer on or before them, fail on ids
    Excel wrote in scientific notation, and keep the buyers' ids as ``_buyer_ids``."""
    # returns with no purchase on or before them: each customer's first purchase among the
    # lines that passed, then only the return lines are looked at (one read of the source,
    # where a first pass over it for the first purchases took 2.5 s at 10M lines)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _first_buy AS
        SELECT customer_id, min(ts) AS first_buy FROM _checked
        WHERE reason IS NULL AND amount > 0 AND NOT coalesce(is_return, false)
        GROUP BY customer_id""")
    con.execute("""
        UPDATE _checked AS c SET reason = 'unmatched_return'
        WHERE c.reason IS NULL AND (coalesce(c.is_return, false) OR c.amount < 0)
          AND NOT EXISTS (SELECT 1 FROM _first_buy f
                          WHERE f.customer_id = c.customer_id AND f.first_buy <= c.ts)""")
    scientific, example = con.execute(f"""
        SELECT count(*), min(customer_id) FROM _first_buy
        WHERE customer_id LIKE '%+%' AND regexp_full_match(customer_id, '{SCIENTIFIC_ID}')"""
                                      ).fetchall()[0]
    if scientific:
        lines = con.execute(f"""SELECT count(*) FROM _checked WHERE customer_id LIKE '%+%'
            AND regexp_full_match(customer_id, '{SCIENTIFIC_ID}')""").fetchall()[0][0]
        raise DataError(f"{where}: the customer id of {lines:,} lines is a number in scientific "
                        f"notation (e.g. '{example}'): Excel writes long ids that way and drops their "
                        "digits, so different customers would share one id. Export the id "
                        "column as text (in Excel, format it as Text before saving) and run again.")
    # every customer left in ``transactions`` has a purchase there (a return needs one before
    # it), so these are the buyers' ids: kept as ``_buyer_ids`` for the customers table's
    # checks (:func:`clustering.inputs.attributes.customer_id_warnings`), dropped after loading
    con.execute("DROP TABLE IF EXISTS _buyer_ids")
    con.execute("ALTER TABLE _first_buy RENAME TO _buyer_ids")


def _split_checked(con: duckdb.DuckDBPyConnection) -> _Tally:
    """Write the lines ``_checked`` sets aside out as the ``cancelled_orders`` and
    ``quarantine`` tables (the duplicates included) and count them."""
    present = [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE _checked)").fetchall()]
    # orders whose status cancelled them are set aside, but how often a customer cancels is a
    # trait of their own (the features' cancel_rate): one row per such order, for every pass
    # (a table, not TEMP: the background feature pass reads it from its own connection)
    called_off = (f"regexp_matches({text_key('raw_status')}, '{CALLED_OFF}')"
                  if "raw_status" in present else "false")
    con.execute(f"""CREATE OR REPLACE TABLE cancelled_orders AS
        SELECT customer_id, order_id, min(ts) AS ts FROM _checked
        WHERE reason = 'cancelled_order' AND {called_off} GROUP BY customer_id, order_id""")
    raw = [c for c in present if c.startswith("raw_")]
    as_text = (" REPLACE (" + ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in raw) + ")"
               if raw else "")
    con.execute("CREATE OR REPLACE TEMP TABLE quarantine AS SELECT reason, 1 AS copies, * "
                f"EXCLUDE (reason, _copies, _no_date, _no_order, _cancelled){as_text} FROM _checked "
                "WHERE reason IS NOT NULL")
    counts = dict(con.execute("SELECT reason, count(*) FROM quarantine GROUP BY 1").fetchall())
    n_distinct, n_extra, copied_value, kept_value = con.execute("""
        SELECT count(*), coalesce(sum(_copies), 0),
               coalesce(sum(_copies * abs(amount)) FILTER (WHERE _copies > 0 AND isfinite(amount)), 0),
               coalesce(sum(abs(amount)) FILTER (WHERE isfinite(amount)), 0)
        FROM _checked""").fetchall()[0]
    n_read = n_distinct + n_extra
    if n_extra:
        con.execute("""INSERT INTO quarantine BY NAME
            SELECT 'duplicate' AS reason, _copies AS copies,
                   * EXCLUDE (_copies, reason, _no_date, _no_order, _cancelled)
            FROM _checked WHERE _copies > 0""")
        counts["duplicate"] = int(n_extra)
    return _Tally(counts, n_read, n_extra, copied_value, kept_value)


def _keep_clean_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Turn ``_checked`` into the ``transactions`` table: its clean lines with the canonical
    columns. Deleting the few lines set aside and dropping columns moves no data, where
    copying the clean lines out took 0.6-0.7 s at 10M lines (and held them twice)."""
    con.execute("DELETE FROM _checked WHERE reason IS NOT NULL")
    keep = set(CANONICAL + EXTRA)
    for (c,) in con.execute("SELECT column_name FROM (DESCRIBE _checked)").fetchall():
        if c not in keep:
            con.execute(f"ALTER TABLE _checked DROP COLUMN {ident(c)}")
    con.execute("DROP TABLE IF EXISTS transactions")
    con.execute("ALTER TABLE _checked RENAME TO transactions")


def _per_file_counts(con: duckdb.DuckDBPyConnection
                     ) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """File -> (rows read, kept) when the lines name their file, and a line for each file
    whose rows mostly fail the checks."""
    per_file, lost = {}, []
    if "source_file" in {c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE _checked)"
                                                   ).fetchall()}:
        failing = "reason IS NOT NULL AND reason NOT IN ('after_snapshot', 'cancelled_order')"
        rows = con.execute(
            "SELECT source_file, sum(1 + _copies), count(*) FILTER (WHERE reason IS NULL), "
            f"count(*), count(*) FILTER (WHERE {failing}), mode(reason) FILTER (WHERE {failing}) "
            "FROM _checked GROUP BY 1 ORDER BY 1").fetchall()
        per_file = {f: (int(n), int(k)) for f, n, k, *_ in rows}
        # a file the checks empty (another date style, a renamed column) moves the snapshot
        # and leaves out a period, however small its share of all the rows
        lost = [f"{Path(f).name}: {bad:,} of its {lines:,} rows set aside (mostly {why})"
                for f, _, _, lines, bad, why in rows if lines >= 5 and bad > 0.5 * lines]
    return per_file, lost


def _report_warnings(report: QualityReport, tally: _Tally, lost: list[str], where: str) -> None:
    """Warn of files whose rows mostly fail and of many exact copies (set aside, but maybe
    real lines)."""
    n_extra, n_read = tally.n_extra, tally.n_read
    copied_value, kept_value = tally.copied_value, tally.kept_value
    if lost:
        report.warnings.append(
            f"{where}: most rows of {len(lost)} file(s) fail the checks: " + "; ".join(lost[:5])
            + (f"; ... ({len(lost) - 5} more)" if len(lost) > 5 else "")
            + ". Check that they have the same columns and formats as the other files (the "
            "quarantine holds their rows)")
    if n_extra and n_extra > 0.001 * n_read:
        share = copied_value / (copied_value + kept_value) if copied_value + kept_value else 0.0
        report.warnings.append(
            f"{where}: {int(n_extra):,} lines ({n_extra / n_read:.1%}) were exact copies of another "
            f"line and were set aside as duplicates, {copied_value:,.2f} of value ({share:.1%}: of "
            f"{copied_value + kept_value:,.2f}). "
            "Overlapping exports make such copies; if yours can hold two identical lines that "
            "are both real (the same item twice in one order without a line number, two equal "
            "vouchers), set data.quality.dedupe=false")


def _check_share(con: duckdb.DuckDBPyConnection, policy: QualityPolicy, report: QualityReport,
                 tally: _Tally, where: str, has_orders: bool) -> None:
    """Fail when more than ``max_share`` of the rows fail the checks (deliberate reasons and a
    few junk lines not counted), with what to check for the main reasons."""
    counts, n_read = tally.counts, tally.n_read
    junk = counts.get("junk_line", 0)
    errors = (report.quarantined - counts.get("after_snapshot", 0) - counts.get("duplicate", 0)
              - counts.get("cancelled_order", 0)
              - (junk if junk <= JUNK_ALLOWANCE else 0))
    if n_read and errors / n_read > policy.max_share:
        raise DataError(
            f"{where}: {errors:,} of {n_read:,} rows ({errors / n_read:.1%}) fail the checks, more "
            f"than data.quality.max_share={policy.max_share:.0%}: {report.summary()}. "
            + "".join(REASON_HINTS[r] + " " for r, n in counts.items()
                      if r in REASON_HINTS and n > 0.01 * n_read)
            + (_order_total_hint(con, has_orders) if counts.get("bad_amount", 0) > 0.01 * n_read
               else "")
            + "If these rows are expected, raise data.quality.max_share to "
            f"{min(1.0, errors / n_read + 0.01):.2f} to set them aside and run on the rest.")


def apply_quality(con: duckdb.DuckDBPyConnection, policy: QualityPolicy, snapshot_date,
                  where: str, has_currency: bool, has_orders: bool = True,
                  header: tuple[list[str], dict[str, str]] | None = None) -> QualityReport:
    """Split ``transactions_typed`` into the ``transactions`` and ``quarantine`` tables.

    The deduplicated lines are materialised once, with their check result and number of extra
    copies, as ``_checked`` (the currencies, which copies cannot change, are listed from the
    source as it streams); once the quarantine is written, ``_checked`` keeps only its clean
    lines and canonical columns and becomes ``transactions``.
    """
    rates_sql = _rates_sql(con, policy, where, has_currency)
    # without a configured snapshot, it is the day after the last valid line: no line is after it
    snapshot = None if snapshot_date is None else resolve_snapshot(snapshot_date, None, where)
    _check_lines(con, rates_sql, snapshot)
    if header:  # (the columns of a text file, role -> mapped column)
        _reordered_header(con, *header, where)
    if snapshot is None:  # fails in one line when no row has an id, a date and an amount
        resolve_snapshot(None, lambda: con.execute(
            "SELECT max(ts) FROM _checked WHERE reason IS NULL OR reason = 'zero_amount'"
        ).fetchall()[0][0], where)
    _mark_unmatched_returns(con, where)
    tally = _split_checked(con)
    per_file, lost = _per_file_counts(con)
    _keep_clean_lines(con)
    kept, last_clean = con.execute("SELECT count(*), max(ts) FROM transactions").fetchall()[0]
    if snapshot_date is None and last_clean is not None:
        # the day after the last line that passed the checks: a trailing day of only zero
        # amounts or unmatched returns does not move the snapshot
        snapshot = resolve_snapshot(None, lambda: last_clean, where)
    report = QualityReport(int(tally.n_read), int(kept),
                           {k: int(v) for k, v in tally.counts.items()}, snapshot, per_file)
    _report_warnings(report, tally, lost, where)
    if report.counts.get("future_date"):
        latest = con.execute("SELECT max(ts) FROM quarantine WHERE reason = 'future_date'"
                             ).fetchall()[0][0]
        report.warnings.append(
            f"{where}: {report.counts['future_date']:,} lines dated after today (the latest "
            f"{pd.Timestamp(latest).date()}) set aside as future_date: a mistyped year? Left in, "
            "they would have moved the snapshot there; the quarantine holds them")
    _check_share(con, policy, report, tally, where, has_orders)
    if kept == 0:
        raise DataError(f"{where}: no rows left after the checks: {report.summary()}")
    return report


def _reordered_header(con: duckdb.DuckDBPyConnection, header: list[str],
                      roles: dict[str, str], where: str) -> None:
    """Stop when the header line repeats inside the data in another column order: two exports
    joined with ``cat``, where every line below the second header lands in the wrong column
    (order numbers became customer ids). Such a line holds column names where the first header
    has others: in the date cell (then it is a bad date), or, with the date in its place (a
    junk line, as the same header repeated is), in the customer id cell."""
    names = literals(sorted({h.strip().lower() for h in header}))
    ts, cid = (literal(roles[r].strip().lower()) for r in ("timestamp", "customer_id"))
    has_file = "source_file" in con.sql("SELECT * FROM _checked LIMIT 0").columns
    n, column, held, file = con.execute(f"""
        SELECT count(*),
               any_value(CASE WHEN reason = 'bad_date' THEN {literal(roles['timestamp'])}
                              ELSE {literal(roles['customer_id'])} END),
               any_value(CASE WHEN reason = 'bad_date' THEN trim(raw_timestamp)
                              ELSE CAST(customer_id AS VARCHAR) END),
               {'any_value(source_file)' if has_file else 'NULL'} FROM _checked
        WHERE (reason = 'bad_date' AND lower(trim(raw_timestamp)) IN ({names}))
           OR (reason = 'junk_line' AND lower(trim(raw_timestamp)) = {ts}
               AND lower(trim(CAST(customer_id AS VARCHAR))) <> {cid})""").fetchall()[0]
    if n:
        raise DataError(
            f"{file or where}: {n:,} line(s) inside the data repeat the header with the columns "
            f"in another order (column '{column}' holds '{held}' there): two exports were joined "
            "into one file, and the lines below such a header would go into the wrong columns. "
            "Put each export in its own file in one folder (data.path=<folder>): the files of a "
            "folder are matched by column name.")


def plausible_date_sql(ts: str) -> str:
    """SQL (DuckDB and Spark alike) true where the timestamp ``ts`` has a year a transaction can
    have: a date read as the year 24 or 0005 is a bad date, not a very old purchase."""
    lo, hi = PLAUSIBLE_YEARS
    return f"({ts} >= TIMESTAMP '{lo}-01-01' AND {ts} < TIMESTAMP '{hi + 1}-01-01')"


def _order_total_hint(con: duckdb.DuckDBPyConnection, has_orders: bool) -> str:
    """The fix when the blank amounts are the other lines of orders whose first line has one:
    an orders export with the order's total on its first line only (Shopify's)."""
    cols = {c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE quarantine)").fetchall()}
    if not has_orders or "raw_amount" not in cols:
        return ""
    blank, in_kept_orders = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE (customer_id, order_id) IN
                                          (SELECT (customer_id, order_id) FROM transactions))
        FROM quarantine WHERE reason = 'bad_amount' AND nullif(trim(raw_amount), '') IS NULL
    """).fetchall()[0]
    if not blank or in_kept_orders < 0.8 * blank:
        return ""
    return (f"{in_kept_orders:,} lines with a blank amount belong to orders whose other line has "
            "one: the export gives the order's total on its first line only (as Shopify's "
            "orders export does); map the line columns instead: data.columns.amount=null, "
            "data.columns.quantity and data.columns.unit_price (e.g. 'Lineitem quantity' and "
            "'Lineitem price'). ")


def check_dates(con: duckdb.DuckDBPyConnection, ts: str, ts_col: str, where: str,
                 date_format: str | None, typed: bool = False) -> None:
    """Fail when not a single timestamp parses: the format is wrong, not the data. A column the
    file already types as a date is only counted (casting 10M dates to text took 0.7 s)."""
    text = ts_col if typed else f"nullif(trim(CAST({ts_col} AS VARCHAR)), '')"
    n, dated, parsed, example = con.execute(
        f"SELECT count(*), count({text}), count({ts}), any_value({text}) FROM transactions_raw"
    ).fetchall()[0]
    if n and parsed == 0 and len(cols := [c[0] for c in con.execute(
            "DESCRIBE transactions_raw").fetchall() if c[0] not in (FILE_COL, GROUP_COL)]) == 1:
        raise DataError(f"{where}: the file reads as a single column '{cols[0][:80]}': wrong "
                        "delimiter? Set data.delimiter (e.g. ';' or '\\t').")
    if n == 0:
        raise DataError(f"{where}: no rows. Check data.path and that the file has data below its header.")
    if dated == 0:
        raise DataError(f"{where}: no dated rows: the date column is empty in all {n} rows. "
                        "Check data.columns.timestamp.")
    if parsed == 0:
        fmt = f"date format '{date_format}'" if date_format else "the default timestamp parser"
        raise DataError(f"{where}: none of the {dated} values in the date column {ts_col} parse "
                        f"with {fmt} "
                        f"(e.g. '{example}'). {_date_hint(con, str(example), date_format)}")


def _date_hint(con: duckdb.DuckDBPyConnection, example: str, failed: str | None) -> str:
    """What to set for a date column whose values the given (or default) format cannot read:
    the known format that reads the example, never the one that just failed."""
    from clustering.inputs.dialect import DATE_FORMATS  # noqa: PLC0415

    if failed and con.execute("SELECT TRY_CAST(trim($v) AS TIMESTAMP)", {"v": example}
                              ).fetchall()[0][0] is not None:
        return "It is ISO 8601: set data.date_format=null."
    for f in DATE_FORMATS:
        if f != failed and con.execute("SELECT TRY_STRPTIME(trim($v), $f)",
                                       {"v": example, "f": f}).fetchall()[0][0] is not None:
            return (f"'{example}' reads with '{f}': set data.date_format='{f}'"
                    + (" (or null to sniff it from the values)." if failed else "."))
    return ("Set data.date_format to its strptime format (e.g. '%d/%m/%Y %H:%M' for "
            "'31/12/2024 13:05', '%m/%d/%Y %I:%M %p' for '12/31/2024 1:05 PM'); numbers such "
            "as day counts, Excel serial dates or epoch seconds must be converted to dates first.")


def dedupe_sql(con: duckdb.DuckDBPyConnection, per_file: bool) -> str:
    """The distinct lines of ``transactions_raw`` with their number of extra copies
    (``__copies``); copies of a line in several files are one line, counted with the first.

    Exact in two steps: the hashes of every column that several lines share are listed first
    (one pass over the files, kept as the small table ``_shared_hashes``). Lines whose hash is
    not among them are unique; only the rare lines sharing a hash are grouped on their
    columns. Grouping every line on all its columns cost twice as much (10M lines: 2.4 s vs
    1.2 s). With no shared hash (most exports) the lines are read as they are: looking each
    line's hash up again cost 1-2 s at 10M lines. The keyed lines are read again for each
    use rather than held (NOT MATERIALIZED): holding them set the run's peak (10M lines:
    3.0 GB -> 2.0 GB for 0.4 s more)."""
    names = [c for (c,) in con.execute(
        "SELECT column_name FROM (DESCRIBE transactions_raw)").fetchall() if c != FILE_COL]
    line_hash = f"hash({', '.join(ident(c) for c in names)})"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _shared_hashes AS
        SELECT {line_hash} AS __h FROM transactions_raw GROUP BY __h HAVING count(*) > 1""")
    if con.execute("SELECT count(*) FROM _shared_hashes").fetchall()[0][0] == 0:
        return "SELECT *, 0 AS __copies FROM transactions_raw"
    first = f", min({FILE_COL}) AS {FILE_COL}" if per_file else ""
    return f"""
        WITH _h AS NOT MATERIALIZED (SELECT *, {line_hash} AS __h FROM transactions_raw)
        SELECT * EXCLUDE (__h), 0 AS __copies FROM _h
        WHERE __h NOT IN (SELECT __h FROM _shared_hashes)
        UNION ALL BY NAME
        SELECT * EXCLUDE (__h{', ' + FILE_COL if per_file else ''}){first}, count(*) - 1 AS __copies
        FROM _h WHERE __h IN (SELECT __h FROM _shared_hashes) GROUP BY ALL"""


def write_quarantine(con: duckdb.DuckDBPyConnection, path: str | Path) -> Path | None:
    """The quarantined rows with their reason as Parquet (atomically); None when there are none."""
    if con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0:
        return None
    with atomic_path(path) as tmp:
        con.execute(f"COPY quarantine TO '{str(tmp).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
    return Path(path)
