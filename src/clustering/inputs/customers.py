"""The customers table: one row per customer id (prospects included), its signup date,
attributes as their most common spelling (:mod:`clustering.inputs.attributes`) and lead fields, read
from the files at ``data.customers_path`` like the transactions are."""

from __future__ import annotations

from pathlib import Path

import duckdb

from clustering.errors import DataError
from clustering.inputs.attributes import (
    canonical_select,
    canonical_tables,
    customer_id_warnings,
    customer_row_sql,
    repeated_ids,
)
from clustering.inputs.attributes import describe as describe_attributes
from clustering.inputs.checks import plausible_date_sql
from clustering.inputs.dialect import sniff_date_format
from clustering.inputs.ids import id_sql
from clustering.inputs.reading import Inputs, check_date_format, date_sql, open_inputs
from clustering.inputs.sql import ident
from clustering.inputs.tables import LoadedData, TableSource, missing_column


def _signup_formats(con: duckdb.DuckDBPyConnection, source: TableSource, reader: str,
                    signup: str, where: str, loaded: LoadedData) -> list[str | None]:
    """The formats the text signup dates are read with: the customers' own setting, else
    sniffed as the transactions' dates are (none when that is ambiguous: a warning)."""
    if source.date_format:
        check_date_format(con, source.date_format, "data.customer_date_format")
        return [source.date_format]
    try:
        return sniff_date_format(con, reader, ident(signup), where)
    except DataError as exc:  # ambiguous: the customers' own setting; the run goes on
        loaded.warnings.append(str(exc).replace("data.date_format",
                                                "data.customer_date_format")
                               + "; until then they are left empty")
        return []


def _signup_sql(con: duckdb.DuckDBPyConnection, source: TableSource, inputs: Inputs,
                signup: str, where: str, loaded: LoadedData) -> str:
    """The ``signup_date`` select item; a date that does not read (or is out of range) is
    said in a warning, not only left empty."""
    reader = inputs.relation
    col = f"src.{ident(signup)}"
    typed = inputs.present[signup].startswith(("TIMESTAMP", "DATE"))  # a format is for text
    formats: list[str | None] = (
        [None] if typed else _signup_formats(con, source, reader, signup, where, loaded))
    expr = (f"CAST({col} AS TIMESTAMP)" if typed
            else date_sql(f"trim(CAST({col} AS VARCHAR))", formats))
    item = f"(CASE WHEN {plausible_date_sql(expr)} THEN {expr} END) AS signup_date"
    if formats:  # a date that does not read (or is out of range) is said, not left empty
        text = (f"CAST({col} AS VARCHAR)" if typed
                else f"nullif(trim(CAST({col} AS VARCHAR)), '')")
        read = plausible_date_sql(expr)
        n, bad, example = con.execute(
            f"SELECT count({text}), count({text}) FILTER (WHERE NOT coalesce({read}, false)), "
            f"any_value({text}) FILTER (WHERE NOT coalesce({read}, false)) "
            f"FROM {reader} AS src").fetchall()[0]
        if bad:
            loaded.warnings.append(
                f"{where}: {bad:,} of {n:,} signup dates in '{signup}' " + (
                    f"are before 1900 or after 2200 (e.g. '{example}') and are left empty"
                    if typed else f"do not read as dates (e.g. '{example}') and are left "
                    "empty: set data.customer_date_format (e.g. '%d.%m.%Y')"))
        elif any(formats):
            loaded.notes.append(f"{Path(where).name}: signup dates read as " + ", then ".join(
                f"'{f}'" if f else "ISO 8601" for f in formats))
    return item


def _lead_selects(source: TableSource, present: dict[str, str], where: str,
                  loaded: LoadedData) -> list[str]:
    """Lead qualification: whether each mapped lead field (contact, need, budget) is filled
    in, as ``has_<field>`` select items; the mapped fields are listed in ``loaded``."""
    select: list[str] = []
    loaded.lead_fields = []
    for role in ("contact", "need", "budget"):  # lead qualification: is the field filled in?
        name = source.columns.get(role)
        if name:
            if name not in present:
                raise missing_column(role, name, list(present), where, "data.customer_columns")
            select.append(f"nullif(trim(CAST(src.{ident(name)} AS VARCHAR)), '') IS NOT NULL "
                          f"AS has_{role}")
            loaded.lead_fields.append(role)
    return select


def register_customers(
    con: duckdb.DuckDBPyConnection,
    source: TableSource,
    attributes: list[str],
    loaded: LoadedData,
) -> LoadedData:
    """Create the canonical ``customers`` view (id, optional signup date, attributes)."""
    inputs = open_inputs(con, source.path, source.fmt, source.delimiter, source.encoding,
                         what="customers")
    files, present, reader = inputs.files, inputs.present, inputs.relation
    where = files[0]
    loaded.notes += inputs.notes  # its encoding, its workbook's sheets
    cid = source.columns.get("customer_id") or "customer_id"
    if cid not in present:
        raise missing_column("customer_id", cid, list(present), where, "data.customer_columns")
    idcol = id_sql(f"src.{ident(cid)}")
    select = [f"{idcol} AS customer_id"]
    signup = source.columns.get("signup_date")
    has_signup = bool(signup and signup in present)
    if has_signup:
        select.append(_signup_sql(con, source, inputs, signup, where, loaded))
    for a in attributes:
        if a not in present:
            raise missing_column("attribute", a, list(present), where, "data.attributes")
    select += _lead_selects(source, present, where, loaded)
    # attributes as their most common spelling, placeholders as missing (clustering.inputs.attributes)
    repeated = repeated_ids(con, reader, ident(cid))
    loaded.attribute_quality = canonical_tables(con, reader, ident(cid), list(attributes),
                                                repeated)
    attr_select, attr_joins = canonical_select("src", list(attributes))
    # one row per customer (a join must not duplicate buyers), the same row on every run: a
    # repeated id keeps the first by the id as written, then its values; a table, so the
    # spelling merge runs once, not on every feature pass; not TEMP, so that a second
    # connection (a feature pass in the background) sees it
    order = ", ".join(f"CAST(src.{ident(c)} AS VARCHAR) NULLS LAST"
                      for c in [cid, *([signup] if has_signup else []), *attributes])
    con.sql(
        f"CREATE OR REPLACE TABLE customers AS SELECT {', '.join(select + attr_select)} "
        f"FROM {reader} AS src {attr_joins} WHERE {customer_row_sql(con, idcol)} "
        + (f"QUALIFY row_number() OVER (PARTITION BY {idcol} ORDER BY {order}) = 1"
           if repeated else "")
    )
    loaded.notes += describe_attributes(loaded.attribute_quality)
    loaded.customer_files = files
    loaded.attributes = list(attributes)
    loaded.has_signup = has_signup
    loaded.warnings += customer_id_warnings(con, reader, ident(cid), where, repeated)
    con.execute("DROP TABLE _cust_rep")
    return loaded
