"""Reasons: largest positive contributions first, sentences from the registry's templates."""

from __future__ import annotations

import numpy as np

from features.registry import FEATURE_NAMES
from models.reasons import top_reasons

IDX = {n: i for i, n in enumerate(FEATURE_NAMES)}


def row(**values: float) -> np.ndarray:
    out = np.zeros(len(FEATURE_NAMES))
    for name, v in values.items():
        out[IDX[name]] = v
    return out


def test_order_k_and_text() -> None:
    contrib = row(
        amount=0.5, terminal_risk_7d=2.0, amount_to_customer_avg_1d=1.0, customer_tx_count_1d=-3.0
    )
    values = row(
        amount=250.0,
        terminal_risk_7d=0.25,
        amount_to_customer_avg_1d=5.0,
        customer_avg_amount_1d=50.0,
        customer_tx_count_1d=1.0,
    )
    reasons = top_reasons(contrib, values, 2)
    assert [r.feature for r in reasons] == ["terminal_risk_7d", "amount_to_customer_avg_1d"]
    assert reasons[0].contribution == 2.0 and reasons[0].value == 0.25
    assert "25%" in reasons[0].text
    assert reasons[1].text == "amount 250.00 is 5.0x the customer's 1-day average of 50.00"


def test_only_positive_contributions() -> None:
    contrib = row(amount=0.3, is_night=-1.0)
    reasons = top_reasons(contrib, row(amount=12.0, is_night=1.0), 5)
    assert [r.feature for r in reasons] == ["amount"]
    assert reasons[0].text == "amount is 12.00"


def test_bias_column_ignored_and_flag_off_skipped() -> None:
    contrib = np.append(row(is_weekend=0.9, amount=0.1), 7.0)  # LightGBM's trailing bias term
    reasons = top_reasons(contrib, row(amount=10.0, is_weekend=0.0), 3)
    assert [r.feature for r in reasons] == ["amount"]  # "made on a weekend" would be false
    on = top_reasons(contrib, row(amount=10.0, is_weekend=1.0), 3)
    assert [r.text for r in on] == ["made on a weekend", "amount is 10.00"]
