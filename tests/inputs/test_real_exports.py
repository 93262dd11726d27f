"""Real exports, table-driven: each case is a small file set written the way ERPs, shops and
Excel write them, with its exact outcome: rows read, kept and quarantined by reason, the
customers and revenue that result; or the exact one-line error."""

from __future__ import annotations

import datetime as dt
import gzip
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from clustering.errors import DataError
from clustering.inputs.checks import QualityPolicy
from clustering.inputs.customers import register_customers
from clustering.inputs.sources import TableSource, register_transactions

# six lines of three customers; revenue 1,400.25
ROWS = [("C1", "O1", dt.date(2024, 1, 5), 10.0), ("C1", "O2", dt.date(2024, 2, 6), 20.0),
        ("C2", "O3", dt.date(2024, 3, 17), 30.5), ("C2", "O4", dt.date(2024, 4, 18), 1234.5),
        ("C3", "O5", dt.date(2024, 5, 19), 5.25), ("C3", "O6", dt.date(2024, 6, 20), 100.0)]
REVENUE = 1400.25
COLS = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "date",
        "amount": "amount"}


def number(v: float, decimal: str = ".", thousands: str = "", fmt: str = "{}") -> str:
    whole, frac = f"{abs(v):.2f}".split(".")
    groups = f"{int(whole):,}".replace(",", thousands)
    text = fmt.format(f"{groups}{decimal}{frac}")
    return f"-{text}" if v < 0 else text


def export(rows=ROWS, sep: str = ",", decimal: str = ".", thousands: str = "",
           date: str = "%Y-%m-%d", fmt: str = "{}", ids=lambda c: c, header=None,
           quote_amount: bool = False, newline: str = "\n", before: str = "",
           after: str = "") -> str:
    head = header or sep.join(["customer_id", "order_id", "date", "amount"])
    lines = []
    for c, o, d, a in rows:
        amount = number(a, decimal, thousands, fmt)
        if quote_amount or sep in amount:
            amount = f'"{amount}"'
        lines.append(sep.join([ids(c), o, d.strftime(date), amount]))
    return before + newline.join([head, *lines]) + newline + after


def _swapped(rows, header: str) -> str:
    """An export whose columns are in the order ``header`` names (another shop's system)."""
    cols = header.split(",")
    lines = []
    for c, o, d, a in rows:
        value = {"customer_id": c, "order_id": o, "date": d.isoformat(), "amount": f"{a:.2f}"}
        lines.append(",".join(value[k] for k in cols))
    return "\n".join([header, *lines]) + "\n"


@dataclass
class Case:
    files: dict[str, str | bytes]  # relative name -> content (text is UTF-8)
    source: dict = field(default_factory=dict)  # TableSource settings
    read: int | None = None
    kept: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    customers: int = 3
    revenue: float = REVENUE
    error: str | None = None  # the exact message; {dir} is the case's folder
    path: str = ""  # what data.path points at, relative to the case's folder ("" = the folder)
    notes: tuple[str, ...] = ()  # substrings of the data summary lines


def _excel(tmp: Path) -> Path:
    df = pd.DataFrame({"customer_id": [c for c, *_ in ROWS], "order_id": [o for _, o, *_ in ROWS],
                       "date": [pd.Timestamp(d) for *_, d, _ in ROWS],
                       "amount": [a for *_, a in ROWS]})
    path = tmp / "book.xlsx"
    df.to_excel(path, index=False)
    return path


def _parquet(rows) -> bytes:
    import io

    buf = io.BytesIO()
    pd.DataFrame(rows, columns=["customer_id", "order_id", "date", "amount"]).assign(
        date=lambda d: pd.to_datetime(d["date"])).to_parquet(buf, index=False)
    return buf.getvalue()


FOOTER_DE = ";;;\nSumme;;;1.400,25\nExportiert von SAP am 02.01.2025 durch Müller\n"

