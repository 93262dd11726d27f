"""Deterministic generator of a realistic customer base with planted customer types.

The generated base follows the customer types of the domain notes (gold, loyal, small,
sleeping, lost, new, one-time, big-but-irregular, growing, pioneers, problem, prospects).
Behaviour overlaps between types on purpose: order rates and order values are log-normal per
customer and per order, orders follow a yearly season (peak in December), and some customers
get stray orders. Recovering the types is therefore possible but not trivial.

The planted type is returned in a separate ground-truth table that must never be a feature.
Everything is vectorised with numpy, so a million customers take seconds, not minutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clustering.files import plain_text

CATEGORIES = [
    "beverages",
    "dairy",
    "bakery",
    "household",
    "electronics",
    "garden",
    "office",
    "personal_care",
]
#: gross margin rate per category (the cost of goods is the rest of the list price)
MARGINS = dict(zip(CATEGORIES, [0.25, 0.18, 0.30, 0.22, 0.12, 0.28, 0.20, 0.35], strict=True))
REGIONS = ["north", "south", "east", "west", "central"]
CHANNELS = ["web", "store", "sales_rep", "partner", "marketplace"]
BUSINESS_TYPES = ["manufacturer", "trader", "shop", "public_body"]
COMPANY_SIZES = ["1-9", "10-49", "50-249", "250+"]
AGE_GROUPS = ["15-24", "25-44", "45-64", "65+"]
BUYING_ROLES = ["user", "influencer", "buyer", "decider", "gatekeeper"]



@dataclass(frozen=True)
class TypeProfile:
    """Behavioural parameters of one planted customer type.

    Rates are orders per 30 days, values are the median order value in currency units.
    ``start`` and ``stop`` are (low, high) ranges in days: ``start`` counts from the first day
    of the history, ``stop`` counts back from the last day (how long ago the customer stopped).
    """

    share: float
    start: tuple[float, float]
    stop: tuple[float, float]
    rate: float
    value: float
    value_sigma: float
    regular: bool = False
    growth: float = 0.0
    new_product: float = 0.04
    returns: float = 0.02
    delay_mean: float = 4.0
    n_categories: float = 2.0
    lines: float = 1.0
    discount: float = 0.03  # mean share of list price given as discount
    events: float = 0.3  # visits, e-mail opens/clicks, requests, calls, meetings per 30 days
    looks_after: float = 30.0  # days they keep looking (visits, opens) after their last order


TYPES: dict[str, TypeProfile] = {
    "gold": TypeProfile(0.04, (0, 500), (0, 10), 2.0, 650, 0.35, regular=True,
                        new_product=0.08, delay_mean=3, n_categories=6, lines=2.0),
    "loyal": TypeProfile(0.14, (0, 600), (0, 25), 1.0, 120, 0.30, regular=True,
                         n_categories=3, lines=1.5),
    "small": TypeProfile(0.18, (0, 600), (0, 30), 1.2, 22, 0.45, n_categories=1.5,
                         lines=0.3),
    "sleeping": TypeProfile(0.10, (0, 450), (180, 365), 0.9, 90, 0.45, regular=True,
                            n_categories=2.5, lines=1.0, looks_after=400),
    "lost": TypeProfile(0.08, (0, 250), (420, 800), 0.8, 70, 0.5, n_categories=2,
                        lines=1.0),
    "new": TypeProfile(0.07, (1020, 1090), (0, 0), 1.0, 80, 0.5, n_categories=1.5,
                       lines=1.0),
    "one_time": TypeProfile(0.10, (0, 990), (0, 0), 0.0, 60, 0.6, n_categories=1,
                            lines=0.8),
    "big_irregular": TypeProfile(0.05, (0, 500), (0, 60), 0.22, 2500, 0.9,
                                 n_categories=3, lines=2.5),
    "growing": TypeProfile(0.06, (150, 450), (0, 15), 0.7, 45, 0.45, growth=4.0,
                           n_categories=2.5, lines=1.0),
    "pioneers": TypeProfile(0.05, (0, 700), (0, 40), 0.7, 150, 0.45, new_product=0.55,
                           n_categories=4, lines=1.5),
    "problem": TypeProfile(0.06, (0, 700), (0, 40), 0.7, 110, 0.5, returns=0.25,
                           delay_mean=45, n_categories=2, lines=1.0, discount=0.22),
    "prospect": TypeProfile(0.07, (0, 1095), (0, 0), 0.0, 0, 0.0, events=0.6),
}


@dataclass(frozen=True)
class SampleData:
    transactions: pd.DataFrame | pa.Table  # Arrow, dictionary-encoded text: generate_tables
    customers: pd.DataFrame
    truth: pd.DataFrame
    events: pd.DataFrame
    campaigns: pd.DataFrame | None = None  # who got which offer (or was held out), who responded


#: campaign -> (days before the history's last day it was sent, per planted type: the response
#: rate of the control group and the uplift the offer adds): a win-back offer wakes sleeping
#: and lost customers and leaves key ones alone; an upsell offer moves loyal and growing ones
CAMPAIGNS: dict[str, tuple[int, dict[str, tuple[float, float]]]] = {
    "winback_autumn": (75, {
        "gold": (0.60, 0.00), "loyal": (0.45, 0.02), "small": (0.30, 0.03),
        "sleeping": (0.05, 0.20), "lost": (0.02, 0.08), "new": (0.25, 0.05),
        "one_time": (0.03, 0.04), "big_irregular": (0.15, 0.05), "growing": (0.35, 0.05),
        "pioneers": (0.35, 0.03), "problem": (0.20, -0.05)}),
    "upsell_spring": (270, {
        "gold": (0.50, 0.05), "loyal": (0.30, 0.15), "small": (0.10, 0.10),
        "sleeping": (0.03, 0.01), "lost": (0.01, 0.00), "new": (0.10, 0.05),
        "one_time": (0.02, 0.01), "big_irregular": (0.10, 0.02), "growing": (0.20, 0.20),
        "pioneers": (0.25, 0.10), "problem": (0.10, 0.00)}),
}


EVENT_KINDS = ["visit", "email_open", "email_click", "request", "call", "meeting"]
#: kind probabilities of buyers' and prospects' events (prospects ask and call more)
EVENT_P = {"buyer": [0.40, 0.35, 0.15, 0.04, 0.04, 0.02],
           "prospect": [0.35, 0.25, 0.15, 0.12, 0.08, 0.05]}


def _seasonal_weight(day_of_year: np.ndarray) -> np.ndarray:
    """Relative purchase intensity by day of year: peak before Christmas, trough in summer."""
    return 1.0 + 0.35 * np.cos(2 * np.pi * (day_of_year - 350) / 365.25)


def generate_sample(
    n_customers: int = 20_000,
    seed: int = 42,
    start: str = "2022-01-01",
    end: str = "2024-12-31",
    kind: str = "b2b",
    intensity: float = 1.0,
    id_offset: int = 0,
) -> SampleData:
    """Generate transactions, customer attributes and the planted ground truth.

    Parameters
    ----------
    n_customers:
        Customers including prospects (who appear only in the customers table).
    seed:
        Seed of the random generator; the same seed gives identical tables.
    start, end:
        First and last day of the transaction history (inclusive).
    kind:
        ``"b2b"`` (business type and company size) or ``"b2c"`` (age group and gender).
    intensity:
        Multiplies purchase rates and lines per order (0.25 gives about 10 lines per customer
        instead of about 40): benchmarks use it to set the transactions per customer.
    id_offset:
        First customer / order number, so that chunks generated separately do not collide.
    """
    data = generate_tables(n_customers, seed, start, end, kind, intensity, id_offset)
    return dataclasses.replace(data, transactions=plain_text(data.transactions).to_pandas())


def generate_tables(
    n_customers: int = 20_000,
    seed: int = 42,
    start: str = "2022-01-01",
    end: str = "2024-12-31",
    kind: str = "b2b",
    intensity: float = 1.0,
    id_offset: int = 0,
) -> SampleData:
    """:func:`generate_sample` with the transactions as an Arrow table whose text columns are
    dictionary-encoded, as the sample files are written (no text per line is materialised)."""
    if kind not in ("b2b", "b2c"):
        raise ValueError(f"kind must be 'b2b' or 'b2c', got {kind!r}")
    if n_customers < len(TYPES):
        raise ValueError(f"n_customers must be at least {len(TYPES)}, got {n_customers}")
    # one main stream in a fixed order; side streams ([seed, k]) for what was added later, so
    # the main stream's draws, and with them the tables of earlier versions, stay the same
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    horizon = float((pd.Timestamp(end) - t0).days)  # last day index

    plan = _plan_customers(rng, n_customers, horizon, intensity)
    orders = _orders(rng, plan, t0, horizon)
    line_order, lines = _lines(rng, seed, plan.type_idx, orders, intensity)
    ids = _customer_ids(np.arange(n_customers) + id_offset)  # once per customer, then taken
    tx = _transactions(rng, plan.type_idx, ids, orders, line_order, lines, t0, horizon,
                       id_offset)

    customers, signup_day = _customers(rng, plan, ids, kind, t0, horizon)
    _type_like_sales_staff(customers, np.random.default_rng([seed, 3]))
    rng4 = np.random.default_rng([seed, 4])
    _fill_contact_fields(customers, rng4, plan.buyer, ids)
    events = _events(rng4, plan, signup_day, ids, t0, horizon, intensity)
    truth = pd.DataFrame({"customer_id": customers["customer_id"],
                          "planted_type": np.array(list(TYPES))[plan.type_idx]})
    campaigns = _campaigns(np.random.default_rng([seed, 5]), plan, ids, t0, horizon)
    if kind == "b2b":  # the contact's role in the customer's buying centre
        customers["buying_role"] = np.array(BUYING_ROLES)[np.random.default_rng([seed, 6]).choice(
            len(BUYING_ROLES), n_customers, p=[0.25, 0.15, 0.35, 0.2, 0.05])]
    return SampleData(transactions=tx, customers=customers, truth=truth, events=events,
                      campaigns=campaigns)


@dataclass(frozen=True)
class _Plan:
    """Each customer's planted type and buying life, which every table is drawn from."""

    type_idx: np.ndarray  # index into TYPES
    buyer: np.ndarray  # False for prospects (no orders)
    first: np.ndarray  # day of the first order
    last: np.ndarray  # day of the last order
    span: np.ndarray  # days between them, at least one
    value: np.ndarray  # the customer's median order value
    n_orders: np.ndarray


