"""Quoting for the SQL the pipeline writes: DuckDB and Spark SQL (one place, so a column or a
value with a quote in it is read the same everywhere)."""

from __future__ import annotations

from collections.abc import Iterable


def ident(name: str) -> str:
    """``name`` as a double-quoted identifier (DuckDB)."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: str, spark: bool = False) -> str:
    """``text`` as a string literal: doubled quotes in DuckDB (and ANSI SQL), backslash escapes
    in Spark SQL."""
    if spark:
        return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + str(text).replace("'", "''") + "'"


def literals(values: Iterable[str], spark: bool = False) -> str:
    """String literals, comma separated (for IN lists)."""
    return ", ".join(literal(v, spark) for v in values)
