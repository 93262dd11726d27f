"""Layouts of well-known exports that used to load wrong or fail unclearly: float and
placeholder customer ids, text return flags and credit suffixes, workbooks with several sheets,
identical lines, times with a zone, number dates, bad date formats, files without a header."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clustering.errors import DataError
from clustering.inputs.checks import QualityPolicy
from clustering.inputs.customers import register_customers
from clustering.inputs.sources import TableSource, register_transactions

COLS = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
        "amount": "amount"}
BASE = {"customer_id": ["A", "A", "B", "B"], "order_id": ["1", "2", "3", "R3"],
        "timestamp": ["2024-01-05", "2024-02-05", "2024-01-07", "2024-01-20"],
        "amount": ["10.00", "20.00", "50.00", "50.00"]}


def _load(path: Path, columns=COLS, max_share: float = 0.05, **source):
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(path), "auto", dict(columns), **source),
                                   QualityPolicy(max_share=max_share))
    return loaded, con


def _per_customer(con) -> dict[str, tuple[int, float]]:
    """Customer -> (purchase orders, net amount) of the checked lines."""
    rows = con.execute("""SELECT customer_id, count(DISTINCT order_id) FILTER (WHERE NOT is_return),
                                 round(sum(amount), 2)
                          FROM transactions GROUP BY 1 ORDER BY 1""").fetchall()
    return {c: (n, v) for c, n, v in rows}


def test_float_ids_are_the_integer_ids_and_nan_ids_are_no_customer(tmp_path):
    """pandas writes integer ids as 17850.0 next to an empty cell; a DOUBLE Parquet column holds
    NaN for guests. One customer per id whichever way it is written, NaN quarantined."""
    (tmp_path / "a.csv").write_text("customer_id,order_id,timestamp,amount\n"
                                    "17850.0,1,2024-01-05,10\n,2,2024-01-06,5\n13085.0,3,2024-01-07,7\n")
    pq.write_table(pa.table({"customer_id": pa.array([17850.0, float("nan"), 13085.0],
                                                     from_pandas=False),
                             "order_id": ["4", "5", "6"],
                             "timestamp": pa.array(pd.to_datetime(["2024-02-01"] * 3)),
                             "amount": [20.0, 1.0, 3.0]}), tmp_path / "b.parquet")
    (tmp_path / "c.csv").write_text("customer_id,order_id,timestamp,amount\n17850,7,2024-03-01,30\n")
    loaded, con = _load(tmp_path, max_share=0.5)
    assert _per_customer(con) == {"13085": (2, 10.0), "17850": (3, 60.0)}
    assert loaded.quality.counts == {"missing_customer_id": 2}
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,region\n17850,N\n13085,S\n")
    loaded = register_customers(con, TableSource(str(customers), "auto",
                                                 {"customer_id": "customer_id"}), ["region"], loaded)
    assert loaded.warnings == []  # every buyer found in the customers table
    assert con.execute("SELECT region FROM customers WHERE customer_id = '17850'").fetchall() == [("N",)]


def test_e_mail_ids_are_one_customer_in_any_case(tmp_path):
    pd.DataFrame({"customer_id": ["Anna.Berg@Example.com", "anna.berg@example.com ", "Bo@x.se"],
                  "order_id": ["1", "2", "3"], "timestamp": ["2024-01-05"] * 3,
                  "amount": ["10", "20", "5"]}).to_csv(tmp_path / "t.csv", index=False)
    _, con = _load(tmp_path / "t.csv")
    assert _per_customer(con) == {"anna.berg@example.com": (2, 30.0), "bo@x.se": (1, 5.0)}


def test_ids_with_a_trailing_tab_or_no_break_space_are_one_customer(tmp_path):
    """A tab pasted after an id (or Excel's no-break space) split one customer in two."""
    pd.DataFrame({"customer_id": ["K-100", "K-100\t", "\u00a0K-100", "K-200"],
                  "order_id": ["1", "2", "3", "4"], "timestamp": ["2024-01-05"] * 4,
                  "amount": ["10", "20", "5", "7"]}).to_csv(tmp_path / "t.csv", index=False)
    _, con = _load(tmp_path / "t.csv")
    assert _per_customer(con) == {"K-100": (3, 35.0), "K-200": (1, 7.0)}


def test_placeholder_ids_are_missing_not_one_giant_customer(tmp_path):
    ids = ["A", "N/A", "n/a", "0", "-", "GUEST", "#N/A", "nan", " none ", "A"]
    pd.DataFrame({"customer_id": ids, "order_id": [str(i) for i in range(10)],
                  "timestamp": ["2024-01-05"] * 10, "amount": ["10"] * 10}).to_csv(
        tmp_path / "t.csv", index=False)
    loaded, con = _load(tmp_path / "t.csv", max_share=0.9)
    assert _per_customer(con) == {"A": (2, 20.0)}
    assert loaded.quality.counts == {"missing_customer_id": 8}
    raw = con.execute("SELECT customer_id FROM quarantine ORDER BY 1").fetchall()
    assert sorted(r[0] for r in raw) == sorted(i.strip() for i in ids if i != "A")  # kept as read


@pytest.mark.parametrize("flag", ["X", "x", "Credit Memo", "refunded", "Storno", "1", "yes", "TRUE"])
def test_text_return_flags_net_the_line(tmp_path, flag):
    pd.DataFrame(BASE | {"is_return": ["", "", "", flag]}).to_csv(tmp_path / "t.csv", index=False)
    loaded, con = _load(tmp_path / "t.csv", {**COLS, "is_return": "is_return"})
    assert _per_customer(con) == {"A": (2, 30.0), "B": (1, 0.0)}
    assert loaded.warnings == []


def test_an_unknown_return_flag_is_named_and_can_be_listed(tmp_path):
    pd.DataFrame(BASE | {"is_return": ["Invoice", "Invoice", "Invoice", "RMA"]}).to_csv(
        tmp_path / "t.csv", index=False)
    loaded, con = _load(tmp_path / "t.csv", {**COLS, "is_return": "is_return"})
    assert _per_customer(con)["B"] == (2, 100.0)  # read as a purchase, and said so:
    assert loaded.warnings == [
        f"{tmp_path}/t.csv: the return flag 'is_return' has values read as purchases: 'rma' "
        "(1 lines). If any of them means a return, credit note or cancellation, list them: "
        "data.return_values=[...] (default: true, t, 1, yes, y, x, j, ja, r, return, returned, "
        "credit, credit memo, credit note, refund, refunded, cancelled, canceled, cancellation, "
        "storno, gutschrift, retoure, retour, avoir)"]
    loaded, con = _load(tmp_path / "t.csv", {**COLS, "is_return": "is_return"},
                        return_values=["RMA"])
    assert _per_customer(con)["B"] == (1, 0.0) and loaded.warnings == []


def test_boolean_and_number_flags_and_credit_suffixes(tmp_path):
    df = pd.DataFrame(BASE).assign(amount=[10.0, 20.0, 50.0, 50.0], is_return=[0, 0, 0, 1],
                                   timestamp=lambda d: pd.to_datetime(d["timestamp"]))
    df.to_parquet(tmp_path / "n.parquet")
    _, con = _load(tmp_path / "n.parquet", {**COLS, "is_return": "is_return"})
    assert _per_customer(con)["B"] == (1, 0.0)
    df.assign(is_return=df["is_return"].astype(bool)).to_parquet(tmp_path / "b.parquet")
    _, con = _load(tmp_path / "b.parquet", {**COLS, "is_return": "is_return"})
    assert _per_customer(con)["B"] == (1, 0.0)
    pd.DataFrame(BASE | {"amount": ["10.00", "20.00 DR", "50.00", "50.00 CR"]}).to_csv(
        tmp_path / "cr.csv", index=False)
    _, con = _load(tmp_path / "cr.csv")
    assert _per_customer(con) == {"A": (2, 30.0), "B": (1, 0.0)}


def test_every_sheet_with_the_same_columns_is_read(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as w:
        pd.DataFrame(BASE).iloc[:2].to_excel(w, sheet_name="2009-2010", index=False)
        pd.DataFrame(BASE).iloc[2:3].to_excel(w, sheet_name="2010-2011", index=False)
        pd.DataFrame({"note": ["prices incl. VAT"]}).to_excel(w, sheet_name="Info", index=False)
    loaded, con = _load(path)
    assert _per_customer(con) == {"A": (2, 30.0), "B": (1, 50.0)}
    summary = "\n".join(loaded.describe())
    assert "book.xlsx: sheets '2009-2010', '2010-2011' read as one table" in summary
    assert "book.xlsx: sheet 'Info' skipped: its columns differ from sheet '2009-2010'" in summary


def test_identical_lines_removed_as_duplicates_are_counted_with_their_value(tmp_path):
    pd.DataFrame({"customer_id": ["A"] * 3 + ["B"] * 997, "order_id": ["1"] * 3 +
                  [str(i) for i in range(997)], "timestamp": ["2024-01-05"] * 1000,
                  "amount": ["9.99"] * 3 + ["1.00"] * 997}).to_csv(tmp_path / "t.csv", index=False)
    loaded, con = _load(tmp_path / "t.csv")
    assert loaded.quality.counts == {"duplicate": 2}
    assert loaded.warnings == [
        f"{tmp_path}/t.csv: 2 lines (0.2%) were exact copies of another line and were set aside "
        "as duplicates, 19.98 of value (1.9%: of 1,026.97). Overlapping exports make such copies; if yours "
        "can hold two identical lines that are both real (the same item twice in one order "
        "without a line number, two equal vouchers), set data.quality.dedupe=false"]
    con.close()
    con = duckdb.connect()
    register_transactions(con, TableSource(str(tmp_path / "t.csv"), "auto", COLS),
                          QualityPolicy(dedupe=False))
    assert _per_customer(con)["A"] == (1, 29.97)


def test_times_with_a_zone_give_the_same_dates_on_every_machine(tmp_path):
    pq.write_table(pa.table({"customer_id": ["A", "A"], "order_id": ["1", "2"],
                             "timestamp": pa.array([pd.Timestamp("2024-01-04 10:00", tz="UTC"),
                                                    pd.Timestamp("2024-01-05 23:30", tz="UTC")]),
                             "amount": [1.0, 2.0]}), tmp_path / "tz.parquet")
    code = (f"from clustering.engines import LocalEngine; from clustering.inputs.sources import "
            f"DataSources, TableSource; e = LocalEngine(DataSources(TableSource({str(tmp_path / 'tz.parquet')!r}, "
            f"'auto', {COLS!r})), lookback_days=365, data_dir={str(tmp_path)!r}); "
            "print(e.loaded.quality.snapshot_date, e.con.execute('SELECT max(ts) FROM transactions').fetchall()[0][0])")
    out = {tz: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "TZ": tz}).stdout.strip()
           for tz in ("UTC", "Asia/Tokyo", "America/Los_Angeles")}
    assert set(out.values()) == {"2024-01-06 2024-01-05 23:30:00"}


