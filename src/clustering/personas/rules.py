"""Segment rules a CRM can run: a shallow surrogate tree on the business features.

A pickled model runs only in Python. :func:`fit_rules` fits a decision tree that predicts the
model's segment from the customers' business features (recency, orders, revenue ...), as
shallow as reaches the wanted agreement, and turns every leaf into a rule: a range per
feature, with thresholds rounded to the plainest number that sorts the customers the same
way. The rules partition the customers (each falls in exactly one), so they export as one
SQL ``CASE`` and as JSON, and each segment's rules carry their coverage (the share of the
segment's members they catch) and precision (the share of the customers they catch that are
in the segment).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from clustering.inputs.sql import ident, literal, literals
from clustering.reporting.glossary import COUNTS, MONEY, SHARES, label, value
from clustering.reporting.report import Section


@dataclass(frozen=True)
class Condition:
    """``low < feature <= high`` (None: unbounded on that side); for an attribute,
    ``feature = equals`` or ``feature NOT IN not_in``."""

    feature: str
    low: float | None = None
    high: float | None = None
    equals: str | None = None
    not_in: tuple[str, ...] | None = None

    def mask(self, x: np.ndarray) -> np.ndarray:
        if self.equals is not None:
            return x == self.equals
        if self.not_in is not None:
            return ~np.isin(x, list(self.not_in))
        keep = np.ones(len(x), dtype=bool)
        if self.low is not None:
            keep &= x > self.low
        if self.high is not None:
            keep &= x <= self.high
        return keep

    def sql(self, column: str) -> str:
        if self.equals is not None:
            return f"{column} = {literal(self.equals)}"
        if self.not_in is not None:
            return f"{column} NOT IN ({literals(self.not_in)})"
        parts = ([f"{column} > {_number(self.low)}"] if self.low is not None else []) + (
            [f"{column} <= {_number(self.high)}"] if self.high is not None else [])
        return " AND ".join(parts)

    def words(self, currency: str = "") -> str:
        name = label(self.feature).split(" (")[0]
        if self.equals is not None:
            return f"{name} is {self.equals or '(blank)'}"
        if self.not_in is not None:
            return f"{name} is not {' or '.join(v or '(blank)' for v in self.not_in)}"

        def say(v: float | None) -> str | None:
            if v is None:
                return None
            typed = self.feature in MONEY | COUNTS | SHARES
            return value(self.feature, v, currency) if typed else f"{v:.3g}"

        lo, hi = say(self.low), say(self.high)
        if lo is not None and hi is not None:
            return f"{name} over {lo} and at most {hi}"
        return f"{name} over {lo}" if lo is not None else f"{name} at most {hi}"


@dataclass(frozen=True)
class Rule:
    """One leaf: the segment its customers get, its conditions, how many of the fitted
    customers it caught and the share of them in the segment."""

    segment: int
    conditions: tuple[Condition, ...]
    customers: int
    precision: float


@dataclass
class SegmentRules:
    """Every leaf's rule, the features they read (with the value a missing one counts as),
    the tree's depth, and per segment its rules' coverage and precision on the customers
    they were measured on."""

    rules: list[Rule]
    missing: dict[str, float]
    depth: int
    agreement: float
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict[int, str] = field(default_factory=dict)
    categorical: list[str] = field(default_factory=list)  # attributes, read as text

    @property
    def features(self) -> list[str]:
        return list(self.missing) + list(self.categorical)

    def predict(self, frame: pd.DataFrame, chunk: int = 200_000) -> np.ndarray:
        """The segment each row's rule gives (the exported rules, not the tree); ``chunk``
        rows at a time (a million rows' columns held at once took 200 MB)."""
        if len(frame) > chunk:
            return np.concatenate([self.predict(frame.iloc[i:i + chunk], chunk)
                                   for i in range(0, len(frame), chunk)])
        cols = {f: frame[f].to_numpy(dtype=float, na_value=np.nan) for f in self.missing}
        cols = {f: np.where(np.isnan(v), self.missing[f], v) for f, v in cols.items()}
        cols |= {a: as_text(frame[a]) for a in self.categorical}
        out = np.full(len(frame), -1, dtype=np.int64)
        for r in self.rules:
            hit = np.ones(len(frame), dtype=bool)
            for c in r.conditions:
                hit &= c.mask(cols[c.feature])
            out[hit] = r.segment
        return out

    def sql(self, table: str = "customer_features", output: str = "segment") -> str:
        """A ``SELECT`` adding the segment to ``table``'s rows, as one SQL ``CASE``."""
        lines = [f"-- {len(self.rules)} rules, agreement with the model {self.agreement:.1%}",
                 "SELECT *,", "  CASE"]
        for r in self.rules:
            conds = " AND ".join(c.sql(self._column(c.feature)) for c in r.conditions) or "TRUE"
            name = self.names.get(r.segment, "").replace("*/", "")
            lines.append(f"    WHEN {conds} THEN {r.segment}  /* {name} */")
        lines += [f"  END AS {ident(output)}", f"FROM {table}"]
        return "\n".join(lines) + "\n"

    def _column(self, feature: str) -> str:
        col = ident(feature)
        if feature in self.categorical:  # a missing attribute reads as ''
            return f"COALESCE(CAST({col} AS VARCHAR), '')"
        fill = self.missing[feature]
        return col if math.isnan(fill) else f"COALESCE({col}, {_number(fill)})"

    def to_json(self) -> str:
        rules = [{"segment": r.segment, "name": self.names.get(r.segment, ""),
                  "customers": r.customers, "precision": round(r.precision, 4),
                  "conditions": [{k: (list(v) if isinstance(v, tuple) else v)
                                  for k, v in asdict(c).items() if v is not None}
                                 for c in r.conditions]} for r in self.rules]
        return json.dumps({"agreement": round(self.agreement, 4), "depth": self.depth,
                           "missing_values": {f: (None if math.isnan(v) else v)
                                              for f, v in self.missing.items()},
                           "attributes": list(self.categorical),
                           "condition": "low < value <= high; a missing value counts as "
                                        "missing_values[feature]; an attribute equals a value "
                                        "or is not_in a list ('' when missing)",
                           "rules": rules}, indent=2) + "\n"

    def words(self, segment: int, currency: str = "", most: int = 1) -> str:
        """The segment's ``most`` largest rules in words."""
        mine = sorted((r for r in self.rules if r.segment == segment),
                      key=lambda r: -r.customers)
        said = ["; or ".join(" and ".join(c.words(currency) for c in r.conditions) or "everyone"
                             for r in mine[:most])]
        if len(mine) > most:
            said.append(f" (+{len(mine) - most} smaller rule{'s' * (len(mine) - most > 1)})")
        return "".join(said)


def as_text(col: pd.Series) -> np.ndarray:
    """An attribute as the rules compare it: text, '' where missing."""
    return col.astype(object).where(col.notna(), "").astype(str).to_numpy()


def _number(v: float) -> str:
    return repr(int(v)) if float(v).is_integer() else repr(float(v))


def plain_threshold(lo: float, hi: float) -> float:
    """The number with the fewest significant digits in ``[lo, hi)``: every value ``<= lo``
    stays at or below it, every value ``>= hi`` above it (``lo < hi``)."""
    scale = max(abs(lo), abs(hi), 1e-12)
    for digits in range(1, 16):
        step = 10.0 ** (math.floor(math.log10(scale)) - digits + 1)
        t = math.ceil(lo / step) * step
        t = round(t, max(0, -math.floor(math.log10(step))))
        if lo <= t < hi:
            return float(t)
    return float(lo)


def fit_rules(frame: pd.DataFrame, segments: np.ndarray, features: list[str],
              names: dict[int, str] | None = None, target: float = 0.9, max_depth: int = 8,
              min_leaf_share: float = 0.005, fit_rows: int = 100_000, seed: int = 0,
              categorical: list[str] | None = None) -> SegmentRules:
    """Rules for ``segments`` from ``frame``'s numeric ``features`` (and its ``categorical``
    attributes, one yes/no question per value): the shallowest tree up to ``max_depth`` whose
    rules agree with the segments on ``target`` of the customers (leaves of at least
    ``min_leaf_share`` of them), fitted on at most ``fit_rows`` of them (seeded) and measured
    on all."""
    from sklearn.tree import DecisionTreeClassifier

    segments = np.asarray(segments)
    rows = np.arange(len(frame))
    if len(frame) > fit_rows:  # only the fitted rows are held as a matrix
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), fit_rows, replace=False))
    fitted = frame.iloc[rows]
    X = fitted[features].to_numpy(dtype=float, na_value=np.nan)
    medians = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0) \
        if len(X) else np.zeros(len(features))
    # a missing value counts as the fitted median, also where training had none missing
    missing = {f: float(m) for f, m in zip(features, medians, strict=True)}
    X = np.where(np.isnan(X), medians, X)
    categorical = list(categorical or [])
    onehot = {}  # column of the tree -> (attribute, value)
    parts = [X]
    for a in categorical:
        text = as_text(fitted[a])
        for v in sorted(set(as_text(frame[a]))):
            onehot[len(onehot) + len(features)] = (a, v)
            parts.append((text == v).astype(float)[:, None])
    X = np.hstack(parts) if len(parts) > 1 else X
    # one tree at the deepest; a shallower one is its top (each node's split is the best for
    # its rows whatever the depth), so each depth is read off it, not fitted again
    tree = DecisionTreeClassifier(max_depth=max_depth, random_state=seed,
                                  min_samples_leaf=max(1, int(min_leaf_share * len(rows))))
    tree.fit(X, segments[rows])
    cut = plain_cuts(tree, X, set(onehot))
    for depth in range(1, max(tree.get_depth(), 1) + 1):
        rules = SegmentRules(_leaf_rules(tree, features, cut, depth, onehot), missing, depth,
                             0.0, names=dict(names or {}), categorical=categorical)
        if (rules.predict(fitted) == segments[rows]).mean() >= target:
            break
    predicted = rules.predict(frame)
    rules.agreement = float((predicted == segments).mean())
    rules.table = rule_table(rules, segments, predicted)
    return rules


