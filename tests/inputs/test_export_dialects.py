"""Exports that loaded silently wrong in the second audit of real layouts: mixed date styles in
one column or across a folder, two-digit years, month names, three-decimal numbers in a ';'
file, total rows with a date, ids that Excel wrote in scientific notation, a column renamed in
one file of a folder, Windows-1252 text."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from clustering.errors import DataError
from clustering.inputs.checks import QualityPolicy
from clustering.inputs.sources import TableSource, register_transactions

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


@pytest.mark.parametrize("label", ["Total", "Summe", "GESAMT", "Grand Total"])
def test_a_total_row_with_a_date_is_not_a_customer(tmp_path, label):
    rows = ["K1;O1;05.01.2024;10,00", "K2;O2;06.01.2024;20,00", f"{label};;20.01.2024;30,00"]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows), max_share=0.5)
    assert {r[0] for r in _rows(con)} == {"K1", "K2"}
    assert loaded.quality.counts == {"missing_customer_id": 1}
    assert loaded.quality.snapshot_date.isoformat() == "2024-01-07"  # not moved by the total


def test_ids_in_scientific_notation_stop_the_run(tmp_path):
    """Excel writes a 12-digit id as 1.00E+11: different customers become one."""
    rows = ["1.00E+11;O1;05.01.2024;10", "1.00E+11;O2;06.01.2024;20", "K7;O3;06.01.2024;5"]
    with pytest.raises(DataError, match=r"t.csv: the customer id of 2 lines is a number in "
                       r"scientific notation \(e.g. '1.00E\+11'\).*Export the id column as text"):
        _load(_csv(tmp_path / "t.csv", rows))


def test_a_file_without_a_mapped_column_is_named(tmp_path):
    """A folder whose newest file renamed 'amount': read by name, its rows had no amount."""
    _csv(tmp_path / "a.csv", ["K1;O1;05.01.2024;10,00"])
    _csv(tmp_path / "b.csv", ["K1;O2;05.02.2024;12,00"],
         header="customer_id;order_id;timestamp;Amount (EUR)")
    with pytest.raises(DataError, match=r"b.csv: no column 'amount' \(mapped in data.columns; 1 "
                       r"of the 2 files .* Its columns: customer_id, order_id, timestamp, "
                       r"Amount \(EUR\)"):
        _load(tmp_path)


def test_a_file_whose_rows_mostly_fail_is_named_in_a_warning(tmp_path):
    """A month exported with another date format than the others (and no format in common)."""
    _csv(tmp_path / "a.csv", [f"K{i};O{i};0{i}.01.2024;10,00" for i in range(1, 10)] * 10)
    _csv(tmp_path / "b.csv", [f"K{i};P{i};2024|02|0{i};10,00" for i in range(1, 6)])
    loaded, _ = _load(tmp_path, max_share=0.1)
    assert loaded.quality.per_file[str(tmp_path / "b.csv")] == (5, 0)
    (tmp_path / "c.csv").write_text("customer_id;order_id;timestamp;amount\n")
    loaded, _ = _load(tmp_path, max_share=0.1)
    assert "c.csv: no rows below its header" in loaded.notes
    assert any("most rows of 1 file(s) fail the checks: b.csv: 5 of its 5 rows set aside (mostly "
               "bad_date)" in w for w in loaded.warnings)


def test_windows_1252_text_with_the_euro_sign_and_quotes(tmp_path):
    rows = ["Müller „Bäckerei“;O1;05.01.2024;1.234,56 €", "K2;O2;06.01.2024;€ 12,50"]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows, encoding="cp1252"))
    assert sorted((r[0], r[2]) for r in _rows(con)) == [("K2", 12.5), ("Müller „Bäckerei“", 1234.56)]
    assert any("read as Windows-1252" in n for n in loaded.notes)
    _, con = _load(tmp_path / "t.csv", encoding="latin-1")  # the name most people give it
    assert len(_rows(con)) == 2


def test_blank_amounts_of_an_orders_export_point_to_the_line_columns(tmp_path):
    """Shopify's orders export: the order's total on its first line, blank on the others."""
    rows = ["K1;O1;05.01.2024;30,00;mug", "K1;O1;05.01.2024;;cup", "K2;O2;06.01.2024;12,00;mug",
            "K2;O2;06.01.2024;;tea", "K2;O2;06.01.2024;;cup"]
    path = _csv(tmp_path / "t.csv", rows, header="customer_id;order_id;timestamp;amount;sku")
    with pytest.raises(DataError, match="3 lines with a blank amount belong to orders whose other "
                       "line has one: .*data.columns.amount=null, data.columns.quantity"):
        _load(path)


def test_the_day_order_is_decided_per_separator(tmp_path):
    """US dates with no day above 12 beside a German file: they say nothing about the German
    order, and are not read day-first (they are set aside, counted); month names beside US
    dates are no ambiguity."""
    _csv(tmp_path / "a.csv", [f"K{i};O{i};{i + 12}.01.2024;10" for i in range(1, 19)])
    _csv(tmp_path / "b.csv", [f"K1;P{i};01/0{i}/2024;10" for i in range(2, 4)])
    loaded, _ = _load(tmp_path, max_share=0.2)
    assert loaded.quality.counts == {"bad_date": 2}
    assert loaded.quality.snapshot_date.isoformat() == "2024-01-31"
    path = tmp_path / "names.csv"
    path.write_text("customer_id,order_id,timestamp,amount\nK1,O1,03-Jan-2024,1\n"
                    "K1,O2,04-Jan-2024,1\nK2,O3,01/13/2024,1\nK2,O4,01/14/2024,1\n")
    _, con = _load(path)
    assert [r[1][:10] for r in _rows(con)] == ["2024-01-03", "2024-01-04", "2024-01-13", "2024-01-14"]


def test_folder_columns_optional_ones_and_case(tmp_path):
    """An optional column only newer files have is a note, not an error; a header that
    differs only in case is the same column (as DuckDB reads by name)."""
    _csv(tmp_path / "a.csv", ["K1;O1;05.01.2024;10"])
    _csv(tmp_path / "b.csv", ["K1;O2;05.02.2024;12;tea"],
         header="customer_id;order_id;timestamp;Amount;category")
    columns = dict(COLS, category="category")
    loaded, con = _load(tmp_path, columns=columns)
    assert [r[2] for r in _rows(con)] == [10.0, 12.0]
    assert "a.csv: no column 'category' (read as empty there)" in loaded.notes
    # an identical re-download is duplicates, not a file without rows
    (tmp_path / "c.csv").write_bytes((tmp_path / "a.csv").read_bytes())
    loaded, _ = _load(tmp_path, columns=columns)
    assert not any("no rows below its header" in n for n in loaded.notes)


def test_a_company_called_total_with_orders_is_a_customer(tmp_path):
    rows = ["TOTAL;O1;05.01.2024;10", "Sum;O2;06.01.2024;20", "Total;;07.01.2024;30"]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows), max_share=0.5)
    assert {r[0] for r in _rows(con)} == {"TOTAL", "Sum"}
    assert loaded.quality.counts == {"missing_customer_id": 1}


def test_years_outside_1900_2200_are_bad_dates(tmp_path):
    """'05-02-24' among ISO dates casts to the year 5: a bad date, not a purchase in year 5."""
    rows = [f"K{i},O{i},2024-01-0{i},10" for i in range(1, 9)] + ["K9,O9,05-02-24,10"]
    loaded, _ = _load(_csv(tmp_path / "t.csv", rows, header="customer_id,order_id,timestamp,amount"),
                      max_share=0.2)
    assert loaded.quality.counts == {"bad_date": 1}


def test_a_mistyped_future_year_is_named_and_does_not_move_the_snapshot(tmp_path):
    """One line typed 2042 for 2024 moved the snapshot to 2042 (every customer then 'lost');
    it is set aside as future_date, counted, and the warning names the date."""
    rows = [f"K{i},O{i},2024-01-0{i},10" for i in range(1, 9)] + ["K9,O9,2042-01-09,10"]
    loaded, con = _load(_csv(tmp_path / "t.csv", rows, header="customer_id,order_id,timestamp,amount"),
                        max_share=0.2)
    assert loaded.quality.counts == {"future_date": 1}
    assert str(loaded.quality.snapshot_date) == "2024-01-09"
    assert any("1 lines dated after today (the latest 2042-01-09)" in w for w in loaded.warnings)


def test_iso_times_with_an_offset_are_read_in_utc(tmp_path):
    """'+0100' was dropped although the README says times are read in UTC: 23:30+01:00 is
    22:30 UTC, 00:30-02:00 is 02:30 UTC, whatever zone the connection had."""
    rows = ["A,1,2024-05-01T23:30:00+0100,10", "A,2,2024-05-02T00:30:00-02:00,10",
            "B,3,2024-05-01 12:00:00Z,5", "B,4,2024-05-01 12:00:00,5"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")
    register_transactions(con, TableSource(str(_csv(tmp_path / "t.csv", rows,
                                                     header="customer_id,order_id,timestamp,amount")),
                                           "auto", {c: c for c in ("customer_id", "order_id",
                                                                   "timestamp", "amount")}),
                          QualityPolicy())
    got = [str(ts) for (ts,) in con.execute("SELECT ts FROM transactions ORDER BY order_id").fetchall()]
    assert got == ["2024-05-01 22:30:00", "2024-05-02 02:30:00", "2024-05-01 12:00:00",
                   "2024-05-01 12:00:00"]


def test_future_dates_start_the_day_after_tomorrow():
    import datetime as dt

    from clustering.inputs.checks import future_from

    assert future_from(dt.date(2026, 12, 31)) == dt.date(2027, 1, 2)


def test_no_order_total_hint_without_an_order_column_and_a_second_load(tmp_path):
    rows = ["K1;05.01.2024;30,00", "K1;05.01.2024;", "K2;06.01.2024;12,00", "K2;06.01.2024;"]
    path = _csv(tmp_path / "t.csv", rows, header="customer_id;timestamp;amount")
    columns = {k: v for k, v in COLS.items() if k != "order_id"}
    with pytest.raises(DataError) as err:
        _load(path, columns=columns)
    assert "Shopify" not in str(err.value)
    con = duckdb.connect()  # the same connection loads twice (notebooks, tests)
    good = _csv(tmp_path / "g.csv", ["K1;O1;05.01.2024;30,00"])
    for _ in range(2):
        register_transactions(con, TableSource(str(good), "auto", dict(COLS)), QualityPolicy())


@pytest.mark.parametrize("text, decimal, value", [
    ("2,6012E+03", ",", 2601.2),   # read as 2.601203 (the exponent's digits joined the number)
    ("1,5E-01", ",", 0.15),        # read as -1.501 (the exponent's minus made it negative)
    ("-3,2E+00", ",", -3.2),
    ("12,50 EUR", ",", 12.5),      # a currency code is no exponent
    ("(12,50)", ",", -12.5),
    ("2.6012E+03", ".", 2601.2),
])
def test_excel_scientific_notation_in_either_decimal_mark(text, decimal, value):
    from clustering.inputs.dialect import number_sql

    got = duckdb.connect().execute(f"SELECT {number_sql('v', decimal)} FROM (SELECT ? AS v)",
                                   [text]).fetchall()[0][0]
    assert got == pytest.approx(value)
