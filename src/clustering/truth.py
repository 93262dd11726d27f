"""The planted customer types of generated data (the generator's ``truth`` table): what the
tests and the benchmarks score segments and persona names against. Never a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clustering.files import read_frame
from clustering.sources import file_format, resolve_files


def planted_types(customer_ids: pd.Series, truth_path: str | None):
    """The planted type of every customer (generated data only: ``truth_path``), else None.

    Read file by file keeping only the wanted customers (a sample's truth in bounded memory),
    matched by hashing in Arrow: pandas' ``isin`` on Arrow strings converts the wanted ids to
    Python objects once per file (20 s for 1M customers and five files)."""
    if not truth_path:
        return None
    files = resolve_files(truth_path, what="table")
    fmt, cols = file_format(files, "auto"), ["customer_id", "planted_type"]
    ids = pa.Array.from_pandas(customer_ids).cast(pa.string())
    wanted, kept, types = pc.unique(ids), [], []
    for f in files:
        t = (pq.read_table(f, columns=cols) if fmt == "parquet"
             else pa.Table.from_pandas(read_frame(f)[cols], preserve_index=False))
        cid = t["customer_id"].cast(pa.string())
        mask = pc.is_in(cid, value_set=wanted)
        kept.append(cid.filter(mask))
        types.append(t["planted_type"].cast(pa.string()).filter(mask))
    kept_ids = pa.chunked_array(kept, pa.string()).combine_chunks()
    planted = pc.take(pa.chunked_array(types, pa.string()),
                      pc.index_in(ids, value_set=kept_ids))
    codes = pc.fill_null(planted, "unknown").combine_chunks().dictionary_encode()
    # one Python string per type, shared by its customers: not one per customer
    return np.asarray(codes.dictionary.to_pylist(), dtype=object)[codes.indices.to_numpy()]
