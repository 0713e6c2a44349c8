"""A hash-tagged key prefix (``FRAUDSCORE_REDIS_KEY_PREFIX={fs}``) and ``FRAUDSCORE_REDIS_CLUSTER``
on real Redis servers (docs/scaling.md).

1. On the session's Redis: the store gives exactly the features it gives with a plain prefix,
   and every key it creates (windows, aggregates, fraud sets, feature cache, progress) is in the
   tag's slot.
2. On a real three-node Redis Cluster started here (once for the module):
   - with ``redis_cluster=True``, ``open_store`` pointed at any node enriches, applies labels and
     exchanges progress, and gives the features of a single Redis;
   - while the tag's slot migrates to another node, a batch fails (``StoreUnavailable``) rather
     than run on half the windows, labels and progress still go through, and once the slot has
     moved the same store follows it (``MOVED``) with the features of a single Redis;
   - without a tag, cluster mode stops at start-up with one clear line;
   - over TLS as an ACL user confined to the prefix (a second cluster, as managed services run
     one), the same, and a wrong password is one clear start-up error that does not show it;
   - a plain client (``redis_cluster=False``) works only on the node owning the slot, and without
     a tag on no node: what the setting is for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import redis
from redis.crc import key_slot

from core.errors import StartupError
from core.settings import Settings
from features.online import OnlineStore, StoreEvent, StoreLabel, StoreUnavailable
from features.open import open_store
from features.redis_client import connect
from features.registry import RAW_INDEX
from tests.integration.redis_cluster import (
    TLS_PASSWORD,
    TLS_USER,
    Migration,
    keys_in_slot,
    redis_cluster_fixture,  # noqa: F401  (a fixture)
    slot_owner,
    tls_cluster_fixture,  # noqa: F401  (a fixture)
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DAY = 86_400_000
T0 = 1_525_132_800_000  # 2018-05-01T00:00:00Z
EVENTS = [
    StoreEvent(f"e{i}", f"c{i % 4}", f"t{i % 3}", T0 + i * DAY // 3, 1000 + 137 * i)
    for i in range(60)
]
LABELS = [StoreLabel("e3", "t0", T0 + DAY, True), StoreLabel("e7", "t1", T0 + 2 * DAY, True)]
KINDS = {"c", "ca", "t", "tf", "fv", "progress", "state"}  # state: the history mark


def store(url: str, prefix: str) -> OnlineStore:
    return OnlineStore(connect(url, socket_timeout_ms=2000, retries=0), prefix=prefix)


def cluster_store(port: int, prefix: str) -> OnlineStore:
    return open_store(
        Settings(
            redis_url=f"redis://127.0.0.1:{port}/0",
            redis_cluster=True,
            redis_key_prefix=prefix,
            redis_socket_timeout_ms=2000,
            redis_connect_timeout_ms=2000,
        )
    )


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
        assert _kinds(keys) == KINDS
        assert {key_slot(k.encode()) for k in keys} == {key_slot(unique_name.encode())}
    finally:
        if ours:
            r.delete(*ours)


def _keys(r: redis.Redis, name: str) -> list[str]:
    return [k.decode() for k in r.scan_iter(match=f"*{name}*", count=100_000)]


def _kinds(keys: list[str]) -> set[str]:
    return {k.split(":")[1] for k in keys}


# -- a real Redis Cluster --------------------------------------------------------------------------


def test_cluster_mode_on_any_node_gives_the_features_of_one_redis(
    redis_cluster: list[int], redis_url: str, unique_name: str
) -> None:
    prefix = "{" + unique_name + "}"
    owner = slot_owner(redis_cluster, key_slot(unique_name.encode()))
    stores = [cluster_store(p, prefix) for p in redis_cluster]  # the owner and two others
    ref = store(redis_url, prefix + "-ref")  # a single Redis
    try:
        for i, s in enumerate(stores):
            s.ping()
            progress = s.exchange_progress("payments.transactions", {i: f"p{i}"})
            assert progress == {str(j): f"p{j}" for j in range(i + 1)}
        on_another_node = next(s for p, s in zip(redis_cluster, stores, strict=True) if p != owner)
        on_another_node.apply_labels(LABELS)
        ref.apply_labels(LABELS)
        chunks = [EVENTS[:20], EVENTS[20:40], EVENTS[40:]]
        got = np.vstack([s.enrich(chunk) for s, chunk in zip(stores, chunks, strict=True)])
        expected = np.vstack([ref.enrich(chunk) for chunk in chunks])
        np.testing.assert_array_equal(got, expected)
        assert got[:, RAW_INDEX["terminal_frauds_30d"]].sum() > 0, "the labels took part"
        again = stores[2].enrich(EVENTS[:20])  # a replay, through another node
        np.testing.assert_array_equal(again, expected[:20])
        keys = keys_in_slot(owner, key_slot(unique_name.encode()))
        assert _kinds(keys) == KINDS and all(k.startswith(f"{prefix}:") for k in keys)
    finally:
        _delete_reference(redis_url, unique_name)


def test_the_store_follows_its_slot_through_a_migration(
    redis_cluster: list[int], redis_url: str, unique_name: str
) -> None:
    prefix = "{" + unique_name + "}"
    slot = key_slot(unique_name.encode())
    source = slot_owner(redis_cluster, slot)
    target = next(p for p in redis_cluster if p != source)
    s = cluster_store(source, prefix)
    ref = store(redis_url, prefix + "-ref")  # a single Redis
    try:
        np.testing.assert_array_equal(s.enrich(EVENTS[:30]), first := ref.enrich(EVENTS[:30]))

        migration = Migration(redis_cluster, slot, source, target)
        migration.move(share=0.5)
        with pytest.raises(StoreUnavailable, match="TTL exhausted"):
            s.enrich(EVENTS[30:])  # its keys are on two nodes: refused, never half the windows
        s.apply_labels(LABELS)  # one key per command: Redis's ASK redirection serves them
        ref.apply_labels(LABELS)
        assert s.exchange_progress("tx", {0: "mid"}) == {"0": "mid"}
        migration.finish()

        assert slot_owner(redis_cluster, slot) == target
        s.ping()
        np.testing.assert_array_equal(s.enrich(EVENTS[30:]), ref.enrich(EVENTS[30:]))
        np.testing.assert_array_equal(s.enrich(EVENTS[:30]), first)  # replay: cache moved too
        assert s.exchange_progress("tx", {1: "after"}) == {"0": "mid", "1": "after"}
        assert keys_in_slot(source, slot) == []
    finally:
        _delete_reference(redis_url, unique_name)


def test_cluster_mode_without_a_tag_or_a_cluster_stops_at_startup(
    redis_cluster: list[int], redis_url: str, unique_name: str
) -> None:
    with pytest.raises(StartupError) as untagged:
        cluster_store(redis_cluster[0], unique_name)
    message = str(untagged.value)
    assert "FRAUDSCORE_REDIS_KEY_PREFIX={fs}" in message and "\n" not in message

    plain = Settings(
        redis_url=redis_url, redis_cluster=True, redis_key_prefix="{" + unique_name + "}"
    )
    with pytest.raises(StartupError, match="Cluster mode is not enabled"):
        open_store(plain)


def test_cluster_mode_over_tls_as_an_acl_user(
    tls_cluster: tuple[list[int], Path], redis_url: str, unique_name: str
) -> None:
    """The options of a single Redis (TLS CA, ACL user and password) reach every node."""
    ports, ca = tls_cluster
    values: dict[str, object] = {
        "redis_url": f"rediss://127.0.0.1:{ports[1]}/0",
        "redis_cluster": True,
        "redis_key_prefix": "{fs}",
        "redis_username": TLS_USER,
        "redis_password": TLS_PASSWORD,
        "redis_tls_ca_file": ca,
        "redis_socket_timeout_ms": 2000,
        "redis_connect_timeout_ms": 2000,
    }
    s = open_store(Settings(**values))  # type: ignore[arg-type]
    ref = store(redis_url, "{" + unique_name + "}")
    try:
        for chunk in (EVENTS[:30], EVENTS[30:]):
            np.testing.assert_array_equal(s.enrich(chunk), ref.enrich(chunk))
        s.apply_labels(LABELS)  # the ACL allows only {fs}:* keys: every key stayed in the prefix
        assert s.exchange_progress("tx", {0: "up"}) == {"0": "up"}
    finally:
        _delete_reference(redis_url, unique_name)

    wrong = "not-the-password-either"
    with pytest.raises(StartupError) as info:
        open_store(Settings(**{**values, "redis_password": wrong, "redis_retries": 0}))  # type: ignore[arg-type]
    assert "Redis Cluster at" in str(info.value) and wrong not in str(info.value)


def _enrich(port: int, prefix: str) -> np.ndarray | str:
    try:
        return store(f"redis://127.0.0.1:{port}/0", prefix).enrich(EVENTS[:30])
    except StoreUnavailable as exc:
        return str(exc)


def test_a_plain_client_works_only_on_the_slot_owner(
    redis_cluster: list[int], redis_url: str, unique_name: str
) -> None:
    tag = unique_name
    owner = slot_owner(redis_cluster, key_slot(tag.encode()))
    tagged = {p: _enrich(p, "{" + tag + "}") for p in redis_cluster}
    expected = store(redis_url, "{" + tag + "}-ref").enrich(EVENTS[:30])
    assert isinstance(tagged[owner], np.ndarray)
    np.testing.assert_array_equal(tagged[owner], expected)
    for p in redis_cluster:
        if p != owner:
            assert "non local key" in str(tagged[p]), "no MOVED handling, no KEYS to route by"

    plain_slots = {key_slot(f"{tag}:c:c{i}".encode()) for i in range(4)}
    assert len({slot_owner(redis_cluster, s) for s in plain_slots}) > 1, "precondition: keys spread"
    for p in redis_cluster:
        assert "non local key" in str(_enrich(p, tag)), "untagged keys of one batch span nodes"
    _delete_reference(redis_url, tag)


def _delete_reference(redis_url: str, name: str) -> None:
    r = redis.Redis.from_url(redis_url)
    if keys := _keys(r, name):
        r.delete(*keys)
