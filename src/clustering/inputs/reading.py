"""Files -> one DuckDB relation: every file of a folder or glob, whatever its format.

Files are grouped by how they are read (Parquet; text files of one encoding, delimiter and
``sep=`` line; Excel workbooks, converted to text Parquet); a group is one DuckDB reader over
its files. Several groups are stacked by column name, all as text, with the group's number in
``__g`` so that numbers and dates are parsed by each group's own dialect
(:mod:`clustering.inputs.dialect`). With more than one file, each row carries its file in ``__file``
for the per-file counts. Files a folder holds that are not tables (lock files, empty files,
other formats) are listed as skipped with the reason.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from clustering.errors import DataError
from clustering.inputs.dialect import (
    CONVERTED,
    TextDialect,
    as_utf8,
    excel_as_parquet,
    kind_of,
    number_sql,
    other_mark_values,
    skip_reason,
    sniff_date_format,
    sniff_decimal,
    sniff_text,
)
from clustering.inputs.return_flags import text_key
from clustering.inputs.sql import ident, literal, literals

FILE_COL = "__file"
GROUP_COL = "__g"


@dataclass
class Group:
    kind: str  # parquet (typed) | text (CSV-like, or a workbook's text Parquet)
    files: list[str]
    reader: str
    dialect: TextDialect | None = None
    read_paths: list[str] | None = None  # what DuckDB reads, when not ``files`` (workbooks)

    def file_reader(self, i: int) -> str:
        """A reader of the group's ``i``-th file alone."""
        path = (self.read_paths or self.files)[i]
        if self.kind == "parquet" or path.endswith(".parquet"):  # workbooks: converted
            return _parquet_reader([path], False)
        return _text_reader([path], self.dialect or TextDialect(), False)


@dataclass
class Inputs:
    """What was found at a path and the relation that reads it."""

    files: list[str]
    skipped: list[tuple[str, str]]
    groups: list[Group]
    relation: str
    present: dict[str, str]  # column -> DuckDB type (hidden columns excluded)
    notes: list[str] = field(default_factory=list)

    @property
    def grouped(self) -> bool:
        return len(self.groups) > 1

    @property
    def per_file(self) -> bool:
        return len(self.files) > 1

    def _file_reader(self, f: str) -> str:
        g = next(g for g in self.groups if f in g.files)
        return g.file_reader(g.files.index(f))

    def missing_by_file(self, con: duckdb.DuckDBPyConnection, names: list[str]
                        ) -> dict[str, tuple[list[str], list[str]]]:
        """File -> (which of ``names`` it lacks, its columns), for the files of a folder or
        glob that lack some: reading them by name would give those columns as empty. Names
        match regardless of case, as DuckDB's reading by name does."""
        out = {}
        for f in self.files:
            try:
                cols = con.sql(f"SELECT * FROM {self._file_reader(f)} LIMIT 0").columns
            except duckdb.Error as exc:
                raise read_error(exc, f) from None
            have = {c.lower() for c in cols}
            missing = [n for n in names if n.lower() not in have]
            if missing:
                out[f] = (missing, list(cols))
        return out

    def rows_of(self, con: duckdb.DuckDBPyConnection, f: str) -> int:
        """The rows of one file of the inputs."""
        return int(con.sql(f"SELECT count(*) FROM {self._file_reader(f)}").fetchall()[0][0])


def _subfolders(folder: Path) -> list[tuple[str, str]]:
    """The subfolders of ``folder`` that hold tables, as skipped with how to read them: an
    ``archive/`` with last year's exports was left out without a word."""
    out = []
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        tables = [f for f in sub.rglob("*") if f.is_file() and skip_reason(f) is None]
        if tables:
            out.append((str(sub), f"a subfolder with {len(tables)} table file(s), not read: "
                                  f"data.path='{folder}/**/*' reads subfolders too"))
    return out