def plain_cuts(tree, X: np.ndarray, skip: set[int] = frozenset()) -> dict[int, float]:
    """Per split node, the plain threshold that splits the fitted rows ``X`` as the tree's
    does (between the largest value at or below it and the smallest above); nodes splitting
    a column in ``skip`` (the attributes' yes/no columns) keep the tree's."""
    t = tree.tree_
    ordered = {}
    cut = {}
    for node in np.flatnonzero(t.children_left >= 0):
        f = int(t.feature[node])
        if f in skip:
            cut[int(node)] = float(t.threshold[node])
            continue
        if f not in ordered:
            ordered[f] = np.sort(X[:, f])
        x = ordered[f]
        i = int(np.searchsorted(x, t.threshold[node], side="right"))
        cut[int(node)] = plain_threshold(float(x[i - 1]), float(x[i])) if 0 < i < len(x) \
            else float(t.threshold[node])
    return cut


def _leaf_rules(tree, features: list[str], cut: dict[int, float], depth: int,
                onehot: dict[int, tuple[str, str]] | None = None) -> list[Rule]:
    """One rule per leaf of the tree's top ``depth`` levels, siblings with the same segment
    merged, thresholds made plain; a split on an attribute's value (``onehot``) reads as
    the attribute being, or not being, that value."""
    onehot = onehot or {}
    t = tree.tree_
    classes = tree.classes_
    out: list[Rule] = []

    def segment_of(node: int, level: int) -> int | None:
        """The node's segment when every leaf below it predicts the same one."""
        if t.children_left[node] < 0 or level == depth:
            return int(classes[np.argmax(t.value[node][0])])
        left = segment_of(t.children_left[node], level + 1)
        right = segment_of(t.children_right[node], level + 1)
        return left if left is not None and left == right else None

    def walk(node: int, bounds: dict[str, list], level: int) -> None:
        seg = segment_of(node, level)
        if seg is not None:
            share = t.value[node][0] / t.value[node][0].sum()
            conds = tuple(
                Condition(f, equals=b[1]) if b[0] == "eq" else
                Condition(f, not_in=tuple(sorted(b[1]))) if b[0] == "ne" else
                Condition(f, b[0], b[1]) for f, b in bounds.items())
            out.append(Rule(seg, conds, int(t.n_node_samples[node]),
                            float(share[list(classes).index(seg)])))
            return
        if int(t.feature[node]) in onehot:  # left: not this value; right: this value
            a, v = onehot[int(t.feature[node])]
            now = bounds.get(a, ("ne", frozenset()))
            no = now if now[0] == "eq" else ("ne", now[1] | {v})
            walk(t.children_left[node], {**bounds, a: no}, level + 1)
            walk(t.children_right[node], {**bounds, a: ("eq", v)}, level + 1)
            return
        f, thr = features[t.feature[node]], cut[node]
        lo, hi = bounds.get(f, [None, None])
        walk(t.children_left[node], {**bounds, f: [lo, thr if hi is None else min(hi, thr)]},
             level + 1)
        walk(t.children_right[node], {**bounds, f: [thr if lo is None else max(lo, thr), hi]},
             level + 1)

    walk(0, {}, 0)
    return sorted(out, key=lambda r: (r.segment, -r.customers))


