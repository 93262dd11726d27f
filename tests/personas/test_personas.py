"""Personas: rule matching, unique names, descriptive fallbacks, planted types named right."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from clustering.features.customer import build_customer_features
from clustering.features.preprocess import build_preprocessor
from clustering.inputs.sources import TableSource, register_transactions
from clustering.personas.naming import descriptive_name, load_catalogue, name_personas
from clustering.personas.profiles import profile_segments
from clustering.segmenters import KMeansSegmenter
from pipelines.common import PROJECT_ROOT

CATALOGUE = load_catalogue(PROJECT_ROOT / "conf" / "personas" / "default.yaml")
COLUMNS = {c: c for c in ["customer_id", "order_id", "timestamp", "amount", "quantity",
                          "category", "is_return", "payment_delay_days", "is_new_product"]}


def _profile(rows: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame({"segment": range(len(next(iter(rows.values())))), **rows})


def test_rules_pick_the_obvious_persona():
    prof = _profile({
        "median_tenure_days": [20, 800, 700],
        "median_frequency": [1, 12, 10],
        "median_recency_days": [10, 500, 250],
        "z_new_product_share": [0, 0, 0],
    })
    names = name_personas(prof, CATALOGUE).table["type"].tolist()
    assert names == ["new", "lost", "sleeping"]


def test_names_unique_and_no_cluster_n():
    # two segments that both look 'new': both keep the type, each told apart by what sets it
    # apart from the other, in words (no '#1', no 'Cluster 3')
    prof = _profile({"median_tenure_days": [20, 30], "median_frequency": [1, 2],
                     "median_recency_days": [10, 12], "z_frequency": [0.1, 1.2]})
    t = name_personas(prof, CATALOGUE).table
    assert t["segment_name"].is_unique and t["type"].tolist() == ["new", "new"]
    assert t["segment_name"].tolist() == ["New customers (rare)", "New customers (frequent)"]
    assert t["persona"].tolist() == ["New customers", "New customers"]


def test_unmatched_segment_gets_descriptive_name():
    prof = _profile({"median_tenure_days": [400], "median_frequency": [5],
                     "median_recency_days": [100], "z_avg_order_value": [0.9],
                     "z_frequency": [-0.9], "z_revenue_cv_monthly": [0.7]})
    t = name_personas(prof, CATALOGUE).table
    assert t["type"].iloc[0] is None
    assert t["segment_name"].iloc[0] == "Large orders, rare, unstable"
    assert descriptive_name(pd.Series({"z_frequency": 0.1})) == "Average customers"


def test_outlier_segment_is_named_outliers():
    prof = _profile({"median_tenure_days": [20, 500]})
    prof["segment"] = [-1, 0]
    t = name_personas(prof, CATALOGUE).table
    assert t.set_index("segment").at[-1, "type"] == "outliers"


def test_planted_types_are_named_correctly(small_sample):
    """For each planted type that has its own segment (majority), most of its customers land
    in a segment carrying its name."""
    con = duckdb.connect()
    loaded = register_transactions(con, TableSource(small_sample["transactions"], columns=COLUMNS))
    fr = build_customer_features(con, loaded)
    b = fr.buyers
    truth = b[["customer_id"]].merge(pd.read_parquet(small_sample["truth"]))["planted_type"]
    # the segmenters' default features (conf/preprocess): not the review's signals
    feats = [f for f in fr.features if f not in ("days_since_signup", "spend_last_quarter",
                                                 "orders_last_quarter", "cycles_missed",
                                                 "weekend_share", "max_order_share",
                                                 "order_value_trend", "visits_last_quarter")]
    X = build_preprocessor(feats).fit_transform(b[feats])
    labels = KMeansSegmenter(n_clusters=11, random_state=0).fit(X).labels_
    t = name_personas(profile_segments(b, labels, feats), CATALOGUE).table.set_index("segment")
    ct = pd.crosstab(labels, truth)
    majority = ct.idxmax(axis=1)
    checked = 0
    for planted in set(majority):
        segs = majority.index[majority == planted]
        key = planted
        named = [s for s in ct.index if t.at[s, "type"] == key]
        share = ct.loc[named, planted].sum() / ct[planted].sum() if named else 0.0
        # floor 0.6: a type with its own segment must mostly carry its own name; a wrong rule
        # (e.g. a sign error in a z-score condition) sends the whole type elsewhere (share ~0)
        assert share >= 0.6, (planted, list(segs), t.loc[segs, "segment_name"].tolist(), share)
        checked += 1
    assert checked >= 7  # most planted types get their own segment at k=11
    assert np.isfinite(t["fit"]).all()


def test_sleeping_is_judged_on_the_customers_own_rhythm():
    """Two segments silent for 60 days: weekly buyers have let ~8 cycles pass (sleeping);
    quarterly buyers are within their rhythm (not sleeping)."""
    prof = _profile({"median_recency_days": [60, 60], "median_frequency": [40, 8],
                     "median_cycles_missed": [60 / 7, 60 / 90], "median_tenure_days": [900, 900]})
    t = name_personas(prof, CATALOGUE)
    fit = t.fit_matrix["sleeping"]
    assert fit[0] > 0.8 and fit[1] < 0.2
    assert t.table.set_index("segment").at[0, "type"] == "sleeping"


def test_new_customer_churn_is_one_purchase_more_than_two_months_ago():
    prof = _profile({"median_frequency": [1, 1, 1], "median_tenure_days": [75, 700, 20],
                     "median_recency_days": [75, 700, 20]})
    t = name_personas(prof, CATALOGUE).table.set_index("segment")
    # 75 days and 700 days ago: churned new customers, at any recency; 20 days: still new
    assert t.at[0, "type"] == "one_time" or t.at[1, "type"] == "one_time"
    fit = name_personas(prof, CATALOGUE).fit_matrix["one_time"]
    assert fit[0] > 0.7 and fit[1] > 0.7 and fit[2] < 0.1
    assert t.at[2, "type"] == "new"


def test_a_name_is_earned_by_the_members_not_only_the_mean():
    """A segment whose median looks sleeping but whose members are half recent buyers and
    half lost ones does not get the name: too few members satisfy the rules themselves."""
    from clustering.personas.profiles import customer_stats

    n = 200
    members = pd.DataFrame({
        "recency_days": np.r_[np.full(n, 20.0), np.full(n, 500.0), np.full(n, 250.0)],
        "frequency": np.full(3 * n, 6.0), "tenure_days": np.full(3 * n, 900.0),
        "monetary_total": np.full(3 * n, 100.0)})
    labels = np.r_[np.zeros(2 * n, int), np.ones(n, int)]
    cols = ["recency_days", "frequency", "tenure_days", "monetary_total"]
    prof = profile_segments(members, labels, cols)
    prof.loc[0, "median_recency_days"] = 250.0  # a mean that looks sleeping
    stats = customer_stats(members, cols)
    t = name_personas(prof, CATALOGUE, members=stats, labels=labels).table.set_index("segment")
    assert t.at[1, "type"] == "sleeping" and t.at[1, "member_share"] == 1.0
    assert t.at[0, "type"] != "sleeping"
    assert name_personas(prof, CATALOGUE, members=stats, labels=labels).member_share.at[
        0, "sleeping"] == 0.0


def test_an_inherited_name_the_segment_no_longer_earns_is_replaced():
    from clustering.personas.naming import keep_previous_names

    prof = _profile({"median_recency_days": [250, 20], "median_frequency": [6, 1],
                     "median_tenure_days": [900, 20]})
    fresh = name_personas(prof, CATALOGUE)
    matches = pd.DataFrame({"published_id": [0, 1], "previous_segment": [0, 1],
                            "status": ["matched", "matched"]})

    kept = keep_previous_names(fresh, {0: "Loyal customers", 1: "New customers"}, matches,
                               CATALOGUE["catalogue"], "version 4")
    t = kept.table.set_index("segment")
    assert t.at[0, "segment_name"] == "Sleeping customers" and t.at[1, "segment_name"] == "New customers"
    assert kept.renamed["message"].tolist() == [
        "segment 0 was 'Loyal customers' in version 4, now 'Sleeping customers' "
        f"({t.at[0, 'fit']:.2f}); renamed"]


@pytest.mark.slow
def test_make_train_names_the_planted_types_and_a_retrain_keeps_names_true(settings_for,
                                                                           mlflow_uri):
    """On the bundled sample (20,000 B2B customers, 11 planted types) the default run names
    the types, and retrains with other algorithms in the same store publish no name a segment
    does not earn. Measured: k-means (k by future separation: 13) names 11 types at precision
    0.94; HDBSCAN retrain 0.99 (a mixed 57% segment gets a descriptive name); hierarchical
    retrain 0.85. The floors sit a few points below: a wrong rule or a lost member check costs
    10-50 points (HDBSCAN published 'Loyal customers' on the mixed segment: 0.49)."""
    from clustering.training import run_training

    def train(*overrides):
        settings, resolved = settings_for("baselines.log_runs=false", *overrides)
        return run_training(settings, resolved=resolved)

    result = train()
    first = result.metrics
    assert first["personas_named_truth"] >= 10, first
    assert first["persona_precision_truth"] >= 0.9, first
    # the marketer's level: at most 7 personas, unique names, no guardrail broken
    assert result.personas["persona"].nunique() <= 7 and result.warnings == [], result.warnings
    assert result.personas["segment_name"].is_unique
    hdbscan = train("model=hdbscan").metrics
    assert hdbscan["persona_precision_truth"] >= 0.9, hdbscan
    # what serves is what won: champion is the version with the better hold-out score
    import mlflow

    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("segmentation-sample", "champion")
    scores = {v.version: client.get_run(v.run_id).data.metrics["future_auc_repeat"]
              for v in client.search_model_versions("name = 'segmentation-sample'")}
    assert len(scores) == 2 and scores[champion.version] == max(scores.values()), scores
    hierarchical = train("model=hierarchical").metrics
    assert hierarchical["persona_precision_truth"] >= 0.8, hierarchical
