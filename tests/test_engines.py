"""Engines: the local engine reads, checks and answers the stages' questions once."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from clustering.engines import LocalEngine
from clustering.errors import DataError
from clustering.evaluation.holdout import holdout_outcomes
from clustering.features.customer import build_customer_features
from clustering.inputs.checks import QualityPolicy
from clustering.inputs.sources import DataSources, TableSource

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


def test_the_categories_kept_by_the_features_give_the_same_counts_and_mix(tmp_path,
                                                                         settings_for):
    """The first features pass keeps each customer's categories: n_categories counts them
    and the segment mix sums them, as both did from the lines."""
    from clustering.inputs.sources import sources_for

    cfg, _ = settings_for("data.sample.n_customers=1500", "data.sample.seed=3")
    engine = LocalEngine(sources_for(cfg.data, cfg.paths.data_dir), lookback_days=730,
                         data_dir=str(tmp_path))
    fr = engine.features_at(None)
    assert engine._categories == (fr.window_start, fr.snapshot_date)
    from_lines = build_customer_features(engine.con, engine.loaded, fr.snapshot_date, 730)
    pd.testing.assert_frame_equal(fr.table, from_lines.table)
    assert fr.table["n_categories"].gt(1).any()
    buyers = fr.buyers
    segments = pd.DataFrame({"customer_id": buyers["customer_id"],
                             "segment": buyers.index.to_numpy() % 5})
    kept = engine.top_categories(segments, fr.window_start, fr.snapshot_date)
    engine._categories = None  # the lines again
    assert kept == engine.top_categories(segments, fr.window_start, fr.snapshot_date)
    assert len(kept) == 5
    engine._categories = (fr.window_start, fr.snapshot_date)
    engine.release_lines()  # the mix is made after the lines are gone
    assert not engine.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                                  "'transactions'").fetchall()[0][0]
    assert engine.top_categories(segments, fr.window_start, fr.snapshot_date) == kept
    engine.close()


def test_a_prefetched_pass_equals_the_direct_one_and_raises_where_it_is_read(tmp_path,
                                                                             settings_for):
    """The calibration pass started in the background (on a second connection, with the
    customers and events tables of the sample) gives the same features and outcomes as the
    pass on the main connection, and its errors surface when the features are asked for."""
    from clustering.inputs.sources import sources_for

    cfg, _ = settings_for("data.sample.n_customers=1500", "data.sample.seed=3")
    sources = sources_for(cfg.data, cfg.paths.data_dir)
    engine = LocalEngine(sources, lookback_days=730, data_dir=str(tmp_path))
    split = engine.features_at(None).snapshot_date - dt.timedelta(days=180)
    engine.prefetch(split, 180)
    engine.prefetch(dt.date(1990, 1, 1), 180)  # nobody bought before: fails in the background
    cal = engine.features_at(split)
    direct = build_customer_features(engine.con, engine.loaded, split, 730)
    pd.testing.assert_frame_equal(cal.table, direct.table)
    assert cal.n_prospects > 0 and cfg.data.attributes[0] in cal.table and "days_since_event" in cal.features
    ids = cal.buyers["customer_id"]
    assert engine._outcomes[(split, 180)] is engine.outcomes(ids, split, 180)  # kept, not redone
    pd.testing.assert_frame_equal(engine.outcomes(ids, split, 180),
                                  holdout_outcomes(engine.con, ids, split, 180))
    with pytest.raises(DataError, match="no customer bought anything"):
        engine.features_at(dt.date(1990, 1, 1))
    engine.prefetch(split - dt.timedelta(days=60), 180)
    engine.release(split - dt.timedelta(days=60))  # never read: stopped, its connection closed
    assert not engine._background
    later = split - dt.timedelta(days=30)
    engine.prefetch(later, 180)  # still running or queued when the engine closes
    pending = engine._features[(later, None)]
    engine.close()
    assert pending.done() and not engine._background
    engine.close()  # twice: nothing left to do


def test_a_customer_sample_is_those_customers_rows_of_the_whole_pass(tmp_path, settings_for):
    """The calibration pass of a large base covers a hash sample of the customers: each
    sampled customer's features and hold-out outcomes are exactly those of the whole pass
    (nothing of another customer leaks in), about 1 in ``modulus`` customers are kept, the
    same ones for the same seed, and the prefetched sampled pass equals the direct one."""
    from clustering.evaluation.holdout import CALIBRATION_CUSTOMERS, calibration_sample
    from clustering.features.customer import CustomerSample
    from clustering.inputs.sources import sources_for

    cfg, _ = settings_for("data.sample.n_customers=3000", "data.sample.seed=5")
    engine = LocalEngine(sources_for(cfg.data, cfg.paths.data_dir), lookback_days=730,
                         data_dir=str(tmp_path))
    split = engine.features_at(None).snapshot_date - dt.timedelta(days=180)
    whole = engine.features_at(split).table.set_index("customer_id")
    sample = CustomerSample(3, seed=11)
    engine.prefetch(split, 180, sample)
    part = engine.features_at(split, sample)
    direct = build_customer_features(engine.con, engine.loaded, split, 730, sample=sample)
    pd.testing.assert_frame_equal(part.table, direct.table)
    got = part.table.set_index("customer_id")
    assert 0.25 < len(got) / len(whole) < 0.42 and got["is_buyer"].sum() > 100
    pd.testing.assert_frame_equal(got, whole.loc[got.index, got.columns])
    again = build_customer_features(engine.con, engine.loaded, split, 730,
                                    sample=CustomerSample(3, seed=11)).table
    other = build_customer_features(engine.con, engine.loaded, split, 730,
                                    sample=CustomerSample(3, seed=12)).table
    assert again["customer_id"].equals(part.table["customer_id"])
    assert not other["customer_id"].equals(part.table["customer_id"])
    ids = part.buyers["customer_id"]
    pd.testing.assert_frame_equal(engine.outcomes(ids, split, 180, sample),
                                  holdout_outcomes(engine.con, ids, split, 180))
    engine.close()
    assert calibration_sample(2 * CALIBRATION_CUSTOMERS - 1, 0) is None
    assert calibration_sample(1_000_000, 7) == CustomerSample(4, 7)


def test_the_connection_spills_reads_times_in_utc_and_purges_freed_memory(tmp_path):
    from clustering.engines import duckdb_connection

    con = duckdb_connection("1GB", str(tmp_path), threads=1)
    settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                "('TimeZone', 'threads', 'temp_directory', "
                                "'allocator_background_threads')").fetchall())
    assert settings == {"TimeZone": "UTC", "threads": "1",
                        "temp_directory": str(tmp_path / ".duckdb_tmp"),
                        "allocator_background_threads": "true"}
    assert (tmp_path / ".duckdb_tmp").is_dir()
    con.close()
