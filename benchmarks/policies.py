"""The policy of the benchmark's rules row: 50 rules over the features, score and event fields.

The worker of that row reads a registry of its own (the served bundle copied, the policy
promoted there), so the user's registry and its policy in force are never touched.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from decision import policy_store
from models import registry

# Thresholds an analyst would pick for each feature: far out in its tail, so each rule matches a
# few events in ten thousand, as a production policy does (alert volume is bounded by review
# capacity); every rule is still evaluated on every event.
_TAIL: dict[str, tuple[float, float]] = {
    "amount": (800, 3000),
    **{f"customer_tx_count_{w}d": (10 * w, 20 * w) for w in (1, 7, 30)},
    **{f"customer_avg_amount_{w}d": (500, 2000) for w in (1, 7, 30)},
    **{f"terminal_tx_count_{w}d": (60 * w, 120 * w) for w in (1, 7, 30)},
    **{f"terminal_risk_{w}d": (0.8, 0.99) for w in (1, 7, 30)},
    **{f"amount_to_customer_avg_{w}d": (12, 40) for w in (1, 7, 30)},
}
_ACTIONS = ("review", "review", "review", "block", "allow")


def bench_policy(n: int, seed: int = 7) -> str:
    """``n`` rules of the shapes analysts write: tail thresholds joined by and/or, a ratio, a
    string test, a boolean, the score; a tenth in shadow. Few events match any of them, but
    every rule is evaluated on every event."""
    rng = random.Random(seed)
    names = sorted(_TAIL)
    lines = ["name: bench-50", "description: the benchmark's rules row", "rules:"]
    for i in range(n):
        a, b = rng.sample(names, 2)
        ta, tb = (f"{rng.uniform(*_TAIL[f]):.2f}" for f in (a, b))
        shape = i % 5
        if shape == 0:
            when = f"{a} > {ta} and {b} > {tb}"
        elif shape == 1:
            when = f"{a} > {ta} or score >= 0.999"
        elif shape == 2:
            when = f'currency != "EUR" and {a} > {ta}'
        elif shape == 3:
            when = f"is_night and {a} > {ta}"
        else:
            when = f"max({a} / {_TAIL[a][0]}, {b} / {_TAIL[b][0]}) > 1.5 and not is_weekend"
        lines += [
            f"  - id: r{i:02d}",
            f"    description: bench rule {i}",
            f"    action: {_ACTIONS[i % len(_ACTIONS)]}",
            f"    when: '{when}'",
        ]
        if i % 10 == 9:
            lines.append("    mode: shadow")
    return "\n".join(lines) + "\n"


def policy_registry(model_dir: Path, dest: Path, n: int, seed: int = 7) -> Path:
    """A registry at ``dest`` serving ``model_dir``'s current bundle under an ``n``-rule policy."""
    version = registry.current_version(model_dir)
    if version is None:
        raise ValueError(f"no current model under {model_dir}")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(registry.bundle_path(model_dir, version), dest / registry.BUNDLES / version)
    registry.promote(dest, version, reason="bench: rules row")
    path = dest / "bench-policy.yaml"
    path.write_text(bench_policy(n, seed))
    policy_store.promote(dest, path, reason="bench: rules row", author="fraudscore bench")
    return dest
