"""Persona report: one self-contained HTML page (charts embedded) and a Markdown version."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clustering.reporting.glossary import label, value

KEY_FEATURES = ["recency_days", "frequency", "monetary_total", "avg_order_value", "tenure_days",
                "revenue_growth", "return_rate"]


@dataclass
class Section:
    """A part of the report after the personas: a heading, a short reading, a table, a chart."""

    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figure: Any = None


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:,.2f}"
    return f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)


def section_markdown(sec: Section) -> list[str]:
    lines = [f"## {sec.title}", ""] + ([sec.text, ""] if sec.text else [])
    if sec.table is not None and len(sec.table):
        t = sec.table
        lines += ["| " + " | ".join(map(str, t.columns)) + " |",
                  "|" + "---|" * len(t.columns)]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |"
                  for row in t.itertuples(index=False)]
        lines.append("")
    return lines


def _numeric_column(col: pd.Series) -> bool:
    """Numbers, or text that writes them (12.5%, 1,234 EUR, 3-7)."""
    if pd.api.types.is_numeric_dtype(col):
        return True
    text = col.dropna().astype(str)
    return bool(text.str.fullmatch(r"[-+\d.,%\s]*(?:[A-Z]{3})?|[a-z]+ [a-z]+ [-+\d.,%]+").all())


def section_html(sec: Section) -> str:
    esc = html.escape
    out = f"<h2>{esc(sec.title)}</h2>" + (f"<p>{esc(sec.text)}</p>" if sec.text else "")
    if sec.table is not None and len(sec.table):
        # words read from the left, numbers (counts, shares, money) line up on the right
        style = ["" if _numeric_column(sec.table[c]) else " style='text-align:left'"
                 for c in sec.table.columns]
        head = "".join(f"<th{a}>{esc(str(c))}</th>" for a, c in zip(style, sec.table.columns, strict=True))
        body = "".join("<tr>" + "".join(f"<td{a}>{esc(_cell(v))}</td>"
                                        for a, v in zip(style, row, strict=True)) + "</tr>"
                       for row in sec.table.itertuples(index=False))
        out += f"<table><tr>{head}</tr>{body}</table>"
    if sec.figure is not None:
        out += f"<p><img alt='{esc(sec.title)}' src='data:image/png;base64,{_png(sec.figure)}'></p>"
    return out


def page(title: str, sections: list[Section]) -> tuple[str, str]:
    """A plain report of ``sections`` as (Markdown, self-contained HTML)."""
    md = "\n".join([f"# {title}", ""] + [line for s in sections for line in section_markdown(s)])
    body = "".join(section_html(s) for s in sections)
    return md, (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
                "</title><style>body{font-family:system-ui,sans-serif;margin:2em;"
                "max-width:1100px;color:#222}table{border-collapse:collapse;width:100%;"
                "font-size:.9em}td,th{padding:2px 6px;border-bottom:1px solid #eee;"
                "text-align:right}img{max-width:100%}</style></head><body>"
                f"<h1>{html.escape(title)}</h1>{body}</body></html>")


def _png(fig) -> str:
    from clustering.reporting.plots import png_bytes  # matplotlib: only once drawing

    return base64.b64encode(png_bytes(fig)).decode()


def plot_size_vs_revenue(cards: pd.DataFrame):
    """Share of customers next to share of revenue, per persona."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(cards) + 1.5))
    y = np.arange(len(cards))
    ax.barh(y - 0.2, cards["share"] * 100, height=0.4, label="customers %")
    ax.barh(y + 0.2, cards["revenue_share"] * 100, height=0.4, label="revenue %")
    ax.set_yticks(y, cards["segment_name"])
    ax.invert_yaxis()
    ax.set_xlabel("% of total")
    ax.legend()
    ax.set_title("Segment size vs revenue")
    fig.tight_layout()
    return fig


def persona_cards(profile: pd.DataFrame, personas: pd.DataFrame,
                  population: pd.Series) -> pd.DataFrame:
    """One row per segment: persona name, size, shares, key medians vs the population."""
    cards = profile.merge(personas, on="segment")
    for f in KEY_FEATURES:
        if f"median_{f}" in cards:
            cards[f"pop_{f}"] = population.get(f, np.nan)
    return cards.sort_values("revenue_share", ascending=False).reset_index(drop=True)


def fit_sentence(c: pd.Series) -> str:
    """The fit of the name a card carries, in one sentence."""
    if c.get("type") is None or pd.isna(c.get("type")):
        return (f"No catalogued customer type fits (best fit {c['fit']:.2f} of 1), so the name "
                "says what sets the segment apart.")
    members = c.get("member_share")
    tail = (f"; {members:.0%} of its customers meet the rules themselves"
            if members is not None and pd.notna(members) else "")
    return f"Fit {c['fit']:.2f}: how clearly the segment meets its type's rules (1 = all{tail})."


def _composition(c: pd.Series, composition: dict[int, dict[str, str]] | None) -> dict[str, str]:
    return (composition or {}).get(int(c["segment"]), {})


