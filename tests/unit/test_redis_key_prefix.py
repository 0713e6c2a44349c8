"""FRAUDSCORE_REDIS_KEY_PREFIX may carry a Redis Cluster hash tag, and then every key the store
builds maps to one slot (the per-batch Lua script touches keys of many customers and terminals,
which Redis Cluster allows only within one slot). With FRAUDSCORE_REDIS_CLUSTER the script declares
every key it touches, and a prefix without a tag stops the worker at start-up. See
docs/scaling.md."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from pydantic import ValidationError
from redis.crc import key_slot

from core.errors import StartupError
from core.settings import Settings
from features.online import StoreEvent, batch_keys
from features.open import open_store

ONLINE = resources.files("features").joinpath("online.py").read_text(encoding="utf-8")
LUA = resources.files("features").joinpath("velocity.lua").read_text(encoding="utf-8")


@pytest.mark.parametrize("prefix", ["fs", "{fs}", "fraud:{fs}", "{fs}:v2", "a" * 32])
def test_prefix_accepted(prefix: str) -> None:
    assert Settings(redis_key_prefix=prefix).redis_key_prefix == prefix


@pytest.mark.parametrize(
    "prefix", ["", "{}", "{a}{b}", "a{b", "a}b", "{a b}", "fs*", "a" * 33, "{" + "a" * 31 + "}"]
)
def test_prefix_rejected(prefix: str) -> None:
    with pytest.raises(ValidationError):
        Settings(redis_key_prefix=prefix)


def keys_built(prefix: str, customer: str, terminal: str, event: str, topic: str) -> list[str]:
    """Every key kind, built the way features/online.py and features/velocity.lua build them."""
    return [
        f"{prefix}:c:{customer}",
        f"{prefix}:ca:{customer}",
        f"{prefix}:t:{terminal}",
        f"{prefix}:tf:{terminal}",
        f"{prefix}:fv:{event}",
        f"{prefix}:progress:{topic}",
        f"{prefix}:state",
        f"{prefix}:ping",  # read, never written: the cluster PING finds the tag's owner
    ]


def test_the_key_list_above_is_every_key_the_store_builds() -> None:
    """If the store gains a key kind, this list (and the slot check below) must learn it."""
    in_lua = set(re.findall(r"prefix \.\. '(:[a-z]+:?)'", LUA))
    in_python = set(re.findall(r'f"\{self\._prefix\}(:[a-z]+:?)', ONLINE))
    assert in_lua == {":fv:", ":c:", ":ca:", ":t:", ":tf:", ":state"}
    assert in_python == {":progress:", ":rebuild:", ":tf:", ":state", ":ping"}
    assert not re.findall(r"[a-z]k \.\. '", LUA), "a key built on another key can collide"


@pytest.mark.parametrize("prefix", ["{fs}", "fraud:{fs}", "{fs}:v2"])
def test_a_hash_tag_puts_every_key_in_one_slot(prefix: str) -> None:
    ids = [("c1", "t9", "e1", "payments.transactions"), ("cust-8f3a", "term-0042", "tx-2", "x")]
    slots = {key_slot(k.encode()) for i in ids for k in keys_built(prefix, *i)}
    slots |= {key_slot(f"{prefix}:rebuild:{topic}".encode()) for *_, topic in ids}
    assert slots == {key_slot(b"fs")}


def test_without_a_tag_keys_spread_over_slots() -> None:
    keys = keys_built("fs", "c1", "t9", "e1", "payments.transactions")
    assert len({key_slot(k.encode()) for k in keys}) > 1


def test_in_cluster_mode_the_script_declares_every_key_it_may_touch_once() -> None:
    """Redis checks declared keys while a slot migrates; an undeclared one could be read as
    missing on the importing node, so the declared list must be the whole list."""
    events = [StoreEvent("e1", "c1", "t9", 0, 100), StoreEvent("e2", "c1", "t8", 1, 5)]
    built = {
        k
        for e in events
        for k in keys_built("{fs}", e.customer_id, e.terminal_id, e.event_id, "topic")
        if ":progress:" not in k and not k.endswith(":ping")  # not the script's keys
    }
    declared = batch_keys("{fs}", events)
    assert sorted(declared) == sorted(built), "each key once, none missing"


def test_cluster_mode_without_a_tag_stops_before_connecting() -> None:
    with pytest.raises(StartupError, match=r"FRAUDSCORE_REDIS_KEY_PREFIX=\{fs\}"):
        open_store(Settings(redis_cluster=True, redis_key_prefix="fs"))