def rule_table(rules: SegmentRules, segments: np.ndarray, predicted: np.ndarray
               ) -> pd.DataFrame:
    """Per segment: its members, its rules, their coverage and precision."""
    rows = []
    for s in np.unique(segments):
        member, caught = segments == s, predicted == s
        both = int((member & caught).sum())
        rows.append({"segment": int(s), "name": rules.names.get(int(s), ""),
                     "customers": int(member.sum()),
                     "rules": sum(r.segment == s for r in rules.rules),
                     "coverage": both / max(int(member.sum()), 1),
                     "precision": both / int(caught.sum()) if caught.any() else float("nan")})
    return pd.DataFrame(rows)


def rules_section(rules: SegmentRules, currency: str = "") -> Section:
    """The report's part on the rules: how far they agree, and each segment's largest rule."""
    t = rules.table
    table = pd.DataFrame({
        "segment": t["segment"], "name": t["name"], "customers": t["customers"],
        "rules": t["rules"], "coverage": t["coverage"].map(lambda v: f"{v:.0%}"),
        "precision": t["precision"].map(lambda v: "" if pd.isna(v) else f"{v:.0%}"),
        "who (its largest rule)": [rules.words(int(s), currency) for s in t["segment"]]})
    text = (f"{len(rules.rules)} rules on the business features give {rules.agreement:.1%} of "
            f"the customers the model's segment (a tree {rules.depth} questions deep). A CRM or "
            "a marketing tool runs them without the model: segment_rules.sql (one SQL CASE) "
            "and segment_rules.json, beside this report and the model. Coverage: the share of "
            "a segment's customers its rules catch; precision: the share of the customers they "
            "catch that are in the segment.")
    return Section("Segment rules for the CRM", text, table)
