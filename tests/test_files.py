"""Atomic writes and reading tables by extension."""

from __future__ import annotations

import pandas as pd
import pytest

from clustering.errors import DataError
from clustering.files import atomic_path, read_frame, write_frame, write_text


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_tables_round_trip_by_extension(tmp_path, name):
    df = pd.DataFrame({"customer_id": ["a", "b"], "segment": [1, 2]})
    pd.testing.assert_frame_equal(read_frame(write_frame(df, tmp_path / "out" / name)), df)


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "report.html"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_unknown_table_extension_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"use a .parquet, .csv or .xlsx file name"):
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "labels.xls")


def test_labels_are_written_in_the_users_format_and_read_back(tmp_path):
    """A European export's labels: ';' and decimal commas (German Excel showed one column),
    numbers rounded; an .xlsx workbook opens as a table; each reads back the same."""
    import pandas as pd

    from clustering.files import read_frame, write_frame

    labels = pd.DataFrame({"customer_id": ["000123", "000124"], "segment": pd.array([3, None], "Int64"),
                           "persona": ["Key customers", "Prospects"],
                           "confidence": [0.4521585173730521, float("nan")],
                           "is_outlier": [False, True],
                           "snapshot_date": pd.to_datetime(["2025-01-01", "2025-01-01"])})
    write_frame(labels, tmp_path / "l.csv", delimiter=",", decimal=",")
    text = (tmp_path / "l.csv").read_text()
    assert text.splitlines()[0] == "customer_id;segment;persona;confidence;is_outlier;snapshot_date"
    assert text.splitlines()[1].startswith("000123;3;Key customers;0,4522;False;2025-01-01")
    back = read_frame(tmp_path / "l.csv")
    assert back["customer_id"].tolist() == ["000123", "000124"]
    assert back["confidence"].iloc[0] == 0.4522
    write_frame(labels, tmp_path / "l.xlsx")
    book = read_frame(tmp_path / "l.xlsx")
    assert book["customer_id"].tolist() == ["000123", "000124"]
    assert book["persona"].tolist() == ["Key customers", "Prospects"]
    assert book["confidence"].iloc[0] == 0.4522 and pd.isna(book["confidence"].iloc[1])
    assert book["segment"].iloc[0] == 3


def test_categorical_labels_are_written_as_text(tmp_path):
    """The label columns are categoricals in memory (one byte a customer); the files hold
    text, so two runs' files compare without 'categories must be the same' errors."""
    a = pd.DataFrame({"persona": pd.Categorical(["Gold", None, "Loyal"]),
                      "segment": pd.array([1, None, 2], dtype="Int64")})
    b = pd.DataFrame({"persona": pd.Categorical(["Gold", "Sleeping", "Loyal"]),
                      "segment": pd.array([1, 3, 2], dtype="Int64")})
    write_frame(a, tmp_path / "a.parquet")
    write_frame(b, tmp_path / "b.parquet")
    ra, rb = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert not isinstance(ra["persona"].dtype, pd.CategoricalDtype)
    assert ra["persona"].tolist()[0::2] == ["Gold", "Loyal"] and ra["persona"].isna()[1]
    assert (ra["persona"] == rb["persona"]).tolist() == [True, False, True]
    assert str(ra["segment"].dtype) == "Int64" and ra["segment"].isna()[1]
