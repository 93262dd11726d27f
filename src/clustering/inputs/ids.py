"""Customer ids as canonical text, the same in every table and engine.

Exports write one id several ways: ``17850`` in one file and ``17850.0`` in another (pandas and
Excel write integer ids as floating point when the column has an empty cell, and a Parquet
column of such ids is DOUBLE), padded with spaces. And they write "no customer" as a value:
``N/A``, ``-``, ``0``, ``GUEST``, ``nan``. An id is read as its trimmed text with a whole
number's ``.0`` dropped (so ``17850.0`` and ``17850`` are one customer); the placeholders are no
customer: their lines are quarantined as ``missing_customer_id``, not one giant customer
(so are the labels of total rows, ``Total``, ``Summe``, ``Gesamt``, on a line without an
order id).
An id that is an e-mail address is read in lower case (shops key customers by e-mail, and the
same person types it in capitals one day and not the next).
"""

from __future__ import annotations

from clustering.inputs.sql import literals

#: ids that mean "no customer" (compared in lower case, after trimming)
PLACEHOLDER_IDS = ("", "n/a", "na", "#n/a", "-", "--", "?", "0", "none", "null", "nan",
                   "guest", "unknown", "anonymous")
#: the label of a report's total row, which is no customer when the line has no order id (a
#: "Total" line with a date filled in was the biggest customer; a company called Total with
#: orders stays a customer)
TOTAL_LABELS = ("total", "total:", "totals", "grand total", "subtotal", "sub-total", "sum",
                "summe", "summe:", "gesamt", "gesamt:", "gesamtsumme", "zwischensumme",
                "total général", "totaal")
#: what a trimmed id loses at either end: spaces, tabs, line ends and Excel's no-break space
#: (a trailing tab split one customer in two)
BLANKS = " \t\r\n\u00a0"
#: an id Excel wrote in scientific notation ('1.00E+11'): its digits are lost
SCIENTIFIC_ID = r"[0-9]([.,][0-9]+)?[eE]\+?[0-9]+"


def id_sql(col: str, spark: bool = False, floating: bool = False) -> str:
    """SQL (DuckDB, or Spark with ``spark``) of the canonical text of the id column ``col``
    (``floating``: a Spark float column, which Spark writes as 1.2345678E7 from 10^7 on)."""
    if spark and floating:
        col = f"CAST({col} AS DECIMAL(38, 6))"
    blank = BLANKS.replace("'", "")
    if spark:
        text = f"trim(BOTH '{blank}' FROM CAST({col} AS STRING))"
    else:  # trimmed only where an end is blank: a trim with a character list costs 2x a test
        raw, ends = f"CAST({col} AS VARCHAR)", ", ".join(str(ord(c)) for c in blank)
        # the ends' code points: left() and right() cost 3x ord() of the text and of its reverse
        blank_end = f"(ord({raw}) IN ({ends}) OR ord(reverse({raw})) IN ({ends}))"
        text = f"(CASE WHEN {blank_end} THEN trim({raw}, '{blank}') ELSE {raw} END)"
    has = (lambda c: f"instr({text}, '{c}') > 0") if spark else (lambda c: f"contains({text}, '{c}')")
    whole = f"regexp_replace({text}, '^(-?[0-9]+)[.]0+$', '{'$1' if spark else chr(92) + '1'}')"
    canonical = f"(CASE WHEN {has('@')} THEN lower({text}) WHEN {has('.')} THEN {whole} ELSE {text} END)"
    if spark:
        return canonical
    # most ids need nothing done: they are taken as they are after one test (the full
    # expression names the text three times, each a test of its ends: 10M lines 1.0 s -> 0.35 s)
    return (f"(CASE WHEN NOT {blank_end} AND NOT contains({raw}, '@') AND NOT contains({raw}, '.') "
            f"THEN {raw} ELSE {canonical} END)")


def total_row_sql(col: str, no_order: str) -> str:
    """SQL (DuckDB and Spark alike) true where the canonical id ``col`` labels a total row:
    a total label on a line without an order id (``no_order``)."""
    return f"({no_order} AND lower({col}) IN ({literals(TOTAL_LABELS)}))"


def no_customer_sql(col: str) -> str:
    """SQL (DuckDB and Spark alike) true where the canonical id ``col`` is missing, blank or a
    placeholder."""
    return f"({col} IS NULL OR lower({col}) IN ({literals(PLACEHOLDER_IDS)}))"
