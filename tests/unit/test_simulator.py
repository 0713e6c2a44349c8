"""The generator reproduces the published process: shape, determinism, scenario rules, figures."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from simulator.config import SimulationConfig
from simulator.dataset import (
    dataset_config,
    labels_frame,
    read_dataset,
    summarize,
    write_dataset,
)
from simulator.errors import DatasetError
from simulator.extensions import far_terminals
from simulator.generate import COLUMNS, generate, neighbours
from simulator.scenarios import (
    draw_compromised,
    label_amount_fraud,
    label_customer_fraud,
    label_terminal_fraud,
)

SMALL = SimulationConfig(n_customers=300, n_terminals=600, n_days=60, seed=7)
BASE = ["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD", "TX_FRAUD_SCENARIO"]


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate(SMALL)


def test_same_config_gives_identical_frame(small: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate(SMALL), small)


def test_another_seed_gives_another_frame(small: pd.DataFrame) -> None:
    other = generate(SMALL.model_copy(update={"seed": 8}))
    assert len(other) != len(small) or not other["TX_AMOUNT"].equals(small["TX_AMOUNT"])


def test_published_columns_and_dtypes(small: pd.DataFrame) -> None:
    assert tuple(small.columns) == COLUMNS
    assert small["TX_DATETIME"].dtype == np.dtype("datetime64[ns]")
    assert small["TX_AMOUNT"].dtype == np.float64
    for col in set(COLUMNS) - {"TX_DATETIME", "TX_AMOUNT"}:
        assert small[col].dtype == np.int64, col


def test_sorted_numbered_and_times_consistent(small: pd.DataFrame) -> None:
    assert small["TX_DATETIME"].is_monotonic_increasing
    assert (small["TRANSACTION_ID"].to_numpy() == np.arange(len(small))).all()
    seconds = small["TX_TIME_SECONDS"]
    assert (
        small["TX_DATETIME"] == pd.Timestamp("2018-04-01") + pd.to_timedelta(seconds, "s")
    ).all()
    assert (small["TX_TIME_DAYS"] == seconds // 86_400).all()
    assert small["TX_TIME_DAYS"].between(0, SMALL.n_days - 1).all()


def test_amounts_are_non_negative_cents(small: pd.DataFrame) -> None:
    amount = small["TX_AMOUNT"].to_numpy()
    assert (amount >= 0).all()
    assert np.allclose(np.round(amount * 100), amount * 100, atol=1e-6)


def test_scenario_rules_hold(small: pd.DataFrame) -> None:
    fraud, scenario = small["TX_FRAUD"], small["TX_FRAUD_SCENARIO"]
    assert ((scenario > 0) == (fraud == 1)).all()
    assert fraud[small["TX_AMOUNT"] > 220].eq(1).all()  # no big amount is legit
    assert (small.loc[scenario == 1, "TX_AMOUNT"] > 220).all()
    cents = np.rint(small.loc[scenario == 3, "TX_AMOUNT"] * 100).astype(np.int64)
    assert (cents % 5 == 0).all()  # scenario 3 amounts were multiplied by 5
    assert set(scenario.unique()) <= {0, 1, 2, 3}


def test_terminal_scenario_taints_exactly_28_days() -> None:
    tx = pd.DataFrame(
        {
            "TERMINAL_ID": np.repeat([5, 6], 40),
            "TX_TIME_DAYS": np.tile(np.arange(40), 2),
            "TX_AMOUNT": 10.0,
        }
    )
    label_amount_fraud(tx)
    compromised = [np.empty(0, np.int64)] * 40
    compromised[3] = np.array([5])
    label_terminal_fraud(tx, compromised)
    tainted = tx[tx["TX_FRAUD_SCENARIO"] == 2]
    assert (tainted["TERMINAL_ID"] == 5).all()
    assert tainted["TX_TIME_DAYS"].tolist() == list(range(3, 31))


def test_customer_scenario_multiplies_a_third_of_14_days() -> None:
    tx = pd.DataFrame(
        {"CUSTOMER_ID": np.repeat([1, 2], 30), "TX_TIME_DAYS": np.tile(np.arange(30), 2)}
    )
    tx["TX_AMOUNT"] = 10.0
    label_amount_fraud(tx)
    compromised = [np.empty(0, np.int64)] * 30
    compromised[2] = np.array([1])
    label_customer_fraud(tx, compromised, np.random.default_rng(0))
    hit = tx[tx["TX_FRAUD"] == 1]
    assert len(hit) == 14 // 3
    assert (hit["CUSTOMER_ID"] == 1).all() and hit["TX_TIME_DAYS"].between(2, 15).all()
    assert (hit["TX_AMOUNT"] == 50.0).all() and (hit["TX_FRAUD_SCENARIO"] == 3).all()
    assert (tx.loc[tx["TX_FRAUD"] == 0, "TX_AMOUNT"] == 10.0).all()


def test_published_compromise_counts_are_exact() -> None:
    days = draw_compromised(2.0, 10_000, 183, np.random.default_rng(0))
    assert all(len(d) == 2 and len(set(d)) == 2 for d in days)


def test_neighbours_match_a_brute_force() -> None:
    rng = np.random.default_rng(1)
    cust, term = rng.uniform(0, 100, (700, 2)), rng.uniform(0, 100, (300, 2))
    offsets, flat = neighbours(cust, term, 5.0)
    for c in (0, 1, 350, 699):
        near = np.flatnonzero(np.hypot(*(term - cust[c]).T) < 5.0)
        assert flat[offsets[c] : offsets[c + 1]].tolist() == near.tolist()


def test_mid_size_volume_and_fraud_rate_near_published() -> None:
    df = generate(SimulationConfig(n_customers=1_000, n_terminals=2_000, seed=3))
    per_customer_day = len(df) / 183 / 1_000
    assert per_customer_day == pytest.approx(2 * 0.9693, rel=0.04)  # E[U(0,4)] x P(in day)
    assert 0.006 < df["TX_FRAUD"].mean() < 0.011  # published 0.84%
    assert (df["TX_FRAUD_SCENARIO"] == 2).sum() > (df["TX_FRAUD_SCENARIO"] == 3).sum()


@pytest.mark.slow
def test_full_size_matches_published_figures() -> None:
    s = summarize(generate())
    assert s.rows == pytest.approx(1_754_155, rel=0.03)
    assert s.fraud_rate == pytest.approx(0.0084, rel=0.06)
    assert s.frauds_per_day == pytest.approx(85, rel=0.06)


def test_labels_frame_one_per_fraud_after_delay(small: pd.DataFrame) -> None:
    labels = labels_frame(small, delay_days=7)
    assert len(labels) == small["TX_FRAUD"].sum()
    assert (labels["LABEL_TIME"] - labels["TX_DATETIME"] == pd.Timedelta(days=7)).all()
    assert labels["LABEL_TIME"].is_monotonic_increasing
    assert set(labels["TRANSACTION_ID"]) == set(small.loc[small["TX_FRAUD"] == 1, "TRANSACTION_ID"])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_dataset_round_trip(tmp_path: Path, suffix: str) -> None:
    df = generate(SMALL.model_copy(update={"attributes": True, "n_days": 10}))
    back = read_dataset(write_dataset(df, tmp_path / f"tx{suffix}"))
    pd.testing.assert_frame_equal(back, df)
    assert dataset_config(back) == dataset_config(df)


def test_read_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_dataset(tmp_path / "missing.parquet")
    with pytest.raises(DatasetError, match="unsupported"):
        read_dataset(tmp_path / "data.json")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="missing column"):
        read_dataset(tmp_path / "bad.csv")


def test_config_defaults_are_the_published_benchmark() -> None:
    cfg = SimulationConfig()
    assert (cfg.n_customers, cfg.n_terminals, cfg.n_days, cfg.radius) == (5_000, 10_000, 183, 5.0)
    assert cfg.start_date == date(2018, 4, 1)
    assert (cfg.terminals_per_day(), cfg.customers_per_day()) == (2.0, 3.0)
    assert not cfg.attributes and cfg.drift_day is None and cfg.card_testing_day is None


def test_config_rejects_switches_that_would_do_nothing() -> None:
    with pytest.raises(ValidationError, match="need drift_day"):
        SimulationConfig(drift_amount_factor=2.0)
    with pytest.raises(ValidationError, match="attributes"):
        SimulationConfig(drift_day=3, drift_ecommerce_share=0.5)


def test_attributes_add_columns_and_keep_the_benchmark_rows(small: pd.DataFrame) -> None:
    df = generate(SMALL.model_copy(update={"attributes": True}))
    pd.testing.assert_frame_equal(df[list(COLUMNS)], small)
    assert df["MERCHANT_CATEGORY"].str.fullmatch(r"\d{4}").all()
    assert set(df["CHANNEL"]) == {"card_present", "ecommerce"}
    assert df["COUNTRY"].str.fullmatch(r"[A-Z]{2}").all()
    assert (df.loc[df["TX_FRAUD_SCENARIO"] == 3, "CHANNEL"] == "ecommerce").all()
    assert df.groupby("TERMINAL_ID")["MERCHANT_CATEGORY"].nunique().max() == 1


def test_amount_drift_scales_amounts_from_its_day(small: pd.DataFrame) -> None:
    df = generate(SMALL.model_copy(update={"drift_day": 30, "drift_amount_factor": 1.5}))
    plain = (small["TX_FRAUD_SCENARIO"] != 3) & (df["TX_FRAUD_SCENARIO"] != 3)
    early = plain & (small["TX_TIME_DAYS"] < 30)
    late = plain & (small["TX_TIME_DAYS"] >= 30)
    assert df.loc[early, "TX_AMOUNT"].equals(small.loc[early, "TX_AMOUNT"])
    assert np.allclose(df.loc[late, "TX_AMOUNT"], small.loc[late, "TX_AMOUNT"] * 1.5, atol=0.006)
    assert df["TX_FRAUD"].sum() > small["TX_FRAUD"].sum()  # more payments cross 220


def test_ecommerce_drift_changes_the_channel_mix() -> None:
    cfg = SMALL.model_copy(
        update={"attributes": True, "drift_day": 30, "drift_ecommerce_share": 0.7}
    )
    df = generate(cfg)
    online = (df["CHANNEL"] == "ecommerce").groupby(df["TX_TIME_DAYS"] >= 30).mean()
    assert online[False] == pytest.approx(0.25, abs=0.03)
    assert online[True] == pytest.approx(0.7, abs=0.03)


def test_card_testing_adds_scenario_4_from_its_day(small: pd.DataFrame) -> None:
    cfg = SMALL.model_copy(update={"card_testing_day": 40, "card_testing_per_day": 1.0})
    df = generate(cfg)
    tests = df[df["TX_FRAUD_SCENARIO"] == 4]
    assert len(tests) >= 20 * 5 and (tests["TX_TIME_DAYS"] >= 40).all()
    assert (tests["TX_FRAUD"] == 1).all() and (tests["TX_AMOUNT"] <= 5.0).all()
    assert (df["TRANSACTION_ID"].to_numpy() == np.arange(len(df))).all()
    base = df[df["TX_FRAUD_SCENARIO"] != 4].reset_index(drop=True)
    pd.testing.assert_frame_equal(base[BASE], small[BASE])


def test_far_terminals_are_outside_the_radius() -> None:
    rng = np.random.default_rng(2)
    cust, term = rng.uniform(0, 100, (500, 2)), rng.uniform(0, 100, (1_000, 2))
    picked = far_terminals(cust, term, 5.0, rng)
    assert (np.hypot(*(term[picked] - cust).T) >= 5.0).all()
