"""Map segments to business-readable personas from a catalogue of matching rules.

A persona's rules are conditions on segment profile statistics (see
:func:`clustering.personas.profiles.profile_segments`). Each condition gives a soft score in (0, 1): a
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
    "cycles_missed": ("overdue", "on their rhythm"),
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

    table: pd.DataFrame  # segment, persona, name, fit, member_share, description, actions
    fit_matrix: pd.DataFrame  # segments x persona keys: fit of the segment's profile
    member_share: pd.DataFrame | None = None  # segments x persona keys: members that fit
    eligible: pd.DataFrame | None = None  # segments x persona keys: the name is earned
    renamed: pd.DataFrame | None = None  # inherited names the segments no longer earn

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


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def condition_scores(stats: pd.DataFrame, cond: dict[str, Any]) -> np.ndarray:
    """Soft truth (0..1) of one condition for every row of ``stats`` (segments or customers).

    A statistic the data does not have scores 0: the persona cannot be claimed."""
    if "any" in cond:
        return np.max([condition_scores(stats, c) for c in cond["any"]], axis=0)
    stat = cond.get("stat")
    if stat not in stats:
        return np.zeros(len(stats))
    x = pd.to_numeric(stats[stat], errors="coerce").to_numpy(dtype=np.float64)
    if "between" in cond:
        lo, hi = cond["between"]
        return np.minimum(
            condition_scores(stats, {"stat": stat, "ge": lo, "soft": cond.get("soft")}),
            condition_scores(stats, {"stat": stat, "le": hi, "soft": cond.get("soft")}))
    if "ge" in cond:
        v = float(cond["ge"])
        out = _sigmoid((x - v) / (cond.get("soft") or _default_soft(stat, v)))
    elif "le" in cond:
        v = float(cond["le"])
        out = _sigmoid((v - x) / (cond.get("soft") or _default_soft(stat, v)))
    else:
        raise ConfigError(f"persona rule {cond} needs ge, le, between or any")
    return np.where(np.isnan(x), 0.0, out)


def condition_score(profile_row: pd.Series, cond: dict[str, Any]) -> float:
    """Soft truth (0..1) of one condition on one segment's profile."""
    return float(condition_scores(profile_row.to_frame().T, cond)[0])


def persona_fits(stats: pd.DataFrame, persona: Persona) -> np.ndarray:
    """Geometric mean of the persona's condition scores for every row of ``stats``."""
    scores = np.vstack([condition_scores(stats, c) for c in persona.rules])
    return np.exp(np.mean(np.log(np.maximum(scores, 1e-12)), axis=0))


def persona_fit(profile_row: pd.Series, persona: Persona) -> float:
    return float(persona_fits(profile_row.to_frame().T, persona)[0])


def member_shares(members: pd.DataFrame, labels: np.ndarray, personas: list[Persona],
                  segment_stats: pd.DataFrame) -> pd.DataFrame:
    """Segments x personas: the share of a segment's members that satisfy the persona's rules
    themselves (their own fit >= 0.5). ``members`` holds per-customer statistics named as
    the profile's (:func:`clustering.personas.profiles.customer_stats`); statistics that only a
    segment has (share, revenue_share) are taken from ``segment_stats``."""
    labels = np.asarray(labels)
    per_segment = segment_stats.reindex(labels).reset_index(drop=True)
    stats = members.reset_index(drop=True).copy()
    for c in ("share", "revenue_share"):
        if c in per_segment:
            stats[c] = per_segment[c].to_numpy()
    ok = pd.DataFrame({p.key: persona_fits(stats, p) >= 0.5 for p in personas})
    return ok.groupby(labels).mean()


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
    profile: pd.DataFrame, catalogue: dict[str, Any], min_fit: float | None = None,
    members: pd.DataFrame | None = None, labels: np.ndarray | None = None,
    min_member_share: float | None = None,
) -> PersonaAssignment:
    """Deterministically name every segment of ``profile`` (one row per segment).

    A persona's name is earned: its fit to the segment's profile is at least ``min_fit`` and,
    with ``members`` (per-customer statistics, :func:`clustering.personas.profiles.customer_stats`)
    and their ``labels``, at least ``min_member_share`` of the segment's members satisfy its
    rules themselves, so a mixed segment whose mean happens to look loyal is not called loyal.
    """
    personas, special = parse_catalogue(catalogue)
    min_fit = float(catalogue.get("min_fit", 0.5) if min_fit is None else min_fit)
    floor = float(catalogue.get("min_member_share", 0.0)
                  if min_member_share is None else min_member_share)
    prof = profile.set_index("segment")
    regular = [s for s in prof.index if s >= 0]
    fit = pd.DataFrame({p.key: persona_fits(prof.loc[regular], p) for p in personas},
                       index=regular, columns=[p.key for p in personas])
    if members is not None and labels is not None and personas:
        share = member_shares(members, labels, personas, prof).reindex(
            index=regular, columns=fit.columns).fillna(0.0)
    else:
        share = pd.DataFrame(1.0, index=regular, columns=fit.columns)
    eligible = (fit >= min_fit) & (share >= floor)
    assigned: dict[int, int] = {}
    if regular and personas:
        rows, cols = linear_sum_assignment(-fit.where(eligible, -1.0).to_numpy())
        assigned = {regular[r]: c for r, c in zip(rows, cols, strict=True)}
    records = []
    for s in prof.index:
        row = prof.loc[s]
        if s < 0:
            p = special.get("outliers") or Persona("outliers", "Outliers / unassigned", "", [])
            records.append((s, p.key, p.name, 1.0, np.nan, p.description, p.actions))
            continue
        c = assigned.get(s)
        if c is not None and eligible.at[s, personas[c].key]:
            p = personas[c]
            records.append((s, p.key, p.name, fit.at[s, p.key], share.at[s, p.key],
                            p.description, p.actions))
            continue
        ok = fit.loc[s].where(eligible.loc[s])
        if personas and ok.notna().any():  # the best persona it earns, already taken elsewhere
            p = personas[int(np.nanargmax(ok.to_numpy()))]
            qual = descriptive_name(row, max_words=1)
            records.append((s, p.key, f"{p.name} ({qual.lower()})", fit.at[s, p.key],
                            share.at[s, p.key], p.description, p.actions))
        else:
            f = float(fit.loc[s].max()) if personas else 0.0
            records.append((s, None, descriptive_name(row), f, np.nan,
                            f"No catalogued persona fits well; "
                            f"distinguishing: {row.get('distinguishing', '')}.", []))
    table = pd.DataFrame(records, columns=["segment", "persona", "name", "fit", "member_share",
                                           "description", "actions"])
    # names are unique: a repeated one gets the segment id
    dup = table["name"].duplicated(keep="first")
    table.loc[dup, "name"] = table.loc[dup].apply(lambda r: f"{r['name']} #{r['segment']}", axis=1)
    return PersonaAssignment(table=table, fit_matrix=fit, member_share=share,
                             eligible=eligible)


