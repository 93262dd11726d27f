"""Exports that loaded silently wrong in the second audit of real layouts: mixed date styles in
one column or across a folder, two-digit years, month names, three-decimal numbers in a ';'
file, total rows with a date, ids that Excel wrote in scientific notation, a column renamed in
one file of a folder, Windows-1252 text."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from clustering.checks import QualityPolicy
from clustering.sources import TableSource, register_transactions

COLS = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
        "amount": "amount"}


def _load(path: Path, max_share: float = 0.05, columns=COLS, **source):
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(path), "auto", dict(columns), **source),
                                   QualityPolicy(max_share=max_share))
    return loaded, con


def _rows(con) -> list[tuple]:
    return con.execute("SELECT customer_id, CAST(ts AS VARCHAR), amount FROM transactions "
                       "ORDER BY ts, customer_id").fetchall()


def _csv(path: Path, rows: list[str], header: str = "customer_id;order_id;timestamp;amount",
         encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def test_date_only_lines_among_timed_ones_are_read(tmp_path):
    rows = [f"K{i};O{i};0{i}.03.2024 10:1{i};10,00" for i in range(1, 8)] + ["K9;O9;12.03.2024;5,00"]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows))
    assert loaded.quality.counts == {}
    assert _rows(con)[-1] == ("K9", "2024-03-12 00:00:00", 5.0)
    assert loaded.quality.snapshot_date.isoformat() == "2024-03-13"


def test_a_folder_with_day_first_and_iso_files_reads_both(tmp_path):
    _csv(tmp_path / "a.csv", [f"K{i};O{i};{i + 10}.11.2024;10,50" for i in range(6)])
    _csv(tmp_path / "b.csv", ["K1;P1;2024-12-19;7,25", "K2;P2;2024-12-03 08:00:00;1,00"])
    loaded, con = _load(tmp_path)
    assert loaded.quality.counts == {}
    assert loaded.quality.snapshot_date.isoformat() == "2024-12-20"
    assert ("K1", "2024-12-19 00:00:00", 7.25) in _rows(con)


@pytest.mark.parametrize("dates", [["12.01.24", "28.02.24", "30.12.23"],
                                   ["1/12/24", "2/28/24", "12/30/23"]])
def test_two_digit_years_are_this_century_not_the_year_24(tmp_path, dates):
    rows = [f"K{i};O{i};{d};10" for i, d in enumerate(dates)]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows))
    years = {r[1][:4] for r in _rows(con)}
    assert years == {"2023", "2024"}
    assert loaded.quality.snapshot_date.year == 2024


@pytest.mark.parametrize("dates", [["03-Jan-2024", "28-Feb-2024"], ["Jan 03, 2024", "Feb 28, 2024"]])
def test_month_names_are_read(tmp_path, dates):
    path = tmp_path / "t.csv"
    path.write_text('customer_id,order_id,timestamp,amount\n'
                    + "".join(f'K{i},O{i},"{d}",10\n' for i, d in enumerate(dates)))
    _, con = _load(path)
    assert [r[1] for r in _rows(con)] == ["2024-01-03 00:00:00", "2024-02-28 00:00:00"]


def test_three_decimal_numbers_with_a_leading_zero_are_decimal_points(tmp_path):
    """A ';' file whose numbers all have three decimals: '0.750' cannot be thousands, so the
    point is the decimal mark (it was read as 750, and 12.125 as 12125)."""
    rows = ["K1;O1;2024-01-05;0.750", "K1;O2;2024-01-06;12.125", "K2;O3;2024-01-07;197.600"]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows))
    assert [r[2] for r in _rows(con)] == [0.75, 12.125, 197.6]
    # German thousands without decimals stay thousands in a ';' file, and the note says why
    loaded, con = _load(_csv(tmp_path / "t.csv", ["K1;O1;2024-01-05;1.234", "K2;O2;2024-01-06;2.500"]))
    assert [r[2] for r in _rows(con)] == [1234.0, 2500.0]
    assert any("values such as '1.234' with a ';' delimiter read with a decimal comma" in n
               for n in loaded.notes)
