"""Map segments to business-readable personas from a catalogue of matching rules.

A persona's rules are conditions on segment profile statistics (see
:func:`clustering.profiles.profile_segments`). Each condition gives a soft score in (0, 1): a
logistic curve centred on the threshold, so a segment just past a threshold scores about 0.5
and one well past it about 1. A segment's fit to a persona is the geometric mean of its
condition scores: one clearly failed condition rules the persona out.

Segments are assigned to personas by an optimal assignment (scipy's linear_sum_assignment) that
maximises the total fit, so no two segments share a name. A segment whose assigned fit is below
``min_fit`` keeps its best persona with a qualifier from its most distinguishing feature when
that persona fits it well, and otherwise gets a descriptive name built from its distinguishing
features ("Large orders, rare, unstable"): never "Cluster 3".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from clustering.errors import ConfigError

#: words for a feature above (+) and below (-) the population
FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("long inactive", "recently active"),
    "frequency": ("frequent", "rare"),
    "monetary_total": ("high revenue", "low revenue"),
    "avg_order_value": ("large orders", "small orders"),
    "tenure_days": ("long-standing", "recently acquired"),
    "mean_interpurchase_days": ("long purchase cycles", "short purchase cycles"),
    "revenue_cv_monthly": ("unstable", "stable"),
    "revenue_growth": ("growing", "shrinking"),
    "return_rate": ("many returns", "few returns"),
    "n_categories": ("broad basket", "narrow basket"),
    "new_product_share": ("new-product buyers", "established products"),
    "mean_payment_delay": ("late payers", "prompt payers"),
    "days_since_signup": ("signed up long ago", "signed up recently"),
}


@dataclass
class Persona:
    key: str
    name: str
    description: str
    actions: list[str]
    rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PersonaAssignment:
    """Per segment: persona key (None for descriptive names), display name, fit."""

    table: pd.DataFrame  # segment, persona, name, fit, description, actions
    fit_matrix: pd.DataFrame  # segments x persona keys

    def names(self) -> dict[int, str]:
        return dict(zip(self.table["segment"].astype(int), self.table["name"], strict=True))


def load_catalogue(path: str | Path) -> dict[str, Any]:
    """Read a persona catalogue YAML (as in ``conf/personas/``) without Hydra."""
    import yaml

    return yaml.safe_load(Path(path).read_text())


def parse_catalogue(spec: dict[str, Any]) -> tuple[list[Persona], dict[str, Persona]]:
    """The rule-based personas and the special ones (prospects, outliers)."""
    def one(key: str, d: dict[str, Any]) -> Persona:
        try:
            return Persona(key, d["name"], d.get("description", ""), list(d.get("actions", [])),
                           list(d.get("rules", [])))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"persona '{key}': missing {exc}") from None

    personas = [one(k, v) for k, v in (spec.get("catalogue") or {}).items()]
    special = {k: one(k, v) for k, v in (spec.get("special") or {}).items()}
    for p in personas:
        if not p.rules:
            raise ConfigError(f"persona '{p.key}' has no rules")
    for p in [*personas, *special.values()]:
        bad = [a for a in p.actions if not isinstance(a, str)]
        if bad:
            raise ConfigError(f"persona '{p.key}': actions must be text, got {bad} "
                              "(quote an action that contains a colon)")
    return personas, special


def _default_soft(stat: str, value: float) -> float:
    if stat.startswith("z_"):
        return 0.25
    if stat in ("revenue_ratio",):
        return 0.3
    if stat in ("share", "revenue_share"):
        return 0.02
    return max(abs(value) * 0.1, 0.5)


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -50, 50))))


def condition_score(profile_row: pd.Series, cond: dict[str, Any]) -> float:
    """Soft truth (0..1) of one condition on one segment's profile."""
    if "any" in cond:
        return max(condition_score(profile_row, c) for c in cond["any"])
    stat = cond.get("stat")
    if stat not in profile_row.index:
        return 0.0  # the feature is not available in this data: the persona cannot be claimed
    x = profile_row[stat]
    if x is None or pd.isna(x):
        return 0.0
    x = float(x)
    if "between" in cond:
        lo, hi = cond["between"]
        return min(condition_score(profile_row, {"stat": stat, "ge": lo, "soft": cond.get("soft")}),
                   condition_score(profile_row, {"stat": stat, "le": hi, "soft": cond.get("soft")}))
    if "ge" in cond:
        v = float(cond["ge"])
        return _sigmoid((x - v) / (cond.get("soft") or _default_soft(stat, v)))
    if "le" in cond:
        v = float(cond["le"])
        return _sigmoid((v - x) / (cond.get("soft") or _default_soft(stat, v)))
    raise ConfigError(f"persona rule {cond} needs ge, le, between or any")


def persona_fit(profile_row: pd.Series, persona: Persona) -> float:
    scores = np.array([condition_score(profile_row, c) for c in persona.rules])
    return float(np.exp(np.mean(np.log(np.maximum(scores, 1e-12)))))


