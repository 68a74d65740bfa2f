"""A small mixed-type table to try the lifecycle on: a churn table, generated deterministically.

It has what real tables have: an id column, categories (one with missing values), a boolean,
a date, integers and floats with gaps, and a target that depends on them.
"""

import numpy as np
import pyarrow as pa

from data_product_runtime.core.problems import ProblemType

PLANS = ("basic", "standard", "premium")
REGIONS = ("north", "south", "east", "west")
TARGETS: dict[ProblemType, str] = {"classification": "churned", "regression": "lifetime_value"}
# Shares of rows: without a region, without monthly charges, with a partner.
_NO_REGION, _NO_CHARGES, _PARTNER = 0.05, 0.04, 0.45


def churn_table(problem_type: ProblemType, rows: int = 600, seed: int = 0) -> pa.Table:
    """``rows`` customers; the target is ``churned`` (yes/no) or ``lifetime_value``."""
    if rows < 1:
        msg = f"rows must be at least 1, not {rows}"
        raise ValueError(msg)
    generator = np.random.default_rng(seed)
    plan = generator.choice(len(PLANS), rows, p=[0.5, 0.3, 0.2])
    region = generator.choice(len(REGIONS), rows)
    region_missing = generator.random(rows) < _NO_REGION
    tenure = generator.integers(1, 72, rows)
    charges = np.round(20 + 25 * plan + generator.normal(0, 8, rows), 2)
    charges_missing = generator.random(rows) < _NO_CHARGES
    partner = generator.random(rows) < _PARTNER
    calls = generator.poisson(1.5, rows)
    signup = np.datetime64("2024-06-30") - (tenure * 30.4).astype("timedelta64[D]")
    risk = (
        1.2 - 0.05 * tenure + 0.6 * calls - 0.8 * partner + 0.5 * (plan == 0) - 0.3 * (region == 1)
    )
    churned = generator.random(rows) < 1 / (1 + np.exp(-risk))
    value = tenure * charges * (1.1 - 0.4 * churned) + generator.normal(0, 40, rows)
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array([f"C{index:05d}" for index in range(1, rows + 1)]),
        "plan": pa.array(np.asarray(PLANS)[plan]),
        "region": pa.array(np.asarray(REGIONS)[region], mask=region_missing),
        "tenure_months": pa.array(tenure),
        "monthly_charges": pa.array(charges, mask=charges_missing),
        "has_partner": pa.array(partner),
        "support_calls": pa.array(calls),
        "signup_date": pa.array(signup.astype("datetime64[D]")),
    }
    target = TARGETS[problem_type]
    if problem_type == "classification":
        columns[target] = pa.array(np.where(churned, "yes", "no"))
    else:
        columns[target] = pa.array(np.round(value, 2))
    return pa.table(columns)