def list_files(path: str, what: str = "transactions") -> tuple[list[str], list[tuple[str, str]]]:
    """The table files at a file, folder or glob, and the files skipped there with why."""
    p = Path(path)
    if p.is_dir():
        candidates = sorted(f for f in p.iterdir() if f.is_file())
    elif any(c in path for c in "*?["):
        candidates = sorted(Path(f) for f in glob.glob(path, recursive=True) if Path(f).is_file())
    elif p.is_file():
        if p.stat().st_size == 0:
            raise DataError(f"{what}: {p} is empty (0 bytes): export it again")
        return [str(p)], []
    else:
        candidates = []
    files, skipped = [], _subfolders(p) if p.is_dir() else []
    for f in candidates:
        reason = skip_reason(f)
        (skipped.append((str(f), reason)) if reason else files.append(str(f)))
    if not files:
        detail = (f"; skipped {len(skipped)}: " + "; ".join(f"{Path(f).name} ({r})"
                                                            for f, r in skipped[:5])
                  if skipped else "")
        raise DataError(f"{what}: no input files at '{path}'{detail}. Give a CSV, Parquet or "
                        "Excel file, a folder of them or a glob (data.path=...).")
    return files, skipped


def _flist(files: list[str]) -> str:
    return "[" + ", ".join(literal(f) for f in files) + "]"


def _text_reader(files: list[str], d: TextDialect, per_file: bool) -> str:
    opts = ["header=true", "all_varchar=true", "union_by_name=true"]
    if d.ragged:
        opts.append("null_padding=true")
        if d.quoted_newlines:
            opts.append("parallel=false")
    if d.delimiter:
        opts.append(f"delim={literal(d.delimiter)}")
    if d.skip:
        opts.append(f"skip={d.skip}")
    if d.encoding != "utf-8":
        opts.append(f"encoding={literal(d.encoding)}")
    if per_file:
        opts.append(f"filename={literal(FILE_COL)}")
    return f"read_csv({_flist(files)}, {', '.join(opts)})"


def _parquet_reader(files: list[str], per_file: bool) -> str:
    extra = f", filename={literal(FILE_COL)}" if per_file else ""
    return f"read_parquet({_flist(files)}, union_by_name=true{extra})"


def _named(reader: str, copies: list[str], files: list[str], per_file: bool) -> str:
    """``reader`` of converted ``copies`` with each row's file named as the original one."""
    if not per_file:
        return reader
    cases = " ".join(f"WHEN {literal(c)} THEN {literal(f)}" for c, f in zip(copies, files, strict=True))
    return f"(SELECT * REPLACE (CASE {FILE_COL} {cases} END AS {FILE_COL}) FROM {reader})"


