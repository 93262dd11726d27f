"""The practitioners' playbook beside the personas: base health, potential, value baselines.

:func:`playbook` turns the buyers' table (with the signals of :mod:`clustering.features.signals`), their
persona and the fitted baselines into metrics for MLflow, tables for the run's artifacts and the
report's sections, each with the reading a marketer needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clustering.baselines.value import actions as value_actions
from clustering.features.signals import abc_health, churn_cohorts, churn_rate, value_column
from clustering.personas.watchlist import buying_centre, watch_list
from clustering.reporting.report import Section

if TYPE_CHECKING:
    from clustering.baselines.classic import ABCXYZSegmenter


@dataclass
class Playbook:
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # artifact path -> table
    sections: list[Section] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)  # artifact path -> figure
    tags: dict[str, str] = field(default_factory=dict)  # readings, as the run's tags


def _pct(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.1%}"


def _money(x: float, currency: str) -> str:
    return "" if pd.isna(x) else f"{x:,.0f} {currency}".strip()


def label_summary(labels: np.ndarray, value: np.ndarray, actions: dict[str, str] | None,
                  currency: str, extra: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Per label: customers, share, value share, medians of ``extra`` columns, the action."""
    codes, uniques = pd.factorize(labels)  # grouped by integer codes, in order of appearance
    df = pd.DataFrame({"label": codes, "value": np.clip(value, 0, None), **(extra or {})})
    total = df["value"].sum() or 1.0
    g = df.groupby("label", sort=True)
    out = pd.DataFrame({"customers": g.size(), "share": g.size() / len(df),
                        "value share": g["value"].sum() / total})
    for c in extra or {}:
        out[f"median {c}"] = g[c].median()
    out = out.drop(index=-1, errors="ignore")  # no label (NaN) is not a group, as in groupby
    out.index = np.asarray(uniques, dtype=object)[out.index.to_numpy()]
    # ties keep the order in which the labels first appear: the same table on every run
    out = out.sort_values("value share", ascending=False, kind="stable").reset_index(names="label")
    out["share"] = out["share"].map(_pct)
    out["value share"] = out["value share"].map(_pct)
    for c in extra or {}:
        out[f"median {c}"] = out[f"median {c}"].map(
            (lambda v: _money(v, currency)) if "spend" in c else (lambda v: f"{v:.2f}"))
    if actions:
        out["action"] = out["label"].map(actions).fillna("")
    return out


