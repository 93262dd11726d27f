"""Inputs: files in, checked DuckDB tables with canonical names out, one path for training and
scoring.

============== ===========================================================================
module         holds
============== ===========================================================================
sources        the configured tables (:func:`sources_for`) registered and checked
               (:func:`load_local`): transactions, customers, events
tables         :class:`TableSource` (where a table lives, how to read it), :class:`LoadedData`
reading        every file at a path grouped by how it is read; number and date parsers
dialect        encoding, delimiter, decimal mark and date format, sniffed per file
checks         the checks' policy, the quarantine with reasons, the snapshot date
ids            customer ids as canonical text; "no customer" placeholders and total rows
return_flags   return flags and cancelled statuses in every spelling
attributes     customer attributes as their most common spelling
customers      the customers table (prospects included)
events         visits, opens, clicks, requests, calls, meetings
campaigns      campaign results: treated or control, response, revenue
truth          the planted types of generated data
sql            quoting for every SQL string the pipeline writes
============== ===========================================================================
"""

from clustering.inputs.sources import DataSources, load_local, resolve_files, sources_for
from clustering.inputs.tables import LoadedData, TableSource

__all__ = ["DataSources", "LoadedData", "TableSource", "load_local", "resolve_files",
           "sources_for"]
