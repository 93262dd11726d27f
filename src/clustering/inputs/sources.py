"""Where the data comes from: files -> checked DuckDB tables with canonical names.

One path for training and scoring: :func:`sources_for` turns the data settings into table
sources and the checks' policy, :func:`load_local` registers them (reading, checks,
quarantine, currency conversion, snapshot) in a DuckDB connection.

Files are read by DuckDB directly (CSV, Parquet, a folder or a glob of them), so nothing is
loaded into pandas before the features are aggregated. The user's column names are mapped to
the canonical ones below; optional columns that are absent are reported, never invented.

Canonical ``transactions`` view:

================== ========= ==========================================================
column             type      meaning
================== ========= ==========================================================
customer_id        VARCHAR   customer key (required)
order_id           VARCHAR   order / invoice key; absent: one order per customer and day
ts                 TIMESTAMP time of the line (required)
amount             DOUBLE    line value in the data's currency; negative for returns
                             (given, or quantity x unit price)
quantity           DOUBLE    units (optional)
category           VARCHAR   product category (optional)
is_return          BOOLEAN   return / cancellation line (given flag OR negative amount)
payment_delay_days DOUBLE    days between invoice and payment (optional)
is_new_product     BOOLEAN   the product was new at the time of purchase (optional)
================== ========= ==========================================================

Canonical ``customers`` view: ``customer_id``, ``signup_date`` (optional) and the configured
attribute columns, kept under their own names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from clustering.errors import DataError
from clustering.inputs.checks import (
    QualityPolicy,
    apply_quality,
    check_dates,
    dedupe_sql,
)
from clustering.inputs.customers import register_customers
from clustering.inputs.dialect import delimiter_of, kind_of
from clustering.inputs.events import register_events
from clustering.inputs.ids import id_sql
from clustering.inputs.reading import (
    FILE_COL,
    Inputs,
    Parsers,
    list_files,
    open_inputs,
    profit_sql,
    read_error,
    unrated_categories,
)
from clustering.inputs.return_flags import cancelled_sql, return_flag_sql, unknown_flag_values
from clustering.inputs.sql import ident, literal
from clustering.inputs.tables import LoadedData, TableSource, missing_column

REQUIRED = ("customer_id", "timestamp")
OPTIONAL = ("order_id", "quantity", "unit_price", "amount", "category", "is_return",
            "payment_delay_days", "is_new_product", "currency", "cost", "discount")


def resolve_files(path: str, fmt: str = "auto", what: str = "transactions") -> list[str]:
    """The table files at a file, folder or glob (see :func:`clustering.inputs.reading.list_files`)."""
    return list_files(path, what)[0]


def file_format(files: list[str], fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return kind_of(files[0]) or "csv"


def _blank(col: str, sql_type: str | None) -> str:
    """SQL: the cell is empty. Only text can be blank beyond NULL: a typed column (a Parquet
    timestamp) is not cast to text for it, which took 0.6 s per 10M lines."""
    if sql_type and sql_type != "VARCHAR":
        return f"({col} IS NULL)"
    text = f"CAST({col} AS VARCHAR)"  # (a trim only of text that starts with a space: 3x faster)
    return f"({text} IS NULL OR {text} = '' OR (ord({text}) = 32 AND trim({text}) = ''))"


@dataclass
class _Columns:
    """The mapped columns of a transactions source and how to read them: the context the
    helpers of :func:`register_transactions` share."""

    mapped: dict[str, str]  # role -> column of the files
    present: dict[str, str]  # column -> DuckDB type
    parse: Parsers
    source: TableSource
    where: str

    def col(self, role: str) -> str:
        """The quoted column mapped to ``role``."""
        return ident(self.mapped[role])

    def num(self, role: str) -> str:
        """SQL: the column mapped to ``role`` as a number, by each file group's decimal mark."""
        return self.parse.number(self.col(role), role)


@dataclass
class _Typed:
    """The typed columns of ``transactions_typed`` and what the checks need of them."""

    columns: list[str]  # SQL select items, canonical names
    ts: str  # SQL: the parsed timestamp
    ts_col: str  # the quoted timestamp column as read
    profit: str | None  # SQL: the line's profit, when costs or margins give it


