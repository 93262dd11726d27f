"""The persona report as a marketer reads it: the verdict and the personas (what to do) first,
then the segments, each with its own name, persona and what sets it apart in words; renames
said. Checked on the HTML and the Markdown."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from clustering.personas.guardrails import marketing_view
from clustering.personas.naming import load_catalogue, name_personas
from clustering.personas.profiles import profile_segments
from clustering.reporting.report import build_report
from pipelines.common import PROJECT_ROOT

CATALOGUE = load_catalogue(PROJECT_ROOT / "conf" / "personas" / "default.yaml")
VERDICT = ("The recency lifecycle baseline separates who buys again better than these segments "
           "(future_auc_repeat 0.871 vs 0.721 on the hold-out): prefer it for targeting, or try "
           "another model or k.")


def _report():
    rng = np.random.default_rng(0)
    n = 600
    labels = np.repeat([0, 1, 2], n // 3)
    buyers = pd.DataFrame({
        "recency_days": np.r_[rng.uniform(5, 30, 200), rng.uniform(400, 900, 200),
                              rng.uniform(5, 40, 200)],
        "frequency": np.r_[rng.integers(20, 40, 200), np.ones(200), rng.integers(1, 3, 200)],
        "monetary_total": np.r_[rng.uniform(3000, 9000, 200), rng.uniform(20, 80, 200),
                                rng.uniform(50, 300, 200)],
        "tenure_days": np.r_[rng.uniform(700, 900, 200), rng.uniform(400, 900, 200),
                             rng.uniform(5, 40, 200)],
        "mean_interpurchase_days": np.r_[rng.uniform(20, 40, 200), np.full(200, 1095.0),
                                         rng.uniform(5, 20, 200)]})
    features = list(buyers.columns)
    profile = profile_segments(buyers, labels, features)
    named = name_personas(profile, CATALOGUE)
    view = marketing_view(profile, named.table,
                          {g.name: g.actions for g in named.groups.values()})
    population = buyers.median()
    return build_report(profile, named.table, population, "Customer personas: test", [], {},
                        {}, "EUR", ["a check"], view, None, None, VERDICT), named


def test_the_report_leads_with_the_verdict_and_the_personas():
    (md, html), named = _report()
    order = [html.index(VERDICT), html.index("Personas: who they are and what to do"),
             html.index("a check"), html.index("<h2 id='segments'>Segments</h2>")]
    assert order == sorted(order)
    for persona in set(named.table["persona"]):
        assert f"<td><b>{persona}</b></td>" in html
    assert md.index(f"**{VERDICT}**") < md.index("## Personas") < md.index("## Segments")


def test_segment_cards_speak_in_words_not_code_names():
    (md, html), named = _report()
    cards = html[html.index("<h2 id='segments'>Segments</h2>"):]
    for name in named.table["segment_name"]:
        assert f"<h2>{name}</h2>" in cards
    text = re.sub(r"<[^>]+>", " ", cards)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_[a-z_]+\b", text)
    assert "SD" not in text and "std. dev." not in text
    # the one-order segment (purchase cycle imputed as the lookback) is never described by it
    one = named.table.set_index("segment").loc[1]
    assert "purchase cycles" not in one["segment_name"]
    assert "purchase cycles" not in str(one["description"])
    card = cards[cards.index(f"<h2>{one['segment_name']}</h2>"):]
    card = card[:card.index("</div></div>") if "</div></div>" in card else None]
    assert "Sets it apart:" in card and "purchase cycles" not in card


@pytest.mark.slow
def test_make_screenshot_captures_the_whole_page(tmp_path):
    """Chromium's own --screenshot kept the first 4,000 px of a 10,000 px report."""
    import subprocess
    import sys

    from PIL import Image

    page = tmp_path / "persona_report.html"
    page.write_text("<html><body>" + "".join(f"<p style='height:100px'>{i}</p>"
                                              for i in range(80)) + "</body></html>")
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "pipelines" / "screenshot.py"),
                        str(page)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert Image.open(page.with_suffix(".png")).size[1] > 8000


def test_money_is_written_in_the_datas_own_number_style():
    """A European export's report reads 35.434 EUR and 0,28, as its own files do."""
    from clustering.reporting.glossary import value

    assert value("monetary_total", 35434.3, "EUR", ",") == "35.434 EUR"
    assert value("revenue_growth", 0.2812, "", ",") == "0,28"
    assert value("monetary_total", 35434.3, "EUR") == "35,434 EUR"