def _view_columns(view: pd.DataFrame) -> list[tuple[str, str]]:
    cols = [("customers", "customers"), ("share", "share of customers"),
            ("revenue_share", "share of revenue")]
    if "profit_share" in view:
        cols.append(("profit_share", "share of profit"))
    return cols


def _view_value(r, col: str) -> str:
    v = getattr(r, col)
    return f"{v:,}" if col == "customers" else ("" if pd.isna(v) else f"{v:.1%}")


def view_markdown(view: pd.DataFrame) -> list[str]:
    """The marketing view as the report's headline: one row per persona, what to do."""
    cols = _view_columns(view)
    lines = ["## Personas: who they are and what to do", "",
             "| persona | " + " | ".join(t for _, t in cols) + " | what to do | segments |",
             "|---|" + "---|" * (len(cols) + 2)]
    lines += [f"| {r.persona} | " + " | ".join(_view_value(r, c) for c, _ in cols)
              + f" | {r.actions} | {r.segments} |" for r in view.itertuples()]
    return lines + [""]


def view_html(view: pd.DataFrame) -> str:
    esc = html.escape
    cols = _view_columns(view)
    head = "".join(f"<th>{t}</th>" for _, t in cols)
    rows = "".join(f"<tr><td><b>{esc(r.persona)}</b></td>"
                   + "".join(f"<td>{_view_value(r, c)}</td>" for c, _ in cols)
                   + f"<td style='text-align:left'>{esc(r.actions)}</td>"
                   f"<td class='muted' style='text-align:left'>{esc(r.segments)}</td></tr>"
                   for r in view.itertuples())
    return ("<h2>Personas: who they are and what to do</h2><p class='muted'>The level to act "
            "on: the segments grouped into a few personas, one campaign each, the largest by "
            f"revenue first.</p><table><tr><th>persona</th>{head}<th>what to do</th>"
            f"<th>segments</th></tr>{rows}</table>")


def render_markdown(cards: pd.DataFrame, title: str, extra: dict[str, int] | None = None,
                    special: dict | None = None, currency: str = "",
                    warnings: list[str] | None = None, view: pd.DataFrame | None = None,
                    composition: dict | None = None, sections: list[Section] | None = None,
                    verdict: str | None = None, decimal: str = ".", top: Section | None = None
                    ) -> str:
    lines = [f"# {title}", ""] + ([f"**{verdict}**", ""] if verdict else [])
    lines += section_markdown(top) if top is not None else []
    if view is not None and len(view):
        lines += view_markdown(view)
    if warnings:
        lines += ["**Checks:**", ""] + [f"- {w}" for w in warnings] + [""]
    lines += ["## Segments", ""]
    for _, c in cards.iterrows():
        lines += [f"### {c['segment_name']}", "",
                  f"Segment {c['segment']}, persona {c['persona']}: {c['size']:,} customers "
                  f"({c['share']:.1%}), {c['revenue_share']:.1%} of revenue. {fit_sentence(c)}",
                  "",
                  c["description"], "", "| measure (median) | segment | all customers |",
                  "|---|---|---|"]
        for f in KEY_FEATURES:
            if f"median_{f}" in c:
                lines.append(f"| {label(f)} | {value(f, c[f'median_{f}'], currency, decimal)} | "
                             f"{value(f, c[f'pop_{f}'], currency, decimal)} |")
        lines.append("")
        for attr, mix in _composition(c, composition).items():
            lines.append(f"- {attr}: {mix}")
        if c["actions"]:
            lines += ["", "Recommended actions:", ""] + [f"- {a}" for a in c["actions"]]
        lines.append("")
    for key, n in (extra or {}).items():
        p = (special or {}).get(key)
        if p and n:
            lines += [f"## {p['name']}", "", f"{n:,} customers (not segmented).", "",
                      p.get("description", ""), ""]
            lines += ["Recommended actions:", ""] + [f"- {a}" for a in p.get("actions", [])] + [""]
    for sec in sections or []:
        lines += section_markdown(sec)
    return "\n".join(lines)


