"""The feature query's frame is what DuckDB's ``.df()`` gives, its text taken from Arrow."""

import duckdb
import pandas as pd

from clustering.features.customer import query_frame

EVERY_TYPE = """
SELECT 1::TINYINT AS t, 4::BIGINT AS i8, 5::UBIGINT AS u8, NULL::INT AS none_int,
       1.5::DOUBLE AS f, 1.5::FLOAT AS f4, 2.5::DECIMAL(10, 2) AS dec, true AS b,
       NULL::BOOLEAN AS none_bool, DATE '2020-01-01' AS d, TIMESTAMP '2020-01-01 10:00' AS ts,
       TIMESTAMPTZ '2020-01-01 10:00+00' AS tz, 'x' AS v, NULL::VARCHAR AS none_text,
       INTERVAL 1 DAY AS iv, [1, 2] AS l, $p::INT AS par
UNION ALL
SELECT 1, NULL, 5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'é', NULL, NULL, NULL, 4
"""


def test_same_frame_as_duckdb_df_for_every_column_type():
    con = duckdb.connect()
    expected = con.execute(EVERY_TYPE, {"p": 3}).df()
    got = query_frame(con, EVERY_TYPE, {"p": 3})
    assert list(got.columns) == list(expected.columns)
    assert got.dtypes.equals(expected.dtypes)
    pd.testing.assert_frame_equal(got, expected)


def test_no_rows_and_no_text():
    con = duckdb.connect()
    got = query_frame(con, "SELECT 1 AS y, 'a' AS z WHERE false", {})
    expected = con.execute("SELECT 1 AS y, 'a' AS z WHERE false").df()
    assert list(got.columns) == ["y", "z"] and len(got) == 0
    assert got.dtypes.equals(expected.dtypes)


def test_doubles_and_booleans_taken_from_arrow_are_duckdbs():
    """Doubles (NULL as NaN) and booleans without a NULL come from Arrow's conversion: the
    same dtypes and values as DuckDB's, in a frame the features code may write to."""
    con = duckdb.connect()
    sql = """SELECT 'c' || i AS id, i % 3 = 0 AS b, CASE WHEN i % 4 = 0 THEN NULL ELSE i / 7 END
                    AS d_null, i * 0.5 AS d, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END
                    AS b_null, i::INT AS n, 'x' AS v
             FROM range(5000) t(i)"""
    expected = con.execute(sql).df()
    got = query_frame(con, sql, {})
    assert got.dtypes.equals(expected.dtypes)
    pd.testing.assert_frame_equal(got, expected)
    got.loc[0, "d"] = -1.0
    got.loc[1, "b"] = True
    assert got["d"].iloc[0] == -1.0 and bool(got["b"].iloc[1])
