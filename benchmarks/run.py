"""Reproducible benchmarks: per stage and end to end, each figure beside a reference measured
in the same run (ratios, because these machines are noisy), with peak memory.

    python benchmarks/run.py                          # 100k and 1M customers (~10 lines each)
    python benchmarks/run.py --sizes 100000,1000000,5000000
    python benchmarks/run.py --stages features,train --sizes 1000000
    python benchmarks/run.py --stages large_csv --sizes 1000000   # a ~2 GB CSV, 4 GB memory limit
    python benchmarks/run.py --stages train_spark --sizes 10000000  # distributed Spark path
    python benchmarks/run.py --stages features_duckdb_sample,train_sample,train_sample_one_core \
        --sizes 250000    # make train on the bundled sample vs one hand-written query, 1 core

Every measurement runs in a fresh process, which reports its own wall time and peak resident
memory. Results: benchmarks/results/results.json and results.md (printed too), merged into the
committed benchmarks/RESULTS.json and RESULTS.md: the latest row per stage, size and machine
(by its cores). Rows measured on another machine (the 16-core one) join them with
``--merge its/benchmarks/RESULTS.json``. The growth exponent between two sizes is
log(t2 / t1) / log(n2 / n1): 1 = linear, 2 = quadratic.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()  # train_sample counts from here, as a user waits for make train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "data" / "bench"
RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = {c: c for c in ["customer_id", "order_id", "timestamp", "amount", "quantity",
                          "category", "is_return", "payment_delay_days", "is_new_product"]}
ATTRS = ["region", "channel", "business_type", "company_size"]
# end-to-end runs with the other segmenters (the default "train" is k-means)
MODEL_OVERRIDES = {"train": ["model.k_min=3", "model.k_max=10"],
                   # the distributed Spark path (nothing per customer on the driver), k fixed
                   "train_spark": ["engine=spark", "engine.distributed=true", "model=spark_kmeans",
                                   "model.k=8", "model.params.n_init=1",
                                   "engine.driver_memory=12g"],
                   "train_hierarchical": ["model=hierarchical", "model.k_min=3", "model.k_max=10"],
                   "train_hdbscan": ["model=hdbscan"]}


def _jvm_peak_mb() -> int | None:
    """Peak resident memory of the Spark JVM this process started (local mode: the driver
    and its executors in one JVM), from /proc (Linux)."""
    from pyspark import SparkContext

    proc = getattr(getattr(SparkContext, "_gateway", None), "proc", None)
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text()
    except (AttributeError, OSError):
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
    return round(kb / 1024)


# --- measured work (runs in a child process) ----------------------------------------------

class TreePeak:
    """Peak resident memory of this process and its children summed, sampled every 0.2 s on a
    thread (``ru_maxrss`` sees one process: the generator's workers are several)."""

    def __init__(self):
        import threading

        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss_kb(pid: int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return 0
        own = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS")), 0)
        return own + sum(TreePeak._rss_kb(int(k)) for k in kids)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_kb = max(self.peak_kb, self._rss_kb(os.getpid()))

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _snapshot(paths) -> tuple:
    import duckdb
    import pandas as pd

    last = duckdb.execute(f"SELECT max(timestamp) FROM read_parquet('{paths['transactions']}/*.parquet')"
                          ).fetchall()[0][0]
    return (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date(), 1095


def _planted_hierarchical(n: int) -> dict:
    """The compressed Ward tree against the exact tree where the exact tree is reproducible.

    n points, 12 dimensions, 8 planted Gaussian segments of unequal size, at three spreads
    (std 4: separated, 5: overlapping, 6: heavily overlapping). Per spread: the fit time, the
    agreement figures of ``exact_agreement`` and both trees' ARI against the planted segments.
    """
    import fastcluster
    import numpy as np
    from scipy.cluster.hierarchy import fcluster
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    from clustering.segmenters import HierarchicalSegmenter

    out: dict = {}
    sizes = (np.random.default_rng(0).dirichlet(np.full(8, 3.0)) * n).astype(int)
    for std in (4, 5, 6):
        X, y = make_blobs(n_samples=sizes, n_features=12, cluster_std=float(std),
                          center_box=(-10, 10), random_state=0)
        t = time.perf_counter()
        seg = HierarchicalSegmenter(n_clusters=8).fit(X)
        out[f"std{std}_fit_seconds"] = round(time.perf_counter() - t, 2)
        agree = seg.exact_agreement(X, perturbed=True)
        out |= {f"std{std}_{k.removeprefix('exact_')}": round(v, 3) for k, v in agree.items()
                if k != "exact_agreement_sample"}
        out[f"std{std}_truth_ari"] = round(adjusted_rand_score(y, seg.labels_), 3)
        idx = np.random.default_rng(1).choice(len(X), min(30_000, len(X)), replace=False)
        exact = fcluster(fastcluster.linkage_vector(X[idx], method="ward"), 8, "maxclust")
        out[f"std{std}_exact_truth_ari"] = round(adjusted_rand_score(y[idx], exact), 3)
    return out


def _planted_mixed(n: int) -> dict:
    """k-prototypes against k-means on the same matrix: n customers in 4 planted segments that
    two numeric centres and two attributes (85% clean) make; fit seconds and ARI of each."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from clustering.segmenters import make_segmenter

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    num = rng.normal(0, 1, (n, 3)) + np.array([[0, 0, 0], [0, 0, 0], [3, 3, 0], [3, 3, 0]])[y]
    cats = np.column_stack([np.where(rng.random(n) < 0.85, y % 2, rng.integers(0, 2, n)),
                            np.where(rng.random(n) < 0.85, y, rng.integers(0, 4, n))])
    X = np.column_stack([StandardScaler().fit_transform(num),
                         OneHotEncoder(sparse_output=False).fit_transform(cats)])
    t = time.perf_counter()
    seg = make_segmenter("kprototypes", k=4, n_numeric=3, random_state=0).fit(X)
    out = {"fit_seconds": round(time.perf_counter() - t, 2),
           "truth_ari": round(adjusted_rand_score(y, seg.labels_), 3)}
    t = time.perf_counter()
    km = KMeans(4, n_init=4, random_state=0).fit(X)
    return out | {"kmeans_fit_seconds": round(time.perf_counter() - t, 2),
                  "kmeans_truth_ari": round(adjusted_rand_score(y, km.labels_), 3)}


def _assign_hdbscan(paths, reference: bool) -> dict:
    """HDBSCAN fitted (hdbscan library, prediction data kept) on 100,000 customers of the base,
    then 1,000,000 customers of the base assigned to its segments; only the assignment is
    timed. Ours: ``DensityPredictor``; the reference: the library's ``approximate_predict``
    on the same fitted tree."""
    import hdbscan
    import pandas as pd

    from clustering.features.preprocess import build_preprocessor
    from clustering.segmenters import make_segmenter

    feats = pd.read_parquet(Path(paths["transactions"]).parent / "features.parquet")
    cols = ["recency_days", "frequency", "monetary_total", "avg_order_value", "tenure_days",
            "mean_interpurchase_days", "revenue_cv_monthly", "revenue_growth", "return_rate"]
    pre = build_preprocessor(cols).fit(feats[cols])
    train = pre.transform(feats[cols].sample(min(100_000, len(feats)), random_state=0))
    rows = pre.transform(feats[cols].sample(1_000_000, replace=True, random_state=1))
    seg = make_segmenter("hdbscan", min_cluster_size=500, min_samples=10, backend="hdbscan",
                         random_state=0).fit(train)
    E = seg._embed(rows)
    t = time.perf_counter()
    if reference:
        lib = hdbscan.HDBSCAN(min_cluster_size=500, min_samples=10,
                              prediction_data=True).fit(seg._embed(train))
        t = time.perf_counter()
        labels, _ = hdbscan.approximate_predict(lib, E)
    else:
        labels = seg.predict(rows)
    secs = time.perf_counter() - t
    return {"rows": len(labels), "rows_per_second": int(len(labels) / secs),
            "timed_seconds": round(secs, 3), "noise_share": round(float((labels < 0).mean()), 3)}


def _sample_settings(n: int):
    """``make train``'s settings on the bundled sample at ``n`` customers (its own files, as a
    user's run reads them), with the bench's tracking store."""
    from hydra import compose, initialize_config_dir

    from pipelines.common import CONF_DIR, to_settings

    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[
            f"data.sample.n_customers={n}", "mlflow.register=false",
            "mlflow.match_previous=false",
            f"mlflow.tracking_uri=sqlite:///{DATA / 'bench_mlflow.db'}"])
    return to_settings(cfg)


def _on_the_sample(stage: str, n: int) -> dict:
    """``make train`` on the bundled sample at ``n`` customers (issue 30: 250k customers, 10M
    lines), and its reference: the hand-written DuckDB feature query on the same files, best
    of 3 in one process (the first run also warms the file cache for the others). The files
    are generated first, where ``make train`` reads them, and the generation is not timed."""
    from clustering.inputs.sources import resolve_files, sources_for

    settings, resolved = _sample_settings(n)
    t = time.perf_counter()
    tx = sources_for(settings.data, settings.paths.data_dir).transactions.path
    files = str(Path(resolve_files(tx)[0]).parent / "*.parquet")
    generating = time.perf_counter() - t  # once per size: not make train's work
    if stage == "features_duckdb_sample":
        import duckdb

        from benchmarks import references

        snap = duckdb.execute(f"SELECT max(timestamp)::DATE + 1 FROM read_parquet('{files}')"
                              ).fetchall()[0][0]
        times = []
        for _ in range(3):
            t = time.perf_counter()
            rows = len(references.duckdb_reference(files, snap, 3 * 365))
            times.append(time.perf_counter() - t)
        return {"timed_seconds": round(min(times), 2), "customers": rows,
                "runs": [round(x, 2) for x in times], "snapshot": str(snap)}
    from clustering.console import Console
    from clustering.training import run_training

    console = Console(quiet=True)
    result = run_training(settings, resolved=resolved, console=console)
    lines = result.loaded.quality.rows_read
    # from the interpreter's start, imports and configuration included, generation excluded
    return {"timed_seconds": round(time.perf_counter() - STARTED - generating, 2),
            "lines": lines,
            "k": result.metrics["k"], "future_auc_repeat": round(result.metrics.get(
                "future_auc_repeat", float("nan")), 4), "cores": len(os.sched_getaffinity(0)),
            "stages": {k: round(v, 2) for k, v in console.timings.items()}}


def work(stage: str, n: int) -> dict:
    if stage == "generate":  # the bundled generator (about 40 lines per customer), as make train
        import tempfile

        import pyarrow.parquet as pq

        from clustering.inputs.sources import resolve_files
        from clustering.sample.files import ensure_sample_data

        with tempfile.TemporaryDirectory(dir=DATA) as tmp, TreePeak() as peak:
            files = resolve_files(ensure_sample_data(tmp, n_customers=n, seed=42)["transactions"])
            lines = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        return {"lines": lines, "processes_peak_mb": round(peak.peak_kb / 1024)}
    if stage in ("train_sample", "features_duckdb_sample"):
        return _on_the_sample(stage, n)
    from benchmarks.datasets import bench_dataset

    paths = bench_dataset(n, DATA)
    files = f"{paths['transactions']}/*.parquet"
    if stage == "features":
        import duckdb

        from clustering.features.customer import build_customer_features
        from clustering.inputs.sources import TableSource, register_transactions

        con = duckdb.connect()
        loaded = register_transactions(con, TableSource(paths["transactions"], columns=COLUMNS))
        fr = build_customer_features(con, loaded)
        out = Path(paths["transactions"]).parent / "features.parquet"
        if not out.exists():  # input of the cluster_* stages, written once (not the engine's work)
            fr.buyers.to_parquet(out)
        return {"rows": loaded.quality.rows_read, "customers": len(fr.buyers)}
    if stage in ("features_duckdb", "features_duckdb_checked", "features_polars",
                 "features_pandas"):
        from benchmarks import references

        snap, lookback = _snapshot(paths)
        fn = getattr(references, stage.replace("features_", "") + "_reference")
        return {"customers": len(fn(files, snap, lookback))}
    if stage in ("train", "train_hierarchical", "train_hdbscan", "train_spark"):
        from hydra import compose, initialize_config_dir

        from clustering.console import Console
        from clustering.training import run_training
        from pipelines.common import CONF_DIR, to_settings

        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            cfg = compose("train", overrides=[
                "data=parquet", f"data.name=bench{n}", f"data.path={paths['transactions']}",
                f"data.customers_path={paths['customers']}", f"data.truth_path={paths['truth']}",
                f"data.attributes=[{','.join(ATTRS)}]", "data.customer_columns.signup_date=signup_date",
                "data.columns.is_return=is_return", "data.columns.payment_delay_days=payment_delay_days",
                "data.columns.is_new_product=is_new_product",
                "mlflow.register=false", "mlflow.match_previous=false",
                f"mlflow.tracking_uri=sqlite:///{DATA / 'bench_mlflow.db'}",
                *MODEL_OVERRIDES.get(stage, [])])
        settings, resolved = to_settings(cfg)
        console = Console(quiet=True)
        result = run_training(settings, resolved=resolved, console=console)
        out = {"k": result.metrics["k"], "cores": len(os.sched_getaffinity(0)),
               "stages": {k: round(v, 2) for k, v in console.timings.items()}}
        if stage == "train_spark":  # peak_mb is this (the driver's) Python process; the JVM too
            out["jvm_peak_mb"] = _jvm_peak_mb()
        return out
    if stage == "cluster_hierarchical_planted":
        return _planted_hierarchical(n)
    if stage == "cluster_kprototypes_planted":
        return _planted_mixed(n)
    if stage.startswith("cluster_"):
        import pandas as pd

        from clustering.features.preprocess import build_preprocessor
        from clustering.segmenters import make_segmenter

        feats = pd.read_parquet(Path(paths["transactions"]).parent / "features.parquet")
        cols = ["recency_days", "frequency", "monetary_total", "avg_order_value", "tenure_days",
                "mean_interpurchase_days", "revenue_cv_monthly", "revenue_growth", "return_rate",
                "n_categories", "new_product_share", "mean_payment_delay"]
        X = build_preprocessor(cols).fit_transform(feats[cols])
        name = stage.removeprefix("cluster_")
        params = ({"n_clusters": 8} if not name.startswith("hdbscan")
                  else {"min_cluster_size": max(100, len(X) // 200), "min_samples": 10})
        if name == "hdbscan_library":  # the reference: the hdbscan library at every size
            name, params["backend"] = "hdbscan", "hdbscan"
        t = time.perf_counter()
        seg = make_segmenter(name, **params).fit(X)
        out = {"fit_seconds": round(time.perf_counter() - t, 2), "segments": seg.n_clusters_}
        if name == "hierarchical":
            out |= {k: round(v, 3) for k, v in seg.exact_agreement(X, perturbed=True).items()}
        if name == "hdbscan":
            out["noise_share"] = round(float((seg.labels_ < 0).mean()), 3)
            out["backend"] = seg.backend_
        return out
    if stage in ("assign_hdbscan", "assign_hdbscan_reference"):
        return _assign_hdbscan(paths, stage.endswith("reference"))
    if stage in ("scoring", "scoring_reference"):
        # a registered-style pyfunc model loaded back from disk, scoring 1M feature rows;
        # the reference is scikit-learn's own KMeans.predict on the already scaled matrix
        import tempfile

        import mlflow.pyfunc
        import pandas as pd
        from sklearn.pipeline import Pipeline

        from clustering.features.preprocess import build_preprocessor
        from clustering.model import SegmentationModel
        from clustering.segmenters import KMeansSegmenter
        from clustering.tracking.pyfunc import SegmentationPyfunc, save_for_mlflow

        feats = pd.read_parquet(Path(paths["transactions"]).parent / "features.parquet")
        cols = ["recency_days", "frequency", "monetary_total", "avg_order_value", "tenure_days",
                "mean_interpurchase_days", "revenue_cv_monthly", "revenue_growth", "return_rate",
                "n_categories", "new_product_share", "mean_payment_delay"]
        sample = feats[cols].sample(min(50_000, len(feats)), random_state=0)
        pipe = Pipeline([("preprocess", build_preprocessor(cols)),
                         ("segment", KMeansSegmenter(n_clusters=8))]).fit(sample)
        model = SegmentationModel(pipe, {i: f"segment {i}" for i in range(8)})
        rows = feats[cols].sample(1_000_000, replace=True, random_state=1).reset_index(drop=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = save_for_mlflow(model, Path(tmp))
            mlflow.pyfunc.save_model(f"{tmp}/m", python_model=SegmentationPyfunc(),
                                     artifacts={"segmentation": str(path)})
            loaded = mlflow.pyfunc.load_model(f"{tmp}/m")
            loaded.predict(rows.head(1000))  # warm up
            t = time.perf_counter()
            if stage == "scoring":
                out = loaded.predict(rows)
            else:
                Xs = pipe[:-1].transform(rows)
                t = time.perf_counter()
                out = pipe[-1].model_.predict(Xs)
            secs = time.perf_counter() - t
        return {"rows": len(out), "rows_per_second": int(len(rows) / secs),
                "timed_seconds": round(secs, 3)}
    if stage == "large_csv":
        # three copies of the base (distinct ids) as one CSV: ~2 GB at 1M customers; checks and
        # features under a 4 GB DuckDB memory limit (spilling to disk)
        import duckdb

        from clustering.engines import duckdb_connection
        from clustering.features.customer import build_customer_features
        from clustering.inputs.sources import TableSource, register_transactions

        csv = Path(paths["transactions"]).parent / "large.csv"
        if not csv.exists():
            duckdb.execute(f"""COPY (SELECT c || customer_id AS customer_id, c || order_id AS order_id,
                timestamp, amount, quantity, category, is_return, payment_delay_days, is_new_product
                FROM read_parquet('{files}'), (VALUES ('a'), ('b'), ('c')) v(c))
                TO '{csv}' (HEADER, DELIMITER ',')""")
        t = time.perf_counter()
        con = duckdb_connection("4GB", str(DATA))
        loaded = register_transactions(con, TableSource(str(csv), "csv", COLUMNS))
        fr = build_customer_features(con, loaded)
        return {"csv_gb": round(csv.stat().st_size / 1e9, 2), "rows": loaded.quality.rows_read,
                "customers": len(fr.buyers), "timed_seconds": round(time.perf_counter() - t, 1)}
    if stage in ("silhouette_full", "silhouette_sampled"):
        from sklearn.datasets import make_blobs

        from clustering.evaluation.metrics import internal_indices

        X, y = make_blobs(n_samples=20_000, centers=8, n_features=12, random_state=0)
        from sklearn.metrics import silhouette_score

        s = (silhouette_score(X, y) if stage == "silhouette_full"
             else internal_indices(X, y, 5000, 0)["silhouette"])
        return {"silhouette": round(float(s), 4), "customers": 20_000}
    raise SystemExit(f"unknown stage {stage}")


# --- orchestration ------------------------------------------------------------------------

#: a stage measured again pinned to one core (``taskset -c 0``), for the core-scaling ratio
ONE_CORE = "_one_core"


def measure(stage: str, n: int, timeout: float | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", stage.removesuffix(ONE_CORE), "--size", str(n)]
    if stage.endswith(ONE_CORE):
        cmd = ["taskset", "-c", "0", *cmd]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"stage": stage, "size": n, "error": f"over the {timeout:.0f} s time limit"}
    wall = time.perf_counter() - t
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        why = lines[-1][:300] if lines else f"exit status {r.returncode} (killed?)"
        return {"stage": stage, "size": n, "error": why}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return {"stage": stage, "size": n, "seconds": round(out.pop("seconds"), 2),
            "wall_with_startup": round(wall, 2), "peak_mb": out.pop("peak_mb"), **out}


REFERENCES = {"features": ["features_duckdb_checked", "features_duckdb", "features_polars",
                           "features_pandas"],
              "silhouette_sampled": ["silhouette_full"],
              "scoring": ["scoring_reference"],
              "cluster_hdbscan": ["cluster_hdbscan_library"],
              "assign_hdbscan": ["assign_hdbscan_reference"],
              "train": ["train_one_core"],  # below 1: the cores the run uses pay
              # issue 30: make train within 8x of one hand-written feature query (best of 3)
              "train_sample": ["features_duckdb_sample", "train_sample_one_core"]}


def machine_cores(row: dict) -> int:
    """The cores of the machine a row was measured on (this one's for a row not yet recorded):
    the results keep a row per stage, size and machine, and compare rows of one machine."""
    found = re.search(r"(\d+) cores", row.get("machine", {}).get("cpu", ""))
    return int(found.group(1)) if found else os.cpu_count()


def markdown(rows: list[dict]) -> str:
    lines = ["| stage | customers | seconds | peak MiB | vs reference | notes |",
             "|---|---:|---:|---:|---|---|"]
    by = {(r["stage"], r["size"], machine_cores(r)): r for r in rows}
    for r in rows:
        ratio = ""
        refs = [by.get((ref, r["size"], machine_cores(r)))
                for ref in REFERENCES.get(r["stage"], [])]
        refs = [x for x in refs if x and "seconds" in x]
        if refs and "seconds" in r:
            key = "timed_seconds" if "timed_seconds" in r else "seconds"  # timed part only
            # the first listed reference does the same work (like for like); the fastest too
            shown = [refs[0]] + [x for x in [min(refs, key=lambda x: x[key])] if x is not refs[0]]
            ratio = "; ".join(f"{r[key] / x[key]:.2f}x {x['stage']}" for x in shown)
        notes = ", ".join(f"{k}={v}" for k, v in r.items()
                          if k not in ("stage", "size", "seconds", "peak_mb", "wall_with_startup",
                                       "date", "commit", "machine"))
        lines.append(f"| {r['stage']} | {r['size']:,} | {r.get('seconds', '-')} | "
                     f"{r.get('peak_mb', '-')} | {ratio} | {notes} |")
    growth = []
    sizes = sorted({r["size"] for r in rows})
    machines = sorted({machine_cores(r) for r in rows})
    for stage, cores in dict.fromkeys((r["stage"], machine_cores(r)) for r in rows):
        pts = [(n, by[(stage, n, cores)]["seconds"]) for n in sizes
               if (stage, n, cores) in by and "seconds" in by[(stage, n, cores)]]
        label = stage if len(machines) == 1 else f"{stage} ({cores} cores)"
        for (n1, t1), (n2, t2) in zip(pts, pts[1:], strict=False):
            if t1 > 0 and n2 > n1:
                growth.append(f"| {label} | {n1:,} -> {n2:,} | "
                              f"{math.log(t2 / t1) / math.log(n2 / n1):.2f} |")
    if growth:
        lines += ["", "Growth exponent (1 = linear, 2 = quadratic):", "",
                  "| stage | sizes | exponent |", "|---|---|---:|", *growth]
    return "\n".join(lines)


def growth_plot(rows: list[dict], path: Path) -> Path | None:
    """Seconds against customers on log-log axes, one line per stage measured at 2+ sizes,
    with a linear-growth guide: a line steeper than the guide grows faster than the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clustering.files import atomic_path

    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if "seconds" in r:
            series.setdefault(r["stage"], []).append((r["size"], r["seconds"]))
    series = {k: sorted(v) for k, v in series.items() if len(v) > 1}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    for stage, pts in series.items():
        ax.plot(*zip(*pts, strict=True), marker="o", label=stage)
    n0 = min(p[0][0] for p in series.values())
    n1 = max(p[-1][0] for p in series.values())
    t0 = min(p[0][1] for p in series.values())
    ax.plot([n0, n1], [t0, t0 * n1 / n0], "k--", lw=1, label="linear growth")
    ax.set(xscale="log", yscale="log", xlabel="customers", ylabel="seconds",
           title="Cost against customers (log-log)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


RECORD = ROOT / "benchmarks" / "RESULTS.json"  # committed: the latest per stage, size, machine


def machine() -> dict[str, str]:
    """What the figures were measured on and with."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    mem = next((int(line.split()[1]) / 1024 ** 2 for line in
                Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
               0.0) if Path("/proc/meminfo").exists() else 0.0
    out = {"cpu": f"{cpu}, {os.cpu_count()} cores", "memory": f"{mem:.0f} GiB",
           "python": platform.python_version()}
    for pkg in ("duckdb", "numpy", "pandas", "scikit-learn", "scipy", "hdbscan", "fast_hdbscan",
                "polars", "pyspark", "mlflow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def record(rows: list[dict], elsewhere: list[dict] = ()) -> Path:
    """Merge this run's rows, and rows recorded on another machine (``elsewhere``: its
    ``RESULTS.json``, e.g. the 16-core machine's), into ``benchmarks/RESULTS.json`` (the latest
    per stage, size and machine's cores, each with its date, commit and machine) and render
    ``benchmarks/RESULTS.md`` from it."""
    import datetime as dt

    def key(r: dict) -> tuple:
        return r["stage"], r["size"], machine_cores(r)

    old = json.loads(RECORD.read_text()) if RECORD.exists() else []
    stamp = {"date": dt.date.today().isoformat(), "commit": _commit(), "machine": machine()}
    fresh = {key(r): r for r in elsewhere if "machine" in r}
    fresh.update({key(here): here for here in ({**r, **stamp} for r in rows)})
    merged = [r for r in old if key(r) not in fresh] + list(fresh.values())
    merged.sort(key=lambda r: (r["size"], r["stage"], machine_cores(r)))
    RECORD.write_text(json.dumps(merged, indent=2) + "\n")
    machines = {json.dumps(r["machine"], sort_keys=True): r["machine"] for r in merged}
    lines = ["# Benchmark results", "",
             "Written by `make bench` (`benchmarks/run.py`): the latest measurement of every stage "
             "and size, each stage in a fresh process (wall time, peak resident memory), ratios "
             "against references measured in the same run. Regenerate with `make bench`; a run of "
             "some stages replaces only their rows.", "",
             "| stage | customers | date | commit | cores | seconds | peak MiB | vs reference | notes |",
             "|---|---:|---|---|---:|---:|---:|---|---|"]
    table = markdown(merged).splitlines()
    body = [line for line in table[2:] if line.startswith("| ") and line.count("|") == 7]
    for r, line in zip(merged, body, strict=False):
        cells = line.split("|")
        cells.insert(3, f" {r['date']} | {r['commit']} | {machine_cores(r)} ")
        lines.append("|".join(cells))
    growth = table[table.index("Growth exponent (1 = linear, 2 = quadratic):"):] \
        if "Growth exponent (1 = linear, 2 = quadratic):" in table else []
    lines += ["", *growth, "", "Machines:", ""]
    lines += [f"- {', '.join(f'{k} {v}' for k, v in m.items())}" for m in machines.values()]
    targets = ROOT / "benchmarks" / "TARGETS.md"  # hand-written: each target, met or the gap
    if targets.exists():
        lines += ["", targets.read_text().rstrip()]
    out = ROOT / "benchmarks" / "RESULTS.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--stages", default="generate,features,features_duckdb_checked,features_duckdb,"
                                        "features_polars,features_pandas,"
                                        "train,train_one_core,train_hierarchical,train_hdbscan,"
                                        "cluster_hierarchical,cluster_hierarchical_planted,"
                                        "cluster_kprototypes_planted,"
                                        "cluster_hdbscan,cluster_hdbscan_library,"
                                        "silhouette_sampled,silhouette_full,scoring,"
                                        "scoring_reference,assign_hdbscan,"
                                        "assign_hdbscan_reference,train_spark")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds one measurement may take before it is recorded as too slow")
    ap.add_argument("--render", action="store_true",
                    help="only write benchmarks/RESULTS.md again from benchmarks/RESULTS.json")
    ap.add_argument("--merge", metavar="RESULTS_JSON",
                    help="add the rows of a RESULTS.json recorded on another machine (the "
                         "16-core one): a row per stage, size and machine's cores")
    ap.add_argument("--child")
    ap.add_argument("--size", type=int)
    args = ap.parse_args()
    if args.render or args.merge:
        elsewhere = json.loads(Path(args.merge).read_text()) if args.merge else []
        print(f"written {record([], elsewhere)}")
        return
    if args.child:
        t = time.perf_counter()
        out = work(args.child, args.size)
        out["seconds"] = time.perf_counter() - t
        out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(out))
        return
    from benchmarks.datasets import bench_dataset

    sizes = [int(s) for s in args.sizes.split(",")]
    stages = args.stages.split(",")
    rows = []
    for n in sizes:
        t = time.perf_counter()
        bench_dataset(n, DATA)
        print(f"data for {n:,} customers ready ({time.perf_counter() - t:.0f}s)", flush=True)
        for stage in stages:
            if (stage.startswith(("silhouette", "scoring", "assign"))) and n != max(sizes):
                continue
            if stage == "features_pandas" and n > 1_000_000 and "--pandas-large" not in sys.argv:
                continue
            row = measure(stage, n, args.timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(rows, indent=2))
    md = markdown(rows)
    (RESULTS / "results.md").write_text(md + "\n")
    print("\n" + md)
    print(f"\nrecorded in {record(rows)}")
    plot = growth_plot(rows, RESULTS / "growth.png")
    if plot:
        print(f"\ngrowth curve: {plot}")


if __name__ == "__main__":
    main()