def _map_columns(source: TableSource, present: dict[str, str], where: str,
                 warnings: list[str]) -> tuple[dict[str, str], list[str]]:
    """Role -> column of the files for the configured columns found there, and the optional
    roles that are not: a required one that is absent is an error, an optional one a note, or
    a warning (appended to ``warnings``) when its column was named by hand."""
    cols = {k: v for k, v in source.columns.items() if v}
    for role in REQUIRED:
        if role not in cols:
            raise DataError(f"{where}: no column mapped for {role}; set data.columns.{role}=<column>.")
    mapped: dict[str, str] = {}
    missing_optional: list[str] = []
    for role, name in cols.items():
        if name in present:
            mapped[role] = name
        elif role in REQUIRED:
            raise missing_column(role, name, list(present), where, "data.columns")
        else:
            missing_optional.append(role)
            if name != role:  # mapped by hand (not the default name): say it is not there
                warnings.append(f"{missing_column(role, name, list(present), where, 'data.columns')}"
                                .replace("not found.", "not found, so it is left out."))
    for role in OPTIONAL:
        if role not in cols and role not in missing_optional:
            missing_optional.append(role)
    return mapped, missing_optional


def _check_files(con: duckdb.DuckDBPyConnection, inputs: Inputs, mapped: dict[str, str],
                 source: TableSource) -> list[str]:
    """Notes on the files that lack an optional mapped column; fails for one that lacks a
    column that makes a line: every file must have those, not only one."""
    if not inputs.per_file:
        return []
    files = inputs.files
    notes: list[str] = []
    lacking = inputs.missing_by_file(con, list(mapped.values()))
    core = {mapped[r] for r in ("customer_id", "timestamp", "amount", "quantity", "unit_price")
            if r in mapped}
    for f, (names, _) in lacking.items():  # an optional column newer files added: a note
        notes.extend(f"{Path(f).name}: no column '{n}' (read as empty there)"
                     for n in names if n not in core)
    lacking = {f: ([n for n in names if n in core], has)
               for f, (names, has) in lacking.items() if set(names) & core}
    if lacking:
        f, (names, has) = next(iter(lacking.items()))
        raise DataError(
            f"{f}: no column {', '.join(repr(n) for n in names)} (mapped in data.columns; "
            f"{len(files) - len(lacking)} of the {len(files)} files at {source.path} have "
            f"every mapped column). Its columns: {', '.join(has)}. Rename the column in that "
            "file, or leave the file out of data.path: its rows would be read without it.")
    return notes


def _amount_sql(c: _Columns) -> tuple[str, str | None]:
    """SQL: the line's signed amount (given, or quantity x unit price), and the given return
    flag (None without one)."""
    mapped = c.mapped
    if "amount" in mapped:
        amount = c.num("amount")
    elif "quantity" in mapped and "unit_price" in mapped:
        amount = f"({c.num('quantity')} * {c.num('unit_price')})"
    else:
        raise DataError(
            f"{c.where}: no amount. Map data.columns.amount=<column>, or both "
            f"data.columns.quantity and data.columns.unit_price (amount = quantity x unit price)."
        )
    returned = None
    if "is_return" in mapped:
        returned = return_flag_sql(c.col("is_return"),
                                   c.present.get(mapped["is_return"], "VARCHAR"),
                                   c.source.return_values)
        # a line flagged as a return counts against revenue even when exported as positive
        amount = f"(CASE WHEN {returned} AND {amount} > 0 THEN -{amount} ELSE {amount} END)"
    return amount, returned


