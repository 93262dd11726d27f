"""Sample: the generated customer base with planted types, the bundled default data.

========== ==================================================================================
module     holds
========== ==================================================================================
generator  transactions, customers, events and the planted truth (seeded, chunked)
files      the sample written as Parquet once per size and seed (``ensure_sample_data``)
========== ==================================================================================
"""

from clustering.sample.files import ensure_sample_data
from clustering.sample.generator import generate_tables

__all__ = ["ensure_sample_data", "generate_tables"]
