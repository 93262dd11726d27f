"""Name segments at two levels: each fine segment its own true name and type, and the segments
grouped into a few personas, the level a marketing team acts on.

A type's rules (the catalogue: gold, loyal, sleeping ...) are conditions on segment profile
statistics (see :func:`clustering.personas.profiles.profile_segments`). Each condition gives a
soft score in (0, 1): a logistic curve centred on the threshold, so a segment just past a
threshold scores about 0.5 and one well past it about 1. A segment's fit to a type is the
geometric mean of its condition scores: one clearly failed condition rules the type out.

A segment takes the type it fits best among those it earns (fit at least ``min_fit`` and at
least ``min_member_share`` of its members fitting themselves); several segments may share a
type, and then each is told apart by what sets it apart from the others ("Loyal customers
(large orders)"). A segment that earns no type is named by its distinguishing features
("Large orders, rare"). Names are unique, in words, never numbers or code names, and never from
a value members have only as an imputation (a purchase cycle needs two orders).

The catalogue's ``personas`` group the types into at most ``max`` personas (default 7, the
practitioners' 3-7), each with its description and actions; a segment belongs to the persona of
its type, or of the type it comes closest to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustering.errors import ConfigError
from clustering.personas.profiles import in_words, telling


@dataclass
class Persona:
    key: str
    name: str
    description: str
    actions: list[str]
    rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Group:
    """A persona: the marketer's level, a group of catalogue types with what to do."""

    key: str
    name: str
    description: str
    actions: list[str]
    types: list[str]


@dataclass
class PersonaAssignment:
    """Per segment: its type (catalogue key, None where none is earned), unique
    ``segment_name``, ``persona`` (the group, the marketer's level), fit and what to do."""

    table: pd.DataFrame  # segment, type, segment_name, persona_key, persona, fit, member_share,
    #                      description, actions
    fit_matrix: pd.DataFrame  # segments x type keys: fit of the segment's profile
    member_share: pd.DataFrame | None = None  # segments x type keys: members that fit
    eligible: pd.DataFrame | None = None  # segments x type keys: the name is earned
    renamed: pd.DataFrame | None = None  # inherited names the segments no longer earn
    groups: dict[str, Group] = field(default_factory=dict)  # persona key -> persona

    def names(self) -> dict[int, str]:
        """Segment id -> its own name (the fine level)."""
        return dict(zip(self.table["segment"].astype(int), self.table["segment_name"],
                        strict=True))

    def personas(self) -> dict[int, str]:
        """Segment id -> its persona's name (the marketer's level)."""
        return dict(zip(self.table["segment"].astype(int), self.table["persona"], strict=True))


def load_catalogue(path: str | Path) -> dict[str, Any]:
    """Read a persona catalogue YAML (as in ``conf/personas/``) without Hydra."""
    import yaml

    return yaml.safe_load(Path(path).read_text())


def parse_catalogue(spec: dict[str, Any]) -> tuple[list[Persona], dict[str, Persona]]:
    """The rule-based types and the special ones (prospects, outliers)."""
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


def parse_groups(spec: dict[str, Any], types: list[Persona]) -> dict[str, Group]:
    """The personas that group the catalogue's types (``spec["personas"]``); without them, each
    type is its own persona. Every type belongs to exactly one, and there are at most ``max``."""
    given = spec.get("personas") or {}
    if not given:
        return {t.key: Group(t.key, t.name, t.description, t.actions, [t.key]) for t in types}
    groups = {}
    for key, d in given.items():
        try:
            groups[key] = Group(key, d["name"], d.get("description", ""),
                                list(d.get("actions", [])), list(d["types"]))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"personas.personas.{key}: missing {exc}") from None
    owner: dict[str, str] = {}
    for g in groups.values():
        for t in g.types:
            if t in owner:
                raise ConfigError(f"type '{t}' is in two personas: '{owner[t]}' and '{g.key}'")
            owner[t] = g.key
    loose = [t.key for t in types if t.key not in owner]
    if loose:
        raise ConfigError(f"types {loose} belong to no persona: add them to one of "
                          f"personas.personas ({', '.join(groups)})")
    most = int(spec.get("max") or 7)
    if len(groups) > most:
        raise ConfigError(f"{len(groups)} personas in the catalogue, more than personas.max="
                          f"{most}: group some types together")
    return groups


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
    words = in_words(telling(profile_row, min_z)[:max_words])
    if not words:
        return "Average customers"
    text = ", ".join(words)
    return text[0].upper() + text[1:]


def _qualifiers(prof: pd.DataFrame, siblings: list[int]) -> dict[int, list[str]]:
    """For segments of one type, what sets each apart from the others, in words, most telling
    first: its profile's differences from the siblings' mean (features its members have only
    imputed left out)."""
    z = [c for c in prof.columns if c.startswith("z_")]
    mean = prof.loc[siblings, z].mean()
    out = {}
    for s in siblings:
        row = prof.loc[s].copy()
        row[z] = prof.loc[s, z] - mean
        out[s] = in_words(telling(row, 0.2))
    return out


def _unique_names(base: dict[int, str], qualifiers: dict[int, list[str]]) -> dict[int, str]:
    """``base`` names made unique with the fewest qualifiers: one word each where it tells the
    segments apart, more where it does not ('Loyal customers (large orders, frequent)')."""
    names = dict(base)
    for depth in range(1, 4):
        counts = pd.Series(names).value_counts()
        clash = [s for s, n in names.items() if counts[n] > 1]
        if not clash:
            break
        for s in clash:
            words = qualifiers.get(s, [])[:depth]
            if words:
                names[s] = f"{base[s]} ({', '.join(words)})"
    counts = pd.Series(names).value_counts()
    for s in [s for s, n in names.items() if counts[n] > 1]:  # alike in every word: all words
        words = qualifiers.get(s, [])
        if len(words) > 3:
            names[s] = f"{base[s]} ({', '.join(words)})"
    return names


