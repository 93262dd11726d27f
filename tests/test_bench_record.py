"""`make bench` keeps the committed results file: the latest row per stage and size, with the
date, commit and machine, ratios to references and growth exponents."""

from __future__ import annotations

import json

from benchmarks import run


def test_record_merges_runs_and_renders_the_table(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "RECORD", tmp_path / "RESULTS.json")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    (tmp_path / "benchmarks").mkdir()
    first = [{"stage": "features", "size": 100, "seconds": 2.0, "peak_mb": 10},
             {"stage": "features_duckdb", "size": 100, "seconds": 1.0, "peak_mb": 9},
             {"stage": "features", "size": 1000, "seconds": 18.0, "peak_mb": 50}]
    run.record(first)
    # a later run of one stage at one size replaces only that row
    out = run.record([{"stage": "features", "size": 100, "seconds": 1.5, "peak_mb": 11}])
    rows = json.loads((tmp_path / "RESULTS.json").read_text())
    assert [(r["stage"], r["size"], r["seconds"]) for r in rows] == [
        ("features", 100, 1.5), ("features_duckdb", 100, 1.0), ("features", 1000, 18.0)]
    assert all(r["date"] and "cpu" in r["machine"] for r in rows)
    text = out.read_text()
    assert "| features | 100 | " in text and "1.50x features_duckdb" in text
    # growth exponent between the sizes: log(18 / 1.5) / log(10)
    assert "| features | 100 -> 1,000 | 1.08 |" in text
    assert "Machines:" in text and "cores" in text
