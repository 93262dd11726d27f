"""The tables a run reads, as the inputs wing hands them on: where a table lives and how to
read it (:class:`TableSource`), and what was registered (:class:`LoadedData`)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clustering.errors import DataError
from clustering.inputs.checks import QualityReport


@dataclass
class TableSource:
    """Where a table lives and how to read it.

    ``path`` is a file, a folder (all files of ``fmt`` inside) or a glob pattern.
    ``fmt`` is ``csv``, ``parquet`` or ``auto`` (from the file extension).
    """

    path: str
    fmt: str = "auto"
    columns: dict[str, str | None] = field(default_factory=dict)
    date_format: str | None = None
    delimiter: str | None = None
    encoding: str = "auto"
    decimal: str | None = None  # "." or ","; None: sniffed per file group
    margins: dict[str, float] | None = None  # category -> margin rate ("default": the others)
    return_values: list[str] | None = None  # a text return flag's values that mean a return
    cancelled_statuses: list[str] | None = None  # order statuses whose lines are set aside


@dataclass
class LoadedData:
    """What was registered in the connection, and what is missing."""

    files: list[str]
    available: set[str]
    missing_optional: list[str]
    customer_files: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    has_signup: bool = False
    quality: QualityReport | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # also in the report and the summary
    attribute_quality: pd.DataFrame | None = None  # per attribute: rows per problem
    event_files: list[str] = field(default_factory=list)
    lead_fields: list[str] = field(default_factory=list)  # contact, need, budget: mapped ones
    delimiter: str = ","  # how the transactions were written (their first text file): outputs
    decimal: str = "."    # for the same user are written alike

    def describe(self) -> list[str]:
        """What was read and checked, a line each, for the console."""
        lines = [f"{len(self.files)} transaction file(s): {self.files[0]}"
                 + (f", customers: {self.customer_files[0]}" if self.customer_files else "")]
        if self.quality is not None and len(self.quality.per_file) > 1:
            lines += [f"  {Path(f).name}: {rows:,} rows, {kept:,} kept"
                      for f, (rows, kept) in sorted(self.quality.per_file.items())]
        lines += [f"skipped {Path(f).name}: {why}" for f, why in self.skipped]
        lines += self.notes + [f"warning: {w}" for w in self.warnings]
        if self.missing_optional:
            lines.append(f"optional columns not available: {', '.join(self.missing_optional)}")
        if self.quality is not None:
            lines.append(f"checks: {self.quality.summary()}")
        return lines


def missing_column(role: str, name: str, present: list[str], where: str, key: str) -> DataError:
    """The error for a mapped column that is not in the file, with the near names."""
    close = difflib.get_close_matches(name, present, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if len(present) == 1 and any(d in present[0] for d in ";\t|,"):
        hint = " The file reads as a single column: wrong delimiter? Set data.delimiter."
    if present and sum(bool(re.fullmatch(r"[\d\s.,:/+\-]+", str(c))) for c in present) >= min(
            2, len(present)) and not hint.startswith(" The file reads as a single column"):
        hint = (" The first line reads as data, not column names: the file has no header line, "
                "or its fields are separated by runs of spaces. Add a header line (the names, "
                "separated like the values by , ; | or a tab) and map the columns by name.")
    return DataError(
        f"{where}: column '{name}' (for {role}) not found. Columns present: "
        f"{', '.join(present)}.{hint} Map it with {key}.{role}=<column>."
    )
