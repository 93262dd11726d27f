"""Business words for the features, and how to print their values (money, counts, ratios)."""

from __future__ import annotations

import pandas as pd

#: feature -> what a marketer calls it
LABELS: dict[str, str] = {
    "recency_days": "days since last purchase",
    "frequency": "orders",
    "monetary_total": "net revenue",
    "avg_order_value": "mean order value",
    "tenure_days": "days as a customer",
    "mean_interpurchase_days": "days between orders",
    "revenue_cv_monthly": "month-to-month revenue swing",
    "revenue_growth": "revenue growth (-1 falling .. +1 rising)",
    "return_rate": "share of value returned",
    "n_categories": "product categories bought",
    "new_product_share": "share of new products",
    "mean_payment_delay": "days to pay",
    "days_since_signup": "days since signup",
    "cycles_missed": "own purchase cycles missed",
    "spend_last_quarter": "spend in the last quarter",
    "orders_last_quarter": "orders in the last quarter",
    "cancel_rate": "share of orders cancelled",
}
MONEY = {"monetary_total", "avg_order_value", "spend_last_quarter"}
COUNTS = {"frequency", "n_categories", "orders_last_quarter", "recency_days", "tenure_days",
          "days_since_signup", "mean_interpurchase_days", "mean_payment_delay"}
SHARES = {"return_rate", "new_product_share", "cancel_rate"}


def label(feature: str) -> str:
    """The business name of a feature, or of a one-hot column ``attribute_value``."""
    if feature in LABELS:
        return LABELS[feature]
    return feature.replace("_", " ")


def column_label(column: str, attributes: list[str]) -> str:
    """A preprocessed column: a feature, or a one-hot ``<attribute>_<value>``."""
    for a in attributes:
        if column.startswith(f"{a}_"):
            return f"{a.replace('_', ' ')}: {column[len(a) + 1:]}"
    return label(column)


def value(feature: str, v: float, currency: str = "", decimal: str = ".") -> str:
    """A value as a person reads it: money with its currency, counts as whole numbers, in the
    data's own number style (``decimal=","``: 35.434 EUR, 0,28 as a European export writes)."""
    if v is None or pd.isna(v):
        return "–"
    if feature in MONEY:
        text = f"{v:,.0f} {currency}".strip()
    elif feature in SHARES:
        text = f"{v:.0%}"
    elif feature in COUNTS:
        text = f"{v:,.0f}"
    else:
        text = f"{v:,.2f}"
    return text.translate(str.maketrans(",.", ".,")) if decimal == "," else text
