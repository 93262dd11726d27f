"""Segments over time: movement between snapshots and drift of the segment shares.

A segment is a state, not an identity (../shared/DOMAIN.md): the same model scored at each
snapshot gives a long labels table (customer, snapshot, segment, persona). From it come the
transitions between consecutive snapshots (who went from loyal to sleeping), the shares of the
segmented customers per snapshot, their population stability index (PSI) against the previous
snapshot with each group's term, and alerts where a snapshot drifts past a threshold.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

#: shares below this count as it in the PSI (a group absent on one side has no logarithm)
EPSILON = 1e-4
#: the states of customers who are not segmented, as the labels name their relationship
ENTERED = "(not yet a customer)"


def _step(every: str) -> pd.DateOffset:
    """The offset ``every`` names: month, quarter, week or a number of days (``30d``)."""
    step = {"month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3),
            "week": pd.DateOffset(weeks=1)}.get(every)
    if step is None:
        m = re.fullmatch(r"(\d+)\s*d(ays?)?", str(every).strip())
        if not m or int(m.group(1)) < 1:
            raise ValueError(f"every must be month, quarter, week or a number of days like "
                             f"30d, got '{every}'")
        step = pd.DateOffset(days=int(m.group(1)))
    return step


def last_snapshots(end, every: str, n: int) -> list[dt.date]:
    """``n`` snapshots every ``every`` up to ``end`` (inclusive)."""
    return snapshot_dates(str((pd.Timestamp(end) - _step(every) * (n - 1)).date()), str(end),
                          every)


def snapshot_dates(start: str, end: str, every: str) -> list[dt.date]:
    """Snapshots from ``start`` to ``end`` (inclusive): ``every`` is month, quarter, week or
    a number of days (``30d``)."""
    step = _step(every)
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    if last < first:
        raise ValueError(f"the history ends ({end}) before it starts ({start})")
    dates, d = [], first
    while d <= last:
        dates.append(d.date())
        d = first + step * len(dates)
    return dates


def shares(history: pd.DataFrame, level: str = "persona") -> pd.DataFrame:
    """Share of the segmented (current) customers per snapshot (rows) and ``level`` value
    (columns), in the order of the first snapshot's largest."""
    current = history[history["relationship"] == "current"]
    table = pd.crosstab(current["snapshot"], current[level], normalize="index")
    order = table.iloc[0].sort_values(ascending=False, kind="stable").index
    return table[list(order)].rename_axis(columns=level)


def psi_terms(before: pd.Series, after: pd.Series) -> pd.Series:
    """Each group's term of the population stability index between two share vectors:
    (after - before) * ln(after / before); their sum is the PSI (0.1: moderate, 0.25: large)."""
    idx = before.index.union(after.index)
    p = before.reindex(idx, fill_value=0.0).clip(lower=EPSILON)
    q = after.reindex(idx, fill_value=0.0).clip(lower=EPSILON)
    return (q - p) * np.log(q / p)


def drift(share_table: pd.DataFrame, alert_psi: float) -> pd.DataFrame:
    """Per snapshot after the first: the PSI against the previous one, whether it passes
    ``alert_psi``, and the groups that moved most (share before -> after)."""
    rows = []
    snaps = list(share_table.index)
    for prev, cur in zip(snaps, snaps[1:], strict=False):
        terms = psi_terms(share_table.loc[prev], share_table.loc[cur])
        top = terms.sort_values(ascending=False).head(3)
        moved = ", ".join(f"{g} {share_table.loc[prev].get(g, 0):.1%} -> "
                          f"{share_table.loc[cur].get(g, 0):.1%}" for g in top.index
                          if top[g] > 0)
        rows.append({"snapshot": cur, "previous": prev, "psi": float(terms.sum()),
                     "alert": bool(terms.sum() > alert_psi), "moved_most": moved})
    return pd.DataFrame(rows, columns=["snapshot", "previous", "psi", "alert", "moved_most"])


def _state(labels: pd.DataFrame, level: str) -> pd.Series:
    """A customer's state at a snapshot: the persona (or segment) name; prospects and former
    customers by their relationship's name, which the labels give as their persona."""
    return labels[level].astype(object).where(labels[level].notna(), labels["persona"])