def open_inputs(con: duckdb.DuckDBPyConnection, path: str, fmt: str = "auto",
                delimiter: str | None = None, encoding: str = "auto",
                what: str = "transactions") -> Inputs:
    """Find, sniff and group the files at ``path``; ``fmt`` names the format of files whose
    name does not tell (``csv``, ``parquet``, ``excel``)."""
    files, skipped = list_files(path, what)
    per_file = len(files) > 1
    text: dict[tuple, tuple[TextDialect, list[str]]] = {}
    parquet, excel = [], []
    notes: list[str] = []
    for f in files:
        kind = kind_of(f) or (fmt if fmt in ("csv", "parquet", "excel") else "csv")
        if kind == "parquet":
            parquet.append(f)
        elif kind == "excel":
            excel.append(f)
        else:
            d = sniff_text(f, encoding, delimiter)
            notes += d.notes
            text.setdefault(d.key(), (d, []))[1].append(f)
    groups = [Group("parquet", parquet, _parquet_reader(parquet, per_file))] if parquet else []
    for d, fs in text.values():
        if d.encoding in CONVERTED:  # read as a UTF-8 copy (dialect.as_utf8)
            copies, d = [as_utf8(f, d.encoding) for f in fs], replace(d, encoding="utf-8")
            groups.append(Group("text", fs, _named(_text_reader(copies, d, per_file), copies,
                                                   fs, per_file), d, copies))
        else:
            groups.append(Group("text", fs, _text_reader(fs, d, per_file), d))
    if excel:
        converted = []
        for f in excel:
            path_f, sheet_notes = excel_as_parquet(f)
            converted.append(path_f)
            notes += sheet_notes
        reader = _named(_parquet_reader(converted, per_file), converted, excel, per_file)
        groups.append(Group("text", excel, reader, TextDialect(), converted))
    if len(groups) == 1:
        relation = groups[0].reader
    else:
        relation = "(" + " UNION ALL BY NAME ".join(
            f"SELECT COLUMNS(*)::VARCHAR, {i} AS {GROUP_COL} FROM {g.reader}"
            for i, g in enumerate(groups)) + ")"
    where = files[0] if len(files) == 1 else f"{path} ({len(files)} files)"
    try:
        rel = con.sql(f"SELECT * FROM {relation} LIMIT 0")
    except duckdb.Error as exc:
        raise read_error(exc, where) from None
    present = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)
               if c not in (FILE_COL, GROUP_COL)}
    return Inputs(files, skipped, groups, relation, present, notes)


class Parsers:
    """Number and date parsing by each file group's dialect (decimal mark, date format):
    given by the settings or sniffed from the group's values."""

    def __init__(self, con, inputs: Inputs, mapped: dict[str, str], source,
                 where: str) -> None:
        self.inputs, self.notes, self.warnings = inputs, [], []
        self.source_date_format = source.date_format
        self.decimals: list[str] = []
        self.date_formats: list[list[str | None]] = []  # per group, in order (None: ISO)
        numeric = [mapped[r] for r in ("amount", "quantity", "unit_price") if r in mapped]
        for g in inputs.groups:
            if g.kind == "parquet":  # typed (or the typed group of a mixed folder)
                self.decimals.append(".")
                self.date_formats.append([None])
                continue
            cols = [ident(c) for c in numeric]
            if source.decimal:
                decimal = source.decimal
            else:
                decimal, why = sniff_decimal(con, g.reader, cols, g.dialect.delimiter)
                if decimal == "," or "ambiguous" in why or "thousands" in why:
                    self.notes.append(f"numbers: {why} (set data.decimal to override)")
            self.decimals.append(decimal)
            self.warnings += _other_marks(con, g, cols, decimal, where)
            if source.date_format:
                check_date_format(con, source.date_format, "data.date_format")
            formats = ([source.date_format] if source.date_format else sniff_date_format(
                con, g.reader, ident(mapped["timestamp"]), where))
            if any(formats) and not source.date_format:
                self.notes.append("dates: read as " + ", then ".join(
                    f"'{f}'" if f else "ISO 8601" for f in formats)
                    + " (sniffed; set data.date_format to override)")
            self.date_formats.append(formats or [None])

    def _per_group(self, exprs: list[str]) -> str:
        if len(exprs) == 1:
            return exprs[0]
        return ("(CASE " + GROUP_COL + " " + " ".join(f"WHEN {i} THEN {e}"
                                                      for i, e in enumerate(exprs)) + " END)")

    def number(self, col: str, name: str) -> str:
        typed = self.inputs.present.get(name, "VARCHAR") != "VARCHAR"
        return self._per_group([f"TRY_CAST({col} AS DOUBLE)" if typed else number_sql(col, d)
                                for d in self.decimals])

    def date(self, col: str, name: str) -> str:
        kind = self.inputs.present.get(name, "VARCHAR")
        if kind.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({col} AS TIMESTAMP)"  # with a time zone: in UTC (duckdb_connection)
        if kind != "VARCHAR":  # a number: its digits with the given format, else by its size
            fmt = self.source_date_format
            if fmt:
                return f"TRY_STRPTIME(CAST(TRY_CAST({col} AS BIGINT) AS VARCHAR), {literal(fmt)})"
            self.notes.append(f"dates: the numbers in '{name}' read as yyyymmdd (19970101), "
                              "Unix epoch seconds or milliseconds, by their size (set "
                              "data.date_format for other digits, e.g. '%Y%m%d%H%M%S')")
            return numeric_date_sql(col)
        return self._per_group([date_sql(f"trim({col})", formats)
                                for formats in self.date_formats])

    def first_format(self) -> str | None:
        """The main date format (for messages): the given one, else the first sniffed."""
        return self.source_date_format or next(
            (f for formats in self.date_formats for f in formats if f), None)


