"""Card numbers in every form an upstream may write them: none passes validation, none reaches
a dead letter (value, key or headers).

The forms are the issue's: separators ``.``, ``/``, ``_``, ``:``, a tab, a no-break space (and
spaces, dashes, an en dash, wider separators), digits in full width or other scripts, JSON
escapes, in every string field of the event, in an unknown field's name or value, and in the
record key. The leak check is independent of ``core.pan``: it reads every digit's value with
``unicodedata``, drops every separator, decodes the JSON, and looks for ten consecutive digits
of the card number anywhere.
"""

from __future__ import annotations

import json
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.decode import Rejection, decode
from core.intake import DLQ_VALUE_MAX_BYTES, dead_letter
from core.records import InRecord

SEPARATORS = [" ", "-", ".", "/", "_", ":", "\t", "\u00a0", "\u2013", "  ", " - ", "..."]
SCRIPTS = {"ascii": 0x30, "full-width": 0xFF10, "arabic-indic": 0x660, "devanagari": 0x966}
FIELDS = [
    "event_id",
    "customer_id",
    "terminal_id",
    "merchant_category",
    "country",
    "currency",
    "channel",
    "unknown field's value",
    "unknown field's name",
]
EVENT = {
    "event_id": "tx-1",
    "event_time": "2018-04-01T10:00:00+00:00",
    "customer_id": "c1",
    "terminal_id": "t1",
    "amount": 12.5,
}
LEAK_DIGITS = 10  # no run this long of the card number's digits may survive anywhere


def check_digit(body: str) -> str:
    for d in "0123456789":
        total = 0
        for i, ch in enumerate(reversed(body + d)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return d
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from("3456")) + draw(
        st.text(alphabet="0123456789", min_size=11, max_size=17)
    )
    return body + check_digit(body)


@st.composite
def written(draw: st.DrawFn, pan: str) -> str:
    """``pan`` grouped (by 4, or in random groups) with one separator, in one script."""
    if draw(st.booleans()):
        sizes = [4] * (len(pan) // 4) + ([len(pan) % 4] if len(pan) % 4 else [])
    else:
        sizes, left = [], len(pan)
        while left:
            sizes.append(min(left, draw(st.integers(1, 7))))
            left -= sizes[-1]
    sep = draw(st.sampled_from(["", *SEPARATORS]))
    zero = SCRIPTS[draw(st.sampled_from(sorted(SCRIPTS)))]
    digits = "".join(chr(zero + int(c)) for c in pan)
    groups, at = [], 0
    for n in sizes:
        groups.append(digits[at : at + n])
        at += n
    return sep.join(groups)


def normalised(text: str) -> str:
    """Digits of any script as ASCII, every separator (and whitespace) gone."""
    out = []
    for ch in text:
        value = unicodedata.decimal(ch, None)
        if value is not None:
            out.append(str(value))
        elif not (ch.isspace() or ch in "-._/:\u2013"):
            out.append(ch)
    return "".join(out)


def leaks(pan: str, text: str) -> bool:
    flat = normalised(text)
    return any(pan[i : i + LEAK_DIGITS] in flat for i in range(len(pan) - LEAK_DIGITS + 1))


def texts_of(raw: bytes) -> list[str]:
    """The bytes as text, and every string and key of the JSON they hold (escapes read)."""
    text = raw.decode("utf-8", "replace")
    out = [text]
    try:
        doc = json.loads(text)
    except ValueError:
        return out
    stack = [doc]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            out += [str(k) for k in v]
            stack += list(v.values())
        elif isinstance(v, list):
            stack += v
        else:
            out.append(str(v))
    return out


def event_with(field: str, text: str) -> dict[str, object]:
    if field == "unknown field's value":
        return {**EVENT, "card": text}
    if field == "unknown field's name":
        return {**EVENT, text: 1}
    return {**EVENT, field: text}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), card_numbers(), st.sampled_from(FIELDS), st.booleans())
def test_no_written_card_number_passes_or_reaches_a_dead_letter(
    data: st.DataObject, pan: str, field: str, ascii_json: bool
) -> None:
    text = data.draw(written(pan), label="written")
    value = json.dumps(event_with(field, text), ensure_ascii=ascii_json).encode()
    result = decode(value, max_bytes=64 * 1024)
    assert isinstance(result, Rejection), f"a card number passed validation in {field}"
    rec = InRecord("payments.transactions", 0, 7, 1_522_576_800_000, text.encode(), value)
    letter = dead_letter(rec, result, "dlq")
    assert letter.key is not None
    seen = [*texts_of(letter.value), *texts_of(letter.key)]
    seen += [v.decode("utf-8", "replace") for _, v in letter.headers]
    assert not [t for t in seen if leaks(pan, t)], (field, text)


@settings(max_examples=50, deadline=None)
@given(card_numbers(), st.integers(1, 12))  # a card number has at least 13 digits
def test_a_card_number_across_the_dead_letter_cut_keeps_no_digits(pan: str, before: int) -> None:
    """The cut used to come first: the part of the number before it stayed readable."""
    pad = "x" * (DLQ_VALUE_MAX_BYTES - before)
    value = (pad + pan + "y" * 100).encode()
    rec = InRecord("payments.transactions", 0, 7, 1_522_576_800_000, None, value)
    letter = dead_letter(rec, Rejection("not valid JSON", "decode"), "dlq")
    assert len(letter.value) == DLQ_VALUE_MAX_BYTES
    assert letter.value.endswith(b"#" * before)
    assert dict(letter.headers)["value_bytes"] == str(len(value)).encode()
