"""The generated sample on disk: Parquet tables written once, chunk by chunk above
:data:`CHUNK` customers, so memory stays bounded at any size (:func:`ensure_sample_data`)."""

from __future__ import annotations

from collections.abc import Callable

from clustering.files import write_frame, write_text
from clustering.sample_data import generate_sample

#: customers generated (and held in memory) at a time: about 2 GB at 40 lines per customer
CHUNK = 100_000


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
    memory stays bounded at any size. A ``manifest.json`` records the parameters and is written
    last; every file is written to a temporary name and renamed, so an interrupted generation
    never leaves a half-written table that looks complete.
    Returns the paths of ``transactions``, ``customers``, ``truth`` and ``events``.
    """
    import json
    import shutil
    from pathlib import Path

    out = Path(directory)
    sizes = chunk_sizes(n_customers, CHUNK)
    params = {"n_customers": n_customers, "seed": seed, "start": start, "end": end, "kind": kind,
              "generator_version": 6, "chunk": CHUNK}
    names = ("transactions", "customers", "truth", "events")
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
    offset = 0
    for i, size in enumerate(sizes):
        data = generate_sample(n_customers=size, seed=seed + i, start=start, end=end, kind=kind,
                               id_offset=offset)
        # temporary names are per process: parallel jobs may generate at once
        for name in names:
            frame = getattr(data, name)
            write_frame(frame, paths[name] if len(sizes) == 1
                        else Path(paths[name]) / f"part-{i:04d}.parquet")
        offset += size
        del data
        if progress is not None and len(sizes) > 1:
            progress(f"generated {offset:,} of {n_customers:,} customers")
    write_text(manifest, json.dumps(params, indent=2))
    return paths
