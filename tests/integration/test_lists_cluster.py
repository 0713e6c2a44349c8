"""The allow and block lists on a real three-node Redis Cluster (``FRAUDSCORE_REDIS_CLUSTER``):
opened on a node that does not own the prefix's slot, every change (one MULTI/EXEC over the set,
the version and the trail) and every snapshot goes through, all keys in the tag's slot; without
a tag, one clear start-up line."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from core.errors import StartupError
from core.settings import Settings
from features.open import open_lists
from tests.integration.redis_cluster import (
    keys_in_slot,
    redis_cluster_fixture,  # noqa: F401  (a fixture)
    slot_owner,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def cluster_settings(port: int, prefix: str) -> Settings:
    return Settings(
        redis_url=f"redis://127.0.0.1:{port}/0",
        redis_cluster=True,
        redis_key_prefix=prefix,
        redis_socket_timeout_ms=2000,
        redis_connect_timeout_ms=2000,
    )


def test_lists_on_a_cluster_node_that_does_not_own_the_slot(
    redis_cluster: list[int], unique_name: str
) -> None:
    prefix, slot = "{" + unique_name + "}", key_slot(unique_name.encode())
    owner = slot_owner(redis_cluster, slot)
    other = next(p for p in redis_cluster if p != owner)
    lists = open_lists(cluster_settings(other, prefix))
    assert lists.add("block", "customer_id", "c1", reason="r", author="a")
    assert lists.add("allow", "country", "NG", reason="r", author="a")
    assert lists.remove("block", "customer_id", "c1", reason="r", author="a")
    assert lists.add("block", "terminal_id", "t1", reason="r", author="a")
    snap = lists.snapshot()
    assert snap.version == 4 == lists.version()
    assert snap.block == {"terminal_id": frozenset({"t1"})}
    assert snap.allow == {"country": frozenset({"NG"})}
    assert [e["action"] for e in lists.audit()] == ["add", "add", "remove", "add"]
    assert sorted(keys_in_slot(owner, slot)) == sorted(
        f"{prefix}:list:{k}" for k in ("allow:country", "block:terminal_id", "version", "audit")
    )


def test_cluster_lists_without_a_tag_stop_at_startup(
    redis_cluster: list[int], unique_name: str
) -> None:
    with pytest.raises(StartupError, match=r"FRAUDSCORE_REDIS_KEY_PREFIX=\{fs\}"):
        open_lists(cluster_settings(redis_cluster[0], unique_name))