def transitions(history: pd.DataFrame, level: str = "persona") -> pd.DataFrame:
    """Customers moving between consecutive snapshots, one row per (from, to, before,
    after) with their count; a customer absent at the earlier snapshot came from
    :data:`ENTERED`."""
    snaps = sorted(history["snapshot"].unique())
    frames = []
    for prev, cur in zip(snaps, snaps[1:], strict=False):
        a = history[history["snapshot"] == prev]
        b = history[history["snapshot"] == cur]
        m = pd.DataFrame({"customer_id": b["customer_id"].to_numpy(),
                          "after": _state(b, level).to_numpy()}).merge(
            pd.DataFrame({"customer_id": a["customer_id"].to_numpy(),
                          "before": _state(a, level).to_numpy()}), on="customer_id", how="left")
        m["before"] = m["before"].fillna(ENTERED)
        counts = m.groupby(["before", "after"], sort=False).size().rename("customers")
        frames.append(counts.reset_index().assign(from_snapshot=prev, to_snapshot=cur))
    cols = ["from_snapshot", "to_snapshot", "before", "after", "customers"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def transition_matrix(moves: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Rows before, columns after: the moves summed over the snapshots between ``start`` and
    ``end`` (all by default)."""
    m = moves
    if start is not None:
        m = m[m["from_snapshot"] >= start]
    if end is not None:
        m = m[m["to_snapshot"] <= end]
    return m.pivot_table(index="before", columns="after", values="customers", aggfunc="sum",
                         fill_value=0).rename_axis(index="before", columns="after")


def plot_shares(share_table: pd.DataFrame, drift_table: pd.DataFrame):
    """Shares of the segmented customers over time (stacked), alerts marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = pd.to_datetime(pd.Series(share_table.index))
    colors = plt.get_cmap("tab20").colors
    ax.stackplot(x, (share_table.T * 100).to_numpy(), labels=share_table.columns,
                 colors=colors[: share_table.shape[1]], alpha=0.9)
    for snap in drift_table.loc[drift_table["alert"], "snapshot"]:
        ax.axvline(pd.Timestamp(snap), color="#d62728", ls="--", lw=1.2)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of segmented customers")
    ax.set_title("Persona shares over time (red: share drift past the alert threshold)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_flows(moves: pd.DataFrame, least: float = 0.002, order: list[str] | None = None):
    """Where customers go between snapshots: a column of stacked states per snapshot, bands
    between consecutive ones as wide as the customers who moved (moves under ``least`` of the
    customers are left out of the picture, not of the tables); states in ``order`` first,
    in its order (the shares' plot's, so a persona has one colour in both)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    snaps = sorted(set(moves["from_snapshot"]) | set(moves["to_snapshot"]))
    size = {s: moves[moves["to_snapshot"] == s].groupby("after")["customers"].sum()
            for s in snaps[1:]}
    size[snaps[0]] = moves[(moves["from_snapshot"] == snaps[0]) & (moves["before"] != ENTERED)
                           ].groupby("before")["customers"].sum()
    states = list(dict.fromkeys([*(order or []), *(s for sz in size.values() for s in
                                                   sz.sort_values(ascending=False).index)]))
    states = [s for s in states if any(s in sz.index for sz in size.values())]
    colors = dict(zip(states, plt.get_cmap("tab20").colors * 2, strict=False))
    total = max(float(sz.sum()) for sz in size.values())
    gap = 0.01 * total
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(snaps)), 6))
    tops = {}  # (snapshot, state) -> y of its bar's top
    for i, s in enumerate(snaps):
        y = 0.0
        for state in states:
            n = float(size[s].get(state, 0))
            if n <= 0:
                continue
            ax.bar(i, n, bottom=y, width=0.18, color=colors[state], edgecolor="white")
            tops[(s, state)] = y
            y += n + gap
    t = np.linspace(0, 1, 30)
    ease = 3 * t ** 2 - 2 * t ** 3
    for i, (a, b) in enumerate(zip(snaps, snaps[1:], strict=False)):
        out_at = dict(tops)
        in_at = dict(tops)
        step = moves[(moves["from_snapshot"] == a) & (moves["before"] != ENTERED)
                     & (moves["customers"] >= least * total)]
        for r in step.sort_values(["before", "after"]).itertuples():
            if (a, r.before) not in out_at or (b, r.after) not in in_at:
                continue
            y0, y1 = out_at[(a, r.before)], in_at[(b, r.after)]
            out_at[(a, r.before)] += r.customers
            in_at[(b, r.after)] += r.customers
            xs = i + 0.09 + (0.82 * t)
            low, high = y0 + (y1 - y0) * ease, y0 + r.customers + (y1 - y0) * ease
            ax.add_patch(Polygon(np.column_stack([np.r_[xs, xs[::-1]], np.r_[low, high[::-1]]]),
                                 closed=True, color=colors[r.before], alpha=0.35, lw=0))
    ax.set_xticks(range(len(snaps)), [str(s) for s in snaps], rotation=45, ha="right")
    ax.set_ylabel("customers")
    ax.set_title("Movements between snapshots (band: customers going from one persona to "
                 "another)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[s]) for s in states]
    ax.legend(handles, states, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_xlim(-0.5, len(snaps) - 0.5)
    fig.tight_layout()
    return fig


def describe_history(history: pd.DataFrame, alert_psi: float, level: str = "persona"
                     ) -> dict:
    """Everything `make history` writes, from the long labels table: ``tables`` (file name ->
    table), ``figures`` (file name -> figure), ``alerts`` (one line each), ``steps`` (per
    snapshot: its PSI, customers and persona shares, for MLflow's charts)."""
    share_table = shares(history, level)
    drift_table = drift(share_table, alert_psi)
    moves = transitions(history, level)
    matrix = transition_matrix(moves)
    alerts = [f"{r.snapshot}: persona shares drifted (PSI {r.psi:.3f} > {alert_psi} against "
              f"{r.previous}): {r.moved_most}" for r in drift_table[drift_table["alert"]]
              .itertuples()]
    counts = history.groupby("snapshot").agg(
        customers=("customer_id", "size"),
        segmented=("relationship", lambda r: int((r == "current").sum())))
    psi = dict(zip(drift_table["snapshot"], drift_table["psi"], strict=True))
    steps = [{"customers": float(counts.loc[s, "customers"]),
              "segmented": float(counts.loc[s, "segmented"]),
              **({"psi": psi[s]} if s in psi else {}),
              **{f"share_{re.sub(r'[^0-9a-zA-Z]+', '_', str(g)).strip('_').lower()}": float(v)
                 for g, v in share_table.loc[s].items()}} for s in share_table.index]
    return {"tables": {"shares.csv": share_table.reset_index(), "drift.csv": drift_table,
                       "transitions.csv": moves,
                       "transition_matrix.csv": matrix.reset_index()},
            "figures": {"flows.png": plot_flows(moves, order=list(share_table.columns)),
                        "shares.png": plot_shares(
                share_table, drift_table)},
            "alerts": alerts, "steps": steps, "matrix": matrix, "shares": share_table,
            "drift": drift_table}
