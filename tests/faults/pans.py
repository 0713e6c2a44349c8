"""Test card numbers made at runtime, and a PAN scanner independent of ``core.messages``.

No card number is written in this repository: ``make_pan`` draws digits from a seeded generator
and appends the Luhn check digit. The scanner is written from the definition (13-19 digits,
optionally grouped by single spaces or dashes, passing Luhn, issuer digit 2-6 as card networks
use), not by calling the code under test, so the leak check does not trust what it checks.
The issuer-digit rule keeps 13-digit epoch-millisecond timestamps (they start with 1) out of
the findings; every number ``make_pan`` makes starts with 3, 4, 5 or 6.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from typing import Any

from core.intake import COMPUTED_HEADERS

# Not after "<digit>.": the fraction of a JSON number (a score such as 0.95551708869428160) has
# long digit runs, one in ten of which passes Luhn by chance.
_CANDIDATE = re.compile(r"(?<![0-9])(?<![0-9]\.)[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def check_digit(body: str) -> str:
    return next(str(d) for d in range(10) if luhn_valid(body + str(d)))


def make_pan(rng: random.Random, length: int = 16) -> str:
    """A Luhn-valid number of ``length`` digits with a card network's first digit."""
    body = rng.choice("3456") + "".join(rng.choice("0123456789") for _ in range(length - 2))
    return body + check_digit(body)


def grouped(pan: str, sep: str) -> str:
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def scan(text: str) -> list[str]:
    """PAN-like sequences in ``text`` (separators removed)."""
    found = []
    for m in _CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


def strings(obj: Any) -> Iterable[str]:
    """Every string (object keys included) of a decoded JSON value.

    Numbers are left out: what the worker computes (scores, features) has long digit runs that
    are not card numbers, and input numbers only reach outputs as amounts, capped at 1e9.
    """
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def decoded_strings(raw: bytes) -> list[str]:
    """Strings of ``raw`` as a JSON reader would see them (escapes decoded); [] if not JSON."""
    try:
        return list(strings(json.loads(raw)))
    except (ValueError, RecursionError):
        return []


def dead_letter_texts(
    value: bytes | None,
    key: bytes | None,
    headers: Iterable[tuple[str, bytes]],
    *,
    computed: bool = True,
) -> list[str]:
    """Everything a reader of a dead letter can see: bytes, decoded strings, key, headers.

    ``computed=False`` leaves out the worker's own numeric headers, for scanners that flag any
    13-19 digit Luhn-valid run (the worker's ``find_pans``), whatever its first digit.
    """
    raw = value or b""
    out = [raw.decode("latin-1"), (key or b"").decode("latin-1"), *decoded_strings(raw)]
    return out + [
        f"{k}={v.decode('latin-1')}" for k, v in headers if computed or k not in COMPUTED_HEADERS
    ]


def leaks(texts: Iterable[str], injected: Iterable[str]) -> list[str]:
    """PAN-like findings in ``texts``, plus any injected number found verbatim."""
    digits = list(injected)
    found: list[str] = []
    for text in texts:
        found += scan(text)
        found += [pan for pan in digits if pan in re.sub(r"[ -]", "", text)]
    return found
