"""The optional campaigns table: who got which offer, who was held out, who responded.

One row per customer and campaign: ``customer_id``, ``campaign``, ``sent_on`` (the date it
went out), ``treated`` (got the offer; False: the control group held out), ``responded``
(0/1) and ``revenue`` from the response (optional). The group and the response are read
from the words exports use (treatment/control, test/holdout, yes/no, 1/0); rows whose group
or response cannot be read are counted and named in a clear error, never guessed.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from clustering.errors import DataError
from clustering.inputs.ids import id_sql, no_customer_sql
from clustering.inputs.reading import Parsers, open_inputs
from clustering.inputs.return_flags import text_key
from clustering.inputs.sql import ident, literals

ROLES = ("customer_id", "campaign", "date", "group", "response")
TREATED = ("treatment", "treated", "test", "target", "offer", "mailed", "contacted", "t",
           "1", "1.0", "true", "yes", "y")
CONTROL = ("control", "holdout", "hold-out", "hold out", "control group", "c", "0", "0.0", "false",
           "no", "n")
YES = ("1", "1.0", "true", "yes", "y", "responded", "converted", "bought", "t")
NO = ("0", "0.0", "false", "no", "n", "f", "")


def read_campaigns(source) -> tuple[pd.DataFrame, list[str]]:
    """(the campaigns table with canonical columns, notes on what was left out) from
    ``source`` (a :class:`clustering.inputs.tables.TableSource` mapping the roles above and,
    optionally, ``revenue``)."""
    con = duckdb.connect()
    try:
        inputs = open_inputs(con, source.path, source.fmt, source.delimiter, source.encoding,
                             what="campaigns")
        where = inputs.files[0] if len(inputs.files) == 1 else \
            f"{source.path} ({len(inputs.files)} files)"
        cols = {k: v for k, v in source.columns.items() if v}
        for role in ROLES + (("revenue",) if "revenue" in cols else ()):
            name = cols.get(role)
            if not name or name not in inputs.present:
                raise DataError(
                    f"{where}: no column '{name}' for the campaigns' {role}; columns: "
                    f"{', '.join(inputs.present)}. Set data.campaign_columns.{role}=<column>.")
        parse = Parsers(con, inputs, {"timestamp": cols["date"], "amount": cols.get("revenue",
                                                                                   cols["date"])},
                        source, where)
        group, resp = text_key(ident(cols["group"])), text_key(ident(cols["response"]))
        revenue = parse.number(ident(cols["revenue"]), cols["revenue"]) \
            if "revenue" in cols else "NULL::DOUBLE"
        cid = id_sql(ident(cols["customer_id"]))
        frame = con.sql(f"""
            SELECT CASE WHEN NOT {no_customer_sql(cid)} THEN {cid} END AS customer_id,
                   CAST({ident(cols['campaign'])} AS VARCHAR) AS campaign,
                   CAST({parse.date(ident(cols['date']), cols['date'])} AS DATE) AS sent_on,
                   CASE WHEN {group} IN ({literals(TREATED)}) THEN true
                        WHEN {group} IN ({literals(CONTROL)}) THEN false END AS treated,
                   CASE WHEN {resp} IN ({literals(YES)}) THEN 1
                        WHEN {resp} IN ({literals(NO)}) OR {resp} IS NULL THEN 0 END
                        AS responded,
                   {revenue} AS revenue, {group} AS raw_group, {resp} AS raw_response
            FROM {inputs.relation}""").df()
    finally:
        con.close()
    _check_words(frame, where)
    notes = []
    dropped = frame["customer_id"].isna() | frame["sent_on"].isna() | frame["campaign"].isna()
    if dropped.any():
        notes.append(f"campaigns: {int(dropped.sum()):,} of {len(frame):,} rows left out "
                     f"({where}): no customer id, campaign or readable date")
    frame = frame.loc[~dropped].drop(columns=["raw_group", "raw_response"])
    frame = frame.astype({"treated": bool, "responded": int})
    frame["revenue"] = frame["revenue"].fillna(0.0)
    notes.append(f"campaigns: {len(frame):,} rows, {frame['campaign'].nunique()} campaign(s), "
                 f"{int(frame['treated'].sum()):,} treated and {int((~frame['treated']).sum()):,} "
                 f"control ({where})")
    return frame.reset_index(drop=True), notes


def _check_words(frame: pd.DataFrame, where: str) -> None:
    """A clear error for groups or responses that are neither of the known words."""
    for col, raw, words in (("treated", "raw_group", "group: treatment or control"),
                            ("responded", "raw_response", "response: 1/0, yes/no")):
        bad = frame[col].isna()
        if bad.any():
            seen = frame.loc[bad, raw].value_counts().head(5)
            raise DataError(
                f"{where}: {int(bad.sum()):,} rows whose {words.split(':')[0]} is neither of "
                f"the known words ({words}); e.g. "
                + ", ".join(f"'{v}' ({n:,} rows)" for v, n in seen.items())
                + ". Rewrite them in the file, or map the column to one that has them.")