def plot_churn_cohorts(cohorts: pd.DataFrame, new_days: int):
    """New customers per monthly cohort (bars) and the share who never came back (line)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(cohorts))
    ax.bar(x, cohorts["new_customers"], color="#9ecae1", label="new customers")
    ax.set_ylabel("new customers")
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], [d.strftime("%Y-%m") for d in cohorts["cohort"]][::step],
                  rotation=45, ha="right")
    ax2 = ax.twinx()
    ax2.plot(x, cohorts["churn_rate"] * 100, color="#d62728", marker="o", ms=3,
             label="churned %")
    ax2.set_ylabel(f"% with one order only (> {new_days} days ago)")
    ax2.set_ylim(0, 100)
    ax.set_title("New-customer churn by acquisition month")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left")
    fig.tight_layout()
    return fig


def _natural(key) -> tuple:
    """Sort key of trait values with numbers in numeric order (1-9, 10-49, 50-249, 250+)."""
    import re

    parts = key if isinstance(key, tuple) else (key,)
    return tuple(tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p)))
                 for p in parts)


def b2b_matrix(buyers: pd.DataFrame, personas: np.ndarray, value: np.ndarray,
               traits: list[str], segments: np.ndarray | None = None) -> pd.DataFrame:
    """Per combination of external traits (e.g. business type x company size): customers,
    value share, the two most common personas with their shares and, given ``segments``, the
    most common segment (segments of one persona told apart). Counted on integer codes: the
    traits as Python objects and a group-by over them held the GIL for 0.6 s at a million
    customers. Ties go to the value met first in the combination, as ``value_counts`` does."""
    key = np.zeros(len(buyers), dtype=np.int64)
    names: list[list] = []
    for t in traits:
        codes, uniques = pd.factorize(buyers[t])  # a blank trait: -1
        values = list(uniques.astype(object))
        if "(blank)" not in values:
            values.append("(blank)")
        key = key * len(values) + np.where(codes < 0, values.index("(blank)"), codes)
        names.append(values)
    group, keys = pd.factorize(key)  # in order of first appearance, as groupby(sort=False)
    value = np.clip(np.asarray(value, dtype=float), 0, None)
    sizes = np.bincount(group, minlength=len(keys))
    shares = np.bincount(group, weights=value, minlength=len(keys)) / (value.sum() or 1.0)
    top_personas = _most_common(group, len(keys), personas, 2)
    top_segments = None if segments is None else _most_common(group, len(keys),
                                                               np.asarray(segments), 1)
    rows = []
    for g, k in enumerate(keys):
        parts = []
        for values in reversed(names):
            k, i = divmod(int(k), len(values))
            parts.insert(0, values[i])
        tops = [f"{p} {share:.0%}" for p, share in top_personas[g]]
        row = [*parts, int(sizes[g]), _pct(shares[g]), tops[0], tops[1] if len(tops) > 1 else ""]
        if top_segments is not None:
            row.append("{} ({:.0%})".format(*top_segments[g][0]))
        rows.append(row)
    rows.sort(key=lambda r: _natural(tuple(r[:len(traits)])))
    return pd.DataFrame(rows, columns=[*traits, "customers", "value share", "top persona",
                                       "second persona",
                                       *(["top segment"] if segments is not None else [])])


def _most_common(group: np.ndarray, n_groups: int, labels: np.ndarray, top: int
                 ) -> list[list[tuple]]:
    """Per group, its ``top`` most common labels with their shares of the group; ties go to
    the label met first in the group."""
    codes, uniques = pd.factorize(labels)  # a missing label (-1) is not counted
    rows = np.flatnonzero(codes >= 0)
    pair = group[rows].astype(np.int64) * len(uniques) + codes[rows]
    counts = np.bincount(pair, minlength=n_groups * len(uniques)).reshape(n_groups, -1)
    seen, first = np.unique(pair, return_index=True)
    first_row = np.full(counts.size, len(labels))
    first_row[seen] = rows[first]
    first_row = first_row.reshape(n_groups, -1)
    out = []
    for g in range(n_groups):
        order = np.lexsort((first_row[g], -counts[g]))[:top]
        size = counts[g].sum()
        out.append([(uniques[c], counts[g, c] / size) for c in order if counts[g, c] > 0])
    return out


def playbook(buyers: pd.DataFrame, personas: np.ndarray, fitted: dict, snapshot: dt.date,
             window_start: dt.date, currency: str, new_customer_days: int = 60,
             abc_share: float = 0.80, horizon_days: int = 90, matrix: list[str] | None = None,
             attribute_quality: pd.DataFrame | None = None,
             everyone: pd.DataFrame | None = None, overdue_cycles: float = 2.0,
             segments: np.ndarray | None = None, role: str | None = None) -> Playbook:
    """Metrics, tables and report sections of the playbook for the buyers (rows of
    ``buyers`` with their ``personas``, in the same order); ``matrix``: the external traits
    crossed with personas (when all are attributes); ``attribute_quality``: the customers
    table's checks (:mod:`clustering.inputs.attributes`); ``everyone``: every customer's features and
    signals (activity states, leads, the watch list); ``overdue_cycles``: the overdue flag's
    setting, for its reading; ``segments``: the buyers' segment ids, crossed with the traits
    too; ``role``: the attribute naming the contact's buying-centre role."""
    pb = Playbook()
    vcol = value_column(buyers)
    value = buyers[vcol].fillna(0).to_numpy(float)
    what = "profit" if vcol == "profit_total" else "net revenue"

    # the parts in the report's order, each adding its metrics, tables and figures to pb
    sections = [_abc_concentration(value, abc_share, what, pb)]
    if "abc_xyz" in fitted:
        sections.append(_abc_xyz_tiers(buyers, fitted["abc_xyz"], value, currency, pb))
    if "expected_spend" in buyers:
        sections.append(_potential(buyers, personas, value, currency, horizon_days, pb))
    sections += _value_labellings(buyers, fitted, value, what, currency, pb)
    if "overdue" in buyers:
        sections.append(_overdue(buyers, personas, overdue_cycles, pb))
    sections += _new_customer_churn(buyers, snapshot, window_start, new_customer_days, pb)
    if matrix and all(t in buyers for t in matrix):
        sections.append(_trait_matrix(buyers, personas, value, matrix, segments, pb))
    if everyone is not None and "activity_state" in everyone:
        sections += _activity_and_leads(everyone, matrix, pb)
    if everyone is not None:
        sections += watch_list(everyone, vcol, pb.metrics, pb.tables)
    if role:
        sections += buying_centre(buyers, role, pd.Series(np.asarray(personas, dtype=object),
                                                          index=buyers.index, dtype=object),
                                  pb.tables)
    if attribute_quality is not None and len(attribute_quality):
        sections.append(_attribute_quality(attribute_quality, pb))
    pb.sections = sections
    return pb


