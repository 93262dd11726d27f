"""Small file helpers used across the stages: atomic writes and reading a table by extension."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clustering.errors import ConfigError, DataError

TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".xlsx")


def check_name(name: str | None, setting: str) -> None:
    """``name`` becomes part of a file or folder name: no separators, no ``..``, nothing a
    file system reads as a path (``data.name='../../..'`` wrote reports outside reports/)."""
    if name is None:
        return
    text = str(name)
    if (not text.strip() or any(c in text for c in '/\\\0:') or ".." in text
            or text.strip() != text or not text.isprintable()):
        raise ConfigError(f"{setting}='{text}' becomes part of a folder name: use letters, digits, "
                          "spaces, '-', '_' or '.' (no '/', '\\', ':' or '..'), e.g. "
                          f"{setting}=shop-2024")


def check_not_an_input(output: str | Path, inputs: list[str], setting: str = "output") -> None:
    """Refuse an output that would overwrite one of the files a run reads (``make score``
    with output= the file being scored overwrote the transactions with the labels)."""
    out = Path(output).resolve()
    for f in inputs:
        if Path(f).resolve() == out:
            raise ConfigError(f"{setting}='{output}' is a file this run reads ({f}): write the "
                              "labels to another file, e.g. labels.parquet")


def check_writable(folder: str | Path, setting: str, given: str | None = None) -> Path:
    """Create ``folder`` and prove a file can be written in it, before any work is done."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{setting}={given or folder}: cannot write there "
                          f"({exc.strerror or exc}); "
                          "choose a folder you can write to") from None
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` only when the block
    succeeds, so a reader never sees a half-written file (removed on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:  # a full disk's write names no file: name the one being written
        if exc.filename is None:
            exc.filename = str(path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def plain_text(table: pa.Table, keep: list[str] | None = None) -> pa.Table:
    """``table`` with its dictionary-encoded columns as plain values: readers get text, not
    categories that refuse comparisons with another file's (Parquet's writer also falls back
    slowly from a dictionary of a million order ids). Text is taken from the dictionary
    (17 ms a million rows; a cast took 80-130 ms)."""
    columns = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if f.name in (keep or ()):
            pass
        elif pa.types.is_dictionary(f.type) and _is_text(f.type.value_type):
            col = pa.chunked_array([pc.take(c.dictionary.cast(pa.large_string()), c.indices)
                                    for c in col.chunks], pa.large_string())
        elif pa.types.is_dictionary(f.type):
            col = col.cast(f.type.value_type)
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names).replace_schema_metadata(
        table.schema.metadata)


def write_frame(df: pd.DataFrame | pa.Table, path: str | Path, delimiter: str = ",",
                decimal: str = ".") -> Path:
    """Parquet, CSV or an Excel workbook by extension, atomically; an Arrow table is written
    without going through pandas. A CSV is written in ``delimiter`` and ``decimal`` (a German
    Excel shows a ',' file as one column; with a decimal comma the delimiter is ';'), its
    numbers rounded to 4 decimals (0.4521585173730521 was noise)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"output '{path}': use a .parquet, .csv or .xlsx file name")
    if decimal == "," and delimiter == ",":
        delimiter = ";"
    with atomic_path(path) as tmp:
        if isinstance(df, pa.Table) and suffix not in (".csv", ".xlsx"):
            _write_parquet(df, tmp)
            return path
        if isinstance(df, pa.Table):
            df = plain_text(df).to_pandas()
        if suffix == ".csv":
            _rounded(df).to_csv(tmp, index=False, sep=delimiter, decimal=decimal)
        elif suffix == ".xlsx":
            _to_excel(df, tmp)
        else:
            _write_parquet(pa.Table.from_pandas(df, preserve_index=False), tmp)
    return path


def parquet_bytes(df: pd.DataFrame) -> bytes:
    """The Parquet file :func:`write_frame` writes for ``df``, in memory."""
    sink = pa.BufferOutputStream()
    _write_parquet(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


#: a text column with at most this many distinct values goes to Parquet as its dictionary
#: (Parquet's own dictionary encoding of it); a larger one as plain text
SMALL_DICTIONARY = 1 << 16


def _write_parquet(table: pa.Table, where) -> None:
    """``table`` as Parquet whose readers get text, not categories, for its categorical
    columns. Columns with a small dictionary are written as it is, without the Arrow schema
    that would make them categories again (the pandas metadata says text instead): a
    million customers' labels took 0.8 s and 440 MB more as text, 0.5 s and 160 MB this way.
    Without that schema, Arrow-only details of the other columns are not kept (a time zone's
    name: times read back in UTC); the label tables have none."""
    small = [pa.types.is_dictionary(f.type) and _is_text(f.type.value_type)
             and all(len(c.dictionary) <= SMALL_DICTIONARY for c in col.chunks)
             for f, col in zip(table.schema, table.columns, strict=True)]
    if not any(small):
        pq.write_table(plain_text(table), where)
        return
    meta = table.schema.metadata or {}
    table = plain_text(table, keep=[f.name for f, k in zip(table.schema, small, strict=True) if k])
    with pq.ParquetWriter(where, table.schema.remove_metadata(), store_schema=False) as writer:
        writer.write_table(table.replace_schema_metadata(None))
        if b"pandas" in meta:
            writer.add_key_value_metadata({"pandas": _as_text_in_pandas(meta[b"pandas"])})


def _as_text_in_pandas(pandas_meta: bytes) -> str:
    """pandas' metadata of a table with its categorical columns described as text."""
    meta = json.loads(pandas_meta)
    for c in meta.get("columns", []):
        if c.get("pandas_type") == "categorical":
            c.update(pandas_type="unicode", numpy_type="object", metadata=None)
    return json.dumps(meta)


def _rounded(df: pd.DataFrame, decimals: int = 4) -> pd.DataFrame:
    """The float columns rounded (for people: CSV and Excel; Parquet keeps every digit)."""
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    return df.round(dict.fromkeys(floats, decimals)) if floats else df.copy()


def _to_excel(df: pd.DataFrame, tmp: Path) -> None:
    """A workbook Excel opens as a table: typed numbers, dates without time zones, text as
    text (pandas' nullable types and Arrow strings as plain values)."""
    out = _rounded(df)
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_localize(None)
        elif not pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
        else:
            out[c] = out[c].astype(float) if out[c].hasnans else out[c]
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        out.to_excel(writer, index=False, sheet_name="labels")


def read_frame(path: str | Path, ids: tuple[str, ...] = ("customer_id",)) -> pd.DataFrame:
    """A Parquet (``.parquet``, ``.pq``), Excel (``.xlsx``) or otherwise CSV file as a
    DataFrame; a CSV in ';' with decimal commas (as the labels are written for European
    exports) is read as such; the ``ids`` columns are read as text, so "000001" stays."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".xlsx":
        return pd.read_excel(path, engine="calamine", dtype={c: str for c in ids})
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    european = header.count(";") > header.count(",")
    return pd.read_csv(path, dtype={c: str for c in ids}, sep=";" if european else ",",
                       decimal="," if european else ".")


def digest_files(files: list[str], chunk: int = 1 << 20) -> str:
    """SHA-256 over the files' names (relative order) and bytes: what the run was trained on."""
    h = hashlib.sha256()
    for f in files:
        h.update(os.path.basename(f).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()
