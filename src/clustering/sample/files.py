"""The generated sample on disk: Parquet tables written once, chunk by chunk above
:data:`CHUNK` customers, so memory stays bounded at any size (:func:`ensure_sample_data`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from clustering.files import write_frame, write_text
from clustering.sample.generator import generate_tables

#: customers generated (and held in memory) at a time: about 1.5 GB at 40 lines per customer
CHUNK = 100_000
#: processes generating chunks at once, each holding one chunk (spawned processes receive the
#: parent's import path, so a source checkout works as an installed package does)
MAX_WORKERS = 2


def _write_chunk(files: dict[str, str], params: dict) -> int:
    """Generate one chunk of the base and write its tables to ``files``; its customer count."""
    data = generate_tables(**params)
    for name, path in files.items():
        write_frame(getattr(data, name), path)
    return params["n_customers"]


def chunk_sizes(n_customers: int, chunk: int = CHUNK) -> list[int]:
    """Near-equal chunk sizes of at most ``chunk`` customers that add up to ``n_customers``."""
    parts = max(1, -(-n_customers // chunk))
    return [n_customers // parts + (1 if i < n_customers % parts else 0) for i in range(parts)]


def ensure_sample_data(
    directory: str,
    n_customers: int = 20_000,
    seed: int = 42,
    start: str = "2022-01-01",
    end: str = "2024-12-31",
    kind: str = "b2b",
    progress: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Write the sample tables as Parquet under ``directory`` unless the same ones are there.

    Up to :data:`CHUNK` customers: one file per table. Beyond, the base is generated and written
    chunk by chunk (``<table>/part-NNNN.parquet``; chunk i with seed + i and its own ids), so
    memory stays bounded at any size, by up to :data:`MAX_WORKERS` processes at once (the
    same files whatever the number). A ``manifest.json`` records the parameters and is written
    last; every file is written to a temporary name and renamed, so an interrupted generation
    never leaves a half-written table that looks complete.
    Returns the paths of ``transactions``, ``customers``, ``truth``, ``events`` and
    ``campaigns``.
    """
    import json
    import shutil

    out = Path(directory)
    sizes = chunk_sizes(n_customers, CHUNK)
    params = {"n_customers": n_customers, "seed": seed, "start": start, "end": end, "kind": kind,
              "generator_version": 8, "chunk": CHUNK}
    names = ("transactions", "customers", "truth", "events", "campaigns")
    paths = {name: str(out / (f"{name}.parquet" if len(sizes) == 1 else name)) for name in names}
    manifest = out / "manifest.json"
    if manifest.exists() and all(Path(p).exists() for p in paths.values()):
        try:
            if json.loads(manifest.read_text()) == params:
                return paths
        except json.JSONDecodeError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    if len(sizes) > 1:
        for p in paths.values():
            shutil.rmtree(p, ignore_errors=True)
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    jobs = [(paths if len(sizes) == 1 else {k: str(Path(v) / f"part-{i:04d}.parquet")
                                            for k, v in paths.items()},
             dict(n_customers=size, seed=seed + i, start=start, end=end, kind=kind,
                  id_offset=offsets[i])) for i, size in enumerate(sizes)]
    workers = min(len(jobs), os.cpu_count() or 1, MAX_WORKERS)
    done = 0
    if workers == 1:
        for job in jobs:
            done += _write_chunk(*job)
            if progress is not None and len(sizes) > 1:
                progress(f"generated {done:,} of {n_customers:,} customers")
    else:  # chunks are independent: one process per core (spawned: no inherited threads)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for n in pool.map(_write_chunk, *zip(*jobs, strict=True)):
                done += n
                if progress is not None:
                    progress(f"generated {done:,} of {n_customers:,} customers")
    write_text(manifest, json.dumps(params, indent=2))
    return paths