def keep_previous_names(personas: PersonaAssignment, previous_names: dict[int, str],
                        matches: pd.DataFrame, specs: dict[str, dict],
                        version: str = "the previous version",
                        ) -> PersonaAssignment:
    """Matched segments keep the previous version's persona name when they still earn it
    (fit and member share above the floors); otherwise the name follows what the segment is
    now, and ``renamed`` says so (``specs``: the catalogue's personas by key). Descriptive
    names are always recomputed."""
    table = personas.table.copy()
    by_name = {v["name"]: k for k, v in specs.items()}
    renamed, kept = [], []
    for r in matches.itertuples():
        if r.status != "matched":
            continue
        seg, old = int(r.published_id), previous_names.get(int(r.previous_segment))
        key = by_name.get(str(old).split(" (")[0].split(" #")[0]) if old else None
        i = table.index[table["segment"] == seg]
        if key is None or len(i) == 0:
            continue
        i = i[0]
        now = table.at[i, "name"]
        if seg in personas.eligible.index and personas.eligible.at[seg, key]:
            spec = specs[key]
            table.loc[i, ["persona", "name", "description"]] = [key, old, spec.get("description", "")]
            table.at[i, "actions"] = list(spec.get("actions", []))
            table.at[i, "fit"] = personas.fit_matrix.at[seg, key]
            table.at[i, "member_share"] = personas.member_share.at[seg, key]
            kept.append(seg)
        elif now != old:
            renamed.append({"segment": seg, "previous_name": old, "name": now,
                            "fit": float(table.at[i, "fit"]),
                            "message": f"segment {seg} was '{old}' in {version}, now fits "
                                       f"'{now}' ({float(table.at[i, 'fit']):.2f}); renamed"})
    dup = table["name"].duplicated(keep=False) & ~table["segment"].isin(kept)
    table.loc[dup, "name"] = table.loc[dup].apply(lambda r: f"{r['name']} #{r['segment']}", axis=1)
    return dataclasses.replace(personas, table=table, renamed=pd.DataFrame(
        renamed, columns=["segment", "previous_name", "name", "fit", "message"]))


def weighted_fit(personas: PersonaAssignment, profile: pd.DataFrame) -> float:
    """Size-weighted mean fit of the described segments (outliers are not one) to their names."""
    weights = profile.set_index("segment")["size"]
    weights = weights[weights.index >= 0]
    fit = personas.table.set_index("segment")["fit"]
    return float((fit * weights).sum() / weights.sum())


#: members' own fits are checked on at most this many customers (a seeded sample, as the
#: distributed path does): a 5% segment keeps 10,000 sampled members, so its member share has
#: a standard error under half a point; 3 s less at a million customers
MEMBER_SAMPLE = 200_000


def member_sample(n: int, size: int = MEMBER_SAMPLE, seed: int = 0) -> np.ndarray | None:
    """Sorted positions of a seeded sample of ``size`` of ``n`` customers; None: everyone."""
    if n <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def name_segments(buyers: pd.DataFrame, labels: np.ndarray, features: list[str],
                  catalogue: dict[str, Any], min_fit: float, min_member_share: float,
                  previous_names: dict[int, str] | None = None,
                  matches: pd.DataFrame | None = None, version: str = "the previous version",
                  say=print) -> tuple[pd.DataFrame, PersonaAssignment]:
    """Profiles and earned persona names of a labelling (``catalogue``: ``{"catalogue": ...,
    "special": ...}`` as in conf/personas); inherited names are kept where still earned."""
    from clustering.personas.profiles import customer_stats, profile_segments

    profile = profile_segments(buyers, labels, features)
    rows = member_sample(len(buyers))
    personas = name_personas(profile, catalogue, min_fit,
                             customer_stats(buyers, features, rows=rows),
                             np.asarray(labels) if rows is None else np.asarray(labels)[rows],
                             min_member_share)
    if previous_names is not None and matches is not None:
        personas = keep_previous_names(personas, previous_names, matches,
                                       catalogue["catalogue"], version)
        for message in personas.renamed["message"]:
            say(message)
    return profile, personas