def descriptive_name(profile_row: pd.Series, max_words: int = 3, min_z: float = 0.5) -> str:
    """A name from the features that set the segment apart most ('Large orders, rare')."""
    zs = {c[2:]: profile_row[c] for c in profile_row.index
          if c.startswith("z_") and c[2:] in FEATURE_WORDS and pd.notna(profile_row[c])}
    top = sorted(zs.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    words = [FEATURE_WORDS[f][0 if z > 0 else 1] for f, z in top if abs(z) >= min_z][:max_words]
    if not words:
        return "Average customers"
    text = ", ".join(words)
    return text[0].upper() + text[1:]


def name_personas(
    profile: pd.DataFrame, catalogue: dict[str, Any], min_fit: float | None = None
) -> PersonaAssignment:
    """Deterministically name every segment of ``profile`` (one row per segment)."""
    personas, special = parse_catalogue(catalogue)
    min_fit = float(catalogue.get("min_fit", 0.5) if min_fit is None else min_fit)
    prof = profile.set_index("segment")
    regular = [s for s in prof.index if s >= 0]
    fit = pd.DataFrame(
        [[persona_fit(prof.loc[s], p) for p in personas] for s in regular],
        index=regular, columns=[p.key for p in personas],
    )
    assigned: dict[int, int] = {}
    if regular and personas:
        rows, cols = linear_sum_assignment(-fit.to_numpy())
        assigned = {regular[r]: c for r, c in zip(rows, cols, strict=True)}
    records = []
    for s in prof.index:
        row = prof.loc[s]
        if s < 0:
            p = special.get("outliers") or Persona("outliers", "Outliers / unassigned", "", [])
            records.append((s, p.key, p.name, 1.0, p.description, p.actions))
            continue
        c = assigned.get(s)
        if c is not None and fit.at[s, personas[c].key] >= min_fit:
            p = personas[c]
            records.append((s, p.key, p.name, fit.at[s, p.key], p.description, p.actions))
            continue
        best = int(np.argmax(fit.loc[s].to_numpy())) if personas else None
        desc = descriptive_name(row)
        if best is not None and fit.iat[fit.index.get_loc(s), best] >= min_fit:
            p = personas[best]
            qual = descriptive_name(row, max_words=1)
            records.append((s, p.key, f"{p.name} ({qual.lower()})", fit.at[s, p.key],
                            p.description, p.actions))
        else:
            f = float(fit.loc[s].max()) if personas else 0.0
            records.append((s, None, desc, f, f"No catalogued persona fits well; "
                            f"distinguishing: {row.get('distinguishing', '')}.", []))
    table = pd.DataFrame(records, columns=["segment", "persona", "name", "fit", "description",
                                           "actions"])
    # names are unique: a repeated one gets the segment id
    dup = table["name"].duplicated(keep="first")
    table.loc[dup, "name"] = table.loc[dup].apply(lambda r: f"{r['name']} #{r['segment']}", axis=1)
    return PersonaAssignment(table=table, fit_matrix=fit)


def keep_previous_names(personas, previous, matches: pd.DataFrame,
                        catalogue) -> PersonaAssignment:
    """Matched segments keep the previous version's persona names (with that persona's key,
    description and actions, so a card never mixes two personas); names stay unique."""
    table = personas.table.copy()
    by_name = {v["name"]: (k, v) for k, v in {**catalogue.catalogue, **catalogue.special}.items()}
    kept = {int(r.published_id): previous.segment_names.get(int(r.previous_segment))
            for r in matches.itertuples() if r.status == "matched"}
    for i, row in table.iterrows():
        name = kept.get(int(row["segment"]))
        if not name:
            continue
        table.at[i, "name"] = name
        key, spec = by_name.get(name.split(" (")[0].split(" #")[0], (None, None))
        if spec is not None:
            table.at[i, "persona"] = key
            table.at[i, "description"] = spec.get("description", "")
            table.at[i, "actions"] = list(spec.get("actions", []))
        else:  # a descriptive name: no catalogued description or actions apply
            table.at[i, "persona"] = None
            table.at[i, "description"] = f"Kept from the previous version: {name}."
            table.at[i, "actions"] = []
    dup = table["name"].duplicated(keep=False) & ~table["segment"].isin(list(kept))
    table.loc[dup, "name"] = table.loc[dup].apply(lambda r: f"{r['name']} #{r['segment']}", axis=1)
    return dataclasses.replace(personas, table=table)


def weighted_fit(personas: PersonaAssignment, profile: pd.DataFrame) -> float:
    """Size-weighted mean fit of the described segments (outliers are not one) to their names."""
    weights = profile.set_index("segment")["size"]
    weights = weights[weights.index >= 0]
    fit = personas.table.set_index("segment")["fit"]
    return float((fit * weights).sum() / weights.sum())