CASES: dict[str, Case] = {
    # --- delimiters, sniffed or given -------------------------------------------------------
    "comma": Case({"t.csv": export()}, read=6, kept=6),
    "semicolon sniffed": Case({"t.csv": export(sep=";")}, read=6, kept=6),
    "tab in a .tsv": Case({"t.tsv": export(sep="\t")}, read=6, kept=6),
    "pipe": Case({"t.txt": export(sep="|")}, read=6, kept=6),
    "Excel's sep= line": Case({"t.csv": export(sep=";", before="sep=;\n")}, read=6, kept=6),
    "CRLF line ends": Case({"t.csv": export(newline="\r\n")}, read=6, kept=6),
    "delimiter given": Case({"t.csv": export(sep="|")}, {"delimiter": "|"}, read=6, kept=6),
    # --- numbers ------------------------------------------------------------------------------
    "decimal comma with ;": Case({"t.csv": export(sep=";", decimal=",")}, read=6, kept=6,
                                 notes=("decimal comma",)),
    "thousands comma, decimal point": Case({"t.csv": export(thousands=",")}, read=6, kept=6),
    "thousands point, decimal comma": Case({"t.csv": export(sep=";", decimal=",",
                                                            thousands=".")}, read=6, kept=6),
    "thousands space, decimal comma": Case({"t.csv": export(sep=";", decimal=",",
                                                            thousands=" ")}, read=6, kept=6),
    "Swiss apostrophes": Case({"t.csv": export(thousands="'")}, read=6, kept=6),
    "euro sign before": Case({"t.csv": export(sep=";", decimal=",", fmt="€ {}")}, read=6, kept=6),
    "dollar sign, thousands": Case({"t.csv": export(thousands=",", fmt="${}")}, read=6, kept=6),
    "currency code after": Case({"t.csv": export(fmt="{} EUR")}, read=6, kept=6),
    "decimal comma given": Case({"t.csv": export(sep="\t", decimal=",")}, {"decimal": ","},
                                read=6, kept=6),
    "two shops, two decimal marks": Case(  # a ';' comma file with point-written amounts
        {"t.csv": export(sep=";", decimal=",").replace(";10,00", ";10.00").replace(
            ";1234,50", ";1234.50")}, read=6, kept=6,
        notes=("2 number(s) written with a decimal point (e.g. '10.00') in a file read with a "
               "decimal comma: each read by its own mark",)),
    "comma-written amounts in a point file": Case(
        {"t.csv": export(quote_amount=True).replace('"30.50"', '"30,50"')}, read=6, kept=6,
        notes=("1 number(s) written with a decimal comma (e.g. '30,50')",)),
    "accounting negative": Case({"t.csv": export(rows=ROWS + [("C1", "R1", dt.date(2024, 3, 1),
                                                                -5.0)], fmt="{}").replace(
        "-5.00", "(5.00)")}, read=7, kept=7, revenue=REVENUE - 5),
    "SAP trailing minus": Case({"t.csv": export(sep=";", decimal=",", rows=ROWS + [
        ("C1", "R1", dt.date(2024, 3, 1), -5.0)]).replace("-5,00", "5,00-")},
        read=7, kept=7, revenue=REVENUE - 5),
    # --- text encodings and compression ------------------------------------------------------
    "UTF-8 BOM": Case({"t.csv": "\ufeff" + export(sep=";")}, read=6, kept=6),
    "UTF-16": Case({"t.csv": export().encode("utf-16")}, read=6, kept=6),
    "Latin-1": Case({"t.csv": export(ids=lambda c: c.replace("C", "Ö")).encode("latin-1")},
                    read=6, kept=6, notes=("read as Windows-1252",)),
    "gzip": Case({"t.csv.gz": gzip.compress(export().encode())}, read=6, kept=6),
    # --- dates --------------------------------------------------------------------------------
    "dd.mm.yyyy sniffed": Case({"t.csv": export(sep=";", date="%d.%m.%Y")}, read=6, kept=6,
                               notes=("'%d.%m.%Y'",)),
    "dd/mm/yyyy sniffed": Case({"t.csv": export(date="%d/%m/%Y")}, read=6, kept=6),
    "mm/dd/yyyy sniffed": Case({"t.csv": export(date="%m/%d/%Y")}, read=6, kept=6),
    "date format given": Case({"t.csv": export(date="%Y%m%d")}, {"date_format": "%Y%m%d"},
                              read=6, kept=6),
    # --- junk, footers, quoting -----------------------------------------------------------------
    "German ERP footer": Case({"t.csv": export(sep=";", decimal=",", thousands=".",
                                               date="%d.%m.%Y", after=FOOTER_DE)},
                              read=9, kept=6, counts={"junk_line": 3}),
    "blank lines inside": Case({"t.csv": export().replace("\nC2,O3", "\n\n\nC2,O3")},
                               read=6, kept=6),
    "stray quote in notes": Case({"t.csv": export(header="customer_id,order_id,date,amount,notes"
                                                  ).replace("10.00\n", '10.00,"says "hi"\n')},
                                 read=6, kept=6),
    "quoted newline and a footer": Case({"t.csv": export(
        header="customer_id,order_id,date,amount,notes").replace("10.00\n", '10.00,"a\nb"\n')
        + "TOTAL\n"}, read=7, kept=6, counts={"junk_line": 1}),
    # --- identifiers --------------------------------------------------------------------------
    "ids padded with spaces": Case({"t.csv": export(rows=[(f" {c}" if o in "O1 O3" else
                                                          f"{c}   ", o, d, a)
                                                         for c, o, d, a in ROWS])},
                                   read=6, kept=6, customers=3),
    "leading zeros kept": Case({"t.csv": export(ids=lambda c: "000" + c[1:]) + "1,O7,2024-06-01"
                                ",1.00\n"}, read=7, kept=7, customers=4, revenue=REVENUE + 1),
    # --- folders and formats ------------------------------------------------------------------
    "folder of CSV and Parquet": Case({"a.csv": export(rows=ROWS[:3]), "b.parquet":
                                       _parquet(ROWS[3:])}, read=6, kept=6,
                                      notes=("a.csv: 3 rows, 3 kept", "b.parquet: 3 rows")),
    "folder with ; and , files": Case({"a.csv": export(rows=ROWS[:3], sep=";", decimal=","),
                                       "b.csv": export(rows=ROWS[3:])}, read=6, kept=6),
    "lock and empty files skipped": Case({"a.csv": export(), "~$book.xlsx": b"lock",
                                          ".~lock.a.csv#": b"x", "empty.csv": b"",
                                          "readme.md": "notes"}, read=6, kept=6,
                                         notes=("skipped empty.csv: empty (0 bytes)",
                                                "skipped ~$book.xlsx: an editor's lock file",
                                                "skipped readme.md: not a table")),
    "overlapping exports": Case({"jan.csv": export(rows=ROWS[:4]), "feb.csv": export(
        rows=ROWS[3:])}, read=7, kept=6, counts={"duplicate": 1}),
    "glob": Case({"x_1.csv": export(rows=ROWS[:3]), "x_2.csv": export(rows=ROWS[3:]),
                  "other.csv": export(rows=[("C9", "O9", dt.date(2024, 1, 1), 1.0)])},
                 path="x_*.csv", read=6, kept=6),
    "Excel workbook": Case({}, path="book.xlsx", read=6, kept=6),
    "a header name twice": Case({"t.csv": export(header="customer_id,order_id,date,amount").replace(
        "amount\n", "amount,Amount\n")}, read=6, kept=6,
        notes=("t.csv: the header names 'amount' 2 times (columns 4, 5): read as 'amount', "
               "'amount_1', so data.columns mapped to 'amount' use column 4; map another, e.g. "
               "'amount_1', if it is the right one",)),
    "two exports joined with cat": Case({"t.csv": export(rows=ROWS[:3]) + export(rows=ROWS[3:])},
                                        read=7, kept=6, counts={"junk_line": 1}),
    # --- errors: one line naming the file and the fix -------------------------------------------
    "0-byte file": Case({"t.csv": b""}, path="t.csv",
                        error="transactions: {dir}/t.csv is empty (0 bytes): export it again"),
    "only a lock file": Case({"~$t.xlsx": b"x"}, error="transactions: no input files at '{dir}'; "
                             "skipped 1: ~$t.xlsx (an editor's lock file). Give a CSV, Parquet or "
                             "Excel file, a folder of them or a glob (data.path=...)."),
    "ambiguous day and month": Case(
        {"t.csv": export(rows=[(c, o, d.replace(day=min(d.day, 12)), a)
                               for c, o, d, a in ROWS], date="%d/%m/%Y")},
        error="{dir}/t.csv: the dates in 'date' read both day-first and month-first (no day "
              "above 12 among 6 values): set data.date_format, e.g. '%d/%m/%Y' or '%m/%d/%Y'"),
    "unsupported encoding": Case({"t.csv": export()}, {"encoding": "cp437"},
                                 error="data.encoding=cp437: not supported; use utf-8, utf-16, "
                                       "cp1252 (Windows-1252; also for latin-1), cp1251 "
                                       "(Windows-1251, Cyrillic) or auto"),
    "header only": Case({"t.csv": "customer_id,order_id,date,amount\n"},
                        error="{dir}/t.csv: no rows. Check data.path and that the file has data "
                              "below its header."),
    "amounts in words": Case({"t.csv": export().replace("20.00", "twenty").replace(
        "30.50", "n/a")}, error="{dir}/t.csv: 2 of 6 rows (33.3%) fail the checks, more than "
        "data.quality.max_share=5%: 6 rows read, 4 kept, 2 quarantined (bad_amount 2). "
        "Blank or unreadable amounts: check data.columns.amount (or quantity and unit_price) and "
        "data.decimal. If these rows are expected, raise data.quality.max_share to 0.34 to set "
        "them aside and run on the rest."),
    "joined exports, ids and orders swapped": Case(
        {"t.csv": export(rows=ROWS[:3]) + _swapped(ROWS[3:], "order_id,customer_id,date,amount")},
        path="t.csv", error="{dir}/t.csv: 1 line(s) inside the data repeat the header with the "
        "columns in another order (column 'customer_id' holds 'order_id' there): two exports were "
        "joined into one file, and the lines below such a header would go into the wrong "
        "columns. Put each export in its own file in one folder (data.path=<folder>): the files "
        "of a folder are matched by column name."),
    "joined exports, date moved": Case(
        {"t.csv": export(rows=ROWS[:3]) + _swapped(ROWS[3:], "date,customer_id,order_id,amount")},
        path="t.csv", error="{dir}/t.csv: 1 line(s) inside the data repeat the header with the "
        "columns in another order (column 'date' holds 'order_id' there): two exports were "
        "joined into one file, and the lines below such a header would go into the wrong "
        "columns. Put each export in its own file in one folder (data.path=<folder>): the files "
        "of a folder are matched by column name."),
    "a field of 3 MB": Case(
        {"t.csv": export(header="customer_id,order_id,date,amount,notes").replace(
            "10.00\n", "10.00," + "x" * 3_000_000 + "\n")}, path="t.csv",
        error="{dir}/t.csv: a line is 3.0 MB long, more than the 2 MB a line may have (it starts "
              "'C1,O1,2024-01-05,10.00,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'): a field holds "
              "a whole document, or a quote opened there never closes. Shorten or drop that "
              "field in the export, or close the quote."),
    "a quote never closed": Case({"t.csv": export(
        header="customer_id,order_id,date,amount,notes").replace("10.00\n", '10.00,"says hi\n')},
        path="t.csv", error="{dir}/t.csv: line 2 (of the non-blank lines) opens a quote (\") "
        "that never closes, so every line after it would be one field: close or remove that "
        "quote in the export (the line starts 'C1,O1,2024-01-05,10.00,\"says hi')"),
    "wrong delimiter given": Case({"t.csv": export(sep=";")}, {"delimiter": ","},
                                  error="{dir}/t.csv: column 'customer_id' (for customer_id) not "
                                  "found. Columns present: customer_id;order_id;date;amount. "
                                  "The file reads as a single column: wrong delimiter? Set "
                                  "data.delimiter. Map it with data.columns.customer_id=<column>."),
    "date format that matches nothing": Case(
        {"t.csv": export()}, {"date_format": "%d.%m.%Y"},
        error="{dir}/t.csv: none of the 6 values in the date column \"date\" parse with date format "
              "'%d.%m.%Y' (e.g. '2024-01-05'). It is ISO 8601: set data.date_format=null."),
}


