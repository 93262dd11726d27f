"""Quality of the customers table's attributes, counted like the transaction quarantine.

Fields typed by sales staff are often empty, "unknown", or spelt several ways. Per attribute:
blank cells, placeholder values (``unknown``, ``n/a``, ``-``, ...), spelling variants (values
equal once case, spaces, dots, dashes and underscores are ignored: ``Trader``, ``trader ``,
``TRADER``) and customer ids listed more than once with different values. Variants are
read as their most common spelling and placeholders as missing (:func:`canonical_tables`), so
segments and the report see one value per real category. :func:`customer_id_warnings` says
when the table's ids do not fit the transactions' (leading zeros lost, repeated ids).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from clustering.inputs.ids import id_sql, no_customer_sql, total_row_sql
from clustering.inputs.sql import ident, literals

#: values that mean "not known" (compared after normalising; numbers never are: a 0 is a 0)
PLACEHOLDERS = ("unknown", "unk", "n/a", "n a", "na", "#n/a", "#n a", "nan", "none", "null",
                "nil", "?", "tbd", "not specified", "unbekannt", "k a", "k.a")
COLUMNS = ["attribute", "rows", "blank", "placeholder", "spelling_variant",
           "conflicting_ids", "distinct_values"]


#: a plain number (a value of a number attribute, never a spelling: '10_49' is not 1049)
NUMBER = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"


def customer_row_sql(con: duckdb.DuckDBPyConnection, key: str) -> str:
    """SQL true where a customers-table row with the canonical id ``key`` is a customer: not a
    placeholder id, nor a total row's label ('Total', 'Summe') unless that id bought
    (``_buyer_ids``, left by the transaction checks; looked up once here, not joined per row)."""
    bought = [c for (c,) in con.execute(
        f"SELECT customer_id FROM _buyer_ids WHERE {total_row_sql('customer_id', 'true')}"
    ).fetchall()]
    keep = f" AND {key} NOT IN ({literals(bought)})" if bought else ""
    return f"NOT ({no_customer_sql(key)} OR ({total_row_sql(key, 'true')}{keep}))"


def _norm(col: str) -> str:
    """The comparison key of a value: lower case, separators collapsed, NULL when blank; a
    number is its own key (-5 and 5, 1.5 and 15 are different values, not spellings)."""
    text = f"CAST({col} AS VARCHAR)"
    return (f"(CASE WHEN regexp_full_match(trim({text}), '{NUMBER}') THEN lower(trim({text})) "
            f"ELSE nullif(trim(regexp_replace(lower({text}), '[\\s_.\\-]+', ' ', 'g')), '') END)")


def _placeholders() -> str:
    return literals(PLACEHOLDERS)


def repeated_ids(con: duckdb.DuckDBPyConnection, reader: str, cid: str) -> int:
    """Create ``_cust_rep(id)``, the ids listed more than once in ``reader`` (usually none, and
    then the checks that look at repeated rows are skipped); return their number."""
    key = id_sql(cid)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _cust_rep AS SELECT {key} AS id FROM {reader}
                    WHERE {customer_row_sql(con, key)} GROUP BY 1 HAVING count(*) > 1""")
    return int(con.execute("SELECT count(*) FROM _cust_rep").fetchall()[0][0])