def _typed_columns(c: _Columns) -> _Typed:
    """The canonical columns, typed (and the optional currency, profit and discount when the
    data gives them), as the checks and features read them."""
    mapped = c.mapped
    amount, returned = _amount_sql(c)
    ts_col = c.col("timestamp")
    ts = c.parse.date(ts_col, mapped["timestamp"])
    flag = "TRY_CAST({} AS BOOLEAN)"
    by_day = f"CAST(CAST({ts} AS DATE) AS VARCHAR)"  # no order id: one order per day
    order = (f"coalesce(CAST({c.col('order_id')} AS VARCHAR), {by_day})"
             if "order_id" in mapped else by_day)
    is_return = f"({returned} OR {amount} < 0)" if returned else f"({amount} < 0)"
    select = [
        f"{id_sql(c.col('customer_id'))} AS customer_id",
        f"{order} AS order_id",
        f"{ts} AS ts",
        f"{amount} AS amount",
        f"{c.num('quantity') if 'quantity' in mapped else 'NULL::DOUBLE'} AS quantity",
        (f"CAST({c.col('category')} AS VARCHAR)" if "category" in mapped
         else "NULL::VARCHAR") + " AS category",
        f"{is_return} AS is_return",
        f"{c.num('payment_delay_days') if 'payment_delay_days' in mapped else 'NULL::DOUBLE'}"
        " AS payment_delay_days",
        (flag.format(c.col("is_new_product")) if "is_new_product" in mapped
         else "NULL::BOOLEAN") + " AS is_new_product",
    ]
    if "currency" in mapped:
        select.append(f"CAST({c.col('currency')} AS VARCHAR) AS currency")
    profit = profit_sql(amount, c.num("cost") if "cost" in mapped else None, c.source.margins,
                        c.col("category") if "category" in mapped else None, c.where)
    if profit:
        select.append(f"{profit} AS profit")
    if "discount" in mapped:
        select.append(f"abs({c.num('discount')}) AS discount")
    return _Typed(select, ts, ts_col, profit)


def _raw_columns(c: _Columns, ts_col: str, per_file: bool) -> list[str]:
    """The columns that travel with each row for the checks and the quarantine file: the
    source text of parsed columns, the junk-line, order and cancellation flags, the file."""
    mapped, present = c.mapped, c.present
    # the source text of columns that are parsed travels with each row for the quarantine
    # file (typed sources such as Parquet have nothing to show beyond the typed value, and
    # each kept column costs 8-16 bytes per line: 0.8 GB at 50M lines)
    raw_cols = [f"{ident(mapped[r])} AS raw_{r}"
                for r in ("timestamp", "amount", "quantity", "unit_price")
                if r in mapped and present.get(mapped[r]) == "VARCHAR"]
    # an empty date cell: a footer, total or blank line rather than a bad date
    no_date = _blank(ts_col, present.get(mapped['timestamp']))
    if present.get(mapped["timestamp"]) == "VARCHAR":  # the header again (files joined by cat)
        no_date = (f"({no_date} OR lower(trim({ts_col})) = "
                   f"{literal(mapped['timestamp'].strip().lower())})")
    raw_cols.append(f"{no_date} AS _no_date")
    raw_cols.append((_blank(c.col("order_id"), present.get(mapped["order_id"]))
                     if "order_id" in mapped else "true") + " AS _no_order")
    if "status" in mapped:  # the order's status, shown in the quarantine; cancelled orders
        raw_cols += [f"CAST({c.col('status')} AS VARCHAR) AS raw_status",
                     f"{cancelled_sql(c.col('status'), c.source.cancelled_statuses)} "
                     "AS _cancelled"]
    else:
        raw_cols.append("false AS _cancelled")
    if per_file:
        raw_cols.append(f"{FILE_COL} AS source_file")
    return raw_cols


def _create_views(con: duckdb.DuckDBPyConnection, typed: str, reader: str, per_file: bool,
                  policy: QualityPolicy, where: str) -> None:
    """The ``transactions_raw``, ``transactions_typed`` (deduplicated when the policy says so)
    and ``transactions_streamed`` views over the files."""
    con.sql(f"CREATE OR REPLACE VIEW transactions_raw AS SELECT * FROM {reader}")
    try:  # (the duplicates' hashes are listed now: the first read of every line)
        raw = (dedupe_sql(con, per_file) if policy.dedupe
               else "SELECT *, 0 AS __copies FROM transactions_raw")
    except duckdb.Error as exc:
        raise read_error(exc, where) from None
    con.sql(f"CREATE OR REPLACE VIEW transactions_typed AS SELECT {typed}, __copies AS _copies "
            f"FROM ({raw})")
    # the same lines without deduplication: for aggregates that copies cannot change
    con.sql(f"CREATE OR REPLACE VIEW transactions_streamed AS SELECT {typed}, 0 AS _copies "
            "FROM transactions_raw")


