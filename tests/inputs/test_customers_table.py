"""The customers table of a real export: total rows, signup dates in local formats, number
attributes and placeholders (found loading wrong by the audit of customers tables)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from clustering.inputs.checks import QualityPolicy
from clustering.inputs.customers import register_customers
from clustering.inputs.sources import TableSource, register_transactions

TX = "customer_id,order_id,timestamp,amount\n" + "".join(
    f"{c},O{c},2024-0{m}-10,10\n" for m, c in enumerate(["10001", "10002", "10003", "TOTAL"], 1))


def _load(tmp_path: Path, customers: str, attributes: list[str], **cols):
    (tmp_path / "tx.csv").write_text(TX)
    (tmp_path / "cust.csv").write_text(customers)
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(tmp_path / "tx.csv"), "auto", {
        "customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
        "amount": "amount"}), QualityPolicy())
    loaded = register_customers(con, TableSource(str(tmp_path / "cust.csv"), "auto",
                                                 {"customer_id": "customer_id", **cols}),
                                attributes, loaded)
    return loaded, con


def test_a_total_row_is_no_prospect_but_a_buyer_called_total_keeps_its_attributes(tmp_path):
    loaded, con = _load(tmp_path, "customer_id;employees\n10001;5\n10002;7\nTOTAL;9\n"
                        "10004;3\nSumme;24\n", ["employees"])
    rows = dict(con.execute("SELECT customer_id, employees FROM customers").fetchall())
    assert rows == {"10001": "5", "10002": "7", "TOTAL": "9", "10004": "3"}
    assert loaded.attribute_quality.iloc[0]["rows"] == 4


def test_number_attributes_keep_their_sign_zero_and_decimals(tmp_path):
    """-5 and 5 were one value, 1.5 and -1.5 too, and every 0 was read as a placeholder."""
    _, con = _load(tmp_path, "customer_id,balance,region\n10001,-5,North\n10002,5,north \n"
                   "10003,0,#N/A\n10004,1.5,nan\n", ["balance", "region"])
    rows = {c: (b, r) for c, b, r in con.execute(
        "SELECT customer_id, balance, region FROM customers").fetchall()}
    assert rows == {"10001": ("-5", "North"), "10002": ("5", "North"), "10003": ("0", None),
                    "10004": ("1.5", None)}


def test_signup_dates_in_a_local_format_are_read_or_said(tmp_path):
    loaded, con = _load(tmp_path, "customer_id;signup\n10001;03.12.2022\n10002;25.01.2023\n",
                        [], signup_date="signup")
    assert [str(d)[:10] for (d,) in con.execute(
        "SELECT signup_date FROM customers ORDER BY 1").fetchall()] == ["2022-12-03", "2023-01-25"]
    assert any("signup dates read as '%d.%m.%Y'" in n for n in loaded.notes)
    # two-digit US years are this century, and what does not read is said, not left empty
    loaded, con = _load(tmp_path, "customer_id,signup\n10001,12/03/22\n10002,1/25/23\n10003,soon\n",
                        [], signup_date="signup")
    assert [str(d)[:10] for (d,) in con.execute(
        "SELECT signup_date FROM customers WHERE signup_date IS NOT NULL ORDER BY 1").fetchall()
            ] == ["2022-12-03", "2023-01-25"]
    assert any("1 of 3 signup dates in 'signup' do not read as dates (e.g. 'soon')" in w
               for w in loaded.warnings)


def test_ambiguous_or_typed_signup_dates_do_not_stop_the_run(tmp_path):
    """No signup day above 12: a warning naming the customers' own setting, not an error
    naming the transactions'; a date-typed column ignores a text format and is range-checked."""
    import pandas as pd

    loaded, con = _load(tmp_path, "customer_id,signup\n10001,01/02/2023\n10002,03/04/2023\n",
                        [], signup_date="signup")
    assert con.execute("SELECT count(signup_date) FROM customers").fetchall() == [(0,)]
    assert any("set data.customer_date_format" in w for w in loaded.warnings)
    pd.DataFrame({"customer_id": ["10001", "10002"],
                  "signup": pd.to_datetime(["2022-12-03", "1800-01-01"])}).to_parquet(
        tmp_path / "cust.parquet")
    (tmp_path / "tx.csv").write_text(TX)
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(tmp_path / "tx.csv"), "auto", {
        "customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
        "amount": "amount"}), QualityPolicy())
    loaded = register_customers(con, TableSource(str(tmp_path / "cust.parquet"), "auto", {
        "customer_id": "customer_id", "signup_date": "signup"}, date_format="%d.%m.%Y"), [], loaded)
    assert [str(d)[:10] for (d,) in con.execute(
        "SELECT signup_date FROM customers ORDER BY customer_id").fetchall()] == ["2022-12-03", "None"]
    assert any("1 of 2 signup dates in 'signup' are before 1900 or after 2200" in w
               for w in loaded.warnings)
