"""How an export is written: which files of a folder to read, their encoding, delimiter,
decimal mark and date format, found by sniffing with a setting to override each.

Real exports from ERPs, shops and Excel differ from clean CSV in ways that must never lose rows
silently: ``;`` with a decimal comma (the usual European export), thousands separators of both
styles, currency symbols, Excel's ``sep=;`` first line, a BOM, UTF-16, Latin-1, gzip, ``.xlsx``
workbooks, and footers (a TOTAL row, "Exported by ..."). Footers are read as rows and
quarantined by the checks with a reason, never a reason to reject the file.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import gzip
import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from clustering.errors import DataError
from clustering.inputs.sql import literal

CSV_EXTS = (".csv", ".tsv", ".txt")
PARQUET_EXTS = (".parquet", ".pq")
EXCEL_EXTS = (".xlsx", ".xlsm", ".xls")
DELIMITERS = (",", ";", "\t", "|")
PROBE_BYTES = 1 << 20

#: tried when the date column is not ISO 8601; day-first before month-first
DATE_FORMATS = (
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y", "%d.%m.%y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y", "%d/%m/%y %H:%M",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y", "%m/%d/%y %H:%M",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%d-%m-%y", "%Y/%m/%d", "%Y%m%d",
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p",  # US exports with a 12-hour clock
    "%d/%m/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M %p",  # ... and British ones
    # month names (English): unambiguous
    "%d-%b-%Y", "%d-%b-%Y %H:%M:%S", "%d-%b-%y", "%d %b %Y", "%b %d, %Y", "%d %B %Y",
    "%B %d, %Y",
)
#: years a transaction can have: '12.01.24' read with %Y is the year 24, so it counts for %y
PLAUSIBLE_YEARS = (1900, 2200)


#: how a tab is written on a command line or in YAML, where a real tab is hard to type
TAB_NAMES = ("\\t", "tab", "TAB", "Tab")


def delimiter_of(given: str | None) -> str | None:
    """The delimiter a setting means: ``'\\t'`` (backslash t, as typed in a shell) or
    ``tab`` is the tab character; anything else as given."""
    return "\t" if given in TAB_NAMES else given


def kind_of(path: str) -> str | None:
    """``csv``, ``parquet``, ``excel`` or None (not a table) from the file name."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(PARQUET_EXTS):
        return "parquet" if not path.lower().endswith(".gz") else None
    if name.endswith(EXCEL_EXTS):
        return "excel" if not path.lower().endswith(".gz") else None
    if name.endswith(CSV_EXTS):
        return "csv"
    return None


def skip_reason(path: Path) -> str | None:
    """Why a file of a folder is not read (None: read it)."""
    name = path.name
    if name.startswith(("~$", ".~lock")) or name.endswith("#"):
        return "an editor's lock file"
    if name.startswith("."):
        return "a hidden file"
    if kind_of(name) is None:
        return "not a table (csv, tsv, txt, parquet, xlsx; .gz for text)"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    return None


@dataclass
class TextDialect:
    """How a text file is written (what DuckDB's reader needs)."""

    encoding: str = "utf-8"
    delimiter: str | None = None
    skip: int = 0
    ragged: bool = False  # lines with fewer fields than the header (footers): padded with NULL
    quoted_newlines: bool = False  # then DuckDB cannot pad in parallel
    notes: list[str] = field(default_factory=list)

    def key(self) -> tuple:
        return (self.encoding, self.delimiter, self.skip, self.ragged, self.quoted_newlines)


_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "utf-8-sig": "utf-8", "latin1": "cp1252",
              "latin-1": "cp1252", "iso-8859-1": "cp1252", "iso8859-1": "cp1252",
              "cp1252": "cp1252", "windows-1252": "cp1252", "utf16": "utf-16",
              "utf-16": "utf-16", "utf-16le": "utf-16", "utf-16be": "utf-16",
              "cp1251": "cp1251", "windows-1251": "cp1251"}
#: read through a UTF-8 copy (DuckDB reads only UTF-8, UTF-16 and Latin-1 without extensions);
#: ``utf-8-mixed``: UTF-8 with a few stray Windows-1252 bytes (a shop's Latin-1 lines pasted in)
CONVERTED = ("cp1252", "cp1251", "utf-8-mixed")
#: Windows-1252 over Latin-1: the bytes 0x80-0x9F are the euro sign and typographic quotes
#: (Latin-1's control characters there never occur in exports; the five bytes Windows-1252
#: leaves undefined stay as Latin-1 reads them)
_CP1252 = {b: (bytes([b]).decode("cp1252", errors="ignore") or chr(b)) for b in range(0x80, 0xA0)}