@dataclass(frozen=True)
class _Orders:
    """One entry per order, in customer order."""

    cust: np.ndarray  # customer index
    value: np.ndarray
    ts_us: np.ndarray  # order time in microseconds after the first day
    delay: np.ndarray  # payment delay in days


def _per_type(attr: str, type_idx: np.ndarray) -> np.ndarray:
    """A :class:`TypeProfile` field of each customer's planted type, as floats."""
    return np.array([getattr(p, attr) for p in TYPES.values()], dtype=float)[type_idx]


def _draw_range(rng: np.random.Generator, attr: str, type_idx: np.ndarray) -> np.ndarray:
    """A uniform draw per customer within the (low, high) range of its type's ``attr``."""
    lo = np.array([getattr(p, attr)[0] for p in TYPES.values()])[type_idx]
    hi = np.array([getattr(p, attr)[1] for p in TYPES.values()])[type_idx]
    return lo + rng.random(type_idx.size) * (hi - lo)


def _is_type(type_idx: np.ndarray, name: str) -> np.ndarray:
    return type_idx == list(TYPES).index(name)


def _plant_types(rng: np.random.Generator, n_customers: int) -> np.ndarray:
    """Each customer's type index, drawn by the types' shares, every type present."""
    names = list(TYPES)
    shares = np.array([TYPES[t].share for t in names])
    type_idx = rng.choice(len(names), size=n_customers, p=shares / shares.sum())
    # every type present, whatever the size
    type_idx[: len(names)] = np.arange(len(names))
    return rng.permutation(type_idx)