def _write(tmp: Path, case: Case) -> str:
    for name, content in case.files.items():
        (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.path == "book.xlsx":
        _excel(tmp)
    return str(tmp / case.path) if case.path else str(tmp)


def _load(path: str, case: Case):
    con = duckdb.connect()
    src = TableSource(path, "auto", dict(COLS), **case.source)
    return register_transactions(con, src, QualityPolicy()), con


@pytest.mark.parametrize("name", list(CASES))
def test_real_export(name, tmp_path):
    case = CASES[name]
    path = _write(tmp_path, case)
    if case.error is not None:
        with pytest.raises(DataError) as err:
            _load(path, case)
        assert str(err.value) == case.error.format(dir=tmp_path)
        return
    loaded, con = _load(path, case)
    q = loaded.quality
    assert (q.rows_read, q.rows_kept) == (case.read, case.kept)
    assert q.counts == case.counts
    assert q.rows_read == q.rows_kept + q.quarantined  # nothing lost uncounted
    assert sum(r for r, _ in q.per_file.values()) == q.rows_read
    n, revenue = con.execute("SELECT count(DISTINCT customer_id), sum(amount) FROM transactions"
                             ).fetchall()[0]
    assert n == case.customers
    assert revenue == pytest.approx(case.revenue)
    summary = "\n".join(loaded.describe())
    for note in case.notes:
        assert note in summary


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def _ids(tmp: Path, content: bytes) -> tuple[set[str], list[str]]:
    (tmp / "t.csv").write_bytes(content)
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(tmp / "t.csv"), "auto", COLS))
    ids = {r[0] for r in con.execute("SELECT DISTINCT customer_id FROM transactions").fetchall()}
    return ids, loaded.describe()


