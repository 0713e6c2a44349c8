"""Where spread keys live (features/spread.py): group tags cover the slot space evenly, every
key of one entity is in its group's slot, and an event's cached parts follow their owners."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from core.settings import Settings
from features.spread import MAX_SLOTS, SpreadLayout, slot_tags


@pytest.mark.parametrize("n", [1, 3, 12, 64, MAX_SLOTS])
def test_the_ith_tag_hashes_into_the_ith_equal_range(n: int) -> None:
    tags = slot_tags(n)
    assert len(set(tags)) == n
    for i, tag in enumerate(tags):
        lo, hi = i * REDIS_CLUSTER_HASH_SLOTS // n, (i + 1) * REDIS_CLUSTER_HASH_SLOTS // n
        assert lo <= key_slot(tag.encode()) < hi


def test_on_the_default_allocation_every_shard_gets_an_equal_share() -> None:
    """redis-cli --cluster create gives three masters 0-5460, 5461-10922, 10923-16383."""
    ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
    slots = [key_slot(t.encode()) for t in slot_tags(12)]
    assert [sum(lo <= s <= hi for s in slots) for lo, hi in ranges] == [4, 4, 4]


def test_an_entitys_keys_share_its_groups_slot_and_parts_follow_their_owner() -> None:
    lay = SpreadLayout("{fs}", 12)
    assert lay.key("c", "cust-1").startswith("fs:{")  # the prefix's own tag is not the one used
    slot = key_slot(lay.key("c", "cust-1").encode())
    assert key_slot(lay.key("ca", "cust-1").encode()) == slot
    assert key_slot(lay.key("fc", "ev-9", "cust-1").encode()) == slot
    assert key_slot(lay.state(lay.group("cust-1")).encode()) == slot
    terminal = key_slot(lay.key("t", "term-4").encode())
    assert key_slot(lay.key("tf", "term-4").encode()) == terminal
    assert key_slot(lay.key("ft", "ev-9", "term-4").encode()) == terminal
    assert key_slot(lay.key("fp", "ev-9").encode()) == key_slot(
        lay.state(lay.group("ev-9")).encode()
    )


def test_groups_are_stable_and_spread() -> None:
    lay = SpreadLayout("fs", 16)
    assert lay.group("c1") == SpreadLayout("other", 16).group("c1")  # a CRC-32, not Python's hash
    counts = [0] * 16
    for i in range(16_000):
        counts[lay.group(f"customer-{i}")] += 1
    assert min(counts) > 800 and max(counts) < 1200


@pytest.mark.parametrize("n", [-1, MAX_SLOTS + 1])
def test_the_setting_is_bounded(n: int) -> None:
    with pytest.raises(ValidationError):
        Settings(redis_spread_slots=n)
    with pytest.raises(ValueError):
        slot_tags(n if n > 0 else 0)
