"""The end-of-run console summary: segments with their personas, metrics, baselines, links."""

from __future__ import annotations

import os

import pandas as pd

from clustering import tracking
from clustering.evaluation.scorecard import scorecard_line

SUMMARY_COLUMNS = ["recency_days", "frequency", "monetary_total", "avg_order_value"]


def format_summary(result, currency: str = "", verbose: bool = True) -> str:
    """The end-of-run console summary: the verdict, the personas, metrics, where to look; with
    ``verbose`` the segments and the baselines side by side too."""
    p = result.profile.copy()
    cols = {"segment": "segment", "size": "customers", "share": "share",
            "revenue_share": "revenue share"}
    table = p[list(cols)].rename(columns=cols)
    by_segment = result.personas.set_index("segment")
    table.insert(1, "segment name", table["segment"].map(by_segment["segment_name"]))
    table.insert(2, "persona", table["segment"].map(by_segment["persona"]))
    table["share"] = (table["share"] * 100).map("{:.1f}%".format)
    table["revenue share"] = (table["revenue share"] * 100).map("{:.1f}%".format)
    for c in SUMMARY_COLUMNS:
        if f"median_{c}" in p:
            table[f"median {c}"] = p[f"median_{c}"].round(1)
    keys = ["k", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share", "max_share",
            "persona_fit", "business_separation", "future_auc_repeat", "future_eta2_spend",
            "ari_truth", "nmi_truth"]
    metrics = "  ".join(f"{k}={result.metrics[k]:.3f}" if k != "k" else f"k={int(result.metrics[k])}"
                        for k in keys if k in result.metrics)
    cmp_keys = ["k", "silhouette", "business_separation", "small_segment_share",
                "future_auc_repeat", "future_eta2_spend", "ari_truth"]
    rows = {"clusters": result.metrics} | {b: s.metrics | {"k": len(set(s.labels))}
                                           for b, s in result.baselines.items()}
    compare = pd.DataFrame({n: {c: r.get(c, float("nan")) for c in cmp_keys}
                            for n, r in rows.items()}).T.round(3)
    view = getattr(result, "marketing_view", None)
    verdict = getattr(result, "verdict", None)
    card, rules = getattr(result, "scorecard", None), getattr(result, "rules", None)
    detail = [f"Segments ({result.run_name}):", table.to_string(index=False), "",
              f"Metrics: {metrics}", "",
              "Side by side (same metrics; future_* = hold-out validation):",
              compare.to_string(), ""] if verbose else [
        f"{int(result.metrics.get('k', len(table)))} segments ({result.run_name}); "
        + "  ".join(f"{k}={result.metrics[k]:.3f}" for k in ("future_auc_repeat", "silhouette")
                    if k in result.metrics) + " (--verbose: segments, baselines)", ""]
    lines = [
        "",
        *([verdict, ""] if verdict else []),
        *([f"Scorecard: {scorecard_line(card)}", ""] if card is not None else []),
        *(["Personas (what to act on):", _personas(view), ""] if view is not None else []),
        *detail,
        *([f"Checks ({len(result.warnings)}):", *[f"  - {w}" for w in result.warnings], ""]
          if result.warnings else []),
        *([f"Renamed: {m}" for m in result.renamed["message"]] + [""]
          if result.renamed is not None and len(result.renamed) else []),
        f"Persona report: {result.report_path}",
        *([f"Segment rules for a CRM ({rules.agreement:.1%} agree with the segments): "
           f"{result.report_dir / 'segment_rules.sql'}"] if rules is not None else []),
        f"MLflow run {result.run_id} in experiment {result.experiment_id} ({tracking.redact_uri(result.tracking_uri)})",
        ui_link(result.tracking_uri, result.experiment_id, result.run_id),
    ]
    return "\n".join(lines)


def job_line(result) -> str:
    """One run in one line (the jobs of a sweep): its name, k, the deciding metrics, time."""
    m = result.metrics
    scores = "  ".join(f"{k}={m[k]:.3f}" for k in ("future_auc_repeat", "silhouette",
                                                   "business_separation") if k in m)
    return (f"{result.run_name}: k={int(m.get('k', 0))}  {scores}  "
            f"({result.seconds:.0f}s, run {result.run_id[:8]})")


def _personas(view: pd.DataFrame) -> str:
    cols = ["persona", "customers", "share", "revenue_share"] + (
        ["profit_share"] if "profit_share" in view else [])
    t = view[cols].copy()
    for c in cols[2:]:
        t[c] = (t[c] * 100).map("{:.1f}%".format)
    return t.rename(columns=lambda c: c.replace("_", " ")).to_string(index=False)


def ui_link(tracking_uri: str | None, experiment_id: str, run_id: str) -> str:
    """Where to see the run: the tracking server's own page, or `make ui` for a local store."""
    page = f"/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return f"Open it at {tracking.redact_uri(tracking_uri).rstrip('/')}{page}"
    return (f"Open the UI with `make ui`, then "
            f"http://127.0.0.1:{os.environ.get('MLFLOW_PORT', '5000')}{page}")
