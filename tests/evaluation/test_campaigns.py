"""Campaign response: rates, uplift and intervals by hand; the heterogeneity test against
scipy's chi-square; the planted responses of the generated sample found per planted type and
per persona; an own CSV read with its own column names and words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from clustering.errors import DataError
from clustering.evaluation.campaigns import heterogeneity_p, response_table
from clustering.inputs.campaigns import read_campaigns
from clustering.inputs.tables import TableSource
from clustering.sample.generator import CAMPAIGNS

COLUMNS = {"customer_id": "customer_id", "campaign": "campaign", "date": "sent_on",
           "group": "group", "response": "responded", "revenue": "revenue"}


def test_rates_uplift_and_interval_by_hand():
    # segment a: 40 treated (10 respond), 50 control (5 respond); b: 40/40, 20 and 20 respond
    rows = ([("a", True, 1, 30.0)] * 10 + [("a", True, 0, 0.0)] * 30
            + [("a", False, 1, 20.0)] * 5 + [("a", False, 0, 0.0)] * 45
            + [("b", True, 1, 10.0)] * 20 + [("b", True, 0, 0.0)] * 20
            + [("b", False, 1, 10.0)] * 20 + [("b", False, 0, 0.0)] * 20)
    seg, treated, responded, revenue = zip(*rows, strict=True)
    ids = [f"C{i}" for i in range(len(rows))]
    campaigns = pd.DataFrame({"customer_id": ids, "campaign": "x", "treated": treated,
                              "responded": responded, "revenue": revenue})
    t = response_table(campaigns, pd.Series(seg, index=ids), "segment").set_index("segment")
    a = t.loc["a"]
    assert (a["treated"], a["control"]) == (40, 50)
    assert a["uplift"] == pytest.approx(0.25 - 0.10)
    se = np.sqrt(0.25 * 0.75 / 40 + 0.1 * 0.9 / 50)
    assert a["uplift_low"] == pytest.approx(0.15 - 1.959964 * se)
    assert a["revenue_uplift"] == pytest.approx(300 / 40 - 100 / 50)
    assert bool(a["significant"]) is False  # 0.15 +- 0.16 includes 0
    assert t.loc["b", "uplift"] == 0 and t.loc["all customers", "treated"] == 80
    # Cochran's Q by hand: two groups, weights 1/se^2
    w = np.array([1 / se ** 2, 1 / t.loc["b", "uplift_se"] ** 2])
    u = np.array([0.15, 0.0])
    q = float((w * (u - (w * u).sum() / w.sum()) ** 2).sum())
    assert heterogeneity_p(t.reset_index(), "segment")["x"] == pytest.approx(chi2.sf(q, 1))


def test_too_few_customers_are_not_read():
    campaigns = pd.DataFrame({"customer_id": ["A", "B", "C"], "campaign": "x",
                              "treated": [True, False, True], "responded": [1, 0, 0],
                              "revenue": 0.0})
    t = response_table(campaigns, pd.Series(["s", "s", "s"], index=["A", "B", "C"]), "segment")
    assert not t["enough"].any() and not t["significant"].any()
    assert heterogeneity_p(t, "segment").isna().all()


def test_planted_uplift_is_found_per_type(small_sample):
    campaigns, _ = read_campaigns(TableSource(small_sample["campaigns"], "parquet", COLUMNS))
    truth = pd.read_parquet(small_sample["truth"]).set_index("customer_id")["planted_type"]
    t = response_table(campaigns, truth, "type")
    for row in t[t["type"] != "all customers"].itertuples():
        planted = CAMPAIGNS[row.campaign][1][row.type][1]
        # within 3.5 standard errors of what was planted, for every type and campaign
        assert abs(row.uplift - planted) < 3.5 * row.uplift_se, (row.campaign, row.type)
    sleeping = t[(t["type"] == "sleeping") & (t["campaign"] == "winback_autumn")].iloc[0]
    assert sleeping["significant"] and sleeping["uplift_low"] > 0.1
    assert (heterogeneity_p(t, "type") < 1e-6).all()


def test_own_csv_with_its_own_names_and_words(tmp_path):
    path = tmp_path / "aktionen.csv"
    pd.DataFrame({"Kunde": ["K1", "K2", "K3", "K4", " "],
                  "Aktion": ["Herbst"] * 5,
                  "Datum": ["01.10.2024"] * 5,
                  "Gruppe": ["Test", "holdout", "TEST", "Control", "test"],
                  "Reaktion": ["yes", "no", "Yes", "", "no"],
                  "Umsatz": ["12,50", "0", "7,25", "0", "0"]}).to_csv(path, sep=";", index=False)
    cols = {"customer_id": "Kunde", "campaign": "Aktion", "date": "Datum", "group": "Gruppe",
            "response": "Reaktion", "revenue": "Umsatz"}
    frame, notes = read_campaigns(TableSource(str(path), "auto", cols, "%d.%m.%Y", ";"))
    assert list(frame["customer_id"]) == ["K1", "K2", "K3", "K4"]  # the blank id is left out
    assert list(frame["treated"]) == [True, False, True, False]
    assert list(frame["responded"]) == [1, 0, 1, 0]
    assert list(frame["revenue"]) == [12.5, 0.0, 7.25, 0.0]
    assert str(frame["sent_on"].iloc[0])[:10] == "2024-10-01"
    assert any("1 of 5 rows left out" in n for n in notes)
    pd.DataFrame({"Kunde": ["K1", "K2", "K3"], "Aktion": "A", "Datum": "01.10.2024",
                  "Gruppe": ["Test", "mailed later", "mailed later"], "Reaktion": "1",
                  "Umsatz": "0"}).to_csv(path, sep=";", index=False)
    with pytest.raises(DataError, match=r"aktionen.csv: 2 rows whose group is neither .*"
                                        r"'mailed later' \(2 rows\)"):
        read_campaigns(TableSource(str(path), "auto", cols, "%d.%m.%Y", ";"))
    with pytest.raises(DataError, match="no column 'Segment' for the campaigns' group"):
        read_campaigns(TableSource(str(path), "auto", cols | {"group": "Segment"}, "%d.%m.%Y",
                                   ";"))


def test_a_training_run_finds_who_responds_to_which_offer(mlflow_uri, settings_for):
    """The bundled sample: the win-back offer works on the sleeping persona, the upsell on the
    loyal one; in the report, MLflow and the scorecard."""
    import mlflow

    from clustering.training import run_training

    result = run_training(*settings_for())
    table = result.tables["campaigns/response_by_persona.csv"]
    best = (table[table["enough"] & (table["persona"] != "all customers")]
            .sort_values("uplift").groupby("campaign").last())
    assert best.loc["winback_autumn", "persona"] == "Sleeping customers"
    assert best.loc["winback_autumn", "uplift_low"] > 0.1
    upsell = table[(table["campaign"] == "upsell_spring")].set_index("persona")
    assert upsell.loc["Loyal customers", "significant"]
    assert not upsell.loc["Sleeping customers", "significant"]  # planted: about 0
    card = result.scorecard.set_index("criterion")
    assert card.loc["responds_to_offers", "result"] == "pass"
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.metrics["campaign_heterogeneity_p"] < 0.001
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "campaigns")}
    assert {"campaigns/response_by_persona.csv", "campaigns/response_by_segment.csv",
            "campaigns/uplift_by_persona.png"} <= arts
    assert "Campaign response by persona" in result.report_path.read_text()


def test_no_group_large_enough_draws_nothing_and_says_so():
    from clustering.evaluation.campaigns import plot_uplift

    campaigns = pd.DataFrame({"customer_id": ["A", "B"], "campaign": "pilot",
                              "treated": [True, False], "responded": [1, 0], "revenue": 0.0})
    t = response_table(campaigns, pd.Series(["s", "s"], index=["A", "B"]), "persona")
    assert plot_uplift(t) is None and not t["enough"].any()
    empty = response_table(campaigns.iloc[:0], pd.Series(dtype=object), "persona")
    assert empty.empty and "uplift" in empty