def canonical_tables(con: duckdb.DuckDBPyConnection, reader: str, cid: str,
                     attributes: list[str], repeated: int) -> pd.DataFrame:
    """Create ``_attr_canon(attr, v, canonical)``: per attribute and spelling as read, the most
    common spelling of its normalised value (ties: alphabetically first; placeholders map to
    NULL); return the quality report, one row per attribute with counts of rows per problem.
    One scan of the table (two when ``repeated`` ids, from :func:`repeated_ids`, exist)."""
    if not attributes:
        return pd.DataFrame(columns=COLUMNS)
    idcol = id_sql(cid)
    cols = ", ".join(f'CAST("{a.replace(chr(34), chr(34) * 2)}" AS VARCHAR) AS "a{i}"'
                     for i, a in enumerate(attributes))
    names = ", ".join(f"a{i}" for i in range(len(attributes)))
    src = f"SELECT {idcol} AS id, {cols} FROM {reader} WHERE {customer_row_sql(con, idcol)}"
    # the regular expression runs on the distinct spellings only, counted once
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _attr_vals AS
        SELECT attr, v, n, {_norm('v')} AS k FROM (
            SELECT CAST(substr(attr, 2) AS INTEGER) AS attr, v, count(*) AS n
            FROM ({src}) UNPIVOT INCLUDE NULLS (v FOR attr IN ({names})) GROUP BY ALL)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _attr_keys AS
        SELECT attr, k, CASE WHEN k IN ({_placeholders()}) THEN NULL
                             ELSE first(v ORDER BY n DESC, v) END AS canonical
        FROM (SELECT attr, k, trim(v) AS v, sum(n) AS n FROM _attr_vals WHERE k IS NOT NULL
              GROUP BY ALL) GROUP BY attr, k""")
    # keyed by the spelling as read, so that the customers table joins on it without running
    # the regular expression on every row
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _attr_canon AS
        SELECT t.attr, t.v, c.canonical FROM _attr_vals t JOIN _attr_keys c USING (attr, k)
        WHERE c.canonical IS NOT NULL""")
    stats = con.execute(f"""
        SELECT t.attr, sum(n), coalesce(sum(n) FILTER (WHERE t.k IS NULL), 0),
               coalesce(sum(n) FILTER (WHERE t.k IN ({_placeholders()})), 0),
               coalesce(sum(n) FILTER (WHERE c.canonical IS NOT NULL
                                       AND trim(t.v) <> c.canonical), 0),
               count(DISTINCT c.canonical)
        FROM _attr_vals t LEFT JOIN _attr_keys c USING (attr, k) GROUP BY t.attr""").fetchall()
    # ids listed more than once (few): do their rows disagree once spellings are merged?
    conflicts = dict(con.execute(f"""
        WITH s AS ({src})
        SELECT attr, count(*) FROM (
            SELECT u.attr, u.id FROM (SELECT * FROM s SEMI JOIN _cust_rep USING (id))
                UNPIVOT INCLUDE NULLS (v FOR attr IN ({names})) u
            LEFT JOIN _attr_vals t ON t.attr = CAST(substr(u.attr, 2) AS INTEGER)
                                  AND t.v IS NOT DISTINCT FROM u.v
            GROUP BY u.attr, u.id HAVING count(DISTINCT coalesce(t.k, '')) > 1)
        GROUP BY attr""").fetchall()) if repeated else {}
    conflicts = {int(str(k)[1:]): v for k, v in conflicts.items()}
    con.execute("DROP TABLE _attr_vals")
    con.execute("DROP TABLE _attr_keys")
    rows = []
    for i, a in enumerate(attributes):
        n, blank, placeholder, variant, distinct = next(
            (r[1:] for r in stats if r[0] == i), (0, 0, 0, 0, 0))
        rows.append([a, n, blank, placeholder, variant, conflicts.get(i, 0), distinct])
    return pd.DataFrame(rows, columns=COLUMNS)


def canonical_select(reader_alias: str, attributes: list[str]) -> tuple[list[str], str]:
    """(select expressions, joins) that read each attribute as its canonical spelling."""
    select, joins = [], []
    for i, a in enumerate(attributes):
        col = f'{reader_alias}.' + ident(a)
        select.append(f'c{i}.canonical AS ' + ident(a))
        joins.append(f"LEFT JOIN _attr_canon c{i} ON c{i}.attr = {i} "
                     f"AND c{i}.v = CAST({col} AS VARCHAR)")
    return select, " ".join(joins)


def describe(report: pd.DataFrame) -> list[str]:
    """One console line per attribute with a problem."""
    out = []
    for r in report.itertuples(index=False):
        parts = [f"{v:,} {name.replace('_', ' ')}" for name, v in (
            ("blank", r.blank), ("placeholder", r.placeholder),
            ("spelling_variant", r.spelling_variant), ("conflicting_ids", r.conflicting_ids))
            if v]
        if parts:
            out.append(f"attribute {r.attribute}: {', '.join(parts)} of {r.rows:,} rows "
                       f"({r.distinct_values} values after merging spellings)")
    return out


def customer_id_warnings(con: duckdb.DuckDBPyConnection, reader: str, cid: str,
                         where: str, repeated: int) -> list[str]:
    """What a customers table whose ids do not fit the transactions would otherwise hide: few
    buyers found in it (and how many would match without leading zeros, which Excel strips),
    and the ``repeated`` ids (``_cust_rep``) that appear with different rows."""
    out = []  # _buyer_ids: the distinct ids of ``transactions``, left by the checks
    buyers, matched = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM customers))
        FROM _buyer_ids""").fetchall()[0]
    if buyers and matched < 0.5 * buyers:  # only then: would the ids match without zeros?
        unzeroed = con.execute("""
            SELECT count(*) FROM _buyer_ids WHERE ltrim(customer_id, '0') IN
                (SELECT ltrim(customer_id, '0') FROM customers)""").fetchall()[0][0]
        msg = (f"{where}: only {matched:,} of {buyers:,} buyers' ids are in the customers table, "
               "so the others get no attributes and its customers look like prospects")
        if unzeroed - matched > 0.25 * buyers:
            msg += (f"; {unzeroed:,} would match with leading zeros stripped: the file was "
                    "re-saved with ids as numbers (keep the id column as text)")
        out.append(msg)
    if not repeated:
        return out
    key = id_sql(cid)
    conflicting = con.execute(f"""
        SELECT count(*) FILTER (WHERE variants > 1) FROM (
            SELECT count(DISTINCT src) AS variants FROM {reader} AS src
            WHERE {key} IN (SELECT id FROM _cust_rep) GROUP BY {key})""").fetchall()[0][0]
    if conflicting:
        out.append(f"{where}: {conflicting:,} customer ids appear more than once with different "
                   "values; one row of each is used, the same on every run (de-duplicate the file to choose)")
    elif repeated:
        out.append(f"{where}: {repeated:,} customer ids appear more than once (identical rows; "
                   "one is used)")
    return out
