"""Card numbers (PANs): find them and mask them, wherever text is about to be written.

PCI DSS: a primary account number must be unreadable wherever it is stored, logs and topics
included. Anything that looks like one (13-19 digits passing the Luhn check) is masked before it
is written and refused in validation, however it is written:

- digits of any script: ASCII, full-width (U+FF10..), Arabic-Indic, Devanagari, ... (every
  Unicode decimal digit; the Luhn check reads their values);
- grouped by a separator of up to three characters, the same between all groups: any
  whitespace (space, tab, no-break space, ...), dashes (``-``, en and em dashes, minus), ``.``,
  ``/``, ``_``, ``:``;
- in JSON text, with any character written as an escape (``\\uXXXX``, ``\\t``, ``\\/``).
"""

from __future__ import annotations

import re
import unicodedata

SEPARATORS = "\\s\\-._/:\u2010-\u2015\u2212"  # a regex character class body
# One separator, the same between every two groups: a card number is written "4111.1111..." or
# "4111 1111 ...", while a timestamp ("2025-07-01 09:00:00") mixes them and is not one number.
_DIGIT_RUN = re.compile(rf"\d+(?:([{SEPARATORS}]{{1,3}})\d+(?:\1\d+)*)?")
_GROUP = re.compile(r"\d+")
_CANDIDATE = re.compile(rf"\d(?:[{SEPARATORS}]{{0,3}}\d){{12}}")  # cheap pre-check: 13 digits


def _ascii(digits: str) -> str:
    return digits if digits.isascii() else "".join(str(unicodedata.decimal(c)) for c in digits)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a string of digits (card numbers pass it), of any script."""
    total = 0
    for i, ch in enumerate(reversed(_ascii(digits))):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pans(text: str) -> list[tuple[int, int]]:
    """Spans of PAN-like runs: 13-19 digits passing Luhn, possibly grouped (module docstring).

    A run of digit groups ("4111 1111 1111 1111", "1-5555555555554444", "4111.1111.1111.1111")
    is checked for every contiguous sequence of whole groups with 13-19 digits, so a card number
    joined to other digits by a separator is still found.
    """
    spans: list[tuple[int, int]] = []
    if _CANDIDATE.search(text) is None:
        return spans
    pos = 0
    while (run := _DIGIT_RUN.search(text, pos)) is not None:
        groups = [
            (g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())
        ]
        spans.extend(_pan_groups(text, groups))
        # the run's last group may also start a run with another separator ("0434 4878
        # 60000-0101-1125-0"): look again from it
        pos = groups[-1][0] if len(groups) > 1 else run.end()
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans sorted, overlapping ones joined (runs that share a group may find both)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


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

    JSON text may spell characters as escapes (``\\u0034`` is "4", ``\\uff14`` a full-width
    4): runs are also looked for in the text with those escapes read, and masked where they are
    written, so an escaped card number is masked like a plain one.
    """
    spans = find_pans(text) if "\\" not in text else _escaped_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append("#" * (end - start))
        last = end
    out.append(text[last:])
    return "".join(out)


# JSON escapes: any character as \\uXXXX, and the short ones (a tab is "\\t", a slash may be "\\/")
_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|([tnrbf/"\\]))')
_SHORT = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "/": "/", '"': '"', "\\": "\\"}


def _escaped_spans(text: str) -> list[tuple[int, int]]:
    """PAN spans of ``text`` with its JSON escapes read, as spans of ``text`` itself."""
    view: list[str] = []
    where: list[int] = []  # raw start of each view character
    i = 0
    for m in _ESCAPE.finditer(text):
        view.append(text[i : m.start()])
        where.extend(range(i, m.start()))
        view.append(chr(int(m[1], 16)) if m[1] else _SHORT[m[2]])
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
