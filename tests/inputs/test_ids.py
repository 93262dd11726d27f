"""The canonical id text and the blank-cell test, against a hand-written rule in Python: the
SQL takes most ids as they are after one cheap test, and must give what the rule gives."""

from __future__ import annotations

import re

import duckdb
import pytest

from clustering.inputs.ids import BLANKS, id_sql
from clustering.inputs.sources import _blank

IDS = ["17850", "17850.0", "-3.00", "12.5", "1.0.0", "A@B.COM", " a@b.com\t", "K-100\t",
       "\u00a0K-100", "K-100\u00a0", " x ", "\r\nx\r\n", "in side", "", " ", "\t", "\u00a0",
       "  17850.0  ", "x.", ".0", "ÄÖ@Ü.de", "0", "guest", None]


def _canonical(value: str | None) -> str | None:
    """The rule of :mod:`clustering.inputs.ids`: trimmed; an e-mail in lower case; a whole
    number's .0 dropped."""
    if value is None:
        return None
    text = value.strip(BLANKS)
    if "@" in text:
        return text.lower()
    return re.sub(r"^(-?[0-9]+)[.]0+$", r"\1", text) if "." in text else text


@pytest.mark.parametrize("value", IDS)
def test_id_sql_is_the_canonical_rule(value):
    got = duckdb.sql(f"SELECT {id_sql('v')} FROM (SELECT $v::VARCHAR AS v)",
                     params={"v": value}).fetchall()[0][0]
    assert got == _canonical(value)


@pytest.mark.parametrize("value", IDS)
def test_blank_is_nothing_but_spaces(value):
    """A text cell is blank when it is NULL or nothing but spaces (as trim() takes them)."""
    got = duckdb.sql(f"SELECT {_blank('v', 'VARCHAR')} FROM (SELECT $v::VARCHAR AS v)",
                     params={"v": value}).fetchall()[0][0]
    assert got is (value is None or value.strip(" ") == "")
