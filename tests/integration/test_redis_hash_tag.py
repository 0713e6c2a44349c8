"""A hash-tagged key prefix (``FRAUDSCORE_REDIS_KEY_PREFIX={fs}``) on real Redis servers.

1. On the session's Redis: the store gives exactly the features it gives with a plain prefix,
   and every key it creates (windows, aggregates, fraud sets, feature cache, progress) is in the
   tag's slot.
2. On a real three-node Redis Cluster started here: the per-batch script runs on the node that
   owns the tag's slot and is refused by the others; without a tag one batch's keys span nodes
   and every node refuses it. This is the limit docs/scaling.md states: the worker's client is
   not cluster-aware (no MOVED handling, no KEYS on the script), so with Redis Cluster it must be
   pointed at the owning node.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.crc import key_slot

from features.online import OnlineStore, StoreEvent, StoreLabel, StoreUnavailable, connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DAY = 86_400_000
T0 = 1_525_132_800_000  # 2018-05-01T00:00:00Z
EVENTS = [
    StoreEvent(f"e{i}", f"c{i % 4}", f"t{i % 3}", T0 + i * DAY // 3, 1000 + 137 * i)
    for i in range(60)
]
LABELS = [StoreLabel("e3", "t0", T0 + DAY, True), StoreLabel("e7", "t1", T0 + 2 * DAY, True)]


def store(url: str, prefix: str) -> OnlineStore:
    return OnlineStore(connect(url, socket_timeout_ms=2000, retries=0), prefix=prefix)


def test_tagged_prefix_same_features_and_one_slot(redis_url: str, unique_name: str) -> None:
    tagged_prefix = "{" + unique_name + "}"
    results = []
    for prefix in (unique_name, tagged_prefix):
        s = store(redis_url, prefix)
        s.apply_labels(LABELS)
        s.exchange_progress("payments.transactions", {0: str(T0)})
        results.append(np.vstack([s.enrich(EVENTS[:30]), s.enrich(EVENTS[30:])]))
    np.testing.assert_array_equal(results[0], results[1])
    assert results[1][:, 6:].sum() > 0, "terminal windows and fraud sets took part"

    r = redis.Redis.from_url(redis_url)
    ours = _keys(r, unique_name)  # both prefixes, one pass over a shared (large) keyspace
    try:
        keys = [k for k in ours if k.startswith(f"{tagged_prefix}:")]
        kinds = {k.split(":")[1] for k in keys} | {"agg" for k in keys if k.endswith(":agg")}
        assert kinds == {"c", "agg", "t", "tf", "fv", "progress"}
        assert {key_slot(k.encode()) for k in keys} == {key_slot(unique_name.encode())}
    finally:
        if ours:
            r.delete(*ours)


def _keys(r: redis.Redis, name: str) -> list[str]:
    return [k.decode() for k in r.scan_iter(match=f"*{name}*", count=100_000)]


def _free_port() -> int:
    """A port that is free, and whose cluster bus port (+10000) is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10_000 < 65_536:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10_000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair")


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[list[int]]:
    """Three masters on loopback, no replicas, persistence off; stopped (by pid) afterwards."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        pytest.skip("redis-server/redis-cli missing (scripts/bootstrap-system.sh installs them)")
    ports: list[int] = []
    while len(ports) < 3:
        port = _free_port()
        if port not in ports:
            ports.append(port)
    procs = [
        subprocess.Popen(
            ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{p}.conf", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]  # fmt: skip
    try:
        for p in ports:
            _wait(lambda p=p: redis.Redis(port=p).ping())
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for p in ports:
            _wait(lambda p=p: _cluster_state(p) == "ok")
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _wait(ready: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("redis cluster node not ready")
        time.sleep(0.1)


def _cluster_state(port: int) -> str:
    info = redis.Redis(port=port).execute_command("CLUSTER INFO")  # parsed into a dict
    return str(info.get("cluster_state"))


def _owner(ports: list[int], slot: int) -> int:
    for start, end, (_, port, *_rest), *_ in redis.Redis(port=ports[0]).execute_command(
        "CLUSTER SLOTS"
    ):
        if start <= slot <= end:
            return int(port)
    raise AssertionError(f"no node serves slot {slot}")


def _enrich(port: int, prefix: str) -> np.ndarray | str:
    try:
        return store(f"redis://127.0.0.1:{port}/0", prefix).enrich(EVENTS[:30])
    except StoreUnavailable as exc:
        return str(exc)


def test_on_redis_cluster_the_tagged_script_runs_on_the_slot_owner(
    redis_cluster: list[int], redis_url: str, unique_name: str
) -> None:
    tag = unique_name
    owner = _owner(redis_cluster, key_slot(tag.encode()))
    tagged = {p: _enrich(p, "{" + tag + "}") for p in redis_cluster}
    expected = store(redis_url, "{" + tag + "}-ref").enrich(EVENTS[:30])
    assert isinstance(tagged[owner], np.ndarray)
    np.testing.assert_array_equal(tagged[owner], expected)
    for p in redis_cluster:
        if p != owner:
            assert "non local key" in str(tagged[p])

    plain_slots = {key_slot(f"{tag}:c:c{i}".encode()) for i in range(4)}
    assert len({_owner(redis_cluster, s) for s in plain_slots}) > 1, "precondition: keys spread"
    for p in redis_cluster:
        assert "non local key" in str(_enrich(p, tag)), "untagged keys of one batch span nodes"
    r = redis.Redis.from_url(redis_url)
    r.delete(*_keys(r, tag))
