"""Reporting: what a person reads and looks at.

========= =================================================================================
module    holds
========= =================================================================================
report    the persona report (Markdown and self-contained HTML)
plots     every figure of a run, with persona names
glossary  column and value labels in business words
summary   the end-of-run console summary
========= =================================================================================

Import from the modules: :mod:`.summary` names the tracking store, which imports the report's
neighbours, so this face stays empty to keep imports one-way.
"""