def _abc_concentration(value: np.ndarray, abc_share: float, what: str, pb: Playbook) -> Section:
    """Base health: the share of customers who make ``abc_share`` of the value, and its
    reading."""
    top, reading = abc_health(value, abc_share)
    pb.metrics["abc_top_customer_share"] = top
    pb.tags["abc_reading"] = reading  # the run list in the UI shows it beside the share
    text = (f"{_pct(top)} of customers make {abc_share:.0%} of {what}: {reading}. "
            "The practitioners' reading: 5-10% is a dangerous dependence on a few customers, "
            "15-25% is balanced, around 50% is costly to serve.")
    return Section("Base health: ABC concentration", text)


def _abc_xyz_tiers(buyers: pd.DataFrame, est: ABCXYZSegmenter, value: np.ndarray,
                   currency: str, pb: Playbook) -> Section:
    """Customers and value per ABC-XYZ attention tier, with its cells and action."""
    cols = est.label_columns(buyers, "abc_xyz")
    t = label_summary(cols["abc_xyz_tier"].to_numpy(), value,
                      {k: v.get("action", "") for k, v in est.tier_table().items()}, currency)
    cells = {k: ", ".join(v.get("cells", [])) for k, v in est.tier_table().items()}
    t.insert(1, "cells", t["label"].map(cells))
    pb.tables["playbook/abc_xyz_tiers.csv"] = t
    return Section("Attention by ABC-XYZ cell", "Where the managers' time goes: "
                   "the cells that need the most attention first.", t)


def _potential(buyers: pd.DataFrame, personas: np.ndarray, value: np.ndarray, currency: str,
               horizon_days: int, pb: Playbook) -> Section:
    """The buy-till-you-die model's expected orders and spend, and p_alive per persona."""
    spend = buyers["expected_spend"].to_numpy(float)
    alive = buyers["p_alive"].to_numpy(float)
    pb.metrics |= {"p_alive_mean": float(np.nanmean(alive)),
                   "expected_orders_total": float(np.nansum(buyers["expected_orders"])),
                   "expected_spend_total": float(np.nansum(spend))}
    t = label_summary(np.asarray(personas, dtype=object), value, None, currency,
                      {"p_alive": alive, "expected spend": spend})
    pb.tables["playbook/potential_by_persona.csv"] = t
    return Section(
        f"Potential: the next {horizon_days} days",
        f"A buy-till-you-die model (BG/NBD with Gamma-Gamma spend) expects "
        f"{np.nansum(buyers['expected_orders']):,.0f} orders worth "
        f"{_money(np.nansum(spend), currency)} from today's buyers in the next {horizon_days} "
        "days. p_alive: the chance a customer still buys from us at all (1.0 for one-time "
        "buyers by the model's construction: it lets customers drop out only after a repeat "
        "order; their expected spend says how likely they return).", t)


