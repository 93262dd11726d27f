"""Quality of the customers table's attributes, counted like the transaction quarantine.

Fields typed by sales staff are often empty, "unknown", or spelt several ways. Per attribute:
blank cells, placeholder values (``unknown``, ``n/a``, ``-``, ...), spelling variants (values
equal once case, spaces, dots, dashes and underscores are ignored: ``Trader``, ``trader ``,
``TRADER``) and customer ids listed more than once with different values. Variants are
read as their most common spelling and placeholders as missing (:func:`canonical_tables`), so
segments and the report see one value per real category.
"""

from __future__ import annotations

import duckdb
import pandas as pd

#: values that mean "not known" (compared after normalising)
PLACEHOLDERS = ("unknown", "unk", "n/a", "n a", "na", "none", "null", "nil", "?", "tbd",
                "not specified", "unbekannt", "k a", "k.a", "0")
COLUMNS = ["attribute", "rows", "blank", "placeholder", "spelling_variant",
           "conflicting_ids", "distinct_values"]


def _norm(col: str) -> str:
    """The comparison key of a value: lower case, separators collapsed, NULL when blank."""
    return (f"nullif(trim(regexp_replace(lower(CAST({col} AS VARCHAR)), '[\\s_.\\-]+', ' ', "
            "'g')), '')")


def _placeholders() -> str:
    return ", ".join("'" + p.replace("'", "''") + "'" for p in PLACEHOLDERS)


def canonical_tables(con: duckdb.DuckDBPyConnection, reader: str, cid: str,
                     attributes: list[str]) -> pd.DataFrame:
    """Create ``_attr_canon_<i>(k, canonical)`` per attribute (the most common spelling, ties
    alphabetically, of
    each normalised value; placeholders map to NULL) and return the quality report, one row
    per attribute with counts of rows per problem."""
    rows = []
    idcol = f"trim(CAST({cid} AS VARCHAR))"
    for i, a in enumerate(attributes):
        col = '"' + a.replace('"', '""') + '"'
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _attr_vals AS
            SELECT {idcol} AS id, CAST({col} AS VARCHAR) AS v, {_norm(col)} AS k
            FROM {reader} WHERE nullif({idcol}, '') IS NOT NULL""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _attr_canon_{i} AS
            SELECT k, CASE WHEN k IN ({_placeholders()}) THEN NULL
                           ELSE first(v ORDER BY n DESC, v) END AS canonical
            FROM (SELECT k, trim(v) AS v, count(*) AS n FROM _attr_vals WHERE k IS NOT NULL
                  GROUP BY ALL) GROUP BY k""")
        n, blank, placeholder, variant, distinct = con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE t.k IS NULL),
                   count(*) FILTER (WHERE t.k IN ({_placeholders()})),
                   count(*) FILTER (WHERE c.canonical IS NOT NULL AND trim(t.v) <> c.canonical),
                   count(DISTINCT c.canonical)
            FROM _attr_vals t LEFT JOIN _attr_canon_{i} c USING (k)""").fetchall()[0]
        conflicts = con.execute("""
            SELECT count(*) FROM (SELECT id FROM _attr_vals GROUP BY id
                                  HAVING count(DISTINCT coalesce(k, '')) > 1)""").fetchall()[0][0]
        rows.append([a, n, blank, placeholder, variant, conflicts, distinct])
    con.execute("DROP TABLE IF EXISTS _attr_vals")
    return pd.DataFrame(rows, columns=COLUMNS)


def canonical_select(reader_alias: str, attributes: list[str]) -> tuple[list[str], str]:
    """(select expressions, joins) that read each attribute as its canonical spelling."""
    select, joins = [], []
    for i, a in enumerate(attributes):
        col = f'{reader_alias}."' + a.replace('"', '""') + '"'
        select.append(f'c{i}.canonical AS "' + a.replace('"', '""') + '"')
        joins.append(f"LEFT JOIN _attr_canon_{i} c{i} ON c{i}.k = {_norm(col)}")
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
