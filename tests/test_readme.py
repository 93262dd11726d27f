"""The README leads: at most 250 lines, and every link in it and in docs/ points at a file or
heading that exists (the detail moved to docs/ must stay reachable)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _anchors(md: str) -> set[str]:
    out = set()
    for h in re.findall(r"^#+ (.+)$", md, re.M):
        slug = re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_the_readme_is_at_most_250_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_every_link_of_the_readme_and_the_docs_resolves():
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            assert file.exists(), f"{doc.name}: {target}"
            if anchor and file.suffix == ".md":
                assert anchor in _anchors(file.read_text()), f"{doc.name}: {target}"
