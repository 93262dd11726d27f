"""Benchmark data: the sample generator at scale, about 10 transaction lines per customer,
written in chunks of customers to a folder of Parquet files (memory stays bounded)."""

from __future__ import annotations

import json
from pathlib import Path

from clustering.files import write_frame
from clustering.sample.generator import generate_tables

INTENSITY = 0.36  # about 10 lines per customer (the default sample has about 40)
CHUNK = 250_000


def bench_dataset(n_customers: int, root: str | Path, seed: int = 11) -> dict[str, str]:
    """Folders of Parquet parts for transactions, customers and truth; reused when present."""
    out = Path(root) / f"n{n_customers}"
    manifest = out / "manifest.json"
    params = {"n_customers": n_customers, "seed": seed, "intensity": INTENSITY, "chunk": CHUNK,
              "version": 2}
    paths = {t: str(out / t) for t in ("transactions", "customers", "truth")}
    if manifest.exists() and json.loads(manifest.read_text()) == params:
        return paths
    for p in paths.values():
        Path(p).mkdir(parents=True, exist_ok=True)
        for f in Path(p).glob("*.parquet"):
            f.unlink()
    lines = 0
    for i, start in enumerate(range(0, n_customers, CHUNK)):
        n = min(CHUNK, n_customers - start)
        s = generate_tables(n, seed=seed + i, intensity=INTENSITY, id_offset=start)
        for name, frame in (("transactions", s.transactions), ("customers", s.customers),
                            ("truth", s.truth)):
            write_frame(frame, Path(paths[name]) / f"part-{i:04d}.parquet")
        lines += len(s.transactions)
    manifest.write_text(json.dumps(params))
    (out / "lines.txt").write_text(str(lines))
    return paths