def _plan_customers(rng: np.random.Generator, n_customers: int, horizon: float,
                    intensity: float) -> _Plan:
    """Types, first and last order days, order value scale and number of orders."""
    type_idx = _plant_types(rng, n_customers)
    buyer = np.array([n != "prospect" for n in TYPES])[type_idx]
    first = np.minimum(_draw_range(rng, "start", type_idx), horizon)
    last = horizon - _draw_range(rng, "stop", type_idx)
    last = np.maximum(last, np.minimum(first + 60, horizon))
    first = np.minimum(first, last)
    is_one_time = _is_type(type_idx, "one_time")
    is_new = _is_type(type_idx, "new")
    last[is_one_time] = first[is_one_time]
    span = np.maximum(last - first, 1.0)

    # heavy-tailed customer-level scale of rate and value
    rate = _per_type("rate", type_idx) * intensity * rng.lognormal(0.0, 0.35, n_customers)
    value = _per_type("value", type_idx) * rng.lognormal(0.0, 0.45, n_customers)
    n_orders = np.maximum(1, rng.poisson(rate * span / 30.0))
    n_orders[is_one_time] = 1
    n_orders[is_new] = 1 + rng.poisson(0.7, is_new.sum())
    n_orders = np.minimum(n_orders, 400)
    n_orders[~buyer] = 0
    return _Plan(type_idx, buyer, first, last, span, value, n_orders)


