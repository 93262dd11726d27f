"""Engines: the local engine reads, checks and answers the stages' questions once."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from clustering.checks import QualityPolicy
from clustering.engines import LocalEngine
from clustering.errors import DataError
from clustering.features import build_customer_features
from clustering.holdout import holdout_outcomes
from clustering.sources import DataSources, TableSource

COLUMNS = {c: c for c in ["customer_id", "order_id", "timestamp", "amount", "quantity",
                          "category", "is_return", "payment_delay_days", "is_new_product"]}


def _engine(tmp_path, tx: pd.DataFrame, **policy) -> LocalEngine:
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    sources = DataSources(TableSource(str(path), columns=COLUMNS), policy=QualityPolicy(**policy))
    return LocalEngine(sources, lookback_days=365, data_dir=str(tmp_path))


def test_features_and_outcomes_are_the_stage_functions_on_one_connection(tmp_path,
                                                                         tiny_transactions):
    engine = _engine(tmp_path, tiny_transactions)
    fr = engine.features_at(None)
    assert fr.snapshot_date == engine.loaded.quality.snapshot_date == dt.date(2024, 7, 1)
    direct = build_customer_features(engine.con, engine.loaded, fr.snapshot_date, 365)
    pd.testing.assert_frame_equal(fr.table, direct.table)
    split = dt.date(2024, 3, 1)
    out = engine.outcomes(pd.Series(["A", "B"]), split, 90)
    pd.testing.assert_frame_equal(out, holdout_outcomes(engine.con, pd.Series(["A", "B"]),
                                                        split, 90))
    assert out.set_index("customer_id").loc["A", "holdout_orders"] == 1  # O2 on 2024-03-15
    engine.close()


def test_quarantine_is_written_only_when_rows_were_set_aside(tmp_path, tiny_transactions):
    engine = _engine(tmp_path, tiny_transactions)
    assert engine.write_quarantine(tmp_path / "q.parquet") is None
    dup = pd.concat([tiny_transactions, tiny_transactions.head(1)], ignore_index=True)
    engine = _engine(tmp_path, dup, max_share=0.5)  # 1 of 8 lines: above the 5% default
    q = pd.read_parquet(engine.write_quarantine(tmp_path / "q.parquet"))
    assert q["reason"].tolist() == ["duplicate"]


def test_a_failed_load_names_the_file_and_the_problem(tmp_path, tiny_transactions):
    bad = tiny_transactions.assign(amount=float("nan"))
    with pytest.raises(DataError, match=r"tx.parquet: no row has a customer id, a parseable date "
                                        "and an amount"):
        _engine(tmp_path, bad)


def test_top_categories_per_segment_by_share_of_purchase_value(tmp_path, tiny_transactions):
    engine = _engine(tmp_path, tiny_transactions)
    segments = pd.DataFrame({"customer_id": ["A", "B", "C"], "segment": [0, 0, 1]})
    got = engine.top_categories(segments, dt.date(2023, 7, 1), dt.date(2024, 7, 1))
    # segment 0: z 200, x 60 + 50 + 30, y 40 (the returned y line is not a purchase) of 380;
    # segment 1 (C) bought only before the window
    assert got == {0: "z 53%, x 37%, y 11%"}
    engine.close()
