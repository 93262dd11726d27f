"""Campaign response by segment and persona: does acting on the segments change behaviour?

For each campaign and each group of customers (segment, persona, all), the response rate of
those who got the offer and of the control group held out, the uplift (the difference) with
its 95% confidence interval (normal approximation of the difference of two proportions), and
the revenue per customer alike. Whether the uplift differs between personas is Cochran's Q
test of heterogeneity over their uplifts (weights 1/SE^2): a small p-value says the personas
respond differently to the offer, which the practitioners ask of a segmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
#: the group of customers who are not segmented (prospects, former, not in the data)
NOT_SEGMENTED = "(not segmented)"
#: customers each arm (treated, control) needs before a group's uplift is read
LEAST = 30


def response_table(campaigns: pd.DataFrame, groups: pd.Series, level: str,
                   least: int = LEAST) -> pd.DataFrame:
    """Per campaign and value of ``groups`` (customer id -> segment or persona; customers it
    lacks count as "(unknown)") and for everyone: treated and control counts, response rates,
    uplift with its 95% interval, revenue per customer in each group and its uplift;
    ``enough``: both arms have ``least`` customers (fewer: the uplift is not read)."""
    df = campaigns.assign(**{level: campaigns["customer_id"].map(groups).fillna(NOT_SEGMENTED)
                             .astype(str)})
    everyone = df.assign(**{level: "all customers"})
    rows = []
    for (campaign, value), g in pd.concat([df, everyone]).groupby(["campaign", level],
                                                                  sort=True):
        t, c = g[g["treated"]], g[~g["treated"]]
        n1, n0 = len(t), len(c)
        p1 = t["responded"].mean() if n1 else np.nan
        p0 = c["responded"].mean() if n0 else np.nan
        se = np.sqrt(p1 * (1 - p1) / max(n1, 1) + p0 * (1 - p0) / max(n0, 1)) \
            if n1 and n0 else np.nan
        r1 = t["revenue"].mean() if n1 else np.nan
        r0 = c["revenue"].mean() if n0 else np.nan
        rows.append({"campaign": campaign, level: value, "treated": n1, "control": n0,
                     "response_treated": p1, "response_control": p0, "uplift": p1 - p0,
                     "uplift_se": se, "uplift_low": p1 - p0 - Z95 * se,
                     "uplift_high": p1 - p0 + Z95 * se, "revenue_treated": r1,
                     "revenue_control": r0, "revenue_uplift": r1 - r0})
    cols = ["campaign", level, "treated", "control", "response_treated", "response_control",
            "uplift", "uplift_se", "uplift_low", "uplift_high", "revenue_treated",
            "revenue_control", "revenue_uplift"]
    out = pd.DataFrame(rows, columns=cols)
    out["enough"] = (out["treated"] >= least) & (out["control"] >= least)
    out["significant"] = out["enough"] & ((out["uplift_low"] > 0) | (out["uplift_high"] < 0))
    return out


def heterogeneity_p(table: pd.DataFrame, level: str) -> pd.Series:
    """Per campaign, Cochran's Q test p-value that the uplift is the same in every group of
    ``level`` with enough customers in each arm (NaN with fewer than two such groups)."""
    from scipy.stats import chi2

    out = {}
    groups = table[~table[level].isin(["all customers", NOT_SEGMENTED])]
    for campaign, g in groups.groupby("campaign"):
        g = g[g["enough"] & (g["uplift_se"] > 0)]
        if len(g) < 2:
            out[campaign] = np.nan
            continue
        w = 1.0 / g["uplift_se"] ** 2
        mean = (w * g["uplift"]).sum() / w.sum()
        q = float((w * (g["uplift"] - mean) ** 2).sum())
        out[campaign] = float(chi2.sf(q, len(g) - 1))
    return pd.Series(out, name="p_value", dtype=float)


def plot_uplift(table: pd.DataFrame, level: str = "persona"):
    """Per campaign, each group's uplift with its 95% interval; 'all customers' as a line."""
    import matplotlib.pyplot as plt

    table = table[table["enough"]]
    if table.empty:  # no group with enough customers in both arms: nothing to draw
        return None
    campaigns = sorted(table["campaign"].unique())
    groups = sorted(set(table[level]) - {"all customers"})
    fig, axes = plt.subplots(1, len(campaigns), figsize=(5.5 * len(campaigns),
                                                         0.45 * len(groups) + 2),
                             sharey=True, squeeze=False)
    y = np.arange(len(groups))
    for ax, campaign in zip(axes[0], campaigns, strict=True):
        g = table[table["campaign"] == campaign].set_index(level)
        part = g.reindex(groups)
        err = np.vstack([part["uplift"] - part["uplift_low"], part["uplift_high"] - part["uplift"]])
        colors = np.where(part["significant"].fillna(False).astype(bool), "#2b7bba", "#bbbbbb")
        ax.barh(y, part["uplift"] * 100, xerr=err * 100, color=colors, capsize=3)
        if "all customers" in g.index:
            ax.axvline(g.loc["all customers", "uplift"] * 100, color="#d62728", ls="--",
                       label="all customers")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, groups)
        ax.set_title(campaign)
        ax.set_xlabel("uplift: response treated - control (points, 95% CI)")
        ax.legend(loc="lower right", fontsize=8)
    axes[0][0].invert_yaxis()
    fig.suptitle(f"Campaign response by {level} (blue: the interval excludes 0)")
    fig.tight_layout()
    return fig


def campaign_section_table(table: pd.DataFrame, level: str = "persona") -> pd.DataFrame:
    """The table as the report shows it: rates as percentages, the uplift with its interval."""
    def pct(v):
        return "" if v != v else f"{v:.1%}"

    return pd.DataFrame({
        "campaign": table["campaign"], level: table[level], "treated": table["treated"],
        "control": table["control"], "response (treated)": table["response_treated"].map(pct),
        "response (control)": table["response_control"].map(pct),
        "uplift (95% CI)": [f"{u:+.1%} ({lo:+.1%} to {hi:+.1%})" if ok else
                            f"too few (under {LEAST} per group)"
                            for u, lo, hi, ok in zip(table["uplift"], table["uplift_low"],
                                                     table["uplift_high"], table["enough"],
                                                     strict=True)],
        "revenue uplift per customer": [f"{v:+,.2f}" if ok and v == v else ""
                                        for v, ok in zip(table["revenue_uplift"],
                                                         table["enough"], strict=True)]})


def reading(table: pd.DataFrame, p_values: pd.Series, level: str = "persona") -> str:
    """What a marketer takes from it: per campaign, who responds most and where the offer does
    not pay, and whether the personas differ."""
    parts = []
    for campaign, g in table[table[level] != "all customers"].groupby("campaign"):
        g = g[g["enough"]].sort_values("uplift", ascending=False)
        if g.empty:
            continue
        best, worst = g.iloc[0], g.iloc[-1]
        p = p_values.get(campaign, np.nan)
        differ = ("the personas respond differently" if p < 0.05 else
                  "no evidence that the personas respond differently") if p == p else \
            "too few customers per persona to compare"
        parts.append(f"{campaign}: most uplift in {best[level]} ({best['uplift']:+.1%}, 95% CI "
                     f"{best['uplift_low']:+.1%} to {best['uplift_high']:+.1%}), least in "
                     f"{worst[level]} ({worst['uplift']:+.1%}); {differ}"
                     + (f" (p = {p:.3g})" if p == p else ""))
    return "; ".join(parts) + "." if parts else ""