def _other_marks(con, group: Group, cols: list[str], decimal: str, where: str) -> list[str]:
    """A warning naming the values written with the other decimal mark (two shops' exports
    merged): each is read by its own mark, and the user should know the file mixes them."""
    n, example = other_mark_values(con, group.reader, cols, decimal)
    if not n:
        return []
    mark, other = ("comma", "point") if decimal == "," else ("point", "comma")
    name = where if len(group.files) > 1 else group.files[0]
    return [f"{name}: {n:,} number(s) written with a decimal {other} (e.g. '{example}') in a "
            f"file read with a decimal {mark}: each read by its own mark ('{example}' is "
            f"{_as_other(example, decimal)}); check the export if the marks should not mix"]


def _as_other(value: str, decimal: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit() or ch in ".,")
    digits = digits.replace(",", "") if decimal == "," else digits.replace(".", "").replace(",", ".")
    try:
        return f"{float(digits):g}"
    except ValueError:
        return value


def date_sql(text: str, formats: list[str | None]) -> str:
    """The first of ``formats`` (None: ISO 8601) that reads ``text``: consecutive formats
    go to one TRY_STRPTIME, which tries them in order."""
    parts: list[str] = []
    for f in formats or [None]:
        if f is None:  # an offset (+0100, -02:00, Z) is applied: the time is read in UTC
            parts.append(f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)")
        elif parts and parts[-1].startswith("TRY_STRPTIME"):
            parts[-1] = parts[-1][:-2] + f", {literal(f)}])"
        else:
            parts.append(f"TRY_STRPTIME({text}, [{literal(f)}])")
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def numeric_date_sql(col: str) -> str:
    """A number as a date by its size: yyyymmdd (1900..2199), Unix epoch seconds (1973..5138)
    or milliseconds; anything else (day counts, Excel serial dates) is no date."""
    v = f"TRY_CAST({col} AS DOUBLE)"
    return (f"(CASE WHEN {v} BETWEEN 19000101 AND 21991231 THEN TRY_STRPTIME("
            f"CAST(CAST({v} AS BIGINT) AS VARCHAR), '%Y%m%d') "
            f"WHEN {v} >= 1e8 AND {v} < 1e11 THEN make_timestamp(CAST({v} * 1e6 AS BIGINT)) "
            f"WHEN {v} >= 1e11 AND {v} < 1e14 THEN make_timestamp(CAST({v} * 1e3 AS BIGINT)) END)")


def check_date_format(con: duckdb.DuckDBPyConnection, fmt: str, key: str) -> None:
    """Fail in one line when ``fmt`` is not a strptime format DuckDB knows."""
    try:
        con.execute("SELECT TRY_STRPTIME('2024-01-01', $f)", {"f": fmt}).fetchall()
    except duckdb.Error as exc:
        why = str(exc).splitlines()[0].split(": ", 1)[-1]
        raise DataError(f"{key}='{fmt}' is not a date format ({why}). Use strptime codes: "
                        "'%d/%m/%Y %H:%M' for '31/12/2024 13:05', '%Y%m%d' for '20241231'; "
                        "epoch seconds in a number column are read without a format.") from None