def _run_checks(con: duckdb.DuckDBPyConnection, loaded: LoadedData, c: _Columns, t: _Typed,
                inputs: Inputs, policy: QualityPolicy, snapshot_date) -> None:
    """Check the dates, split the lines into ``transactions`` and ``quarantine``, and add the
    report, warnings and notes of the checks to ``loaded``."""
    mapped, present, where, source = c.mapped, c.present, c.where, c.source
    try:
        check_dates(con, t.ts, t.ts_col, where,
                     c.parse.first_format(),
                     present.get(mapped["timestamp"], "VARCHAR").startswith(("TIMESTAMP", "DATE")))
        text_dates = present.get(mapped["timestamp"], "VARCHAR") == "VARCHAR"
        loaded.quality = apply_quality(con, policy, snapshot_date, where, "currency" in mapped,
                                       "order_id" in mapped,
                                       (list(present), mapped) if text_dates else None)
        loaded.warnings += loaded.quality.warnings
        if t.profit and source.margins and "cost" not in mapped and "category" in mapped:
            loaded.warnings += unrated_categories(con, "transactions", "category",
                                                  source.margins, where)
        if inputs.per_file:  # a file with a header and no rows has no line to count
            loaded.notes += [f"{Path(f).name}: no rows below its header" for f in inputs.files
                             if f not in loaded.quality.per_file and inputs.rows_of(con, f) == 0]
        if "is_return" in mapped:
            loaded.warnings += unknown_flag_values(
                con, "transactions_raw", c.col("is_return"), mapped["is_return"],
                present.get(mapped["is_return"], "VARCHAR"), source.return_values, where)
    except duckdb.Error as exc:
        raise read_error(exc, where) from None


def register_transactions(
    con: duckdb.DuckDBPyConnection, source: TableSource, policy: QualityPolicy | None = None,
    snapshot_date=None,
) -> LoadedData:
    """Create the canonical, checked ``transactions`` table in ``con`` from ``source``.

    Rows that fail the checks of :mod:`clustering.inputs.checks` are set aside in ``quarantine``
    with a reason; the report is in ``LoadedData.quality``.
    """
    con.execute("SET TimeZone = 'UTC'")  # times with an offset are read in UTC, as documented
    policy = policy or QualityPolicy()
    inputs = open_inputs(con, source.path, source.fmt, source.delimiter, source.encoding)
    files, present = inputs.files, inputs.present
    where = files[0] if len(files) == 1 else f"{source.path} ({len(files)} files)"
    mapping_warnings: list[str] = []
    mapped, missing_optional = _map_columns(source, present, where, mapping_warnings)
    file_notes = _check_files(con, inputs, mapped, source)
    parse = Parsers(con, inputs, mapped, source, where)
    c = _Columns(mapped, present, parse, source, where)
    t = _typed_columns(c)
    typed = ", ".join(t.columns + _raw_columns(c, t.ts_col, inputs.per_file))
    _create_views(con, typed, inputs.relation, inputs.per_file, policy, where)
    available = set(mapped) | {"amount", "is_return"} | ({"profit"} if t.profit else set())
    if "order_id" not in mapped:
        available.discard("order_id")
    loaded = LoadedData(files=files, available=available,
                        missing_optional=sorted(set(missing_optional) - available - {"currency"}),
                        skipped=inputs.skipped, notes=inputs.notes + file_notes + parse.notes)
    text = next((i for i, g in enumerate(inputs.groups) if g.kind == "text" and g.dialect
                 and g.dialect.delimiter), None)
    if text is not None:  # the user's own dialect, for the labels written back to them
        loaded.delimiter = inputs.groups[text].dialect.delimiter
        loaded.decimal = parse.decimals[text]
    loaded.warnings += mapping_warnings + parse.warnings + [
        f"{Path(f).name}/ is {why}" for f, why in inputs.skipped
        if Path(f).is_dir()]  # likely data (an archive/ of last year's)
    _run_checks(con, loaded, c, t, inputs, policy, snapshot_date)
    if not inputs.per_file:
        q = loaded.quality
        q.per_file = {files[0]: (q.rows_read, q.rows_kept)}
    return loaded


