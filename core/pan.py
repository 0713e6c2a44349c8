"""Card numbers (PANs): find them and mask them, wherever text is about to be written.

PCI DSS: a primary account number must be unreadable wherever it is stored, logs and topics
included. Anything that looks like one (13-19 digits passing the Luhn check, possibly grouped)
is masked before it is written and refused in validation.
"""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP = re.compile(r"\d+")
_CANDIDATE = re.compile(r"\d(?:[ -]?\d){12}")  # cheap pre-check: 13 digits, maybe grouped


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a string of digits (card numbers pass it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pans(text: str) -> list[tuple[int, int]]:
    """Spans of PAN-like runs: 13-19 digits passing Luhn, possibly grouped by spaces or dashes.

    A run of digit groups ("4111 1111 1111 1111", "1-5555555555554444") is checked for every
    contiguous sequence of whole groups with 13-19 digits, so a card number joined to other
    digits by a separator is still found.
    """
    spans: list[tuple[int, int]] = []
    if _CANDIDATE.search(text) is None:
        return spans
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())
        ]
        spans.extend(_pan_groups(text, groups))
    return spans


def _pan_groups(text: str, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        hit = None
        for j in range(i, len(groups)):
            digits = "".join(text[a:b] for a, b in groups[i : j + 1])
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_ok(digits):
                hit = j
        if hit is None:
            i += 1
            continue
        found.append((groups[i][0], groups[hit][1]))
        i = hit + 1
    return found


def mask_pans(text: str) -> str:
    """Replace every PAN-like run by '#' characters (length kept, no digit kept).

    JSON text may spell digits as escapes (``\\u0034`` is "4"): runs are also looked for in
    the text with those escapes read, and masked where they are written, so an escaped card
    number is masked like a plain one.
    """
    spans = find_pans(text) if "\\u00" not in text else _escaped_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append("#" * (end - start))
        last = end
    out.append(text[last:])
    return "".join(out)


_ESCAPE = re.compile(r"\\u00(3[0-9]|2[0dD])")  # an escaped digit, space or dash


def _escaped_spans(text: str) -> list[tuple[int, int]]:
    """PAN spans of ``text`` with digit/space/dash escapes read, as spans of ``text`` itself."""
    view: list[str] = []
    where: list[int] = []  # raw start of each view character
    i = 0
    for m in _ESCAPE.finditer(text):
        view.append(text[i : m.start()])
        where.extend(range(i, m.start()))
        view.append(chr(int(m[1], 16)))
        where.append(m.start())
        i = m.end()
    view.append(text[i:])
    where.extend(range(i, len(text)))
    where.append(len(text))
    decoded = "".join(view)

    def raw_end(view_end: int) -> int:
        start = where[view_end - 1]
        m = _ESCAPE.match(text, start)
        return m.end() if m else start + 1

    return [(where[a], raw_end(b)) for a, b in find_pans(decoded)]
