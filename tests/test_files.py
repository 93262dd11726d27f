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
    with pytest.raises(DataError, match=r"use a .parquet or .csv file name"):
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "labels.xlsx")