def test_a_few_stray_latin1_bytes_leave_the_utf8_umlauts_alone(tmp_path):
    """Three customers' umlauts in UTF-8, one pasted line of Latin-1: the whole file used to
    be read as Windows-1252, garbling every UTF-8 umlaut ('Ã–1')."""
    text = export(ids=lambda c: c.replace("C", "Ö"))
    lines = text.splitlines(keepends=True)
    content = b"".join(ln.encode("latin-1" if i == 5 else "utf-8") for i, ln in enumerate(lines))
    ids, summary = _ids(tmp_path, content)
    assert ids == {"Ö1", "Ö2", "Ö3"}
    assert ("t.csv: 1 byte(s) are not UTF-8 (the first on line 6): read as Windows-1252 there, "
            "the rest of the file as UTF-8 (set data.encoding to override)") in summary


def test_windows_1251_is_sniffed(tmp_path):
    """A Russian 1C export in Windows-1251: read as Windows-1252 it was garbled."""
    names = {"C1": "Иванов", "C2": "Петрова", "C3": "Сидоров"}
    ids, summary = _ids(tmp_path, export(ids=names.get).encode("cp1251"))
    assert ids == set(names.values())
    assert any("read as Windows-1251 (Cyrillic" in line for line in summary)


def test_latin1_stays_windows_1252(tmp_path):
    ids, _ = _ids(tmp_path, export(ids=lambda c: c.replace("C", "Müller-")).encode("cp1252"))
    assert ids == {"Müller-1", "Müller-2", "Müller-3"}


