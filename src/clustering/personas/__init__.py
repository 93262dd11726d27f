"""Personas: segments in business words, and what to do with each.

=========== ================================================================================
module      holds
=========== ================================================================================
profiles    one row per segment: size, revenue, medians, standardised differences
naming      persona names earned on the profile and the members (conf/personas)
stable_ids  a retrain keeps the previous model's segment ids where segments match
guardrails  the practitioners' checks (sizes, number of personas), the marketing view
playbook    ABC health, tiers, potential, churn cohorts, overdue, B2B matrix, leads
rules       segment rules a CRM can run: a surrogate tree as SQL CASE and JSON
watchlist   the monthly review (quiet, one-off big, window shoppers, lead users), the ladder,
            the buying centre
=========== ================================================================================
"""

from clustering.personas.naming import PersonaAssignment, name_personas, name_segments
from clustering.personas.profiles import profile_segments

__all__ = ["PersonaAssignment", "name_personas", "name_segments", "profile_segments"]