def _order_days(rng: np.random.Generator, plan: _Plan, cust: np.ndarray, t0: pd.Timestamp,
                horizon: float) -> np.ndarray:
    """Day index of every order: regular buyers evenly spaced, growing ones denser over time,
    the others thinned to the yearly season, plus a few stray orders (noise)."""
    n_orders, first, span = plan.n_orders, plan.first, plan.span
    n_tot = cust.size
    offsets = np.cumsum(n_orders) - n_orders
    rank = np.arange(n_tot) - offsets[cust]
    regular = _per_type("regular", plan.type_idx).astype(bool)[cust]
    growth = _per_type("growth", plan.type_idx)[cust]

    u = rng.random(n_tot)
    # regular buyers: evenly spaced with jitter; growing: density rises over time
    u_reg = np.clip((rank + 0.5) / n_orders[cust] + rng.normal(0, 0.25, n_tot) / n_orders[cust],
                    0, 1)
    u = np.where(regular, u_reg, u)
    u = np.where(growth > 0, u ** (1.0 / (1.0 + growth)), u)
    day = first[cust] + u * span[cust]
    # seasonality by thinning and redrawing the irregular buyers' orders
    for _ in range(4):
        doy = (t0 + pd.to_timedelta(np.floor(day), unit="D")).dayofyear.to_numpy()
        reject = (~regular) & (n_orders[cust] > 1) & (
            rng.random(n_tot) * 1.35 > _seasonal_weight(doy)
        )
        if not reject.any():
            break
        day[reject] = first[cust][reject] + rng.random(reject.sum()) * span[cust][reject]
    is_one_time = _is_type(plan.type_idx, "one_time")
    day[is_one_time[cust]] = first[cust][is_one_time[cust]]
    day = np.clip(day, 0, horizon)
    # stray orders: a few customers buy once at a random time (noise)
    stray = rng.random(n_tot) < 0.01
    day[stray] = rng.random(stray.sum()) * horizon
    return day


def _orders(rng: np.random.Generator, plan: _Plan, t0: pd.Timestamp, horizon: float) -> _Orders:
    """Every order's customer, time, value (growing with the customer, higher before
    Christmas) and payment delay."""
    cust = np.repeat(np.arange(plan.type_idx.size), plan.n_orders)
    n_tot = cust.size
    growth = _per_type("growth", plan.type_idx)[cust]
    day = _order_days(rng, plan, cust, t0, horizon)
    first, span = plan.first, plan.span

    sigma = _per_type("value_sigma", plan.type_idx)[cust]
    order_value = plan.value[cust] * rng.lognormal(0.0, sigma)
    order_value *= 1.0 + growth * (day - first[cust]) / np.maximum(span[cust], 1.0)
    doy = (t0 + pd.to_timedelta(np.floor(day), unit="D")).dayofyear.to_numpy()
    order_value *= np.where(doy > 320, 1.15, 1.0)
    order_value = np.maximum(order_value, 1.0)
    seconds = rng.integers(8 * 3600, 20 * 3600, n_tot)
    # order times in microseconds after t0 (the tables' unit)
    ts_us = (np.floor(day).astype(np.int64) * 86_400 + seconds) * 1_000_000
    delay = rng.exponential(_per_type("delay_mean", plan.type_idx)[cust]).round().astype(np.int32)
    return _Orders(cust, order_value, ts_us, delay)