def _customers(tmp: Path, text: str) -> TableSource:
    (tmp / "customers.csv").write_text(text)
    return TableSource(str(tmp / "customers.csv"), "auto", {"customer_id": "customer_id"})


def test_customer_ids_that_lost_their_leading_zeros_are_named(tmp_path):
    (tmp_path / "t.csv").write_text(export(ids=lambda c: "000" + c[1:]))
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(tmp_path / "t.csv"), "auto", COLS))
    loaded = register_customers(con, _customers(tmp_path, "customer_id,region\n1,N\n2,S\n3,E\n"),
                                ["region"], loaded)
    assert loaded.warnings == [
        f"{tmp_path}/customers.csv: only 0 of 3 buyers' ids are in the customers table, so the "
        "others get no attributes and its customers look like prospects; 3 would match with "
        "leading zeros stripped: the file was re-saved with ids as numbers (keep the id column "
        "as text)"]


def test_padded_and_repeated_customer_ids(tmp_path):
    (tmp_path / "t.csv").write_text(export())
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(tmp_path / "t.csv"), "auto", COLS))
    loaded = register_customers(con, _customers(
        tmp_path, "customer_id,region\n C1 ,N\nC2,S\nC3,E\nC3,W\n"), ["region"], loaded)
    assert con.execute("SELECT count(*) FROM customers").fetchall()[0][0] == 3
    assert con.execute("SELECT region FROM customers WHERE customer_id = 'C1'"
                       ).fetchall() == [("N",)]
    assert loaded.warnings == [
        f"{tmp_path}/customers.csv: 1 customer ids appear more than once with different values; "
        "one row of each is used, the same on every run (de-duplicate the file to choose)"]
