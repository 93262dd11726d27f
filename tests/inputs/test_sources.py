"""Reading your own data: column mapping, date formats, computed amounts, clear errors."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from clustering.errors import DataError
from clustering.files import digest_files
from clustering.inputs.sources import TableSource, register_transactions, resolve_files

RETAIL_COLUMNS = {"customer_id": "CustomerID", "order_id": "InvoiceNo", "timestamp": "InvoiceDate",
                  "amount": None, "quantity": "Quantity", "unit_price": "UnitPrice",
                  "category": "StockCode"}


def _retail_csv(path, sep=",", prefix=""):
    path.write_text(
        sep.join(["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]) + "\n"
        + "\n".join(sep.join([prefix + r[0], *r[1:]]) for r in [
            ["536365", "85123A", "6", "01/12/2010 08:26", "2.55", "17850"],
            ["536365", "71053", "6", "01/12/2010 08:26", "3.39", "17850"],
            ["C536379", "D", "-1", "01/12/2010 09:41", "27.50", "17850"],
            ["536370", "22728", "24", "13/12/2010 08:45", "3.75", "12583"],
        ]) + "\n"
    )
    return path


def test_csv_with_other_names_day_first_dates_and_computed_amount(tmp_path):
    path = _retail_csv(tmp_path / "retail.csv")
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(path), "csv", RETAIL_COLUMNS,
                                                    date_format="%d/%m/%Y %H:%M"))
    df = con.execute("SELECT * FROM transactions ORDER BY ts, order_id, amount").df()
    assert len(df) == 4
    assert df["amount"].round(2).tolist() == [15.3, 20.34, -27.5, 90.0]  # quantity x unit price
    assert df["is_return"].tolist() == [False, False, True, False]
    assert df["ts"].iloc[-1] == pd.Timestamp("2010-12-13 08:45")  # day first
    assert "payment_delay_days" in loaded.missing_optional


def test_missing_required_column_names_file_column_and_close_match(tmp_path):
    path = _retail_csv(tmp_path / "retail.csv")
    cols = dict(RETAIL_COLUMNS, customer_id="CustomerId")
    with pytest.raises(DataError) as err:
        register_transactions(duckdb.connect(), TableSource(str(path), "csv", cols))
    msg = str(err.value)
    assert "retail.csv" in msg and "'CustomerId'" in msg and "Did you mean 'CustomerID'" in msg
    assert "data.columns.customer_id" in msg


def test_wrong_date_format_fails_with_example_value(tmp_path):
    path = _retail_csv(tmp_path / "retail.csv")
    with pytest.raises(DataError, match=r"none of the 4 values .* '%Y-%m-%d'.*01/12/2010 08:26"):
        register_transactions(duckdb.connect(), TableSource(str(path), "csv", RETAIL_COLUMNS,
                                                            date_format="%Y-%m-%d"))


def test_no_amount_source_is_an_error(tmp_path):
    path = _retail_csv(tmp_path / "retail.csv")
    cols = dict(RETAIL_COLUMNS, unit_price=None)
    with pytest.raises(DataError, match="no amount"):
        register_transactions(duckdb.connect(), TableSource(str(path), "csv", cols,
                                                            date_format="%d/%m/%Y %H:%M"))


def test_folder_glob_and_semicolon_delimiter(tmp_path):
    d = tmp_path / "exports"
    d.mkdir()
    _retail_csv(d / "a.csv", sep=";")
    _retail_csv(d / "b.csv", sep=";", prefix="9")
    assert len(resolve_files(str(d))) == 2
    assert len(resolve_files(str(d / "*.csv"))) == 2
    con = duckdb.connect()
    register_transactions(con, TableSource(str(d), "csv", RETAIL_COLUMNS,
                                           date_format="%d/%m/%Y %H:%M", delimiter=";"))
    assert con.execute("SELECT count(*) FROM transactions").fetchall()[0][0] == 8


def test_nothing_at_path_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no input files at"):
        resolve_files(str(tmp_path / "missing.csv"))


def test_digest_changes_with_content(tmp_path):
    p = _retail_csv(tmp_path / "r.csv")
    d1 = digest_files([str(p)])
    p.write_text(p.read_text() + "536371,1,1,13/12/2010 09:00,1.0,1\n")
    assert digest_files([str(p)]) != d1


@pytest.mark.parametrize("written", ["tab", "'\\t'"])
def test_a_tab_delimiter_may_be_written_as_tab_or_backslash_t(tmp_path, settings_for, written):
    """data.delimiter='\\t' typed in a shell is two characters, and was refused as 'not one
    character'; it means the tab, as does the word tab."""
    import duckdb

    from clustering.config import validate_config
    from clustering.inputs.dialect import delimiter_of
    from clustering.inputs.sources import register_transactions, sources_for

    path = tmp_path / "t.tsv"
    path.write_text("customer_id\torder_id\ttimestamp\tamount\nA\t1\t2024-01-01\t5\n")
    settings, _ = settings_for("data=csv", f"data.path={path}", f"data.delimiter={written}")
    assert delimiter_of(settings.data.delimiter) == "\t"
    validate_config(settings)
    sources = sources_for(settings.data, str(tmp_path))
    assert sources.transactions.delimiter == "\t"
    loaded = register_transactions(duckdb.connect(), sources.transactions, sources.policy)
    assert loaded.quality.rows_kept == 1


def test_an_optional_column_mapped_by_hand_and_missing_is_a_warning(tmp_path):
    """data.columns.category='Kategoire' (a typo) was ignored without a word."""
    import duckdb

    from clustering.inputs.sources import TableSource, register_transactions

    path = tmp_path / "t.csv"
    path.write_text("customer_id,order_id,timestamp,amount,Kategorie\nA,1,2024-01-01,5,x\n")
    cols = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
            "amount": "amount", "category": "Kategoire", "quantity": "quantity"}
    loaded = register_transactions(duckdb.connect(), TableSource(str(path), columns=cols))
    assert len(loaded.warnings) == 1  # quantity is the default name: a note, not a warning
    assert "'Kategoire' (for category) not found, so it is left out" in loaded.warnings[0]
    assert "Did you mean 'Kategorie'?" in loaded.warnings[0]
