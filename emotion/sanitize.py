"""Text from users and media made safe for where it goes: spreadsheet cells and terminals.

Transcripts, typed text and file names are the user's (or a stranger's) text. Written raw, a
CSV cell that starts with ``=`` is a formula when the file is opened in a spreadsheet (CSV
injection), and an ESC, NUL or a right-to-left override (U+202E) in a terminal moves the cursor,
recolours the screen or shows ``exe.txt`` for ``txt.exe``. Each export neutralises what its
reader would act on, and nothing else: JSON (``json.dumps`` escapes every control character)
and Parquet keep the exact text.
"""

from __future__ import annotations

import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection")."""

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 control characters (newline and tab included) and the bidirectional marks,
embeddings, overrides and isolates (Unicode's Bidi_Control set)."""


def _escape(match: re.Match) -> str:
    c = ord(match.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control and bidirectional-control character written as a visible
    escape (``\\x1b``, ``\\u202e``); the rest unchanged."""
    return _UNSAFE.sub(_escape, text)


def csv_cell(value):
    """A value for a CSV cell: a string gets its control characters escaped
    (:func:`escape_controls`) and, when it then starts with ``=``, ``+``, ``-`` or ``@``, a
    leading single quote (OWASP's rule), so no spreadsheet runs it as a formula; tab and
    carriage return at the start are escaped by the first step. Numbers, booleans and None are
    returned as they are (a negative number is data, not a formula)."""
    if not isinstance(value, str):
        return value
    text = escape_controls(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def terminal(text) -> str:
    """``str(text)`` for a terminal line: control and bidirectional-control characters escaped."""
    return escape_controls(str(text))