def _lines(rng: np.random.Generator, seed: int, type_idx: np.ndarray, orders: _Orders,
           intensity: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each line's order and its columns: the order value split over a few lines in the
    customer's preferred categories, with quantity, price, new products, discount and cost."""
    n_customers, cust, n_tot = type_idx.size, orders.cust, orders.cust.size
    n_lines = 1 + rng.poisson(_per_type("lines", type_idx)[cust] * min(intensity, 1.0))
    line_order = np.repeat(np.arange(n_tot), n_lines)
    line_cust = cust[line_order]
    share = rng.gamma(2.0, 1.0, line_order.size)
    share /= np.bincount(line_order, weights=share, minlength=n_tot)[line_order]
    line_amount = orders.value[line_order] * share
    quantity = 1 + rng.poisson(2.0, line_order.size)
    unit_price = np.maximum(np.round(line_amount / quantity, 2), 0.01)
    amount = np.round(quantity * unit_price, 2)
    # category preference: each customer prefers a few categories
    n_pref = np.clip(np.round(_per_type("n_categories", type_idx)
                              * rng.lognormal(0, 0.3, n_customers)), 1, 8)
    cat_perm = np.argsort(rng.random((n_customers, len(CATEGORIES))), axis=1)
    pick = np.floor(rng.random(line_order.size) * n_pref[line_cust]).astype(int)
    cat_idx = cat_perm[line_cust, pick]
    new_product = rng.random(line_order.size) < _per_type("new_product", type_idx)[line_cust]
    # discounts and costs from a second stream: the draws above stay those of earlier versions
    rng2 = np.random.default_rng([seed, 2])
    disc_rate = np.clip(rng2.exponential(_per_type("discount", type_idx)[line_cust]), 0, 0.6)
    list_value = amount / (1 - disc_rate)
    discount = np.round(list_value - amount, 2)
    margin = np.array([MARGINS[c] for c in CATEGORIES])[cat_idx] * rng2.lognormal(
        0, 0.15, line_order.size)
    cost = np.round(list_value * (1 - np.clip(margin, 0, 0.9)), 2)
    return line_order, {"category": cat_idx, "quantity": quantity, "unit_price": unit_price,
                        "amount": amount, "is_new_product": new_product, "cost": cost,
                        "discount": discount}


def _with_returns(rng: np.random.Generator, returns: np.ndarray, line_order: np.ndarray,
                  ts_us: np.ndarray, horizon: float) -> tuple[np.ndarray, ...]:
    """Rows of the transactions: every line, and a negative mirror line of the same order for
    the returned ones, a few days later (never past `end`). Each row's line, whether it is a
    return and its time, sorted by time, then order."""
    n_lines = line_order.size
    ret = rng.random(n_lines) < returns
    src = np.concatenate([np.arange(n_lines), np.flatnonzero(ret)])  # line of every row
    is_return = np.arange(src.size) >= n_lines
    when = ts_us[line_order[src]]
    if ret.any():
        later = rng.integers(2, 30, ret.sum()) * 86_400_000_000
        when[n_lines:] = np.minimum(when[n_lines:] + later,
                                    (int(horizon) * 24 + 23) * 3_600_000_000)
    # by time, then order (ids are zero-padded numbers), stable: integer keys sort fast
    by = np.lexsort((np.arange(src.size), line_order[src], when))
    return src[by], is_return[by], when[by]


def _transactions(rng: np.random.Generator, type_idx: np.ndarray, ids: np.ndarray,
                  orders: _Orders, line_order: np.ndarray, lines: dict[str, np.ndarray],
                  t0: pd.Timestamp, horizon: float, id_offset: int) -> pa.Table:
    """The transactions table: lines and their returns, text columns dictionary-encoded."""
    line_cust = orders.cust[line_order]
    row, is_return, when = _with_returns(rng, _per_type("returns", type_idx)[line_cust],
                                         line_order, orders.ts_us, horizon)

    def signed(x: np.ndarray) -> np.ndarray:
        x = x[row]
        return np.negative(x, out=x, where=is_return)

    order_ids = pc.binary_join_element_wise(
        "O", pc.utf8_lpad(pc.cast(pa.array(np.arange(orders.cust.size) + id_offset * 60),
                                  pa.string()), 10, "0"), "")
    return pa.table({
        "customer_id": _text(line_cust[row], ids),
        "order_id": _text(line_order[row], order_ids),
        "timestamp": pa.array(when + t0.value // 1000, pa.timestamp("us")),
        "category": _text(lines["category"][row], CATEGORIES),
        "quantity": signed(lines["quantity"].astype(np.int64)),
        "unit_price": lines["unit_price"][row],
        "amount": signed(lines["amount"]),
        "is_return": is_return,
        "payment_delay_days": orders.delay[line_order[row]],
        "is_new_product": lines["is_new_product"][row],
        "cost": signed(lines["cost"]),
        "discount": signed(lines["discount"]),
    })


def _customers(rng: np.random.Generator, plan: _Plan, ids: np.ndarray, kind: str,
               t0: pd.Timestamp, horizon: float) -> tuple[pd.DataFrame, np.ndarray]:
    """The customers' attributes (gold customers come through sales reps and are larger) and
    their sign-up days (buyers' before their first order)."""
    n_customers, buyer = plan.type_idx.size, plan.buyer
    signup_day = np.where(buyer, plan.first - rng.uniform(0, 60, n_customers),
                          rng.uniform(0, horizon, n_customers))
    signup = t0 + pd.to_timedelta(np.floor(signup_day), unit="D")
    gold = _is_type(plan.type_idx, "gold")
    channel_p = np.where(gold[:, None], [0.1, 0.1, 0.6, 0.15, 0.05], [0.35, 0.25, 0.1, 0.1, 0.2])
    channel = _choice_rows(rng, channel_p, CHANNELS)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": signup.normalize(),
            "region": np.array(REGIONS)[rng.integers(0, len(REGIONS), n_customers)],
            "channel": channel,
        }
    )
    if kind == "b2b":
        customers["business_type"] = np.array(BUSINESS_TYPES)[
            rng.choice(4, n_customers, p=[0.2, 0.3, 0.4, 0.1])
        ]
        size_p = np.where(gold[:, None], [0.05, 0.2, 0.4, 0.35], [0.45, 0.35, 0.15, 0.05])
        customers["company_size"] = _choice_rows(rng, size_p, COMPANY_SIZES)
    else:
        customers["age_group"] = np.array(AGE_GROUPS)[
            rng.choice(4, n_customers, p=[0.15, 0.4, 0.3, 0.15])
        ]
        customers["gender"] = np.array(["f", "m"])[rng.integers(0, 2, n_customers)]
    return customers, signup_day


