"""The practitioners' guardrails as visible checks, and the marketing view.

The seeds see 3-7 personas as typical (more is hard to act on) and segments of roughly 7-10% of
customers as workable: a segment below ``min_share`` is too small for its own campaign, one
above ``max_share`` probably mixes customers who need different actions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def guardrail_warnings(profile: pd.DataFrame, personas: pd.DataFrame, min_share: float,
                       max_share: float, max_personas: int = 7) -> list[str]:
    """One sentence per guardrail the segmentation breaks."""
    table = profile.merge(personas[["segment", "name", "persona"]], on="segment")
    table = table[table["segment"] >= 0]
    out = []
    distinct = table["persona"].fillna(table["name"]).nunique()
    if distinct > max_personas:
        out.append(f"{distinct} distinct personas: more than the {max_personas} a marketing team "
                   "usually acts on; use the marketing view (segments with the same persona "
                   "merged) or a smaller k")
    for r in table.itertuples():
        if r.share < min_share:
            out.append(f"segment {r.segment} '{r.name}' holds {r.share:.1%} of customers, below "
                       f"evaluate.min_share ({min_share:.0%}): too small for its own campaign")
        if r.share > max_share:
            out.append(f"segment {r.segment} '{r.name}' holds {r.share:.1%} of customers, above "
                       f"evaluate.max_share ({max_share:.0%}): it likely mixes customers who "
                       "need different actions")
    return out


def marketing_view(profile: pd.DataFrame, personas: pd.DataFrame) -> pd.DataFrame:
    """Segments that carry the same persona merged: persona, customers, share, revenue share
    and the segment ids, by revenue share."""
    table = profile.merge(personas[["segment", "name", "persona"]], on="segment")
    key = table["persona"].where(table["persona"].notna() & (table["segment"] >= 0),
                                 table["name"])
    names = table.groupby(key)["name"].agg(lambda n: min(n, key=len))
    view = table.assign(key=key).groupby("key").agg(
        customers=("size", "sum"), share=("share", "sum"), revenue_share=("revenue_share", "sum"),
        segments=("segment", lambda s: ", ".join(map(str, sorted(s)))))
    view.insert(0, "persona", names)
    return view.sort_values("revenue_share", ascending=False).reset_index(drop=True)


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
        shares = pd.crosstab(labels, buyers[a].fillna("unknown").to_numpy(), normalize="index")
        for s, row in shares.iterrows():
            best = row.sort_values(ascending=False).head(top)
            out.setdefault(int(s), {})[a.replace("_", " ")] = ", ".join(
                f"{v} {p:.0%}" for v, p in best.items() if p > 0)
    return out
