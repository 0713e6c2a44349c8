"""Bad input on the real broker: poison pills, a 2 MB value, a flood (reliability rows 5 and 6).

Bad records are interleaved with good ones. Each bad record must reach the dead-letter topic
exactly once, identified by its origin headers (topic, partition, offset), with a reason, its
bytes unchanged except for masked card numbers, and the worker must keep going: every good
record scored exactly once, exit 0 on SIGTERM, no traceback in its log.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from core.pan import find_pans
from tests.faults.harness import Scenario
from tests.faults.pans import dead_letter_texts, grouped, leaks, make_pan
from tests.faults.readback import Rec, TopicTail, audit, finish, read_topic
from tests.faults.streams import Stream, produce

pytestmark = pytest.mark.faults

PAN_SEED = 4242


def good_events(stream: Stream, n: int) -> list[tuple[bytes, bytes]]:
    return stream.head(n).transactions()


def variant(template: bytes, **changes: Any) -> bytes:
    """A good event with fields changed (None removes the field)."""
    doc = json.loads(template)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def with_raw(template: bytes, field: str, raw: str) -> bytes:
    """A good event whose ``field`` holds ``raw`` JSON text verbatim (numbers JSON can't hold)."""
    doc = json.loads(template)
    doc[field] = "__RAW__"
    return json.dumps(doc).replace('"__RAW__"', raw).encode()


def poison_pills(template: bytes, pan: str) -> dict[str, bytes | None]:
    """Every kind of bad record of reliability row 5 (and a few neighbours), by name."""
    event_id = json.loads(template)["event_id"]
    return {
        "invalid_json": b'{"event_id": "x", "amount": ',
        "invalid_utf8": template.replace(event_id.encode(), b"bad\xff\xfeid"),
        "binary": bytes(range(256)),
        "nested_list_1000": b"[" * 1000 + b"]" * 1000,
        "nested_object_1000": b'{"a":' * 1000 + b"1" + b"}" * 1000,
        "nested_in_event": with_raw(template, "extra", '{"a":' * 1000 + "1" + "}" * 1000),
        "huge_float": with_raw(template, "amount", "1e400"),
        "huge_int": with_raw(template, "amount", "9" * 400),
        "huge_negative": with_raw(template, "amount", "-1e309"),
        "nan": with_raw(template, "amount", "NaN"),
        "amount_as_string": variant(template, amount="12.00"),
        "time_as_number": variant(template, event_time=1525132800),
        "naive_time": variant(template, event_time="2018-05-01T00:00:00"),
        "id_as_number": variant(template, customer_id=42),
        "schema_version_2": variant(template, schema_version=2),
        "missing_field": variant(template, event_time=None),
        "unknown_field": variant(template, coupon="SPRING"),
        "top_level_array": b"[1, 2, 3]",
        "top_level_string": b'"an event"',
        "json_null": b"null",
        "empty": b"",
        "tombstone": None,
        "null_byte": b'{"event_id": "a\x00b"}',
        "oversize_100kb": variant(template, note="x" * 100_000),
        "pan_customer_id": variant(template, customer_id=pan),
        "pan_unknown_field": variant(template, card_number=grouped(pan, " ")),
    }


def headers(rec: Rec) -> dict[str, str]:
    return {k: v.decode() for k, v in rec.headers}


def origin_of(rec: Rec) -> tuple[int, int]:
    h = headers(rec)
    return int(h["origin_partition"]), int(h["origin_offset"])


def masked(value: bytes | None, pan: str) -> bytes:
    """What the dead letter must hold: the input bytes with the card number's digits hidden."""
    out = value or b""
    for form in (pan, grouped(pan, " ")):
        out = out.replace(form.encode(), b"#" * len(form))
    return out


def test_poison_pills_are_dead_lettered_once(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    sc = scenario(batch_max_events=100)
    good = good_events(fault_stream, 3000)
    pan = make_pan(random.Random(PAN_SEED))
    pills = poison_pills(good[0][1], pan)
    bad_items = [(f"bad-{name}".encode(), value) for name, value in pills.items()]
    items = good[:1500] + bad_items + good[1500:]
    where = produce(sc.kafka, sc.tx, items)
    origin = dict(zip(where[1500 : 1500 + len(bad_items)], pills, strict=True))
    ids = {json.loads(v)["event_id"] for _, v in good}
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    try:
        worker = sc.worker()
        codes = finish(sc, scores, ids, [worker], 120)
        result = audit(ids, scores.sync())
    finally:
        scores.close()
    dead = read_topic(sc.kafka, sc.topic("dlq"))
    seen = Counter(origin_of(d) for d in dead)
    by_name = {origin[origin_of(d)]: d for d in dead if origin_of(d) in origin}
    not_once = {origin.get(p, f"?{p}"): n for p, n in seen.items() if n != 1 or p not in origin}
    lost = sorted(name for pos, name in origin.items() if pos not in seen)
    changed = sorted(n for n, d in by_name.items() if (d.value or b"") != masked(pills[n], pan))
    bad_headers = sorted(
        name
        for name, d in by_name.items()
        if headers(d).get("origin_topic") != sc.tx
        or not headers(d).get("reason")
        or headers(d).get("stage") not in ("decode", "validate")
    )
    texts = [t for d in dead for t in dead_letter_texts(d.value, d.key, d.headers)]
    pan_hits = leaks(texts, [pan])
    own = [dead_letter_texts(d.value, d.key, d.headers, computed=False) for d in dead]
    pan_hits += [t for group in own for t in group if find_pans(t)]
    figures(
        good=len(ids),
        injected=len(pills),
        dead_letters=len(dead),
        missing=len(result.missing),
        duplicates=result.duplicates,
        dlq_not_once=len(not_once),
        dlq_lost=len(lost),
        pans_in_dlq=len(pan_hits),
    )
    log = worker.log()
    assert codes == [0] and "Traceback" not in log, worker.tail()
    assert not result.missing and result.duplicates == 0, "good records not scored exactly once"
    assert not lost, f"bad records never dead-lettered: {lost}"
    assert not not_once, f"dead letters not exactly once: {not_once}"
    assert not bad_headers, f"dead letters without origin/reason/stage: {bad_headers}"
    assert not changed, f"dead-letter bytes differ from the input: {changed}"
    assert not pan_hits, "a card number reached the dead-letter topic"


def test_two_megabyte_value_is_dead_lettered(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    """The input topic takes 4 MB records (the broker default, ~1 MB, would refuse 2 MB)."""
    limit = {"max.message.bytes": str(4 * 1024 * 1024)}
    sc = scenario(batch_max_events=100, tx_config=limit)
    good = good_events(fault_stream, 400)
    big = variant(good[0][1], note="y" * (2 * 1024 * 1024))
    items = [*good[:200], (b"bad-big", big), *good[200:]]
    produce(sc.kafka, sc.tx, items, config={"message.max.bytes": 5 * 1024 * 1024})
    ids = {json.loads(v)["event_id"] for _, v in good}
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    restart_exit = None
    try:
        worker = sc.worker()
        codes = finish(sc, scores, ids, [worker], 90)
        if codes != [0]:  # does a restart get past the record, or crash on it again?
            restart_exit = sc.worker().wait(90)
        result = audit(ids, scores.sync())
    finally:
        scores.close()
    dead = read_topic(sc.kafka, sc.topic("dlq"))
    figures(
        value_bytes=len(big),
        dead_letters=len(dead),
        missing=len(result.missing),
        duplicates=result.duplicates,
        exit=codes,
        restart_exit=restart_exit,
    )
    assert codes == [0] and "Traceback" not in worker.log(), worker.tail(15)
    assert len(dead) == 1 and headers(dead[0])["stage"] == "decode"
    assert not result.missing


FLOOD_MESSAGE = re.compile(r"error: \d+% of the last 1000 records were bad \(limit 50%\); stopping")


def test_bad_input_flood_stops_the_worker(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    """Row 6: 3,000 bad records after 500 good ones; default window 1,000, max share 50%."""
    sc = scenario(batch_max_events=100)
    flood = [(b"bad", b"{not json %d" % i) for i in range(3000)]
    produce(sc.kafka, sc.tx, good_events(fault_stream, 500) + flood)
    worker = sc.worker()
    code = worker.wait(120)
    log = " ".join(worker.log().split())  # rich wraps long lines on a non-terminal stderr
    dead = read_topic(sc.kafka, sc.topic("dlq"))
    figures(injected_bad=len(flood), exit=code, dead_letters=len(dead))
    assert code == 1, f"worker did not stop with status 1: {code}\n{worker.tail()}"
    assert FLOOD_MESSAGE.search(log), f"no clear message:\n{worker.tail()}"
    assert "Traceback" not in log
    assert len(dead) < len(flood), "the worker dead-lettered the whole flood"
