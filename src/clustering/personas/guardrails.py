"""The practitioners' guardrails as visible checks, and the marketing view.

The seeds see 3-7 personas as typical (more is hard to act on) and segments of roughly 7-10% of
customers as workable: a segment below ``min_share`` is too small for its own campaign, one
above ``max_share`` probably mixes customers who need different actions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clustering.personas.profiles import crosstab


def guardrail_warnings(profile: pd.DataFrame, personas: pd.DataFrame, min_share: float,
                       max_share: float, max_personas: int = 7) -> list[str]:
    """One sentence per guardrail the segmentation breaks: more personas than a team acts on,
    a persona too small for its own campaign, a segment so big it likely mixes customers who
    need different actions. Fine segments may be small: they are grouped into personas."""
    table = profile.merge(personas[["segment", "segment_name", "persona"]], on="segment")
    table = table[table["segment"] >= 0]
    out = []
    distinct = table["persona"].nunique()
    if distinct > max_personas:
        out.append(f"{distinct} personas: more than the {max_personas} a marketing team usually "
                   "acts on; group the catalogue's types into fewer (personas.personas)")
    shares = table.groupby("persona")["share"].sum()
    for persona, share in shares.sort_values().items():
        if share < min_share:
            out.append(f"persona '{persona}' holds {share:.1%} of customers, below "
                       f"evaluate.min_share ({min_share:.0%}): too small for its own campaign")
    for r in table.itertuples():
        if r.share > max_share:
            out.append(f"segment {r.segment} '{r.segment_name}' holds {r.share:.1%} of customers, "
                       f"above evaluate.max_share ({max_share:.0%}): it likely mixes customers "
                       "who need different actions")
    return out


def marketing_view(profile: pd.DataFrame, personas: pd.DataFrame,
                   actions: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """The marketer's level, the report's headline: one row per persona with its share of
    customers, revenue (and profit, where the data has it), what to do and its segments, the
    largest by revenue first."""
    table = profile.merge(personas[["segment", "segment_name", "persona", "actions"]],
                          on="segment")
    sums = {"customers": ("size", "sum"), "share": ("share", "sum"),
            "revenue_share": ("revenue_share", "sum")}
    if "profit_share" in table:
        sums["profit_share"] = ("profit_share", "sum")
    view = table.groupby("persona", sort=False).agg(**sums)
    view["segments"] = table.sort_values("revenue_share", ascending=False).groupby(
        "persona", sort=False)["segment_name"].agg("; ".join)
    first = table.groupby("persona", sort=False)["actions"].first()  # the outliers' own
    view["actions"] = [" / ".join((actions or {}).get(p) or first.get(p) or []) for p in view.index]
    return view.sort_values("revenue_share", ascending=False).reset_index()


def composition(buyers: pd.DataFrame, labels: np.ndarray, attributes: list[str],
                categories: dict[int, str] | None = None, top: int = 3) -> dict[int, dict[str, str]]:
    """Per segment and attribute (region, channel, business type, ...), its most common values
    with their shares: 'North 41%, South 33%, West 20%'; with ``categories``, the segment's top
    product categories too."""
    labels = np.asarray(labels)
    out: dict[int, dict[str, str]] = {s: {"top categories": c}
                                      for s, c in (categories or {}).items()}
    for a in attributes:
        if a not in buyers:
            continue
        counts = crosstab(labels, buyers[a].fillna("unknown"), a)  # 0.1 s at 1M
        shares = counts.div(counts.sum(axis=1), axis=0)
        for s, row in shares.iterrows():
            best = row.sort_values(ascending=False).head(top)
            out.setdefault(int(s), {})[a.replace("_", " ")] = ", ".join(
                f"{v} {p:.0%}" for v, p in best.items() if p > 0)
    return out
