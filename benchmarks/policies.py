"""The policy of the benchmark's rules row: 50 rules over the features, score and event fields.

The worker of that row reads a registry of its own (the served bundle copied, the policy
promoted there), so the user's registry and its policy in force are never touched.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from decision import policy_store
from features.registry import FEATURE_NAMES
from models import registry

_NUMERIC = [f for f in FEATURE_NAMES if f not in ("is_weekend", "is_night")]
_ACTIONS = ("review", "review", "review", "block", "allow")


def bench_policy(n: int, seed: int = 7) -> str:
    """``n`` rules of the shapes analysts write: thresholds joined by and/or, a ratio, a string
    test, a boolean; a tenth in shadow. Thresholds are high, so few events match (as in
    production), but every rule is evaluated on every event."""
    rng = random.Random(seed)
    lines = ["name: bench-50", "description: the benchmark's rules row", "rules:"]
    for i in range(n):
        a, b = rng.sample(_NUMERIC, 2)
        shape = i % 5
        if shape == 0:
            when = f"{a} > {rng.uniform(50, 500):.2f} and {b} >= {rng.uniform(1, 20):.2f}"
        elif shape == 1:
            when = f"{a} / max({b}, 1) > {rng.uniform(5, 50):.2f} or score >= 0.97"
        elif shape == 2:
            when = f'currency != "EUR" and {a} > {rng.uniform(10, 100):.2f}'
        elif shape == 3:
            when = f"is_night and {a} > {rng.uniform(100, 1000):.2f}"
        else:
            when = f"abs({a} - {b}) > {rng.uniform(500, 5000):.2f} and not is_weekend"
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
