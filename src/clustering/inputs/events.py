"""The optional events table: what customers and leads did besides buying.

Canonical ``events`` view: ``customer_id``, ``ts``, ``kind`` with kinds ``visit``,
``email_open``, ``email_click`` (looking) and ``request``, ``call``, ``meeting`` (contact).
Raw event names map to kinds through ``data.event_types``; rows with an unknown kind, no id or
no date are counted and left out (reported, never silently).
"""

from __future__ import annotations

import duckdb

from clustering.errors import DataError
from clustering.inputs.ids import id_sql, no_customer_sql
from clustering.inputs.reading import Parsers, open_inputs
from clustering.inputs.return_flags import text_key
from clustering.inputs.sql import ident, literal, literals

LOOK = ("visit", "email_open", "email_click")
CONTACT = ("request", "call", "meeting")
KINDS = LOOK + CONTACT


def register_events(con: duckdb.DuckDBPyConnection, source, event_types: dict[str, str] | None,
                    loaded) -> None:
    """Create the ``events`` table from ``source`` (a :class:`clustering.inputs.sources.TableSource`
    whose columns map customer_id, timestamp, event_type) and note what was left out."""
    inputs = open_inputs(con, source.path, source.fmt, source.delimiter, source.encoding,
                         what="events")
    where = inputs.files[0] if len(inputs.files) == 1 else f"{source.path} ({len(inputs.files)} files)"
    cols = {k: v for k, v in source.columns.items() if v}
    for role in ("customer_id", "timestamp", "event_type"):
        name = cols.get(role)
        if not name or name not in inputs.present:
            raise DataError(f"{where}: no column '{name}' for the events' {role}; columns: "
                            f"{', '.join(inputs.present)}. Set data.event_columns.{role}=<column>.")
    mapping = {str(k).strip().lower(): str(v) for k, v in (event_types or {}).items()}
    bad = sorted({v for v in mapping.values() if v not in KINDS})
    if bad:
        raise DataError(f"data.event_types maps to unknown kinds {bad}; kinds: {', '.join(KINDS)}")
    raw = text_key(ident(cols["event_type"]))
    kind = (f"(CASE {raw} " + " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in
                                       mapping.items()) + f" ELSE {raw} END)") if mapping else raw
    parse = Parsers(con, inputs, {"timestamp": cols["timestamp"]}, source, where)
    ts = parse.date(ident(cols["timestamp"]), cols["timestamp"])
    cid = id_sql(ident(cols["customer_id"]))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _events_raw AS
        SELECT CASE WHEN NOT {no_customer_sql(cid)} THEN {cid} END AS customer_id,
               {ts} AS ts, {kind} AS kind, {raw} AS raw_kind
        FROM {inputs.relation}""")
    n, no_id, no_date, unknown = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE customer_id IS NULL),
               count(*) FILTER (WHERE customer_id IS NOT NULL AND ts IS NULL),
               count(*) FILTER (WHERE customer_id IS NOT NULL AND ts IS NOT NULL
                                AND kind NOT IN ({literals(KINDS)}))
        FROM _events_raw""").fetchall()[0]
    con.execute(f"""
        CREATE OR REPLACE TABLE events AS SELECT customer_id, ts, kind FROM _events_raw
        WHERE customer_id IS NOT NULL AND ts IS NOT NULL AND kind IN ({literals(KINDS)})""")
    if unknown:
        names = [r[0] for r in con.execute(f"""
            SELECT raw_kind FROM _events_raw WHERE kind NOT IN ({literals(KINDS)})
            GROUP BY 1 ORDER BY count(*) DESC LIMIT 5""").fetchall()]
        loaded.warnings.append(
            f"{where}: {unknown:,} events of unknown kind left out (e.g. {', '.join(map(str, names))}); "
            f"map them with data.event_types={{name: kind}}, kinds: {', '.join(KINDS)}")
    con.execute("DROP TABLE _events_raw")
    kept = n - no_id - no_date - unknown
    loaded.notes.append(f"events: {kept:,} of {n:,} rows kept ({where})"
                        + (f"; {no_id:,} without customer id" if no_id else "")
                        + (f"; {no_date:,} without a readable date" if no_date else ""))
    loaded.event_files = inputs.files
    loaded.available.add("events")
