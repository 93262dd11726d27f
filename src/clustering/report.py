"""Persona report: one self-contained HTML page (charts embedded) and a Markdown version."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

KEY_FEATURES = ["recency_days", "frequency", "monetary_total", "avg_order_value", "tenure_days",
                "revenue_growth", "return_rate"]
LABELS = {"recency_days": "days since last purchase", "frequency": "orders",
          "monetary_total": "net revenue", "avg_order_value": "mean order value",
          "tenure_days": "days as customer", "revenue_growth": "revenue growth (-1..1)",
          "return_rate": "return rate"}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plot_size_vs_revenue(cards: pd.DataFrame):
    """Share of customers next to share of revenue, per persona."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(cards) + 1.5))
    y = np.arange(len(cards))
    ax.barh(y - 0.2, cards["share"] * 100, height=0.4, label="customers %")
    ax.barh(y + 0.2, cards["revenue_share"] * 100, height=0.4, label="revenue %")
    ax.set_yticks(y, cards["name"])
    ax.invert_yaxis()
    ax.set_xlabel("% of total")
    ax.legend()
    ax.set_title("Segment size vs revenue")
    fig.tight_layout()
    return fig


def _fmt(v: float) -> str:
    if pd.isna(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def persona_cards(profile: pd.DataFrame, personas: pd.DataFrame,
                  population: pd.Series) -> pd.DataFrame:
    """One row per segment: persona name, size, shares, key medians vs the population."""
    cards = profile.merge(personas, on="segment")
    for f in KEY_FEATURES:
        if f"median_{f}" in cards:
            cards[f"pop_{f}"] = population.get(f, np.nan)
    return cards.sort_values("revenue_share", ascending=False).reset_index(drop=True)


def render_markdown(cards: pd.DataFrame, title: str, extra: dict[str, int] | None = None,
                    special: dict | None = None, currency: str = "") -> str:
    lines = [f"# {title}", ""]
    for _, c in cards.iterrows():
        lines += [f"## {c['name']}", "",
                  f"Segment {c['segment']}: {c['size']:,} customers ({c['share']:.1%}), "
                  f"{c['revenue_share']:.1%} of revenue; persona fit {c['fit']:.2f}.", "",
                  c["description"], "", "| measure | segment median | population median |",
                  "|---|---|---|"]
        for f in KEY_FEATURES:
            if f"median_{f}" in c:
                lines.append(f"| {LABELS[f]} | {_fmt(c[f'median_{f}'])} | {_fmt(c[f'pop_{f}'])} |")
        lines.append("")
        if c["actions"]:
            lines += ["Recommended actions:", ""] + [f"- {a}" for a in c["actions"]] + [""]
    for key, n in (extra or {}).items():
        p = (special or {}).get(key)
        if p and n:
            lines += [f"## {p['name']}", "", f"{n:,} customers (not segmented).", "",
                      p.get("description", ""), ""]
            lines += ["Recommended actions:", ""] + [f"- {a}" for a in p.get("actions", [])] + [""]
    return "\n".join(lines)


def render_html(cards: pd.DataFrame, title: str, figures: list, extra: dict[str, int] | None = None,
                special: dict | None = None, currency: str = "") -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}",
        ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1em}",
        ".card{border:1px solid #ccc;border-radius:8px;padding:1em;background:#fafafa}",
        ".card h2{margin:0 0 .3em;font-size:1.2em}.muted{color:#666;font-size:.9em}",
        "table{border-collapse:collapse;width:100%;font-size:.9em}td,th{padding:2px 6px;"
        "border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}",
        "img{max-width:100%}</style></head><body>",
        f"<h1>{esc(title)}</h1><div class='cards'>",
    ]
    for _, c in cards.iterrows():
        rows = "".join(
            f"<tr><td>{esc(LABELS[f])}</td><td>{_fmt(c[f'median_{f}'])}</td>"
            f"<td>{_fmt(c[f'pop_{f}'])}</td></tr>"
            for f in KEY_FEATURES if f"median_{f}" in c)
        acts = "".join(f"<li>{esc(a)}</li>" for a in c["actions"])
        parts.append(
            f"<div class='card'><h2>{esc(c['name'])}</h2>"
            f"<div class='muted'>segment {c['segment']} · {c['size']:,} customers "
            f"({c['share']:.1%}) · {c['revenue_share']:.1%} of revenue · fit {c['fit']:.2f}</div>"
            f"<p>{esc(c['description'])}</p>"
            f"<table><tr><th>median</th><th>segment</th><th>all</th></tr>{rows}</table>"
            + (f"<p><b>Actions</b></p><ul>{acts}</ul>" if acts else "")
            + f"<p class='muted'>Sets it apart: {esc(str(c.get('distinguishing', '')))}</p></div>"
        )
    for key, n in (extra or {}).items():
        p = (special or {}).get(key)
        if p and n:
            acts = "".join(f"<li>{esc(a)}</li>" for a in p.get("actions", []))
            parts.append(f"<div class='card'><h2>{esc(p['name'])}</h2><div class='muted'>{n:,} "
                         f"customers (not segmented)</div><p>{esc(p.get('description', ''))}</p>"
                         f"<ul>{acts}</ul></div>")
    parts.append("</div>")
    for fig in figures:
        parts.append(f"<p><img alt='chart' src='data:image/png;base64,{_png(fig)}'></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(profile: pd.DataFrame, personas: pd.DataFrame, population: pd.Series,
                 title: str, figures: list, n_prospects: int, special: dict,
                 currency: str) -> tuple[str, str]:
    """The persona report as (Markdown, self-contained HTML)."""
    cards = persona_cards(profile, personas, population)
    extra = {"prospects": n_prospects}
    md = render_markdown(cards, title, extra, special, currency)
    return md, render_html(cards, title, [plot_size_vs_revenue(cards), *figures], extra,
                           special, currency)