_converted: Path | None = None


def _converted_path(path: str, suffix: str) -> Path:
    """Where the converted copy of ``path`` goes: a folder of this run's conversions (removed
    at exit), named by the file's path, size and modification time."""
    global _converted
    if _converted is None:
        _converted = Path(tempfile.mkdtemp(prefix="segmentation-inputs-"))
        atexit.register(shutil.rmtree, _converted, True)
    stat = Path(path).stat()
    key = hashlib.sha1(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return _converted / f"{key.hexdigest()[:16]}{suffix}"


def _stray_as_cp1252(err: UnicodeDecodeError) -> tuple[str, int]:
    """A byte that is not UTF-8 read as Windows-1252 (a Latin-1 line in a UTF-8 file)."""
    return err.object[err.start:err.end].decode("latin-1").translate(_CP1252), err.end


codecs.register_error("segmentation-cp1252", _stray_as_cp1252)


def _decoder(encoding: str):
    if encoding == "utf-8-mixed":
        return codecs.getincrementaldecoder("utf-8")(errors="segmentation-cp1252")
    if encoding == "cp1252":
        return _Cp1252Decoder()
    return codecs.getincrementaldecoder(encoding)()


class _Cp1252Decoder:
    """Windows-1252 with the five bytes it leaves undefined read as Latin-1 does."""

    def decode(self, data: bytes, final: bool = False) -> str:
        return data.decode("latin-1").translate(_CP1252)


def _open_bytes(path: str):
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def as_utf8(path: str, encoding: str = "cp1252") -> str:
    """A text file (gzipped or not) in one of :data:`CONVERTED` as a UTF-8 copy, made once per
    run: DuckDB reads Latin-1 but rejects the bytes Windows adds to it (the euro sign, quotes),
    and reads no Windows-1251 (Russian 1C exports) nor a UTF-8 file with stray bytes."""
    out = _converted_path(path, f".{encoding}.csv")
    if out.exists():
        return str(out)
    part = out.with_suffix(".part")
    decoder = _decoder(encoding)
    with _open_bytes(path) as src, open(part, "wb") as dst:
        while chunk := src.read(1 << 24):
            dst.write(decoder.decode(chunk).encode("utf-8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    part.replace(out)
    return str(out)


_STRAY = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape reads it


def _utf8_stray_bytes(path: str) -> tuple[int, int, int]:
    """(bytes that are not UTF-8, bytes of valid multi-byte characters beyond their first, the
    line of the first stray byte) over the whole file: a few stray bytes among valid umlauts
    are a pasted Latin-1 line, not a reason to read every umlaut as Windows-1252. A valid file
    is read once at the decoder's speed; only a file with a stray byte is counted."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with _open_bytes(path) as src:
            while chunk := src.read(1 << 24):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        return 0, 0, 0
    except UnicodeDecodeError:
        pass
    strays = extra = first = lines = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    with _open_bytes(path) as src:
        while True:
            chunk = src.read(1 << 24)
            text = decoder.decode(chunk, final=not chunk)
            extra += len(chunk) - len(text)
            if (m := _STRAY.search(text)) is not None:
                first = first or lines + text.count("\n", 0, m.start()) + 1
                strays += len(_STRAY.findall(text))
            lines += text.count("\n")
            if not chunk:
                return strays, extra, first


def _head_and_tail(path: str) -> tuple[bytes, bytes]:
    """The first MB and (uncompressed files) the last 64 kB: footers are at the end."""
    with open(path, "rb") as f:
        start = f.read(2)
    if start == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            return f.read(PROBE_BYTES), b""
    with open(path, "rb") as f:
        head = f.read(PROBE_BYTES)
        size = f.seek(0, 2)
        if size <= PROBE_BYTES:
            return head, b""
        f.seek(max(PROBE_BYTES, size - (1 << 16)))
        tail = f.read()
    return head, tail[tail.find(b"\n") + 1:]


def _shape(lines: list[str], delimiter: str) -> tuple[bool, bool]:
    """(some line has fewer fields than the first, some quoted field spans lines)."""
    rows = list(csv.reader(lines, delimiter=delimiter))
    width = len(rows[0]) if rows else 0
    short = any(0 < len(r) < width for r in rows[1:])
    spans = any("\n" in v or "\r" in v for r in rows for v in r)
    return short, spans


def _text(data: bytes, encoding: str) -> str:
    if encoding in CONVERTED:
        return _decoder(encoding).decode(data, final=True)
    return data.decode(encoding, errors="replace")


def _cyrillic(data: bytes) -> bool:
    """Windows-1251 rather than -1252: the letters of Cyrillic words are runs of high bytes
    ("Иванов" is six), accented Latin letters mostly stand alone among ASCII ("Müller")."""
    high = len(re.findall(rb"[\xc0-\xff]", data))
    in_runs = sum(len(r) for r in re.findall(rb"[\xc0-\xff]{2,}", data))
    return high > 0 and in_runs > high / 2


def _sniff_encoding(path: str, head: bytes, notes: list[str]) -> str:
    """UTF-8; UTF-8 with a few stray bytes (read as Windows-1252 there); else Windows-1251
    (Cyrillic) or Windows-1252 (Latin-1 with the euro sign), with a note saying which."""
    strays, multibyte, line = _utf8_stray_bytes(path)
    name = Path(path).name
    if not strays:
        return "utf-8"
    if multibyte:
        notes.append(f"{name}: {strays:,} byte(s) are not UTF-8 (the first on line {line}): read "
                     "as Windows-1252 there, the rest of the file as UTF-8 (set data.encoding to "
                     "override)")
        return "utf-8-mixed"
    if _cyrillic(head):
        notes.append(f"{name}: not UTF-8 (line {line}), read as Windows-1251 (Cyrillic; set "
                     "data.encoding to override)")
        return "cp1251"
    notes.append(f"{name}: not UTF-8 (line {line}), read as Windows-1252 (Latin-1 with the euro "
                 "sign; set data.encoding to override)")
    return "cp1252"


def _check_quotes(path: str, lines: list[str], delimiter: str, whole: bool) -> None:
    """Stop when a quote opens a field and never closes: every line after it would be one
    field, and DuckDB's sniffer fails with a page of options. Decided on the whole file when it
    fits the probe, else when the open field runs over a thousand lines of it (real quoted
    fields hold a few line breaks, not the rest of an export)."""
    reader = csv.reader(lines, delimiter=delimiter)
    start, last = 1, None
    for row in reader:
        last = (start, row)
        start = reader.line_num + 1
    if last is None:
        return
    opened, row = last
    if not any("\n" in v or "\r" in v for v in row):
        return
    try:  # a field that spans lines and is closed is fine
        list(csv.reader(lines[opened - 1:], delimiter=delimiter, strict=True))
        return
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return
    if whole or len(lines) - opened > 1000:
        raise DataError(f"{path}: line {opened} (of the non-blank lines) opens a quote (\") "
                        f"that never closes, so every line after it would be one field: close "
                        f"or remove that quote in the export (the line starts "
                        f"'{lines[opened - 1].strip()[:60]}')")


def _duplicated_names(name: str, header: str, delimiter: str) -> list[str]:
    """A note per column name the header line repeats, saying which column each is read as:
    DuckDB reads them as ``amount``, ``amount_1`` ... (names match regardless of case)."""
    names = next(csv.reader([header], delimiter=delimiter), [])
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        seen.setdefault(n.strip().lower(), []).append(i)
    notes = []
    for positions in (p for p in seen.values() if len(p) > 1):
        first = names[positions[0]].strip()
        read_as = [first] + [f"{first}_{k}" for k in range(1, len(positions))]
        notes.append(f"{name}: the header names '{first}' {len(positions)} times (columns "
                     f"{', '.join(str(i + 1) for i in positions)}): read as "
                     f"{', '.join(repr(r) for r in read_as)}, so data.columns mapped to '{first}' "
                     f"use column {positions[0] + 1}; map another, e.g. '{read_as[1]}', if it "
                     "is the right one")
    return notes


def sniff_text(path: str, encoding: str = "auto", delimiter: str | None = None) -> TextDialect:
    """Encoding (BOM, else UTF-8 if it decodes, else Latin-1), Excel's ``sep=`` line and the
    delimiter (the candidate most frequent in the header line) of a text file."""
    head, tail = _head_and_tail(path)
    d = TextDialect()
    if encoding and encoding.lower() != "auto":
        name = encoding.lower()
        if name not in _ENCODINGS:
            raise DataError(f"data.encoding={encoding}: not supported; use utf-8, utf-16, "
                            "cp1252 (Windows-1252; also for latin-1), cp1251 (Windows-1251, "
                            "Cyrillic) or auto")
        d.encoding = _ENCODINGS[name]
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        d.encoding = "utf-16"
    else:
        d.encoding = _sniff_encoding(path, head, d.notes)
    text = _text(head, d.encoding).lstrip("\ufeff")
    if len(head) == PROBE_BYTES:  # a cut line is not a short line
        text = text[: text.rfind("\n") + 1]
    lines = [ln for ln in text.splitlines(keepends=True) if ln.strip()]
    if lines and (m := re.fullmatch(r'"?sep=(.)"?,*\s*', lines[0].strip(), re.IGNORECASE)):
        d.skip = 1
        d.delimiter = delimiter or m.group(1)
        lines = lines[1:]
    elif delimiter:
        d.delimiter = delimiter
    elif lines:
        header = re.sub(r'"[^"]*"', "", lines[0])
        counts = {c: header.count(c) for c in DELIMITERS}
        best = max(counts, key=counts.get)
        d.delimiter = best if counts[best] else None
    tail_lines = [ln for ln in _text(tail, d.encoding).splitlines(keepends=True) if ln.strip()]
    if lines and d.delimiter:
        _check_quotes(path, lines, d.delimiter, whole=len(head) < PROBE_BYTES)
        d.notes += _duplicated_names(Path(path).name, lines[0], d.delimiter)
        short, spans = _shape(lines, d.delimiter)
        tail_short = any(0 < len(r) < len(next(csv.reader(lines[:1], delimiter=d.delimiter)))
                         for r in csv.reader(tail_lines, delimiter=d.delimiter))
        d.ragged, d.quoted_newlines = short or tail_short, spans
    return d


def excel_as_parquet(path: str) -> tuple[str, list[str]]:
    """An ``.xlsx`` workbook as a Parquet file of text columns (integral numbers without
    ``.0``, so ids keep their digits; dates in ISO 8601), converted once per run, and notes.
    Every sheet with the first sheet's columns is read (exports split years over sheets, as
    the UCI Online Retail II workbook does); other sheets are named as skipped."""
    import pandas as pd  # noqa: PLC0415

    out = _converted_path(path, ".parquet")
    notes_file = out.with_suffix(".notes")
    if out.exists():
        return str(out), notes_file.read_text().splitlines() if notes_file.exists() else []
    try:
        sheets = pd.read_excel(path, engine="calamine", dtype=object, sheet_name=None)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's
        raise DataError(f"{path}: cannot read the workbook ({type(exc).__name__}: {exc}). "
                        "Save it again as .xlsx or export it as CSV.") from None
    names = list(sheets)
    first = [str(c) for c in sheets[names[0]].columns]
    same = [n for n in names if [str(c) for c in sheets[n].columns] == first]
    notes = []
    if len(same) > 1:
        notes.append(f"{Path(path).name}: sheets {', '.join(repr(n) for n in same)} read as one "
                     "table")
    notes += [f"{Path(path).name}: sheet '{n}' skipped: its columns differ from sheet "
              f"'{names[0]}'" for n in names if n not in same and len(sheets[n].columns)]
    df = pd.concat([sheets[n] for n in same], ignore_index=True) if len(same) > 1 else sheets[names[0]]

    def text(v):
        if v is None or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if hasattr(v, "isoformat"):
            return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
        return str(v)

    df.columns = [str(c) for c in df.columns]
    df = df.apply(lambda col: col.map(text)).astype("string")
    df.to_parquet(out, index=False)
    notes_file.write_text("\n".join(notes))
    return str(out), notes


#: a value whose last mark is unambiguously the other decimal mark: followed by 1-2 or 4+
#: digits (a thousands group has 3), no later mark; ``12.50`` in a decimal-comma file
OTHER_MARK = {",": "[0-9][.]([0-9]{1,2}|[0-9]{4,})[^0-9.,]*$",
              ".": "[0-9],([0-9]{1,2}|[0-9]{4,})[^0-9.,]*$"}


def _cleaned(col: str, decimal: str) -> str:
    """``col`` read with ``decimal`` as the decimal mark (the other mark: thousands)."""
    digits = f"regexp_replace({col}, '[^0-9.,]', '', 'g')"
    if decimal == ",":
        plain = f"replace(replace({digits}, '.', ''), ',', '.')"
    else:
        plain = f"replace({digits}, ',', '')"
    sign = (f"(CASE WHEN {col} LIKE '%-%' OR trim({col}) LIKE '(%)' OR upper(trim({col})) "
            "LIKE '%_CR' THEN -1 ELSE 1 END)")
    return f"({sign} * TRY_CAST(nullif({plain}, '') AS DOUBLE))"


def number_sql(col: str, decimal: str) -> str:
    """SQL turning the text ``col`` into a DOUBLE: currency symbols, spaces and apostrophes
    dropped, thousands separators removed, ``decimal`` as the decimal mark; ``-`` before or
    after the number, accounting parentheses ``(12.50)`` and a credit suffix ``12.50 CR`` make
    it negative (``DR``, debit, stays positive). The mark is decided per value where the value
    says it (:data:`OTHER_MARK`: ``12.50`` in a decimal-comma file of two merged shops was
    1250); ``1.234`` follows ``decimal``."""
    other = "." if decimal == "," else ","
    parsed = (f"(CASE WHEN regexp_matches({col}, '{OTHER_MARK[decimal]}') "
              f"THEN {_cleaned(col, other)} ELSE {_cleaned(col, decimal)} END)")
    if decimal == ",":  # Excel's 2,6012E+03: the exponent is no digit, its minus no sign
        sci = f"regexp_matches({col}, '^\\s*[-+]?[0-9]+(,[0-9]+)?[eE][-+]?[0-9]+\\s*$')"
        return (f"(CASE WHEN contains(upper({col}), 'E') AND {sci} "
                f"THEN TRY_CAST(replace(trim({col}), ',', '.') AS DOUBLE) ELSE {parsed} END)")
    # plain numbers take the fast cast; only what it cannot read goes through the cleaning
    return f"coalesce(TRY_CAST({col} AS DOUBLE), {parsed})"


def other_mark_values(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str],
                      decimal: str) -> tuple[int, str | None]:
    """How many values of the text ``columns`` are written with the other decimal mark than
    ``decimal`` (read as such by :func:`number_sql`), and one of them: counted over the whole
    file only when a sample has any (the common file has none, and pays one sample)."""
    if not columns:
        return 0, None
    pattern = literal(OTHER_MARK[decimal])

    def count(limit: str) -> tuple[int, str | None]:
        values = " UNION ALL ".join(
            f"(SELECT CAST({c} AS VARCHAR) AS v FROM {relation} WHERE {c} IS NOT NULL{limit})"
            for c in columns)
        n, example = con.execute(
            f"SELECT count(*) FILTER (WHERE regexp_matches(v, {pattern})), "
            f"any_value(v) FILTER (WHERE regexp_matches(v, {pattern})) FROM ({values})"
        ).fetchall()[0]
        return int(n), example

    n, example = count(" LIMIT 20000")
    return count("") if n else (0, None)


def sniff_decimal(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str],
                  delimiter: str | None) -> tuple[str, str]:
    """The decimal mark of the text ``columns`` and why: the mark after the last thousands
    group, before 1-2 (or 4+) trailing digits, or after a leading zero ("0.750": no thousands
    group starts with 0) wins; 3 trailing digits alone are ambiguous ("1,234"), then a ``;``
    delimiter means a decimal comma."""
    if not columns:
        return ".", "no text numbers"
    values = " UNION ALL ".join(
        f"(SELECT CAST({c} AS VARCHAR) AS v FROM {relation} WHERE {c} IS NOT NULL LIMIT 20000)"
        for c in columns)
    comma, point, ambiguous, example = con.execute(f"""
        SELECT count(*) FILTER (WHERE regexp_matches(v, '\\.\\d{{3}},\\d+\\D*$')
                                   OR regexp_matches(v, ',(\\d{{1,2}}|\\d{{4,}})\\D*$')
                                   OR regexp_matches(v, '^\\D*0,\\d+\\D*$')),
               count(*) FILTER (WHERE regexp_matches(v, ',\\d{{3}}\\.\\d+\\D*$')
                                   OR regexp_matches(v, '\\.(\\d{{1,2}}|\\d{{4,}})\\D*$')
                                   OR regexp_matches(v, '^\\D*0\\.\\d+\\D*$')),
               count(*) FILTER (WHERE regexp_matches(v, '^\\D*\\d{{1,3}}[.,]\\d{{3}}\\D*$')),
               any_value(v) FILTER (WHERE regexp_matches(v, '^\\D*\\d{{1,3}}[.,]\\d{{3}}\\D*$'))
        FROM ({values})""").fetchall()[0]
    if comma > point:
        return ",", f"decimal comma in {comma:,} values"
    if point > comma or not ambiguous:
        return ".", "decimal point"
    if delimiter == ";":
        return ",", (f"values such as '{example}' with a ';' delimiter read with a decimal comma "
                     "('.' as thousands)")
    return ".", (f"values such as '{example}' read with a decimal point (',' as thousands; set "
                 "data.decimal=',' if not)")


def sniff_date_format(con: duckdb.DuckDBPyConnection, relation: str, col: str,
                      where: str) -> list[str | None]:
    """The date formats of a text column, to try in this order (None: ISO 8601, read by the
    default parser; [] or [None]: ISO only). The formats of :data:`DATE_FORMATS` that read any
    value with a plausible year, in the day order of the one that reads the most (with or
    without a time, other separators, year first; two-digit years before four, which would
    read '24' as the year 24), so that a file of date-only lines among timed ones, or a
    month of ISO dates among day-first ones, loses no rows. The day order is decided per
    separator; where day-first and month-first read the same values (no day above 12), the
    main separator's dates are ambiguous and named, another's stay unread."""
    sample = (f"(SELECT DISTINCT trim(CAST({col} AS VARCHAR)) AS v FROM {relation} "
              f"WHERE {col} IS NOT NULL LIMIT 20000)")
    lo, hi = PLAUSIBLE_YEARS

    def plausible(expr: str) -> str:
        return f"count(*) FILTER (WHERE year({expr}) BETWEEN {lo} AND {hi})"

    counts = con.execute(
        f"SELECT count(*), {plausible('TRY_CAST(v AS TIMESTAMP)')}, "
        + ", ".join(plausible(f"TRY_STRPTIME(v, '{f}')") for f in DATE_FORMATS)
        + f" FROM {sample}").fetchall()[0]
    n, iso, per_format = counts[0], counts[1], counts[2:]
    if n == 0 or max(per_format) == 0:
        return []
    counted = dict(zip(DATE_FORMATS, per_format, strict=True))
    main = max(counted, key=counted.get)  # the first of the formats reading the most
    drop: set[str] = set()
    # the day order is decided for each separator: '01/02/2024' in a US file beside '13.01.2024'
    # in a German one says nothing about the German order
    for sep in {_day_order(f)[1] for f in DATE_FORMATS} - {None}:
        dmy = {f: c for f, c in counted.items() if _day_order(f) == ("dmy", sep)}
        mdy = {f: c for f, c in counted.items() if _day_order(f) == ("mdy", sep)}
        d, m = max(dmy.values(), default=0), max(mdy.values(), default=0)
        if d and d == m:  # no day above 12: these values read both ways
            if main in dmy or main in mdy:
                if iso >= counted[main]:  # mostly ISO: the few others stay unread (bad_date)
                    return [None]
                name = col.strip('"').replace('""', '"')
                raise DataError(
                    f"{where}: the dates in '{name}' read both day-first and month-first (no day "
                    f"above 12 among {n:,} values): set data.date_format, e.g. "
                    f"'{max(dmy, key=dmy.get)}' or '{max(mdy, key=mdy.get)}'")
            drop |= set(dmy) | set(mdy)  # left unread: quarantined as bad_date, and counted
        else:
            drop |= set(mdy) if d > m else set(dmy)
    formats: list[str | None] = sorted((f for f, c in counted.items() if c and f not in drop),
                                       key=lambda f: -counted[f])
    formats.sort(key=lambda f: "%y" not in f)  # stable: by count within each year style
    if iso:
        formats.insert(0 if iso >= counted[main] else len(formats), None)
    return formats


def _day_order(fmt: str) -> tuple[str | None, str | None]:
    """('dmy' or 'mdy', the separator) of a numeric day-month format, else (None, None)."""
    if fmt.startswith("%d") and fmt[3:5] == "%m":
        return "dmy", fmt[2]
    if fmt.startswith("%m") and fmt[3:5] == "%d":
        return "mdy", fmt[2]
    return None, None
