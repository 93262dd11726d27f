"""The return flag of a line (``data.columns.is_return``), however the export writes it.

ERPs and shops flag returns, credit notes and cancellations with text as often as with booleans:
``X`` (SAP), ``Credit Memo``, ``refunded``, ``Storno``, ``Gutschrift``. A text flag is a return
when its value (trimmed, any case) is one of ``data.return_values`` (default
:data:`RETURN_VALUES`); a number flag when it is not 0; a boolean as it is. Values that are
neither a known return nor a known "not a return" are read as purchases and named in a
warning, so a flag the list does not know is never silently ignored.

An order status column (``data.columns.status``), where an export has one, sets aside the
lines of orders that never stood (cancelled, unavailable, voided, refunded: ``CANCELLED_STATUSES``
or ``data.cancelled_statuses``) as ``cancelled_order``, counted like the other reasons.
"""

from __future__ import annotations

import duckdb

from clustering.inputs.sql import literals

#: values of a text flag that mean "this line is a return, credit note or cancellation"
RETURN_VALUES = ("true", "t", "1", "yes", "y", "x", "j", "ja", "r", "return", "returned",
                 "credit", "credit memo", "credit note", "refund", "refunded", "cancelled",
                 "canceled", "cancellation", "storno", "gutschrift", "retoure", "retour", "avoir")
#: values that mean "not a return" (not warned about)
PURCHASE_VALUES = ("false", "f", "0", "no", "n", "nein", "", "-", "sale", "sales", "invoice",
                   "order", "purchase", "paid", "debit")


#: order statuses whose lines are not purchases at all (``data.columns.status``; set aside
#: as ``cancelled_order``): Olist's canceled / unavailable, Shopify's voided / refunded, ...
CANCELLED_STATUSES = ("canceled", "cancelled", "cancellation", "unavailable", "voided", "void",
                      "refunded", "failed", "declined", "rejected", "storniert", "annule",
                      "annulé")


#: the part of a cancelled status that says the order was called off (by the customer, or at
#: least not by a failed delivery or payment): what ``cancel_rate`` counts; unavailable,
#: voided, refunded, failed, declined and rejected orders are set aside but not counted there
CALLED_OFF = "cancel|storn|annul"


def cancelled_sql(col: str, statuses: list[str] | None = None, spark: bool = False) -> str:
    """SQL true where the order status column ``col`` says the order never stood."""
    wanted = [str(v).strip().lower() for v in (statuses or CANCELLED_STATUSES)]
    key = text_key(col, spark)
    return f"coalesce({key} IN ({literals(wanted)}), false)"


def text_key(col: str, spark: bool = False) -> str:
    """SQL: a text cell as it is matched against a list of words (lower case, outer spaces
    trimmed): flags, statuses, event kinds, margin categories."""
    return f"lower(trim(CAST({col} AS {'STRING' if spark else 'VARCHAR'})))"


def return_flag_sql(col: str, column_type: str, values: list[str] | None = None,
                    spark: bool = False) -> str:
    """SQL true where the flag column ``col`` (of DuckDB type ``column_type``: BOOLEAN, a
    number type or VARCHAR) marks a return; with ``spark``, the same rule in Spark SQL."""
    if column_type == "BOOLEAN":
        return f"coalesce({col}, false)"
    if column_type != "VARCHAR" and not column_type.startswith(("TIMESTAMP", "DATE")):
        return f"coalesce({'' if spark else 'TRY_'}CAST({col} AS DOUBLE) <> 0, false)"
    wanted = [str(v).strip().lower() for v in (values or RETURN_VALUES)]
    key = text_key(col, spark)
    return f"coalesce({key} IN ({literals(wanted)}), false)"


def duckdb_type(spark_type: str) -> str:
    """The DuckDB type name the rules above expect for a Spark column type."""
    if spark_type == "boolean":
        return "BOOLEAN"
    if spark_type in ("tinyint", "smallint", "int", "bigint", "float", "double") or \
            spark_type.startswith("decimal"):
        return "DOUBLE"
    return "VARCHAR"


def unknown_flag_values(con: duckdb.DuckDBPyConnection, relation: str, col: str, name: str,
                        column_type: str, values: list[str] | None, where: str,
                        rows: int = 1_000_000) -> list[str]:
    """A warning naming the values of a text flag read as purchases that are not a known
    "not a return" (from the first ``rows`` lines), or nothing."""
    if column_type != "VARCHAR":
        return []
    known = {str(v).strip().lower() for v in (values or RETURN_VALUES)} | set(PURCHASE_VALUES)
    found = con.execute(f"""
        SELECT v, count(*) AS n FROM (SELECT {text_key(col)} AS v FROM {relation} LIMIT {rows})
        WHERE v IS NOT NULL AND v NOT IN ({literals(sorted(known))})
        GROUP BY v ORDER BY n DESC, v LIMIT 6""").fetchall()
    if not found:
        return []
    listed = ", ".join(f"'{v}' ({n:,} lines)" for v, n in found[:5])
    return [f"{where}: the return flag '{name}' has values read as purchases: {listed}"
            f"{' and more' if len(found) > 5 else ''}. If any of them means a return, credit "
            "note or cancellation, list them: data.return_values=[...] (default: "
            f"{', '.join(RETURN_VALUES)})"]
