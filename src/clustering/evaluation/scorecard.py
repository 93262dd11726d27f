"""The practitioners' checklist of a good segmentation, each criterion measured.

A segmentation is good when its segments respond alike inside and differently between, can be
described briefly, are big enough to treat on their own, can be reached, have an action, stay
put when the data are resampled, and hold each customer once (../shared/DOMAIN.md). The
measures are already in the run (the hold-out, the rules, the marketing view, the stability
refits); :func:`scorecard` reads each against its threshold (``evaluate.scorecard``) and says
pass, fail, or not measured where the data cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Thresholds:
    """What a criterion needs to pass (the practitioners' numbers by default)."""

    alike: float = 0.5  # business separation: revenue variance the segments explain
    response: float = 0.7  # hold-out AUC of who buys again, told by segment
    describable: float = 0.9  # segment rules' agreement with the model
    persona_share: float = 0.07  # every persona at least this share of customers
    personas: tuple[int, int] = (3, 7)
    reachable: float = 0.8  # customers with a contact (e-mail or phone)
    stable: float = 0.8  # ARI of refits on resamples
    offers: float = 0.05  # campaign uplift differs between personas: heterogeneity p at most
    one_segment: float = 0.95  # customers in exactly one segment (not outliers)


#: (key, the practitioners' question, what is measured)
CRITERIA = [
    ("alike", "Customers in a segment are alike", "revenue variance explained by the segments"),
    ("different_response", "Segments respond differently",
     "hold-out AUC: who buys again, told by segment"),
    ("describable", "Each segment is described briefly",
     "customers the segment rules give the model's segment"),
    ("sizeable", "Each persona is big enough to treat", "smallest persona's share of customers"),
    ("few_personas", "Few enough personas to act on", "personas"),
    ("responds_to_offers", "Personas respond differently to offers",
     "p-value: uplift the same in every persona (campaigns table)"),
    ("reachable", "Customers can be reached", "customers with a contact (e-mail or phone)"),
    ("actionable", "Every persona has an action", "customers whose persona has an action"),
    ("stable", "Segments are stable", "ARI of refits on resampled customers"),
    ("one_segment", "One customer, one segment", "customers in exactly one segment"),
]


def scorecard(metrics: dict[str, float], view: pd.DataFrame | None,
              rules_agreement: float | None, reachable: float | None,
              outlier_share: float, t: Thresholds = Thresholds()) -> pd.DataFrame:
    """One row per criterion: the question, what is measured, its value, the threshold and
    ``pass``, ``fail`` or ``not measured``. ``view``: the marketing view (one row per persona
    with ``share`` and ``actions``); ``reachable``: the share of customers with a contact
    (None: no contact column)."""
    m = {k: v for k, v in metrics.items() if v == v}
    shares = None if view is None or not len(view) else view["share"]
    acted = None if shares is None else float(
        shares[view["actions"].fillna("").str.strip() != ""].sum() / shares.sum())
    lo, hi = t.personas
    measured = {
        "alike": (m.get("business_separation"), t.alike, "{:.2f}"),
        "different_response": (m.get("future_auc_repeat"), t.response, "{:.3f}"),
        "describable": (rules_agreement, t.describable, "{:.1%}"),
        "sizeable": (None if shares is None else float(shares.min()), t.persona_share, "{:.1%}"),
        "few_personas": (None if shares is None else float(len(shares)), (lo, hi), "{:.0f}"),
        "responds_to_offers": (m.get("campaign_heterogeneity_p"), ("max", t.offers), "{:.3g}"),
        "reachable": (reachable, t.reachable, "{:.1%}"),
        "actionable": (acted, 1.0, "{:.0%}"),
        "stable": (m.get("stability_ari"), t.stable, "{:.2f}"),
        "one_segment": (1.0 - outlier_share, t.one_segment, "{:.1%}"),
    }
    rows = []
    for key, question, what in CRITERIA:
        v, need, fmt = measured[key]
        if isinstance(need, tuple) and need[0] == "max":
            ok, need_text = v is not None and v <= need[1], "at most " + fmt.format(need[1])
        elif isinstance(need, tuple):
            ok, need_text = (v is not None and need[0] <= v <= need[1]), f"{need[0]}-{need[1]}"
        else:
            ok, need_text = v is not None and v >= need, "at least " + fmt.format(need)
        rows.append({"criterion": key, "question": question, "measured": what,
                     "value": "" if v is None else fmt.format(v), "needs": need_text,
                     "result": "not measured" if v is None else ("pass" if ok else "fail"),
                     "number": v})
    return pd.DataFrame(rows)


def scorecard_metrics(card: pd.DataFrame) -> dict[str, float]:
    """Per measured criterion 1 (pass) or 0 (fail), and how many passed of how many measured."""
    done = card[card["result"] != "not measured"]
    return ({f"scorecard_{r.criterion}": float(r.result == "pass") for r in done.itertuples()}
            | {"scorecard_passed": float((done["result"] == "pass").sum()),
               "scorecard_measured": float(len(done))})


def scorecard_line(card: pd.DataFrame) -> str:
    """'7 of 8 criteria pass; fails: sizeable (2.1%, needs at least 7.0%)'."""
    done = card[card["result"] != "not measured"]
    fails = done[done["result"] == "fail"]
    line = f"{int((done['result'] == 'pass').sum())} of {len(done)} criteria pass"
    if len(fails):
        line += "; fails: " + ", ".join(f"{r.criterion} ({r.value}, needs {r.needs})"
                                        for r in fails.itertuples())
    skipped = card[card["result"] == "not measured"]
    if len(skipped):
        line += "; not measured: " + ", ".join(skipped["criterion"])
    return line