def name_personas(
    profile: pd.DataFrame, catalogue: dict[str, Any], min_fit: float | None = None,
    members: pd.DataFrame | None = None, labels: np.ndarray | None = None,
    min_member_share: float | None = None,
) -> PersonaAssignment:
    """Deterministically name every segment of ``profile`` (one row per segment) at both
    levels (see the module docstring).

    A type is earned: its fit to the segment's profile is at least ``min_fit`` and, with
    ``members`` (per-customer statistics, :func:`clustering.personas.profiles.customer_stats`)
    and their ``labels``, at least ``min_member_share`` of the segment's members satisfy its
    rules themselves, so a mixed segment whose mean happens to look loyal is not called loyal.
    """
    types, special = parse_catalogue(catalogue)
    groups = parse_groups(catalogue, types)
    group_of = {t: g for g in groups.values() for t in g.types}
    min_fit = float(catalogue.get("min_fit", 0.5) if min_fit is None else min_fit)
    floor = float(catalogue.get("min_member_share", 0.0)
                  if min_member_share is None else min_member_share)
    prof = profile.set_index("segment")
    regular = [s for s in prof.index if s >= 0]
    fit = pd.DataFrame({p.key: persona_fits(prof.loc[regular], p) for p in types},
                       index=regular, columns=[p.key for p in types])
    if members is not None and labels is not None and types:
        share = member_shares(members, labels, types, prof).reindex(
            index=regular, columns=fit.columns).fillna(0.0)
    else:
        share = pd.DataFrame(1.0, index=regular, columns=fit.columns)
    eligible = (fit >= min_fit) & (share >= floor)
    by_key = {p.key: p for p in types}
    earned = {s: (fit.loc[s].where(eligible.loc[s]).idxmax()
                  if types and eligible.loc[s].any() else None) for s in regular}
    base = {s: by_key[k].name if k else descriptive_name(prof.loc[s]) for s, k in earned.items()}
    same: dict[str, list[int]] = {}
    for s, name in base.items():
        same.setdefault(name, []).append(s)
    qualifiers: dict[int, list[str]] = {}
    for members_of in (m for m in same.values() if len(m) > 1):
        qualifiers |= _qualifiers(prof, members_of)
    names = _unique_names(base, qualifiers)
    records = []
    for s in prof.index:
        if s < 0:
            p = special.get("outliers") or Persona("outliers", "Outliers / unassigned", "", [])
            records.append((s, p.key, p.name, p.key, p.name, 1.0, np.nan, p.description,
                            p.actions))
            continue
        k = earned[s]
        nearest = k or (str(fit.loc[s].idxmax()) if types else None)
        g = group_of.get(nearest) if nearest else None
        if k:
            t = by_key[k]
            records.append((s, k, names[s], g.key, g.name, fit.at[s, k], share.at[s, k],
                            t.description, t.actions))
        else:
            f = float(fit.loc[s].max()) if types else 0.0
            records.append((s, None, names[s], g.key if g else None,
                            g.name if g else names[s], f, np.nan,
                            f"No catalogued type fits well; sets it apart: "
                            f"{prof.loc[s].get('distinguishing', '')}.",
                            g.actions if g else []))
    table = pd.DataFrame(records, columns=["segment", "type", "segment_name", "persona_key",
                                           "persona", "fit", "member_share", "description",
                                           "actions"])
    return PersonaAssignment(table=table, fit_matrix=fit, member_share=share,
                             eligible=eligible, groups=groups)


def keep_previous_names(personas: PersonaAssignment, previous_names: dict[int, str],
                        matches: pd.DataFrame, specs: dict[str, dict],
                        version: str = "the previous version",
                        ) -> PersonaAssignment:
    """Matched segments keep the previous version's name when they still earn its type (fit
    and member share above the floors) and no other segment is now called so; otherwise the
    name follows what the segment is now, and ``renamed`` says so (``specs``: the catalogue's
    types by key). Descriptive names are always recomputed."""
    table = personas.table.copy()
    by_name = {v["name"]: k for k, v in specs.items()}
    group_of = {t: g for g in personas.groups.values() for t in g.types}
    renamed = []
    for r in matches.itertuples():
        if r.status != "matched":
            continue
        seg, old = int(r.published_id), previous_names.get(int(r.previous_segment))
        key = by_name.get(str(old).split(" (")[0].split(" #")[0]) if old else None
        i = table.index[table["segment"] == seg]
        if key is None or len(i) == 0:
            continue
        i = i[0]
        now = table.at[i, "segment_name"]
        taken = set(table["segment_name"].drop(index=i))
        if (seg in personas.eligible.index and personas.eligible.at[seg, key]
                and old not in taken):
            spec, g = specs[key], group_of.get(key)
            table.loc[i, ["type", "segment_name", "description"]] = [
                key, old, spec.get("description", "")]
            if g is not None:
                table.loc[i, ["persona_key", "persona"]] = [g.key, g.name]
            table.at[i, "actions"] = list(spec.get("actions", []))
            table.at[i, "fit"] = personas.fit_matrix.at[seg, key]
            table.at[i, "member_share"] = personas.member_share.at[seg, key]
        elif now != old:
            renamed.append({"segment": seg, "previous_name": old, "name": now,
                            "fit": float(table.at[i, "fit"]),
                            "message": f"segment {seg} was '{old}' in {version}, now "
                                       f"'{now}' ({float(table.at[i, 'fit']):.2f}); renamed"})
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