def _value_labellings(buyers: pd.DataFrame, fitted: dict, value: np.ndarray, what: str,
                      currency: str, pb: Playbook) -> list[Section]:
    """The fitted value baselines (value vs potential, VIP) summarised with their actions."""
    sections = []
    for name, title, intro in (
        ("value_potential", "Value vs potential",
         f"Today's {what} against the expected spend of the next period: hold, develop, "
         "harvest, release."),
        ("vip", "VIP / regular / difficult",
         f"By {what}; difficult: many returns or cancellations, late payment, deep discounts "
         "or a loss."),
        ("bcg", "BCG growth matrix",
         "Size (net revenue, big at the median) x growth (the repeat buyers' top quarter by "
         "revenue growth): stars, cash cows, dark horses, dogs."),
    ):
        if name in fitted:
            extra = ({"expected spend": buyers["expected_spend"].to_numpy(float)}
                     if "expected_spend" in buyers else None)
            t = label_summary(np.asarray(fitted[name].labels_, dtype=object), value,
                              value_actions()[name], currency, extra)
            pb.tables[f"playbook/{name}.csv"] = t
            sections.append(Section(title, intro, t))
    return sections


def _overdue(buyers: pd.DataFrame, personas: np.ndarray, overdue_cycles: float,
             pb: Playbook) -> Section:
    """Repeat buyers past their own usual purchase cycles, per persona: whom to wake up."""
    overdue = buyers["overdue"].fillna(False).to_numpy(bool)
    repeat = buyers["frequency"].to_numpy(float) > 1
    pb.metrics["overdue_share"] = float(overdue[repeat].mean()) if repeat.any() else 0.0
    t = (pd.DataFrame({"persona": personas, "overdue": overdue, "repeat": repeat})
         .groupby("persona", observed=True).agg(repeat_buyers=("repeat", "sum"), overdue=("overdue", "sum"))
         .reset_index())
    t = t[t["overdue"] > 0].sort_values("overdue", ascending=False, kind="stable")
    t["share of repeat buyers"] = (t["overdue"] / t["repeat_buyers"]).map(_pct)
    pb.tables["playbook/overdue_by_persona.csv"] = t
    return Section(
        "Overdue customers", f"{int(overdue.sum()):,} repeat buyers "
        f"({_pct(pb.metrics['overdue_share'])}) have let {overdue_cycles:g} or more of their "
        "own usual purchase cycles pass: wake them up before they are lost (the `overdue` "
        "column of the labels).", t)


def _new_customer_churn(buyers: pd.DataFrame, snapshot: dt.date, window_start: dt.date,
                        new_customer_days: int, pb: Playbook) -> list[Section]:
    """New customers per monthly cohort who never came back (none when no cohort)."""
    cohorts = churn_cohorts(buyers, snapshot, window_start, new_customer_days)
    if not len(cohorts):
        return []
    pb.metrics["new_customer_churn_rate"] = churn_rate(cohorts)
    fig = plot_churn_cohorts(cohorts, new_customer_days)
    pb.figures["playbook/new_customer_churn.png"] = fig
    table = cohorts.assign(cohort=cohorts["cohort"].dt.strftime("%Y-%m"),
                           churn_rate=cohorts["churn_rate"].map(_pct))
    pb.tables["playbook/new_customer_churn.csv"] = table
    return [Section(
        "New-customer churn by cohort",
        f"{_pct(pb.metrics['new_customer_churn_rate'])} of customers acquired in the window "
        f"bought once and not again within {new_customer_days} days or more: fix the first "
        "impression, onboard, ask for the second order.", figure=fig)]