def _fill_contact_fields(customers: pd.DataFrame, rng: np.random.Generator, buyer: np.ndarray,
                         ids: np.ndarray) -> None:
    """E-mail, stated need and budget, known more often for buyers (e-mail) or prospects (need,
    budget): what lead qualification reads."""
    n_customers = len(customers)
    fill = {"email": (0.9, 0.6), "stated_need": (0.2, 0.4), "budget": (0.1, 0.25)}
    for col, (p_buyer, p_prospect) in fill.items():
        has = rng.random(n_customers) < np.where(buyer, p_buyer, p_prospect)
        values = {"email": np.char.add(np.char.lower(ids.astype(str)), "@example.com"),
                  "stated_need": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES),
                                                                   n_customers)],
                  "budget": (rng.integers(1, 50, n_customers) * 1000).astype(str)}[col]
        customers[col] = np.where(has, values, None)


def _events(rng: np.random.Generator, plan: _Plan, signup_day: np.ndarray, ids: np.ndarray,
            t0: pd.Timestamp, horizon: float, intensity: float) -> pd.DataFrame:
    """Events (visits, mail, contacts): while customers buy (and some time after), prospects
    from their sign-up on."""
    buyer, type_idx = plan.buyer, plan.type_idx
    lo = np.where(buyer, np.maximum(plan.first - 30, 0), signup_day)
    hi = np.where(buyer, np.minimum(plan.last + _per_type("looks_after", type_idx), horizon),
                  horizon)
    n_ev = rng.poisson(_per_type("events", type_idx) * intensity * np.maximum(hi - lo, 1) / 30.0)
    ev_cust = np.repeat(np.arange(type_idx.size), np.minimum(n_ev, 200))
    ev_day = lo[ev_cust] + rng.random(ev_cust.size) * (hi - lo)[ev_cust]
    p = np.where(buyer[ev_cust, None], EVENT_P["buyer"], EVENT_P["prospect"])
    return pd.DataFrame({
        "customer_id": ids[ev_cust],
        "timestamp": t0 + pd.to_timedelta(np.floor(ev_day), unit="D")
        + pd.to_timedelta(rng.integers(7 * 3600, 22 * 3600, ev_cust.size), unit="s"),
        "event_type": _choice_rows(rng, p, EVENT_KINDS)})