@pytest.mark.parametrize("values", [[20240105, 20240107], [1704412800, 1704585600],
                                    [1704412800000, 1704585600000]])
def test_number_dates_read_by_their_size(tmp_path, values):
    """yyyymmdd, Unix epoch seconds, epoch milliseconds in an integer column."""
    pq.write_table(pa.table({"customer_id": ["A", "A"], "order_id": ["1", "2"],
                             "timestamp": values, "amount": [1.0, 2.0]}), tmp_path / "t.parquet")
    loaded, con = _load(tmp_path / "t.parquet")
    assert [str(d) for (d,) in con.execute("SELECT ts FROM transactions ORDER BY ts").fetchall()
            ] == ["2024-01-05 00:00:00", "2024-01-07 00:00:00"]
    assert "read as yyyymmdd (19970101), Unix epoch seconds or milliseconds" in "\n".join(
        loaded.describe())


def test_day_numbers_and_bad_formats_fail_in_one_line(tmp_path):
    pq.write_table(pa.table({"customer_id": ["A", "A"], "order_id": ["1", "2"],
                             "timestamp": [1, 711], "amount": [1.0, 2.0]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match="none of the 2 values in the date column \"timestamp\" parse .*day "
                                        "counts, Excel serial dates or epoch seconds must be "
                                        "converted to dates first"):
        _load(tmp_path / "t.parquet")
    pd.DataFrame(BASE).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError) as err:
        _load(tmp_path / "t.csv", date_format="%s")
    assert str(err.value).startswith("data.date_format='%s' is not a date format (")
    pd.DataFrame(BASE | {"timestamp": ["1/5/2024 7:35:00 AM", "2/5/2024 1:05:00 PM",
                                       "1/7/2024 9:00:00 AM", "1/20/2024 11:59:00 PM"]}).to_csv(
        tmp_path / "us.csv", index=False)
    loaded, con = _load(tmp_path / "us.csv")  # the 12-hour clock is sniffed
    assert str(con.execute("SELECT max(ts) FROM transactions").fetchall()[0][0]) == "2024-02-05 13:05:00"


def test_a_file_without_a_header_says_so(tmp_path):
    (tmp_path / "cdnow.txt").write_text("00001 19970101 1 11.77\n00002 19970112 1 12.00\n")
    with pytest.raises(DataError, match="The first line reads as data, not column names: the "
                                        "file has no header line"):
        _load(tmp_path / "cdnow.txt")
    with pytest.raises(DataError) as err:
        _load(tmp_path / "cdnow.txt", delimiter=" ")
    assert "UTF-8" not in str(err.value)


def test_the_online_retail_preset_reads_the_uci_csv(tmp_path, settings_for):
    """The UCI file as its CSV copies write it: month-first dates without leading zeros,
    ids as 17850.0, a quarter of the lines without a CustomerID (guests), a cancellation."""
    from clustering.engines import LocalEngine
    from clustering.inputs.sources import sources_for

    head = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    lines = ['536365,85123A,"WHITE HANGING HEART T-LIGHT HOLDER, LARGE",6,12/1/2010 8:26,2.55,'
             '17850.0,United Kingdom',
             '536366,22633,HAND WARMER UNION JACK,6,12/13/2010 8:28,1.85,17850.0,United Kingdom',
             "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,1/4/2011 8:34,1.69,13047.0,United Kingdom",
             "C536379,84879,ASSORTED COLOUR BIRD ORNAMENT,-2,1/5/2011 9:41,1.69,13047.0,United Kingdom",
             "536368,22960,JAM MAKING SET WITH JARS,6,2/1/2011 8:34,4.25,12583.0,France",
             "536369,21756,BATH BUILDING BLOCK WORD,3,2/2/2011 8:35,5.95,,United Kingdom",
             "536370,22728,ALARM CLOCK BAKELIKE PINK,24,2/3/2011 8:45,3.75,,United Kingdom"]
    (tmp_path / "Online Retail.csv").write_text(head + "\n".join(lines) + "\n")
    cfg, _ = settings_for("data=online_retail", f"data.path={tmp_path / 'Online Retail.csv'}")
    engine = LocalEngine(sources_for(cfg.data, cfg.paths.data_dir), lookback_days=730,
                         data_dir=str(tmp_path))
    assert engine.loaded.quality.counts == {"missing_customer_id": 2}
    assert str(engine.loaded.quality.snapshot_date) == "2011-02-02"  # the day after Feb 1
    assert _per_customer(engine.con) == {"12583": (1, 25.5), "13047": (1, 50.7),
                                         "17850": (2, 26.4)}
    engine.close()


def test_buyers_with_a_single_order_each_are_named():
    from clustering.stages import single_order_warning

    per_order = pd.DataFrame({"frequency": [1.0] * 970 + [2.0] * 30})
    assert single_order_warning(per_order) == [
        "97% of the 1,000 buyers have a single order in the window: if data.columns.customer_id "
        "is an id per order or per checkout (as Olist's customer_id; its customer_unique_id is "
        "the person), map the person's id instead"]
    assert single_order_warning(pd.DataFrame({"frequency": [1.0] * 900 + [3.0] * 100})) == []
    assert single_order_warning(pd.DataFrame({"frequency": [1.0] * 100})) == []  # too few to say


def test_digits_in_a_number_column_follow_a_given_date_format(tmp_path):
    pq.write_table(pa.table({"customer_id": ["A", "A"], "order_id": ["1", "2"],
                             "timestamp": [20240105123000, 20240107080000], "amount": [1.0, 2.0]}),
                   tmp_path / "t.parquet")
    _, con = _load(tmp_path / "t.parquet", date_format="%Y%m%d%H%M%S")
    assert [str(d) for (d,) in con.execute("SELECT ts FROM transactions ORDER BY ts").fetchall()
            ] == ["2024-01-05 12:30:00", "2024-01-07 08:00:00"]


def test_cancelled_orders_are_set_aside_by_their_status(tmp_path):
    """Olist's order_status (canceled, unavailable), Shopify's voided: those orders never
    stood. Set aside as cancelled_order (not counted towards the ceiling), status kept."""
    pd.DataFrame(BASE | {"status": ["delivered", "Canceled", "delivered", "unavailable"],
                         "is_return": ["", "", "", ""]}).to_csv(tmp_path / "t.csv", index=False)
    loaded, con = _load(tmp_path / "t.csv", {**COLS, "status": "status"})
    assert _per_customer(con) == {"A": (1, 10.0), "B": (1, 50.0)}
    assert loaded.quality.counts == {"cancelled_order": 2}  # 50% of the lines, and no error
    assert sorted(r[0] for r in con.execute("SELECT raw_status FROM quarantine").fetchall()
                  ) == ["Canceled", "unavailable"]
    _, con = _load(tmp_path / "t.csv", {**COLS, "status": "status"},
                   cancelled_statuses=["unavailable"])
    assert _per_customer(con) == {"A": (2, 30.0), "B": (1, 50.0)}
