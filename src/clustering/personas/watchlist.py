"""The monthly review beside the personas: who to look at by name, the customer ladder, and the
buying centre where the customers table names the contacts' roles.

The per-customer flags come from :func:`clustering.features.signals.watch_columns`; here they
become the report's sections, each with the practitioners' action, and MLflow's tables and
metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clustering.reporting.report import Section

#: flag -> (who, what to do)
WATCH = {
    "dissatisfied": ("Dissatisfied: went quiet after returns, cancellations or halving orders",
                     "Service call first: ask what went wrong and fix it; no discount mail "
                     "before that"),
    "drifted": ("Drifted away: went quiet with no sign of complaint",
                "Wake them up: a reminder timed to their own purchase cycle, then a special "
                "offer"),
    "one_off_big": ("One-off big buyers: one large order makes their revenue",
                    "Review monthly: not a VIP until a second large order; a personal "
                    "follow-up to win it"),
    "window_shopper": ("Window shoppers: 3+ visits last quarter, no order",
                       "Ask what stops them: a consultation call or a first-order incentive"),
    "lead_user": ("Lead users: buy the newest products most, and often",
                  "Early access, beta tests, an advisory panel: they sway the early followers"),
    "weekend": ("Weekend buyers: order on weekends more than chance",
                "Time mailings and offers to Friday evening and the weekend"),
    "weekdays": ("Weekday buyers: (almost) never on weekends",
                 "Reach them in working hours: business channels, Monday-to-Friday offers"),
}
#: ladder rung -> action, from the bottom
LADDER = {
    "prospect": "Qualify and convert: a personal first offer",
    "customer": "A reason for the second order within their first cycle",
    "client": "Deepen: cross-sell, a regular contact rhythm",
    "supporter": "Make them advocates: referral programme, reviews, references",
    "partner": "Key-account care: joint planning, framework agreements, a named manager",
    "former": "Win back, or let go",
}
#: buying-centre role -> what each needs to hear
ROLES = {
    "user": "Usage tips, training, service quality",
    "influencer": "Technical content, specifications, trials",
    "buyer": "Price, terms, delivery",
    "decider": "The business case: return on investment, risk",
    "gatekeeper": "Keep informed: the right documents at the right time",
}


def _flag(everyone: pd.DataFrame, key: str) -> np.ndarray:
    if key in ("dissatisfied", "drifted"):
        return (everyone.get("quiet_reason") == key).to_numpy(bool) \
            if "quiet_reason" in everyone else np.zeros(len(everyone), bool)
    if key in ("weekend", "weekdays"):
        return (everyone.get("week_pattern") == key).to_numpy(bool) \
            if "week_pattern" in everyone else np.zeros(len(everyone), bool)
    return everyone[key].fillna(False).to_numpy(bool) if key in everyone \
        else np.zeros(len(everyone), bool)


def watch_list(everyone: pd.DataFrame, value_col: str, metrics: dict[str, float],
               tables: dict[str, pd.DataFrame]) -> list[Section]:
    """The watch list and the ladder as report sections (their tables and counts into
    ``tables`` and ``metrics``); none when the table has no watch columns."""
    if "ladder" not in everyone:
        return []
    value = np.clip(everyone[value_col].fillna(0).to_numpy(float), 0, None) \
        if value_col in everyone else np.zeros(len(everyone))
    total = value.sum() or 1.0
    rows = []
    for key, (who, action) in WATCH.items():
        hit = _flag(everyone, key)
        metrics[f"watch_{key}"] = float(hit.sum())
        rows.append({"who": who, "customers": int(hit.sum()),
                     "value share": f"{value[hit].sum() / total:.1%}", "action": action})
    watch = pd.DataFrame(rows)
    tables["playbook/watch_list.csv"] = watch
    rungs = everyone["ladder"]
    ladder = pd.DataFrame([{"rung": r, "customers": int((rungs == r).sum()),
                            "value share": f"{value[(rungs == r).to_numpy()].sum() / total:.1%}",
                            "action": a} for r, a in LADDER.items()])
    tables["playbook/ladder.csv"] = ladder
    return [Section("Watch list: the monthly review",
                    "Customers to look at by name this month (the labels' columns quiet_reason, "
                    "one_off_big, window_shopper, lead_user and week_pattern): quiet customers "
                    "told apart by whether something went wrong first, big buyers who are not "
                    "VIPs yet, visitors who do not order, the customers who try the new "
                    "products first, and when they buy.", watch),
            Section("Customer ladder", "From prospect to partner (the labels' ladder column): "
                    "each rung up is worth more and needs a different step.", ladder)]


def buying_centre(everyone: pd.DataFrame, role: str, personas: pd.Series,
                  tables: dict[str, pd.DataFrame]) -> list[Section]:
    """Per persona, the share of its contacts in each buying-centre role, with what each role
    needs (none without the role column)."""
    if role not in everyone:
        return []
    roles = everyone[role].astype(object).where(everyone[role].notna(), "(unknown)")
    roles = roles.map(lambda v: str(v).strip().lower())
    mix = pd.crosstab(personas.reindex(everyone.index), roles, normalize="index")
    table = (mix * 100).round(0).astype(int).astype(str).add("%").reset_index(names="persona")
    tables["playbook/buying_centre.csv"] = (mix.reset_index(names="persona"))
    needs = "; ".join(f"{r}: {a}" for r, a in ROLES.items() if r in mix.columns)
    return [Section("Buying centre: whom we talk to, per persona",
                    "The role of each customer's contact (the customers table's "
                    f"'{role}'), as shares of the persona's customers. What each role needs: "
                    f"{needs}.", table)]
