"""Segments over time by hand: snapshot dates, the PSI, drift alerts and the transitions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from clustering.evaluation.drift import (
    ENTERED,
    describe_history,
    drift,
    psi_terms,
    shares,
    snapshot_dates,
    transition_matrix,
    transitions,
)


def test_snapshot_dates():
    d = snapshot_dates("2024-01-31", "2024-05-01", "month")
    assert d == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31),
                 dt.date(2024, 4, 30)]  # month ends stay month ends, never drift to the 29th
    assert len(snapshot_dates("2024-01-01", "2024-12-01", "month")) == 12
    assert snapshot_dates("2024-01-01", "2024-12-31", "quarter")[-1] == dt.date(2024, 10, 1)
    assert snapshot_dates("2024-01-01", "2024-01-29", "14d") == [
        dt.date(2024, 1, 1), dt.date(2024, 1, 15), dt.date(2024, 1, 29)]
    with pytest.raises(ValueError, match="every must be month, quarter, week"):
        snapshot_dates("2024-01-01", "2024-02-01", "fortnight")
    with pytest.raises(ValueError, match="ends .* before it starts"):
        snapshot_dates("2024-02-01", "2024-01-01", "month")


def test_psi_by_hand():
    before = pd.Series({"a": 0.5, "b": 0.3, "c": 0.2})
    after = pd.Series({"a": 0.4, "b": 0.3, "d": 0.3})
    terms = psi_terms(before, after)
    assert terms["a"] == pytest.approx(-0.1 * np.log(0.4 / 0.5))
    assert terms["b"] == 0
    assert terms["c"] == pytest.approx((1e-4 - 0.2) * np.log(1e-4 / 0.2))  # vanished
    assert terms["d"] == pytest.approx((0.3 - 1e-4) * np.log(0.3 / 1e-4))  # appeared
    table = pd.DataFrame([before, before, after]).fillna(0.0)
    table.index = ["2024-01-01", "2024-02-01", "2024-03-01"]
    d = drift(table, alert_psi=0.1).set_index("snapshot")
    assert d.loc["2024-02-01", "psi"] == 0 and not d.loc["2024-02-01", "alert"]
    assert d.loc["2024-03-01", "alert"] and d.loc["2024-03-01", "previous"] == "2024-02-01"
    assert d.loc["2024-03-01", "moved_most"].startswith("d 0.0% -> 30.0%")


def history_frame() -> pd.DataFrame:
    """Four customers over two snapshots: A stays loyal, B goes loyal -> sleeping, C becomes a
    former customer, D is new at the second."""
    rows = [("2024-01-01", "A", "current", 1, "Loyal"), ("2024-01-01", "B", "current", 1, "Loyal"),
            ("2024-01-01", "C", "current", 2, "Sleeping"),
            ("2024-02-01", "A", "current", 1, "Loyal"),
            ("2024-02-01", "B", "current", 2, "Sleeping"),
            ("2024-02-01", "C", "former", None, "Former customers"),
            ("2024-02-01", "D", "current", 1, "Loyal")]
    df = pd.DataFrame(rows, columns=["snapshot", "customer_id", "relationship", "segment",
                                     "persona"])
    df["segment_name"] = df["persona"]
    return df


def test_transitions_and_shares_by_hand():
    h = history_frame()
    moves = transitions(h).set_index(["before", "after"])["customers"]
    assert moves.to_dict() == {("Loyal", "Loyal"): 1, ("Loyal", "Sleeping"): 1,
                               ("Sleeping", "Former customers"): 1, (ENTERED, "Loyal"): 1}
    m = transition_matrix(transitions(h))
    assert m.loc["Loyal", "Sleeping"] == 1 and m.loc[ENTERED, "Loyal"] == 1
    s = shares(h)
    assert s.loc["2024-01-01", "Loyal"] == pytest.approx(2 / 3)
    assert s.loc["2024-02-01", "Loyal"] == pytest.approx(2 / 3)  # former ones are not counted
    out = describe_history(h, alert_psi=0.5)
    assert out["alerts"] == [] and out["steps"][1]["customers"] == 4
    assert out["steps"][1]["share_sleeping"] == pytest.approx(1 / 3)
    assert set(out["tables"]) == {"shares.csv", "drift.csv", "transitions.csv",
                                  "transition_matrix.csv"}


def test_the_default_history_steps_by_every():
    from clustering.evaluation.drift import last_snapshots

    q = last_snapshots(dt.date(2025, 1, 1), "quarter", 4)
    assert q == [dt.date(2024, 4, 1), dt.date(2024, 7, 1), dt.date(2024, 10, 1),
                 dt.date(2025, 1, 1)]
    assert len(last_snapshots(dt.date(2025, 1, 1), "month", 12)) == 12
