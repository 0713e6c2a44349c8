"""The recount of tests/unit/test_backtest_recount.py over the full benchmark-faithful dataset.

The unit test recounts a backtest of policies/example.yaml on a small simulation (600
customers, 80 days) in seconds; this runs the same independent recount (pandas over the
training-side features and the bundle's model file) against ``fraudscore rules backtest`` on the
published benchmark's size (1.78M events, 183 days), card precision@100 included. It takes a
minute or so after the dataset and a model exist:

    .venv/bin/fraudscore simulate --out var/data/transactions.parquet
    .venv/bin/fraudscore train --data var/data/transactions.parquet --model-dir var/bt-models
    PYTHONPATH=. .venv/bin/python scripts/recount_backtest_full.py \
        var/data/transactions.parquet var/bt-models

It exits non-zero (an AssertionError naming the figure) if any figure differs.
"""

import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

import tests.unit.test_backtest_recount as t
from features.offline import compute_features
from features.registry import FEATURE_NAMES
from models import registry
from simulator.dataset import read_dataset


def main(data: Path, root: Path) -> None:
    t.K = 100  # the benchmark's card precision@100
    df = read_dataset(data)
    version = registry.current_version(root)
    assert version is not None, f"no current model under {root}"
    bundle = registry.bundle_path(root, version)
    meta = json.loads((bundle / "metadata.json").read_text())
    since = date.fromisoformat(meta["training"]["train_end_exclusive"])
    f = compute_features(df)
    booster = lgb.Booster(model_file=str(bundle / "model.txt"))
    f["score"] = booster.predict(f[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
    due = df.TX_DATETIME.max() - t.LABEL_DELAY
    judged = pd.concat([df, f], axis=1)[df.TX_DATETIME.between(pd.Timestamp(since), due)]
    th = meta["thresholds"]
    review, block = float(th["review"]["threshold"]), float(th["block"]["threshold"])
    w = t.World(data, root, since, judged.reset_index(drop=True), review, block)
    start = time.perf_counter()
    bt = t.run_backtest(w, Path(tempfile.mkdtemp()))
    print(f"fraudscore rules backtest: {time.perf_counter() - start:.1f} s")
    mine = t.recount(w, t.EXAMPLE_RULES)
    t.assert_same(mine, bt["policy"], "policy")
    t.assert_same(t.recount(w, None), bt["against"], "against")
    print(f"every figure matches the recount over {len(judged):,} judged events")
    for r in mine["rules"]:
        hits, frauds, only = r["hits"], r["frauds"], r["only_this_rule"]
        print(f"  {r['id']}: {hits:,} hits, {frauds:,} frauds, only {only}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