def read_error(exc: Exception, where: str) -> DataError:
    """A DuckDB reading error as one clear message with the likely fix."""
    text = str(exc)
    first = next((ln for ln in text.splitlines() if ln.strip()), text).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith("Line")), "")
    low = text.lower()  # (every CSV error lists "Encoding: utf-8" among the options it tried)
    if "maximum line size of" in low:
        size = re.search(r"actual size:\s*(\d+)", low)
        start = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                      if ln.startswith("Original Line:")), "")
        mb = f"{int(size.group(1)) / 1e6:.1f} MB" if size else "longer than 2 MB"
        return DataError(f"{where}: a line is {mb} long, more than the 2 MB a line may have "
                         f"(it starts '{start[:60]}...'): a field holds a whole document, or a "
                         "quote opened there never closes. Shorten or drop that field in the "
                         "export, or close the quote.")
    if "invalid unicode" in low or "invalid utf-8" in low or "not valid utf-8" in low:
        return DataError(f"{where}: the file is not valid UTF-8 ({first}). Set data.encoding "
                         "to its encoding, e.g. data.encoding=cp1252 (Windows, Latin-1).")
    return DataError(f"{where}: cannot read the file: {first}{' (' + line + ')' if line else ''}."
                     " Check data.delimiter, data.encoding and the header row.")


def profit_sql(amount: str, cost: str | None, margins: dict[str, float] | None,
                category: str | None, where: str) -> str | None:
    """Profit of a line: amount minus its cost (a return gives its cost back), else amount x
    the margin rate of its category (``margins``; "default" for the other categories)."""
    if cost is not None:
        return f"({amount} - sign({amount}) * abs({cost}))"
    if not margins:
        return None
    rates = {str(k): float(v) for k, v in margins.items()}
    default = rates.pop("default", None)
    if rates and category is None:
        raise DataError(f"{where}: the margin rates (data.margins, or the model's when scoring) "
                        "are per category, but no category column is mapped "
                        "(data.columns.category); or give only a default rate")
    # categories matched as the customers' attributes are: ignoring case and outer spaces
    cases = " ".join(f"WHEN '{margin_key(k).replace(chr(39), chr(39) * 2)}' THEN {v}"
                     for k, v in rates.items())
    rate = (f"(CASE {text_key(category)} {cases} "
            f"ELSE {default if default is not None else 'NULL'} END)" if rates else str(default))
    return f"({amount} * {rate})"


def margin_key(category: str) -> str:
    """How a category is matched to its margin rate: lower case, outer spaces trimmed."""
    return str(category).strip().lower()


def unrated_categories(con, view: str, category: str, margins: dict[str, float],
                       where: str) -> list[str]:
    """A warning when lines have a category that ``margins`` has no rate for: their profit is
    the default rate's guess, or missing without one (it used to be silent)."""
    rates = {margin_key(k) for k in margins if str(k) != "default"}
    if not rates:
        return []
    keys = literals(sorted(rates))
    rows = con.execute(  # per category as matched (a spelling for each), most lines first
        f"SELECT min(CAST({category} AS VARCHAR)) AS c, count(*) AS n FROM {view} "
        f"WHERE {category} IS NOT NULL AND {text_key(category)} NOT IN ({keys}) "
        f"GROUP BY {text_key(category)} ORDER BY 2 DESC, 1").fetchall()
    if not rows:
        return []
    lines = sum(n for _, n in rows)
    default = margins.get("default")
    fate = (f"their profit uses the default rate {float(default):g}" if default is not None
            else "they have no profit (add a rate, or a 'default' one)")
    shown = ", ".join(f"'{c}' ({n:,})" for c, n in rows[:5])
    return [f"{where}: {lines:,} lines in {len(rows)} categor{'y' if len(rows) == 1 else 'ies'} "
            f"without a margin rate in data.margins: {shown}{', ...' if len(rows) > 5 else ''}; "
            f"{fate}."]
