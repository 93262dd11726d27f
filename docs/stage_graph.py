"""Print the stage graph of the default `make train` (and of the distributed Spark run) as
Mermaid, for docs/architecture.md: ``.venv/bin/python docs/stage_graph.py``. A test checks
that the document shows what this prints."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def graphs() -> dict[str, str]:
    from hydra import compose, initialize_config_dir

    from clustering.graph import mermaid
    from clustering.inputs.sources import DataSources, TableSource
    from clustering.training import GIVEN, _distributed_stages, _local_stages
    from pipelines.common import CONF_DIR, to_settings

    sources = DataSources(TableSource("transactions.parquet"))
    out = {}
    for name, overrides, build in [
        ("local", [], _local_stages),
        ("distributed", ["engine=spark", "engine.distributed=true", "model=spark_kmeans",
                         "model.k=6"], _distributed_stages),
    ]:
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            settings, _ = to_settings(compose("train", overrides=overrides))
        out[name] = mermaid(build(settings, sources, print), GIVEN)
    return out


if __name__ == "__main__":
    for name, text in graphs().items():
        print(f"<!-- stage graph: {name} -->\n```mermaid\n{text}\n```")