def render_html(cards: pd.DataFrame, title: str, figures: list, extra: dict[str, int] | None = None,
                special: dict | None = None, currency: str = "",
                warnings: list[str] | None = None, view: pd.DataFrame | None = None,
                composition: dict | None = None, sections: list[Section] | None = None,
                verdict: str | None = None, decimal: str = ".", top: Section | None = None
                ) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}",
        ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1em}",
        ".card{border:1px solid #ccc;border-radius:8px;padding:1em;background:#fafafa}",
        ".card h2{margin:0 0 .3em;font-size:1.2em}.muted{color:#666;font-size:.9em}",
        ".warn{background:#fff4e5;border:1px solid #f0b46c;border-radius:8px;padding:.5em 1em}",
        "table{border-collapse:collapse;width:100%;font-size:.9em}td,th{padding:2px 6px;"
        "border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}",
        ".toc{font-size:.9em;margin:.5em 0 1em}.toc a{color:#1f5fa8}",
        ".verdict{background:#eef5ff;border:1px solid #9cc0ef;border-radius:8px;padding:.5em 1em}",
        "img{max-width:100%}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if verdict:
        parts.append(f"<p class='verdict'><b>{esc(verdict)}</b></p>")
    contents = [("top", top.title.split(":")[0])] if top is not None else []
    contents += ([("personas", "Personas: who they are and what to do")]
                 if view is not None and len(view) else [])
    contents += [("checks", "Checks")] if warnings else []
    contents += [("segments", "Segments"), ("charts", "Charts")]
    contents += [(f"s{i}", sec.title) for i, sec in enumerate(sections or [])]
    parts.append("<nav class='toc'><b>Contents</b>: " + " · ".join(
        f"<a href='#{a}'>{esc(t)}</a>" for a, t in contents) + "</nav>")
    if top is not None:
        parts.append(section_html(top).replace("<h2>", "<h2 id='top'>", 1))
    if view is not None and len(view):
        parts.append(view_html(view).replace("<h2>", "<h2 id='personas'>", 1))
    if warnings:
        parts.append("<div class='warn' id='checks'><b>Checks</b><ul>"
                     + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul></div>")
    parts.append("<h2 id='segments'>Segments</h2><p class='muted'>The fine level: each segment with its own "
                 "name, the persona it belongs to and what sets it apart.</p>")
    parts.append("<div class='cards'>")
    for _, c in cards.iterrows():
        rows = "".join(
            f"<tr><td>{esc(label(f))}</td><td>{value(f, c[f'median_{f}'], currency, decimal)}</td>"
            f"<td>{value(f, c[f'pop_{f}'], currency, decimal)}</td></tr>"
            for f in KEY_FEATURES if f"median_{f}" in c)
        mix = "".join(f"<li>{esc(a)}: {esc(m)}</li>" for a, m in _composition(c, composition).items())
        acts = "".join(f"<li>{esc(a)}</li>" for a in c["actions"])
        parts.append(
            f"<div class='card'><h2>{esc(c['segment_name'])}</h2>"
            f"<div class='muted'>persona <b>{esc(str(c['persona']))}</b> · segment "
            f"{c['segment']} · {c['size']:,} customers "
            f"({c['share']:.1%}) · {c['revenue_share']:.1%} of revenue</div>"
            f"<p>{esc(c['description'])}</p><p class='muted'>{esc(fit_sentence(c))}</p>"
            f"<table><tr><th>median</th><th>segment</th><th>all customers</th></tr>{rows}</table>"
            + (f"<p><b>Made of</b></p><ul class='muted'>{mix}</ul>" if mix else "")
            + (f"<p><b>Actions</b></p><ul>{acts}</ul>" if acts else "")
            + f"<p class='muted'>Sets it apart: {esc(str(c.get('distinguishing') or ''))}"
            "</p></div>")
    for key, n in (extra or {}).items():
        p = (special or {}).get(key)
        if p and n:
            acts = "".join(f"<li>{esc(a)}</li>" for a in p.get("actions", []))
            parts.append(f"<div class='card'><h2>{esc(p['name'])}</h2><div class='muted'>{n:,} "
                         f"customers (not segmented)</div><p>{esc(p.get('description', ''))}</p>"
                         f"<ul>{acts}</ul></div>")
    parts.append("</div>")
    parts.append("<h2 id='charts'>Charts</h2>")
    for fig in figures:
        parts.append(f"<p><img alt='chart' src='data:image/png;base64,{_png(fig)}'></p>")
    parts += [section_html(sec).replace("<h2>", f"<h2 id='s{i}'>", 1)
              for i, sec in enumerate(sections or [])]
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(profile: pd.DataFrame, personas: pd.DataFrame, population: pd.Series,
                 title: str, figures: list, extra: dict[str, int], special: dict,
                 currency: str, warnings: list[str] | None = None,
                 view: pd.DataFrame | None = None,
                 composition: dict | None = None,
                 sections: list[Section] | None = None,
                 verdict: str | None = None, decimal: str = ".",
                 top: Section | None = None) -> tuple[str, str]:
    """The persona report as (Markdown, self-contained HTML); ``extra``: customers who are
    not segmented, by special persona (prospects, former); ``warnings``: the guardrails;
    ``view``: the marketing view; ``composition``: per segment, the mix of each attribute;
    ``sections``: the playbook's parts after the personas (:mod:`clustering.personas.playbook`);
    ``verdict``: whether the segments or a baseline separate the hold-out future better;
    ``decimal``: the data's decimal mark (money and numbers written as its export writes them);
    ``top``: a part shown first (the scorecard)."""
    cards = persona_cards(profile, personas, population)
    md = render_markdown(cards, title, extra, special, currency, warnings, view, composition,
                         sections, verdict, decimal, top)
    return md, render_html(cards, title, [plot_size_vs_revenue(cards), *figures], extra,
                           special, currency, warnings, view, composition, sections, verdict,
                           decimal, top)
