"""Bad inputs, table-driven: each gets an exact outcome (a message or quarantine counts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from clustering.errors import ConfigError, DataError
from clustering.inputs.checks import QualityPolicy, write_quarantine
from clustering.inputs.sources import TableSource, register_transactions
from clustering.training import validate_config
from pipelines.common import CONF_DIR, PROJECT_ROOT, to_settings

HEADER = "customer_id,order_id,timestamp,amount,currency\n"
GOOD = "".join(f"C{i % 7},O{i},2024-0{1 + i % 9}-1{i % 10} 10:00,{10 + i}.5,EUR\n"
               for i in range(60))
COLS = {"customer_id": "customer_id", "order_id": "order_id", "timestamp": "timestamp",
        "amount": "amount"}


def _load(tmp_path, text: str | bytes, cols=COLS, policy=None, snapshot=None, **src):
    path = tmp_path / "tx.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(str(path), "csv", dict(cols), **src),
                                   policy or QualityPolicy(), snapshot)
    return loaded, con


# (case id, file text, extra kwargs, expected message) -> DataError
FAILURES = [
    ("required column missing", HEADER.replace("customer_id", "cust_id") + GOOD, {},
     "column 'customer_id' (for customer_id) not found. Columns present: cust_id, order_id, "
     "timestamp, amount, currency. Did you mean 'cust_id'"),
    ("whole date column unparseable", HEADER + GOOD, {"date_format": "%d/%m/%Y"},
     "none of the 60 values in the date column \"timestamp\" parse with date format '%d/%m/%Y'"),
    ("header-only file", HEADER, {}, "no rows. Check data.path"),
    ("wrong delimiter", HEADER.replace(",", ";") + GOOD.replace(",", ";"), {"delimiter": ","},
     "The file reads as a single column: wrong delimiter? Set data.delimiter."),
    ("non-UTF-8 bytes said to be UTF-8",
     (HEADER + GOOD).encode() + b"C\xe9,O99,2024-01-01 10:00,5.0,EUR\n", {"encoding": "utf-8"},
     "is not valid UTF-8"),
    ("no amount source", HEADER + GOOD, {"cols": {**COLS, "amount": None}}, "no amount."),
    ("mixed currencies without rates", HEADER + GOOD + "C1,O90,2024-01-01 10:00,5,USD\n",
     {"cols": {**COLS, "currency": "currency"}}, "2 currencies in the currency column (EUR, USD)"),
    ("quarantine above the ceiling", HEADER + GOOD + "".join(f",X{i},2024-01-01,1,EUR\n"
                                                             for i in range(10)), {},
     "10 of 70 rows (14.3%) fail the checks, more than data.quality.max_share=5%"),
    ("no rows left", HEADER + "A,O1,2024-01-01,0,EUR\n", {"policy": QualityPolicy(max_share=1.0)},
     "no rows left after the checks"),
    ("no usable row at all", HEADER + ",O1,2024-01-01,1,EUR\n", {},
     "no row has a customer id, a parseable date and an amount"),
]


@pytest.mark.parametrize(("text", "kwargs", "message"), [c[1:] for c in FAILURES],
                         ids=[c[0] for c in FAILURES])
def test_bad_input_fails_with_a_clear_message(tmp_path, text, kwargs, message):
    with pytest.raises(DataError) as err:
        _load(tmp_path, text, **kwargs)
    assert message in str(err.value)
    assert "tx.csv" in str(err.value)  # the file is named


# (case id, extra lines, kwargs, expected quarantine counts, expected kept rows)
QUARANTINES = [
    ("missing customer id", ",O91,2024-01-01 10:00,5,EUR\n", {}, {"missing_customer_id": 1}),
    ("unparseable date", "C1,O91,31/31/2024,5,EUR\n", {}, {"bad_date": 1}),
    ("unparseable amount", "C1,O91,2024-01-01 10:00,five,EUR\n", {}, {"bad_amount": 1}),
    ("infinite amount", "C1,O91,2024-01-01 10:00,inf,EUR\n", {}, {"bad_amount": 1}),
    ("exact duplicate line", "C0,O0,2024-01-10 10:00,10.5,EUR\n", {}, {"duplicate": 1}),
    ("after the snapshot", "C1,O91,2024-12-01 10:00,5,EUR\n", {"snapshot": "2024-11-01"},
     {"after_snapshot": 1}),
    ("zero amount", "C1,O91,2024-01-01 10:00,0,EUR\n", {}, {"zero_amount": 1}),
    ("unmatched return", "Z9,C91,2024-01-01 10:00,-25,EUR\n", {}, {"unmatched_return": 1}),
    ("matched return is kept", "C1,C91,2024-12-31 10:00,-5,EUR\n", {}, {}),
    ("unknown currency with rates", "C1,O91,2024-01-01 10:00,5,GBP\n",
     {"cols": {**COLS, "currency": "currency"},
      "policy": QualityPolicy(currency_rates={"EUR": 1.0, "USD": 0.9})}, {"unknown_currency": 1}),
    ("BOM at the start", None, {}, {}),
    ("quoted field with a newline", 'C1,O91,2024-01-01 10:00,5,"EU\nR"\n', {}, {}),
]


@pytest.mark.parametrize(("extra", "kwargs", "counts"), [c[1:] for c in QUARANTINES],
                         ids=[c[0] for c in QUARANTINES])
def test_bad_rows_are_quarantined_with_reasons(tmp_path, extra, kwargs, counts):
    text = (HEADER + GOOD + (extra or "")).encode()
    if extra is None:
        text = b"\xef\xbb\xbf" + text
    loaded, con = _load(tmp_path, text, **kwargs)
    q = loaded.quality
    assert q.counts == counts
    assert q.rows_read == 60 + (1 if extra else 0)
    assert q.rows_kept + q.quarantined == q.rows_read
    if counts:
        path = write_quarantine(con, tmp_path / "q.parquet")
        df = pd.read_parquet(path)
        assert df["reason"].tolist() == list(counts)
        assert {"raw_timestamp", "raw_amount"} <= set(df.columns)  # the source text


def test_duplicates_are_exact_lines_empty_cells_and_unmapped_columns_included(tmp_path):
    """Copies of a line count once (empty cells equal empty cells); lines that differ in any
    column, mapped or not (currency), are distinct lines."""
    extra = ("C1,O91,2024-01-01 10:00,,EUR\n" * 3          # an empty amount, three times
             + "C2,O92,2024-01-02 10:00,7,EUR\n" * 2       # a good line twice
             + "C2,O92,2024-01-02 10:00,7,USD\n"           # differs only in currency
             + ",O93,2024-01-03 10:00,4,\n" * 2)           # no id, no currency, twice
    loaded, con = _load(tmp_path, HEADER + GOOD + extra)
    q = loaded.quality
    assert q.rows_read == 60 + 8
    assert q.counts == {"duplicate": 4, "bad_amount": 1, "missing_customer_id": 1}
    assert q.rows_kept == 60 + 2
    df = pd.read_parquet(write_quarantine(con, tmp_path / "q.parquet"))
    assert df.groupby("reason")["copies"].sum().to_dict() == {
        "bad_amount": 1, "duplicate": 4, "missing_customer_id": 1}


def test_currency_rates_convert_amounts(tmp_path):
    text = HEADER + "A,O1,2024-01-01 10:00,100,EUR\nA,O2,2024-01-02 10:00,100,USD\n"
    loaded, con = _load(tmp_path, text, cols={**COLS, "currency": "currency"},
                        policy=QualityPolicy(currency_rates={"EUR": 1.0, "USD": 0.5}))
    assert sorted(r[0] for r in con.execute("SELECT amount FROM transactions").fetchall()) == [50, 100]


def _settings(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return to_settings(compose("train", overrides=list(overrides)))[0]


CONFIG_ERRORS = [
    ("model=kmeans", "model.name=kmedoids", "unknown model 'kmedoids'"),
    ("model=kmeans", "model.k=-2", "model.k must be a positive integer, got -2"),
    ("model=kmeans", "evaluate.min_share=1.5", "evaluate.min_share is a share between 0 and 1 (0.4 = 40%)"),
    ("data=csv", "data.path=/no/such/file.csv", "data.path: '/no/such/file.csv' does not exist"),
    ("model=kmeans", "model.criterion=bic", "model.criterion 'bic' needs a likelihood"),
    ("model=kmeans", "baselines.enabled=[rfm,abcd]", "unknown baselines.enabled ['abcd']"),
    ("model=kmeans", "features.snapshot_date=2024-02-30",
     "features.snapshot_date '2024-02-30' is not a valid date: use YYYY-MM-DD"),
    ("model=kmeans", "data.quality.max_share=5", "data.quality.max_share is a share between 0 and 1"),
    ("model=kmeans", "data.decimal=';'",
     "data.decimal must be '.' or ',' (or null: sniffed), got ';'"),
    ("model=kmeans", "data.delimiter=';;'", "data.delimiter must be one character"),
]


@pytest.mark.parametrize(("group", "override", "message"), CONFIG_ERRORS,
                         ids=[c[2][:40] for c in CONFIG_ERRORS])
def test_config_errors_are_one_line_before_any_work(group, override, message):
    with pytest.raises(ConfigError) as err:
        validate_config(_settings(group, override))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_cli_never_shows_a_traceback_for_bad_data(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER.replace(",", ";") + GOOD.replace(",", ";"))
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "data=csv",
                        f"data.path={bad}", f"paths.reports_dir={tmp_path}",
                        "data.delimiter=','"],
                       capture_output=True, text=True, timeout=300,
                       env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
                            "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("data error: ")
    assert "Traceback" not in r.stderr
    assert "wrong delimiter" in r.stderr


def test_an_empty_file_is_named_as_empty_and_skipped_in_a_folder(tmp_path):
    from clustering.inputs.reading import list_files

    (tmp_path / "a.csv").write_text("customer_id,timestamp,amount\nA,2024-01-01,5\n")
    (tmp_path / "b.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"b.csv is empty \(0 bytes\): export it again"):
        list_files(str(tmp_path / "b.csv"))
    files, skipped = list_files(str(tmp_path))
    assert [f.split("/")[-1] for f in files] == ["a.csv"]
    assert [(f.split("/")[-1], why) for f, why in skipped] == [("b.csv", "empty (0 bytes)")]


def test_a_subfolder_of_tables_is_named_not_left_out_silently(tmp_path):
    """An archive/ subfolder held a whole year of exports and was not even listed."""
    import duckdb

    from clustering.inputs.reading import list_files
    from clustering.inputs.sources import TableSource, register_transactions

    header = "customer_id,order_id,timestamp,amount\n"
    (tmp_path / "2024.csv").write_text(header + "A,1,2024-01-01,5\n")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "2023.csv").write_text(header + "A,2,2023-01-01,7\n")
    (tmp_path / ".cache").mkdir()  # hidden folders are nobody's data
    (tmp_path / ".cache" / "x.csv").write_text(header)
    files, skipped = list_files(str(tmp_path))
    assert [Path(f).name for f in files] == ["2024.csv"]
    assert [(Path(f).name, why.split(",")[0]) for f, why in skipped] == [
        ("archive", "a subfolder with 1 table file(s)")]
    cols = {c: c for c in ("customer_id", "order_id", "timestamp", "amount")}
    loaded = register_transactions(duckdb.connect(), TableSource(str(tmp_path), columns=cols))
    assert any(w.startswith("archive/ is a subfolder") and "/**/*" in w for w in loaded.warnings)
    assert len(list_files(f"{tmp_path}/**/*")[0]) == 2  # the glob the warning gives reads both


def test_secrets_are_masked_in_parameters_and_uris():
    from clustering.tracking.runs import flatten, safe_params
    from clustering.tracking.store import redact_uri

    flat = safe_params(flatten({
        "engine": {"conf": {"spark.hadoop.fs.s3a.secret.key": "s3cr3t"}},
        "mlflow": {"tracking_uri": "postgresql://ana:pa55@db:5432/mlflow"},
        "data": {"name": "shop", "api_token": "t0k"}}))
    assert flat["engine.conf.spark.hadoop.fs.s3a.secret.key"] == "***"
    assert flat["data.api_token"] == "***" and flat["data.name"] == "shop"
    assert flat["mlflow.tracking_uri"] == "postgresql://ana:***@db:5432/mlflow"
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert "pa55" not in redact_uri("https://ana:pa55@mlflow.example/")



def test_unwritable_folders_are_named_before_any_work(tmp_path, settings_for):
    from clustering.training import run_training

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    settings, _ = settings_for(f"paths.reports_dir={blocker / 'reports'}")
    with pytest.raises(ConfigError) as err:
        run_training(settings)
    assert str(err.value) == (f"paths.reports_dir={blocker / 'reports'}: cannot write there "
                              "(Not a directory); choose a folder you can write to")
    assert not list(tmp_path.glob("**/*.parquet"))  # nothing generated or written


def test_too_few_customers_for_the_k_range_is_one_line(tmp_path, settings_for, mlflow_uri):
    from clustering.training import run_training

    path = tmp_path / "three.csv"
    path.write_text("customer_id,order_id,timestamp,amount\nA,1,2024-01-01,5\nA,2,2024-03-01,7\n"
                    "B,3,2024-02-01,50\nC,4,2024-02-05,9\nC,5,2024-06-05,19\n")
    settings, _ = settings_for("data=csv", f"data.path={path}", "model.k=3",
                               "data.columns.quantity=null", "data.columns.unit_price=null",
                               "data.columns.category=null")
    with pytest.raises(DataError) as err:
        run_training(settings)
    assert str(err.value) == ("3 customers bought in the window: too few for 3 segments (at "
                              "least 4 needed); lower model.k (or model.k_min), or give more data")