def _trait_matrix(buyers: pd.DataFrame, personas: np.ndarray, value: np.ndarray,
                  matrix: list[str], segments: np.ndarray | None, pb: Playbook) -> Section:
    """External traits (e.g. business type x company size) crossed with personas and
    segments."""
    t = b2b_matrix(buyers, np.asarray(personas, dtype=object), value, list(matrix),
                   segments)
    pb.tables["playbook/b2b_matrix.csv"] = t
    return Section(
        f"Customers by {' x '.join(m.replace('_', ' ') for m in matrix)}",
        "External traits crossed with the personas and segments: which kinds of companies "
        "each persona is made of, and where the value sits.", t)


def _attribute_quality(q: pd.DataFrame, pb: Playbook) -> Section:
    """The customers table's problems per attribute, as metrics and a section."""
    for c in ("blank", "placeholder", "spelling_variant", "conflicting_ids"):
        pb.metrics[f"attribute_{c}"] = float(q[c].sum())
    return Section(
        "Customer attributes: data quality",
        "Rows of the customers table per problem. Spelling variants are read as the most "
        "common spelling and placeholders (unknown, n/a, ...) as blank; an id listed with "
        "conflicting rows keeps one of them (the first in sort order, the same on every "
        "run). Correct them at the source: the segments are only as good as "
        "these fields.", q.rename(columns={
            "spelling_variant": "spelling variants", "conflicting_ids": "conflicting ids",
            "distinct_values": "values (merged)", "placeholder": "placeholders"}))


def _activity_and_leads(everyone: pd.DataFrame, matrix: list[str] | None,
                        pb: Playbook) -> list[Section]:
    """Activity states of every customer, and the prospects as leads: temperature by source
    channel (an attribute named ``channel``) and qualification."""
    state = everyone["activity_state"].value_counts()
    for k in ("active", "semi_active", "passive"):
        pb.metrics[f"activity_{k}_share"] = float(state.get(k, 0) / max(len(everyone), 1))
    rel = np.where(everyone["is_buyer"], "current",
                   np.where(everyone["is_prospect"], "prospect", "former"))
    t = pd.crosstab(rel, everyone["activity_state"]).reindex(
        columns=["active", "semi_active", "passive"], fill_value=0).reset_index(
        names="relationship")
    pb.tables["playbook/activity_states.csv"] = t
    out = [Section("Activity", "active: bought in the last quarter; semi-active: looks (visits, "
                   "opens, clicks, contacts) but did not buy; passive: neither. Semi-active "
                   "customers are the cheapest to convert: they already read what we send.", t)]
    leads = everyone[everyone["is_prospect"]]
    if len(leads):
        by = "channel" if "channel" in leads else None
        g = leads.assign(channel=leads[by].fillna("(blank)") if by else "all")
        t = pd.crosstab(g["channel"], g["lead_temperature"]).reindex(
            columns=["hot", "warm", "cold"], fill_value=0)
        if "lead_qualified" in g:
            t["qualified"] = g.groupby("channel")["lead_qualified"].sum()
        t = t.reset_index(names="source channel")
        hot = int((leads["lead_temperature"] == "hot").sum())
        pb.metrics["leads_hot"] = float(hot)
        pb.tables["playbook/leads.csv"] = t
        q = (f", {int(leads['lead_qualified'].sum()):,} qualified (every one of contact, need "
             "and budget that the customers table gives is known)" if "lead_qualified" in leads
             else "")
        out.append(Section(
            "Prospects: lead temperature", f"{len(leads):,} prospects: {hot:,} hot (asked, "
            "called or met us in the last 30 days: call them now), "
            f"{int((leads['lead_temperature'] == 'warm').sum()):,} warm (visited or read our "
            f"mail this quarter: a personal offer){q}. Cold ones: a low-cost nurture stream.",
            t))
    return out