def _campaigns(rng: np.random.Generator, plan: _Plan, ids: np.ndarray, t0: pd.Timestamp,
               horizon: float) -> pd.DataFrame:
    """Every buyer who had bought by a campaign's date got its offer or was held out as
    control (half each, at random); whether they responded, and their revenue from it, is
    drawn from their planted type's control rate plus, when treated, its uplift."""
    names = np.array(list(TYPES))
    frames = []
    for campaign, (days_before, rates) in CAMPAIGNS.items():
        day = horizon - days_before
        who = np.flatnonzero(plan.buyer & (plan.first <= day))
        treated = rng.random(who.size) < 0.5
        kind = names[plan.type_idx[who]]
        base = np.array([rates.get(k, (0.0, 0.0))[0] for k in kind])
        lift = np.array([rates.get(k, (0.0, 0.0))[1] for k in kind])
        responded = rng.random(who.size) < np.clip(base + treated * lift, 0, 1)
        revenue = np.where(responded, plan.value[who] * rng.lognormal(0.0, 0.4, who.size), 0.0)
        frames.append(pd.DataFrame({
            "customer_id": ids[who], "campaign": campaign,
            "sent_on": (t0 + pd.Timedelta(days=float(day))).date(),
            "group": np.where(treated, "treatment", "control"),
            "responded": responded.astype(int), "revenue": revenue.round(2)}))
    return pd.concat(frames, ignore_index=True)


def _type_like_sales_staff(customers: pd.DataFrame, rng: np.random.Generator) -> None:
    """Attributes as typed by hand: a few blanks, placeholders and other spellings of the same
    value (``Trader``, ``TRADER``, ``trader ``), which the attribute checks must find."""
    n = len(customers)
    for col in ("channel", "business_type", "age_group"):
        if col not in customers:
            continue
        v = customers[col].to_numpy(dtype=object).copy()
        u = rng.random(n)
        v[u < 0.02] = None
        v[(u >= 0.02) & (u < 0.03)] = "unknown"
        spell = (u >= 0.03) & (u < 0.06)
        style = rng.integers(0, 3, n)
        v[spell & (style == 0)] = [x.capitalize() for x in v[spell & (style == 0)]]
        v[spell & (style == 1)] = [x.upper() for x in v[spell & (style == 1)]]
        v[spell & (style == 2)] = [x + " " for x in v[spell & (style == 2)]]
        customers[col] = v


def _text(codes: np.ndarray, values) -> pa.Array:
    """``values[codes]`` as a dictionary-encoded Arrow text column: no Python string per row
    (a million-customer base has 40 million lines)."""
    dictionary = values if isinstance(values, pa.Array) else pa.array(np.asarray(values, dtype=object))
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)


def _customer_ids(idx: np.ndarray) -> np.ndarray:
    return np.char.add("C", np.char.zfill(idx.astype(str), 7)).astype(object)


def _choice_rows(rng: np.random.Generator, p: np.ndarray, labels: list[str]) -> np.ndarray:
    """One categorical draw per row, each row with its own probabilities."""
    cum = np.cumsum(p, axis=1)
    r = rng.random(p.shape[0])[:, None]
    return np.array(labels)[np.minimum((r > cum).sum(axis=1), len(labels) - 1)]
