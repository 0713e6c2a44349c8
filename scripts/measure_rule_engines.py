"""Cost per batch of a 50-rule policy: our compiled column evaluation against two CEL engines.

Why the rule language is our own small grammar (decision/expr.py) and not CEL: a CEL program
evaluates one event at a time, so a policy costs (rules x events) interpreted evaluations per
batch, where a compiled column expression costs one numpy operation per node per batch.

Not part of the package: the CEL engines are not project dependencies. Run it with a venv that
has them (the numbers in issue 14's note came from exactly this):

    uv venv /tmp/celvenv && uv pip install --python /tmp/celvenv/bin/python \\
        common-expression-language cel-python numpy pydantic pyyaml
    PYTHONPATH=. /tmp/celvenv/bin/python scripts/measure_rule_engines.py
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

import numpy as np

from core.messages import TransactionEvent
from decision.policy import Policy, Rule
from decision.rules import Ruleset
from features.registry import FEATURE_NAMES

BATCH, RULES, REPEATS = 500, 50, 7
NUMERIC = [f for f in FEATURE_NAMES if f not in ("is_weekend", "is_night")]


def rules(rng: random.Random) -> list[tuple[str, str]]:
    """(ours, CEL) pairs of the same condition: two or three thresholds joined by and/or."""
    out = []
    for _ in range(RULES):
        parts = []
        for _ in range(rng.choice([2, 3])):
            field, op, value = rng.choice(NUMERIC), rng.choice([">", ">=", "<"]), rng.random() * 5
            parts.append((f"{field} {op} {value:.3f}", f"{field} {op} {value:.3f}"))
        join = rng.choice(["and", "or"])
        ours = f" {join} ".join(p[0] for p in parts)
        cel = (" && " if join == "and" else " || ").join(p[1] for p in parts)
        out.append((ours, cel))
    return out


def best_of(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = random.Random(7)
    pairs = rules(rng)
    policy = Policy(
        name="bench",
        rules=tuple(
            Rule(id=f"r{i}", description="d", action="review", when=ours)
            for i, (ours, _) in enumerate(pairs)
        ),
    )
    ruleset = Ruleset(policy, "bench")
    x = np.random.default_rng(7).random((BATCH, len(FEATURE_NAMES))) * 5
    event = {
        "event_id": "e",
        "event_time": "2018-04-01T10:00:00+00:00",
        "customer_id": "c",
        "terminal_id": "t",
        "amount": 10.0,
    }
    events = [TransactionEvent.model_validate_json(json.dumps(event))] * BATCH
    scores = x[:, 0] / 5
    model_actions = ["allow"] * BATCH
    results: dict[str, float] = {}
    results["ours (compiled columns)"] = best_of(
        lambda: ruleset.apply(events, x, scores, model_actions)
    )
    rows = [dict(zip(FEATURE_NAMES, map(float, r), strict=True)) for r in x]

    import cel  # common-expression-language: a Rust CEL engine

    programs = [cel.compile(c) for _, c in pairs]
    results["common-expression-language (Rust), per event"] = best_of(
        lambda: [[p.execute(row) for p in programs] for row in rows]
    )

    import celpy  # cel-python: a pure-Python CEL engine

    env = celpy.Environment()
    celpy_programs = [env.program(env.compile(c)) for _, c in pairs]
    typed = [{k: celpy.celtypes.DoubleType(v) for k, v in row.items()} for row in rows[:50]]
    per_50 = best_of(lambda: [[p.evaluate(row) for p in celpy_programs] for row in typed])
    results["cel-python, per event (timed on 50 events, scaled)"] = per_50 * BATCH / 50

    base = results["ours (compiled columns)"]
    print(f"{RULES} rules, batches of {BATCH} events, best of {REPEATS}")
    for name, secs in results.items():
        print(
            f"{name:55s} {secs * 1e3:9.2f} ms/batch {secs / BATCH * 1e6:9.2f} us/event "
            f"{secs / base:8.1f}x"
        )


if __name__ == "__main__":
    main()
