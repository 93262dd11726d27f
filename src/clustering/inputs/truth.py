"""The planted customer types of generated data (the generator's ``truth`` table): what the
tests and the benchmarks score segments and persona names against. Never a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clustering.files import read_frame
from clustering.inputs.sources import file_format, resolve_files


def planted_types(customer_ids: pd.Series, truth_path: str | None):
    """The planted type of every customer (generated data only: ``truth_path``), else None.

    The truth's ids are hashed once and the customers looked up in them, in Arrow, with the
    types dictionary-encoded (a handful of strings): pandas' ``isin`` on Arrow strings converts
    the ids to Python objects (20 s for 1M customers), and one hash table per file of the
    truth cost 0.25 s a file."""
    if not truth_path:
        return None
    files = resolve_files(truth_path, what="table")
    fmt, cols = file_format(files, "auto"), ["customer_id", "planted_type"]
    truth = (pq.read_table(files, columns=cols) if fmt == "parquet" else pa.concat_tables(
        [pa.Table.from_pandas(read_frame(f)[cols], preserve_index=False) for f in files]))
    truth_ids = truth["customer_id"].combine_chunks().cast(pa.string())
    types = truth["planted_type"].cast(pa.string()).combine_chunks().dictionary_encode()
    ids = pa.Array.from_pandas(customer_ids).cast(pa.string())
    codes = pc.take(types.indices, pc.index_in(ids, value_set=truth_ids)).to_numpy(
        zero_copy_only=False)  # float with NaN where a customer has no planted type
    names = np.asarray(types.dictionary.to_pylist() + ["unknown"], dtype=object)
    missing = np.isnan(codes) if codes.dtype.kind == "f" else np.zeros(len(codes), bool)
    # one Python string per type, shared by its customers: not one per customer
    return names[np.where(missing, len(names) - 1, np.nan_to_num(codes)).astype(np.int64)]
