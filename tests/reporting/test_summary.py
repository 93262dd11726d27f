"""The end-of-run summary: the segments table and the baselines side by side."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from clustering.reporting.summary import format_summary


def test_summary_sets_the_baselines_beside_the_clusters():
    result = SimpleNamespace(
        profile=pd.DataFrame({"segment": [0, 1], "size": [30, 10], "share": [0.75, 0.25],
                              "revenue_share": [0.2, 0.8], "median_frequency": [2.0, 9.04]}),
        personas=pd.DataFrame({"segment": [0, 1], "segment_name": ["Small buyers", "Gold"],
                               "persona": ["Develop", "Key"]}),
        marketing_view=pd.DataFrame({"persona": ["Key", "Develop"], "customers": [10, 30],
                                     "share": [0.25, 0.75], "revenue_share": [0.8, 0.2]}),
        metrics={"k": 2.0, "silhouette": 0.41234, "business_separation": 0.7,
                 "future_auc_repeat": 0.9},
        baselines={"vip": SimpleNamespace(labels=np.array(["vip", "regular", "difficult",
                                                           "vip"], dtype=object),
                                          metrics={"silhouette": 0.1, "business_separation": 0.3})},
        warnings=["10 distinct personas"], renamed=None, run_name="kmeans-k2",
        report_path="/r/persona_report.html", run_id="abc", experiment_id="1",
        tracking_uri="sqlite:///m.db")
    text = format_summary(result)
    lines = text.splitlines()
    seg = next(i for i, line in enumerate(lines) if line.startswith("Segments (kmeans-k2)"))
    assert lines[seg + 2].split() == ["0", "Small", "buyers", "Develop", "30", "75.0%", "20.0%",
                                      "2.0"]
    assert lines[seg + 3].split() == ["1", "Gold", "Key", "10", "25.0%", "80.0%", "9.0"]
    # the marketer's level first: personas, the largest by revenue first
    top = lines.index("Personas (what to act on):")
    assert lines[top + 2].split() == ["Key", "10", "25.0%", "80.0%"] and top < seg
    assert "Metrics: k=2  silhouette=0.412  business_separation=0.700  future_auc_repeat=0.900" \
        in text
    side = lines.index("Side by side (same metrics; future_* = hold-out validation):")
    header, clusters, vip = (lines[side + i].split() for i in (1, 2, 3))
    assert header[:4] == ["k", "silhouette", "business_separation", "small_segment_share"]
    assert clusters[:3] == ["clusters", "2.0", "0.412"]
    # the baseline's k is its number of distinct labels; a metric it lacks is NaN
    assert vip[:5] == ["vip", "3.0", "0.100", "0.3", "NaN"]
    assert "  - 10 distinct personas" in lines
    assert lines[-1].startswith("Open the UI with `make ui`")