@dataclass
class DataSources:
    """The configured tables, the checks' policy and the attributes to load."""

    transactions: TableSource
    customers: TableSource | None = None
    truth_path: str | None = None
    policy: QualityPolicy = field(default_factory=QualityPolicy)
    attributes: list[str] = field(default_factory=list)
    events: TableSource | None = None
    event_types: dict[str, str] | None = None
    campaigns: TableSource | None = None  # read where the labels are (inputs.campaigns)


def sources_for(data, data_dir: str) -> DataSources:
    """The sources of a :class:`clustering.config.DataConfig` (the bundled sample is generated
    into ``data_dir`` on first use)."""
    from dataclasses import asdict

    from clustering.sample.files import ensure_sample_data

    cols = asdict(data.columns)
    policy = QualityPolicy(data.quality.dedupe, data.quality.max_share,
                           dict(data.currency_rates) if data.currency_rates else None,
                           getattr(data, "currency", None))
    role = getattr(data.customer_columns, "role", None)
    if data.format == "sample":
        s = data.sample
        paths = ensure_sample_data(
            str(Path(data_dir) / "sample" / f"n{s.n_customers}-seed{s.seed}-{s.kind}"),
            n_customers=s.n_customers, seed=s.seed, start=s.start, end=s.end, kind=s.kind,
        )
        return DataSources(TableSource(paths["transactions"], "parquet", cols),
                           TableSource(paths["customers"], "parquet", asdict(data.customer_columns)),
                           paths["truth"], policy,
                           _with(list(data.attributes), role if s.kind == "b2b" else None),
                           TableSource(paths["events"], "parquet", asdict(data.event_columns)),
                           campaigns=TableSource(paths["campaigns"], "parquet",
                                                 asdict(data.campaign_columns)))
    tx = TableSource(data.path, data.format, cols, data.date_format, delimiter_of(data.delimiter), data.encoding,
                     data.decimal, dict(data.margins) if data.margins else None,
                     list(data.return_values) if data.return_values else None,
                     list(data.cancelled_statuses) if data.cancelled_statuses else None)
    cust = (TableSource(data.customers_path, "auto", asdict(data.customer_columns),
                        data.customer_date_format, delimiter_of(data.delimiter), data.encoding, data.decimal)
            if data.customers_path else None)
    events = (TableSource(data.events_path, "auto", asdict(data.event_columns), data.date_format,
                          delimiter_of(data.delimiter), data.encoding, ".") if data.events_path else None)
    campaigns = (TableSource(data.campaigns_path, "auto", asdict(data.campaign_columns),
                             data.date_format, delimiter_of(data.delimiter), data.encoding,
                             data.decimal) if getattr(data, "campaigns_path", None) else None)
    return DataSources(tx, cust, data.truth_path, policy,
                       _with(list(data.attributes), role) if cust is not None else [], events,
                       dict(data.event_types) if data.event_types else None, campaigns)


def _with(attributes: list[str], role: str | None) -> list[str]:
    """The attributes to load, the buying-centre role among them when mapped."""
    return attributes + [role] if role and role not in attributes else attributes


def load_local(con: duckdb.DuckDBPyConnection, sources: DataSources, snapshot_date=None) -> LoadedData:
    """Register the checked ``transactions`` (and ``customers``) of ``sources`` in ``con``."""
    loaded = register_transactions(con, sources.transactions, sources.policy, snapshot_date)
    if sources.customers is not None:
        loaded = register_customers(con, sources.customers, sources.attributes, loaded)
    con.execute("DROP TABLE IF EXISTS _buyer_ids")  # left by the checks for the customers'
    if sources.events is not None:
        register_events(con, sources.events, sources.event_types, loaded)
    return loaded
