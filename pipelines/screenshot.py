"""`make screenshot`: the newest persona report (or the one given) as one PNG of the whole
page, rendered by the distribution's headless Chromium (Chromium's own --screenshot keeps only
a window's height: the first 4,000 px of a 10,000 px report)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("report", nargs="?", help="a persona_report.html (default: the newest under "
                    "reports/)")
    ap.add_argument("--width", type=int, default=1200, help="page width in pixels")
    args = ap.parse_args(argv)
    reports = sorted((ROOT / "reports").glob("*/persona_report.html"),
                     key=lambda p: p.stat().st_mtime)
    report = Path(args.report) if args.report else (reports[-1] if reports else None)
    if report is None or not report.exists():
        print("no persona report yet: run make train first", file=sys.stderr)
        return 2
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("Chromium is missing: make browser installs the distribution's package",
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    out = report.with_suffix(".png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox",
                                                                    "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": args.width, "height": 1000})
            page.goto(report.resolve().as_uri())
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
