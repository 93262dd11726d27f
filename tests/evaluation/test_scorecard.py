"""The practitioners' checklist: each criterion read against its threshold by hand, and a
training run that puts it at the top of the report and in MLflow."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from clustering.evaluation.scorecard import (
    CRITERIA,
    Thresholds,
    scorecard,
    scorecard_line,
    scorecard_metrics,
)


def view(shares: list[float], actions: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"persona": [f"p{i}" for i in range(len(shares))], "share": shares,
                         "actions": actions})


def test_each_criterion_is_read_against_its_threshold():
    metrics = {"business_separation": 0.62, "future_auc_repeat": 0.66, "stability_ari": 0.91,
               "silhouette": float("nan"), "campaign_heterogeneity_p": 0.004}
    card = scorecard(metrics, view([0.5, 0.3, 0.15, 0.05], ["call", "mail", "", "offer"]),
                     rules_agreement=0.93, reachable=None, outlier_share=0.02).set_index(
        "criterion")
    assert list(card.index) == [c for c, _, _ in CRITERIA]
    got = card["result"].to_dict()
    assert got == {"alike": "pass", "different_response": "fail", "describable": "pass",
                   "sizeable": "fail", "few_personas": "pass", "responds_to_offers": "pass",
                   "reachable": "not measured",
                   "actionable": "fail", "stable": "pass", "one_segment": "pass"}
    assert card.loc["sizeable", "value"] == "5.0%" and card.loc["sizeable", "needs"] == \
        "at least 7.0%"
    assert card.loc["actionable", "number"] == pytest.approx(0.85)  # 15% have no action
    assert card.loc["one_segment", "number"] == pytest.approx(0.98)
    m = scorecard_metrics(card.reset_index())
    assert card.loc["responds_to_offers", "needs"] == "at most 0.05"
    assert m["scorecard_passed"] == 6 and m["scorecard_measured"] == 9
    assert m["scorecard_sizeable"] == 0 and "scorecard_reachable" not in m
    line = scorecard_line(card.reset_index())
    assert line.startswith("6 of 9 criteria pass; fails: different_response (0.660, needs "
                           "at least 0.700)")
    assert line.endswith("not measured: reachable")


def test_thresholds_are_settings():
    card = scorecard({}, view([0.6, 0.4], ["a", "b"]), None, 0.5, 0.2,
                     Thresholds(personas=(2, 3), reachable=0.4, one_segment=0.9)).set_index(
        "criterion")["result"]
    assert card["few_personas"] == "pass" and card["reachable"] == "pass"
    assert card["one_segment"] == "fail" and card["stable"] == "not measured"


def test_a_training_run_shows_the_scorecard_first_and_logs_it(mlflow_uri, settings_for):
    from clustering.training import run_training

    result = run_training(*settings_for("data.sample.n_customers=4000", "model.k=6",
                                        "evaluate.scorecard.persona_share=0.3"))
    card = result.scorecard.set_index("criterion")
    assert card.loc["sizeable", "result"] == "fail"  # no persona holds 30% of customers
    assert card.loc["reachable", "result"] == "pass"  # the sample has e-mail for ~90%
    assert card.loc["describable", "number"] == result.rules.agreement
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.metrics["scorecard_sizeable"] == 0
    assert run.data.metrics["scorecard_passed"] == (card["result"] == "pass").sum()
    assert run.data.tags["scorecard"] == scorecard_line(result.scorecard)
    md = (result.report_dir / "persona_report.md").read_text()
    assert md.index("## Scorecard") < md.index("## Personas") < md.index("## Segments")
    assert "| Each persona is big enough to treat |" in md
