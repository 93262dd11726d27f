"""The stages of a training run on customer features held in memory (the local engine, and
Spark with ``engine.distributed=false``), and the stages both engines share.

Each stage is a plain function: typed values in, data out. None reads the configuration,
writes a file or talks to MLflow; :func:`clustering.training.run_training` binds the
settings, runs them as a graph (:mod:`clustering.graph`) and records the result once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clustering.errors import DataError
from clustering.evaluation.campaigns import (
    campaign_section_table,
    heterogeneity_p,
    plot_uplift,
    reading,
    response_table,
)
from clustering.evaluation.holdout import (
    BASELINE_WORDS,
    calibration_sample,
    choose_future_k,
    future_k_curve,
    future_validation,
)
from clustering.evaluation.metrics import (
    Segmentation,
    agreement,
    int_codes,
    persona_truth,
    score_labelling,
)
from clustering.evaluation.scorecard import Thresholds, scorecard, scorecard_line
from clustering.features.customer import CustomerSample, FeatureResult, skipped_line
from clustering.features.potential import COLUMNS as POTENTIAL_COLUMNS
from clustering.features.potential import SOURCES as POTENTIAL_SOURCES
from clustering.features.potential import PotentialModel
from clustering.features.preprocess import select_columns
from clustering.features.signals import CustomerSignals
from clustering.files import parquet_bytes
from clustering.inputs.campaigns import read_campaigns
from clustering.inputs.truth import planted_types
from clustering.model import SegmentationModel
from clustering.personas.guardrails import composition, guardrail_warnings, marketing_view
from clustering.personas.naming import PersonaAssignment, name_segments, weighted_fit
from clustering.personas.playbook import Playbook, playbook
from clustering.personas.profiles import crosstab
from clustering.personas.rules import SegmentRules, fit_rules
from clustering.personas.stable_ids import match_segments
from clustering.reporting.glossary import column_label
from clustering.reporting.plots import DRAWING, plot_holdout_comparison, segmentation_figures
from clustering.reporting.report import Section, build_report
from clustering.segmenters import takes_k
from clustering.segmenters.fitting import (
    Family,
    Scaling,
    fit_preprocessing,
    fit_segmentation,
    preprocessor_for,
    segment_stability,
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Columns:
    """What the segmenter sees: ``numeric`` and ``categorical`` features, the model's
    ``inputs`` (the potential's sources in place of its columns when it is a feature), the
    potential step, and the family with its k range capped at what the buyers allow."""

    numeric: list[str]
    categorical: list[str]
    inputs: list[str]
    potential: PotentialModel | None
    family: Family


def single_order_warning(buyers: pd.DataFrame, share: float = 0.95, least: int = 500) -> list[str]:
    """A warning when nearly every buyer has a single order: the customer column is then
    usually an id per order (Olist's ``customer_id``), and the segments would describe orders."""
    if "frequency" not in buyers or len(buyers) < least:
        return []
    single = float((buyers["frequency"] <= 1).mean())
    if single <= share:
        return []
    return [f"{single:.0%} of the {len(buyers):,} buyers have a single order in the window: if "
            "data.columns.customer_id is an id per order or per checkout (as Olist's "
            "customer_id; its customer_unique_id is the person), map the person's id instead"]


def build_features(engine, snapshot: dt.date | None, prefetch_days: int, seed: int, say: Say
                   ) -> tuple[FeatureResult, CustomerSample | None]:
    """(every customer's features as of ``snapshot``, the customers the calibration pass
    covers: None for all). With ``prefetch_days`` the calibration pass for choosing k starts
    in DuckDB right away, beside the Python stages."""
    fr = engine.features_at(snapshot)
    say(f"snapshot {fr.snapshot_date}, window from {fr.window_start}: {len(fr.buyers):,} buyers, "
        f"{fr.n_prospects:,} prospects and {fr.n_lapsed:,} lapsed customers set aside (no "
        "purchase in the window)")
    if line := skipped_line(fr.skipped):  # one line, with what would give them
        say(f"note: {line}")
    engine.loaded.warnings += single_order_warning(fr.buyers)
    sample = (calibration_sample(len(fr.buyers), seed)
              if getattr(engine, "samples_customers", False) else None)
    if prefetch_days > 0:
        engine.prefetch(fr.snapshot_date - dt.timedelta(days=prefetch_days), prefetch_days,
                        sample)
    return fr, sample


def fit_signals(features: FeatureResult, potential: bool, horizon_days: int, fit_sample: int,
                overdue_cycles: float, seed: int, say: Say
                ) -> tuple[CustomerSignals, pd.DataFrame, pd.DataFrame]:
    """(fitted signals, every customer's signal columns, the buyers with theirs). Computed row
    by row once; the buyers' are a slice of everyone's."""
    signals = CustomerSignals(potential, horizon_days, fit_sample, overdue_cycles,
                              seed).fit(features.buyers)
    signal_cols = signals.label_columns(features.table)
    is_buyer = features.table["is_buyer"].to_numpy(bool)
    buyers = pd.concat([features.buyers, signal_cols[is_buyer].reset_index(drop=True)], axis=1)
    if signals.potential_ is not None:
        say("potential (BG/NBD, Gamma-Gamma) fitted on "
            f"{signals.potential_.n_fit_:,} buyers: " + ", ".join(
                f"{k} {v:.3g}" for k, v in signals.potential_.parameters().items()))
    return signals, signal_cols, buyers


def choose_columns(features: FeatureResult, wanted: list[str], categorical: list[str],
                   family: Family, potential_as_features: bool, horizon_days: int,
                   fit_sample: int, seed: int, say: Say, signals: CustomerSignals | None = None,
                   buyers: pd.DataFrame | None = None) -> tuple[Columns, pd.DataFrame]:
    """The segmenter's columns and its input table; clear errors for data it cannot segment.
    ``signals`` (and the ``buyers`` with theirs) are needed only for the potential as features
    (it may have had too few buyers); without, the segmentation starts as soon as the
    features exist."""
    buyers = features.buyers if buyers is None else buyers
    if family.name == "kprototypes" and not categorical and features.attributes:
        categorical = list(features.attributes)
        say(f"k-prototypes on the attributes {', '.join(categorical)} (preprocess.categorical "
            "chooses others)")
    numeric, categorical = select_columns(wanted, categorical, features.features,
                                          features.skipped, features.attributes)
    step = None
    if potential_as_features and signals.potential_ is None:
        say("note: signals.potential.as_features: too few buyers for the potential model; "
            "the segments are made without it")
    elif potential_as_features:
        step = PotentialModel(horizon_days, fit_sample, seed)
        numeric = [c for c in numeric if c not in POTENTIAL_COLUMNS] + POTENTIAL_COLUMNS
    family = _capped(family, len(buyers), say)
    if family.name == "kprototypes":  # where the scaled numbers end and the attributes start
        family = dataclasses.replace(family, params={**family.params, "n_numeric": len(numeric)})
    inputs = [c for c in numeric if c not in POTENTIAL_COLUMNS or step is None]
    if step is not None:
        inputs += [c for c in POTENTIAL_SOURCES if c not in inputs]
    values = buyers[numeric].to_numpy(dtype=float, na_value=np.nan)
    if numeric and not (np.nanmax(values, axis=0, initial=-np.inf)
                        > np.nanmin(values, axis=0, initial=np.inf)).any():
        raise DataError("all selected features are constant across customers: nothing to segment")
    return Columns(numeric, categorical, inputs, step, family), buyers[inputs + categorical]


def _capped(family: Family, n_buyers: int, say: Say) -> Family:
    """The family with its k range within what ``n_buyers`` customers allow."""
    if n_buyers < 2:
        raise DataError(f"only {n_buyers} customer bought in the window: "
                        "segmentation needs at least two (check data.path and the dates)")
    if not takes_k(family.name):
        return family
    need = (family.k or family.k_min) + 1  # the internal indices need more customers than segments
    if n_buyers < need:
        raise DataError(f"{n_buyers} customers bought in the window: too few for "
                        f"{family.k or family.k_min} segments (at least {need} needed); lower "
                        "model.k (or model.k_min), or give more data")
    if family.k is None and family.k_max >= n_buyers:
        say(f"note: k range capped at {n_buyers - 1}: {n_buyers} customers")
        return dataclasses.replace(family, k_max=n_buyers - 1)
    return family


def fit_baselines(buyers: pd.DataFrame, make_baselines: dict[str, Callable[[], Any]],
                  truth_path: str | None, say: Say) -> tuple[dict[str, Any], np.ndarray | None]:
    """(every enabled baseline fitted on the buyers, the planted types where the data has
    them). Nothing here depends on the clusters."""
    fitted = {name: factory().fit(buyers) for name, factory in make_baselines.items()}
    say(f"baselines: {', '.join(fitted) or 'none'}")
    return fitted, planted_types(buyers["customer_id"], truth_path)


def calibrate(engine, features: FeatureResult, cal_sample: CustomerSample | None,
              holdout_days: int) -> bool:
    """Wait for the calibration pass (the features as of the hold-out's split and the
    outcomes after it, started in DuckDB beside the Python stages) and keep it: once read, no
    stage needs the lines. Its error is left for choosing k to explain (False)."""
    try:
        engine.features_at(features.snapshot_date - dt.timedelta(days=holdout_days), cal_sample)
    except DataError:
        return False
    return True


def choose_k_by_future(engine, features: FeatureResult, columns: Columns,
                       cal_sample: CustomerSample | None, scaling: Scaling, holdout_days: int,
                       seed: int, say: Say
                       ) -> tuple[int, pd.DataFrame]:
    """(k, curve): the k whose segments fitted before the hold-out best tell who buys again.
    The curve only ranks k: at most 4 k-means starts per k there, all starts for the model."""
    family = columns.family
    if "n_init" in family.params:
        family = dataclasses.replace(
            family, params={**family.params, "n_init": min(int(family.params["n_init"]), 4)})
    try:
        curve = future_k_curve(
            engine, features.snapshot_date, holdout_days,
            preprocessor_for(columns.numeric, columns.categorical, scaling, seed,
                             columns.potential),
            lambda k: family.at(k, seed), list(range(family.k_min, family.k_max + 1)),
            columns.inputs + columns.categorical, seed, say, cal_sample)
    except DataError as exc:  # the data's dates leave nothing before the hold-out
        split = features.snapshot_date - dt.timedelta(days=holdout_days)
        raise DataError(
            f"model.criterion=future_auc chooses k on segments fitted as of {split}, "
            f"{holdout_days} days before the snapshot, and that earlier data cannot be "
            f"segmented ({str(exc).rstrip('.')}). Give k (model.k=6), choose it without the "
            "future (model.criterion=calinski_harabasz), or shorten the hold-out "
            "(evaluate.holdout_days)") from None
    return choose_future_k(curve), curve


def preprocess(X: pd.DataFrame, columns: Columns, scaling: Scaling, seed: int
               ) -> tuple[Any, np.ndarray, list[str]]:
    """(fitted preprocessing, scaled matrix, its column names): k is not needed for it."""
    return fit_preprocessing(X, preprocessor_for(columns.numeric, columns.categorical, scaling,
                                                 seed, columns.potential))


def segment(pre, Xs: np.ndarray, columns: Columns, k_chosen: int | None,
            future_curve: pd.DataFrame | None, stability_runs: int, sample_size: int,
            seed: int, say: Say):
    """(fitted pipeline, k curve, the family's metrics); the curve is the future
    separation's where k was chosen by it."""
    family = columns.family if k_chosen is None else columns.family.with_k(k_chosen)
    pipe, curve, metrics = fit_segmentation(
        pre, Xs, family, stability_runs=stability_runs, sample_size=sample_size, seed=seed,
        say=say)
    return pipe, future_curve if future_curve is not None else curve, metrics


def stability(pipe, Xs: np.ndarray, fit_metrics: dict[str, float], runs: int, seed: int,
              say: Say) -> dict[str, float]:
    """The segmentation's metrics with its stability (refits on subsamples)."""
    return fit_metrics | segment_stability(pipe, Xs, runs, seed, say)


def match_ids(previous: tuple[str | None, SegmentationModel | None], buyers: pd.DataFrame,
              pipe, say: Say) -> tuple[np.ndarray, dict[int, int] | None, pd.DataFrame | None]:
    """(the buyers' published segment ids, new -> published id map, the matching): ids kept
    against the dataset's previous model where it can be used, else the fitted ones."""
    labels = pipe[-1].labels_
    uri, model = previous
    if model is None:
        return labels, None, None
    id_map, matches = match_segments(model, buyers, labels)
    say(f"segment ids matched to {uri}: " + ", ".join(
        f"{s} {int((matches.status == s).sum())}" for s in ("matched", "new", "vanished")))
    return np.vectorize(id_map.get, otypes=[int])(labels), id_map, matches


def name_personas_of(buyers: pd.DataFrame, labels: np.ndarray, features: FeatureResult,
                     previous: tuple[str | None, SegmentationModel | None],
                     matches: pd.DataFrame | None, catalogue: dict[str, Any], min_fit: float,
                     min_member_share: float, say: Say
                     ) -> tuple[pd.DataFrame, PersonaAssignment]:
    """(profiles, personas): names earned on the profile and the members; inherited names
    re-checked."""
    uri, model = previous
    return name_segments(buyers, labels, features.features, catalogue, min_fit,
                         min_member_share, model.segment_names if model is not None else None,
                         matches, f"version {uri.rsplit('/', 1)[-1]}" if uri else "", say)


def evaluate(labels: np.ndarray, Xs: np.ndarray, buyers: pd.DataFrame, truth, fitted: dict,
             personas: PersonaAssignment, profile: pd.DataFrame, catalogue: list[str],
             silhouette_sample: int, min_share: float, seed: int
             ) -> tuple[dict[str, float], dict[str, Segmentation]]:
    """(the clusters' metrics, every baseline scored alike)."""
    revenue = buyers["monetary_total"].to_numpy()
    scoring = {"silhouette_sample": silhouette_sample, "min_share": min_share, "seed": seed,
               "truth": None if truth is None else int_codes(truth)}  # coded once
    metrics = score_labelling("clusters", labels, Xs, revenue, **scoring,
                              persona_fit=weighted_fit(personas, profile)).metrics
    if truth is not None:
        metrics |= persona_truth(truth, labels, personas.table, catalogue)
    baselines = {}
    for b, est in fitted.items():
        baselines[b] = score_labelling(b, est.labels_, Xs, revenue, **scoring)
        metrics[f"vs_{b}_ari"], metrics[f"vs_{b}_nmi"] = agreement(baselines[b].codes, labels)
    return metrics, baselines


def assemble_model(pipe, personas: PersonaAssignment, id_map, fitted: dict,
                   signals: CustomerSignals | None, lookback_days: int, policy,
                   relationship: dict[str, str], margins) -> SegmentationModel:
    """The model that is saved and served."""
    return SegmentationModel(pipe, personas.names(), id_map, lookback_days, policy, fitted,
                             relationship, signals, margins, personas.personas())


def with_signals(features: FeatureResult, signal_cols: pd.DataFrame) -> pd.DataFrame:
    """Every customer's features and signals in one table (the playbook and the labels read
    it; made once, and let go when both are done: 650 MB at a million customers)."""
    return pd.concat([features.table, signal_cols], axis=1)


def describe_by_rules(frame: pd.DataFrame, labels: np.ndarray, candidates: list[str],
                      personas: PersonaAssignment, settings: dict[str, Any] | None, seed: int,
                      say: Say, categorical: list[str] | None = None) -> SegmentRules | None:
    """Rules a CRM can run for the segments, on the numeric business features among
    ``candidates`` and the ``categorical`` attributes the segments were made with
    (``settings``: target, max_depth, min_leaf_share; None: switched off)."""
    features = [c for c in candidates if c in frame and pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in categorical or [] if c in frame]
    if not settings or not (features or categorical):
        return None
    rules = fit_rules(frame, labels, features, personas.names(), settings["target"],
                      settings["max_depth"], settings["min_leaf_share"], seed=seed,
                      categorical=categorical)
    say(f"segment rules: {len(rules.rules)} rules on {len(features) + len(categorical)} "
        "features agree with the "
        f"segments on {rules.agreement:.1%} of the customers (depth {rules.depth})")
    return rules


def respond_by_segment(customer_labels: pd.DataFrame, source, say: Say) -> Playbook:
    """Campaign response and uplift per persona and segment, with 95% intervals, from the
    campaigns table ``source`` (None: no campaigns, nothing to say)."""
    if source is None:
        return Playbook()
    campaigns, notes = read_campaigns(source)
    for line in notes:
        say(line)
    if campaigns.empty:
        return Playbook()
    # the segmented customers by their persona; prospects and former ones are not segmented
    current = customer_labels[customer_labels["relationship"] == "current"]
    ids = current["customer_id"].to_numpy()
    tables = {level: response_table(campaigns, pd.Series(current[col].to_numpy(), index=ids),
                                    level)
              for level, col in (("persona", "persona"), ("segment", "segment_name"))}
    p = heterogeneity_p(tables["persona"], "persona")
    everyone = tables["persona"][tables["persona"]["persona"] == "all customers"]
    with DRAWING:
        fig = plot_uplift(tables["persona"], "persona")
    text = reading(tables["persona"], p, "persona")
    say(f"campaign response: {text}")
    metrics = {"campaign_uplift": float(everyone["uplift"].mean())}
    if p.notna().any():  # the smallest, Bonferroni-corrected for the campaigns tested
        metrics["campaign_heterogeneity_p"] = min(1.0, float(p.min()) * int(p.notna().sum()))
    return Playbook(
        metrics=metrics,
        tables={"campaigns/response_by_persona.csv": tables["persona"],
                "campaigns/response_by_segment.csv": tables["segment"],
                "campaigns/heterogeneity.csv": p.rename_axis("campaign").reset_index()},
        sections=[Section("Campaign response by persona",
                          f"{text} Response rate of the customers who got the offer against "
                          "the control group held out; the uplift is the difference, with its "
                          "95% confidence interval. Segment level: "
                          "campaigns/response_by_segment.csv in MLflow.",
                          campaign_section_table(tables["persona"], "persona"), fig)],
        figures={} if fig is None else {"campaigns/uplift_by_persona.png": fig})


def score_checklist(metrics: dict[str, float], view: pd.DataFrame | None,
                    rules: SegmentRules | None, frame: pd.DataFrame, labels: np.ndarray,
                    thresholds: Thresholds, say: Say,
                    personas: PersonaAssignment | None = None) -> pd.DataFrame:
    """The practitioners' checklist measured on the run (``frame``: the segmented customers,
    whose ``has_contact`` says who can be reached; the outliers' persona is no persona: the
    one-segment criterion judges them)."""
    if personas is not None and view is not None:
        t = personas.table
        outliers = set(t.loc[t["segment"] < 0, "persona"]) - set(t.loc[t["segment"] >= 0,
                                                                      "persona"])
        view = view[~view["persona"].isin(outliers)]
    reachable = float(frame["has_contact"].fillna(False).astype(bool).mean()) \
        if "has_contact" in frame else None
    card = scorecard(metrics, view, None if rules is None else rules.agreement, reachable,
                     float((np.asarray(labels) < 0).mean()), thresholds)
    say(f"scorecard: {scorecard_line(card)}")
    return card


def scorecard_section(card: pd.DataFrame) -> Section:
    """The checklist at the top of the report."""
    table = card[["question", "measured", "value", "needs", "result"]]
    return Section("Scorecard: the practitioners' checklist",
                   f"{scorecard_line(card)}. Each criterion of a good segmentation, measured on "
                   "this run (thresholds in evaluate.scorecard).", table)


def run_playbook(buyers: pd.DataFrame, model: SegmentationModel, labels: np.ndarray,
                 fitted: dict, features: FeatureResult, everyone: pd.DataFrame, loaded,
                 settings: dict[str, Any], say: Say) -> Playbook:
    """The practitioners' playbook (``settings``: currency, new_customer_days, abc_share,
    horizon_days, matrix, overdue_cycles)."""
    s = settings
    with DRAWING:
        pb = playbook(buyers, model.personas_of(labels), fitted, features.snapshot_date,
                      features.window_start, s["currency"], s["new_customer_days"],
                      s["abc_share"], s["horizon_days"], s["matrix"], loaded.attribute_quality,
                      everyone, s["overdue_cycles"], labels, s.get("role"))
    say(pb.sections[0].text)
    return pb


def validate_future(engine, features: FeatureResult, pipe, columns: Columns,
                    make_baselines: dict[str, Callable[[], Any]],
                    cal_sample: CustomerSample | None, holdout_days: int, seed: int, say: Say
                    ) -> dict[str, tuple[dict[str, float], pd.DataFrame]]:
    """Refit as of snapshot - holdout_days and score what customers did afterwards."""
    return future_validation(engine, features.snapshot_date, holdout_days, pipe,
                             columns.inputs + columns.categorical, make_baselines, seed, say,
                             cal_sample)


def summarise_features(features: FeatureResult) -> pd.DataFrame:
    """count, mean, quartiles ... of every feature, one row each (logged beside the run). The
    ids are left out: unique by construction, and counting a million took 0.8 s."""
    return (features.table.drop(columns="customer_id").describe(include="all").T
            .reset_index(names="feature"))


def label_customers(model: SegmentationModel, everyone: pd.DataFrame, Xs: np.ndarray,
                    buyers: pd.DataFrame, say: Say) -> pd.DataFrame:
    """Every customer as scoring labels them: relationship, segment, persona, signals and the
    baselines' labels (the buyers' rows and their preprocessed ``Xs`` reused, not copied or
    computed again)."""
    labels = model.customer_labels(everyone, transformed=Xs, current=buyers)
    say(f"{len(labels):,} customers: " + ", ".join(
        f"{n:,} {k}" for k, n in labels["relationship"].value_counts().items()))
    return labels


def label_file(customer_labels: pd.DataFrame) -> dict[str, bytes]:
    """The labels' Parquet file that MLflow keeps, written beside the other stages rather
    than in the logging at the end (a million customers: 1 s)."""
    return {"segments/labels.parquet": parquet_bytes(customer_labels)}


def crosstabs(labels: np.ndarray, baselines: dict[str, Segmentation],
              truth: np.ndarray | None) -> dict[str, pd.DataFrame]:
    """Segments against the planted types and against each baseline, by artifact path."""
    out = {}
    if truth is not None:
        out["segments/crosstab_truth.csv"] = crosstab(labels, np.asarray(truth)).reset_index()
    for b, seg_b in baselines.items():
        out[f"baselines/crosstab_{b}.csv"] = crosstab(labels, seg_b.labels, b).reset_index()
    return out


def draw_figures(pipe, Xs: np.ndarray, labels: np.ndarray, names: list[str],
                 curve: pd.DataFrame | None, personas: PersonaAssignment,
                 attributes: list[str], criterion: str | None, seed: int) -> dict[str, Any]:
    """Every plot of the segmentation, with persona names."""
    seg = pipe[-1]
    with DRAWING:
        return segmentation_figures(seg, Xs, labels, names, curve, criterion,
                                    int(seg.n_clusters_), personas.names(),
                                    [column_label(c, attributes) for c in names], seed)


def draw_holdout(future: dict) -> dict[str, Any]:
    """The segments beside the baselines on the hold-out, for the run's page (none without
    a hold-out)."""
    with DRAWING:
        fig = plot_holdout_comparison(future, words=BASELINE_WORDS)
    return {} if fig is None else {"plots/holdout_comparison.png": fig}


def check_guardrails(profile: pd.DataFrame, personas: PersonaAssignment, loaded,
                     min_share: float, max_share: float, max_personas: int, say: Say
                     ) -> tuple[list[str], pd.DataFrame]:
    """(the warnings of the data and of the guardrails the segments break, the marketing view)."""
    warnings = loaded.warnings + guardrail_warnings(profile, personas.table, min_share,
                                                    max_share, max_personas)
    for w in warnings:
        say(f"check: {w}")
    actions = {g.name: g.actions for g in personas.groups.values()}
    return warnings, marketing_view(profile, personas.table, actions)


def describe_segments(engine, buyers: pd.DataFrame, labels: np.ndarray,
                      features: FeatureResult) -> dict:
    """Per segment, the mix of each attribute and its top product categories."""
    categories = engine.top_categories(
        pd.DataFrame({"customer_id": buyers["customer_id"], "segment": labels}),
        features.window_start, features.snapshot_date)
    return composition(buyers, labels, features.attributes, categories)


def write_report(profile: pd.DataFrame, personas: PersonaAssignment, population: pd.Series,
                 run_name: str, snapshot_date, figures: dict[str, Any], extra: dict[str, int],
                 warnings: list[str], view: pd.DataFrame, mix: dict | None,
                 sections: list | None, verdict: str | None, loaded, data_name: str,
                 special: dict, currency: str, scorecard: pd.DataFrame | None = None
                 ) -> tuple[str, str]:
    """The persona report as (Markdown, HTML), in business words; ``extra``: customers who are
    not segmented (prospects, former)."""
    segments = int((profile["segment"] >= 0).sum())
    title = (f"Customer personas of {data_name} as of {snapshot_date}: "
             f"{personas.table.loc[personas.table['segment'] >= 0, 'persona'].nunique()} "
             f"personas from {segments} segments (run {run_name})")
    renamed = personas.renamed
    if renamed is not None and len(renamed):  # said where the marketer reads the names
        sections = [Section("Renamed since the previous version",
                            "The same segments (ids kept), named for what they are now:",
                            renamed[["segment", "previous_name", "name"]].rename(
                                columns={"previous_name": "was", "name": "now"})),
                    *(sections or [])]
    with DRAWING:
        return build_report(profile, personas.table, population, title,
                            [figures["plots/profile_heatmap.png"]], extra, special, currency,
                            warnings, view, mix, sections, verdict,
                            getattr(loaded, "decimal", "."),
                            None if scorecard is None else scorecard_section(scorecard))


def run_name_of(label: str, k: int, scaler: str, data_name: str, run_id: str,
                configured: str | None) -> tuple[str, str]:
    """(run name, report folder name): unique per run, so two runs never share them."""
    base = configured or f"{label}-k{k}-{scaler}-{data_name}"
    return configured or f"{base}-{run_id[:6]}", f"{base}-{run_id[:8]}"
