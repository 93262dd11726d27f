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


def test_a_row_per_machine_and_ratios_within_one_machine(tmp_path, monkeypatch):
    """Rows measured on the 16-core machine join this machine's (``--merge``) instead of
    replacing them, and each ratio and growth exponent compares rows of one machine."""
    monkeypatch.setattr(run, "RECORD", tmp_path / "RESULTS.json")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "machine", lambda: {"cpu": "Here, 2 cores"})
    (tmp_path / "benchmarks").mkdir()
    run.record([{"stage": "train", "size": 100, "seconds": 30.0, "peak_mb": 10},
                {"stage": "train_one_core", "size": 100, "seconds": 51.0, "peak_mb": 10},
                {"stage": "train", "size": 1000, "seconds": 300.0, "peak_mb": 50}])
    big = {"cpu": "There, 16 cores"}
    elsewhere = [{"stage": "train", "size": 100, "seconds": 10.0, "peak_mb": 12, "date": "d",
                  "commit": "c", "machine": big},
                 {"stage": "train_one_core", "size": 100, "seconds": 40.0, "peak_mb": 12,
                  "date": "d", "commit": "c", "machine": big},
                 {"stage": "train", "size": 1000, "seconds": 31.6, "peak_mb": 60, "date": "d",
                  "commit": "c", "machine": big}]
    out = run.record([], elsewhere)
    rows = json.loads((tmp_path / "RESULTS.json").read_text())
    assert [(r["stage"], r["size"], run.machine_cores(r)) for r in rows] == [
        ("train", 100, 2), ("train", 100, 16), ("train_one_core", 100, 2),
        ("train_one_core", 100, 16), ("train", 1000, 2), ("train", 1000, 16)]
    text = out.read_text()
    assert "| train | 100 | d | c | 16 | 10.0 | 12 | 0.25x train_one_core |" in text
    assert "0.59x train_one_core" in text  # 30 / 51 on this machine, not 30 / 40
    assert "| train (2 cores) | 100 -> 1,000 | 1.00 |" in text
    assert "| train (16 cores) | 100 -> 1,000 | 0.50 |" in text
    # a later run here replaces this machine's row only
    run.record([{"stage": "train", "size": 100, "seconds": 25.0, "peak_mb": 10}])
    rows = json.loads((tmp_path / "RESULTS.json").read_text())
    assert sorted(r["seconds"] for r in rows if (r["stage"], r["size"]) == ("train", 100)) == [
        10.0, 25.0]
