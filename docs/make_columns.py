"""Rewrite the column tables of docs/columns.md from the one declaration, emotion.schema.

    python docs/make_columns.py

Each table sits between ``<!-- schema:NAME -->`` and ``<!-- /schema:NAME -->`` markers (NAME:
``timeline``, ``summary``); tests/test_schema.py checks the page equals the schema.
"""

from __future__ import annotations

import re
from pathlib import Path

from emotion.schema import SUMMARY, TIMELINE

PAGE = Path(__file__).resolve().parent / "columns.md"


def main() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for schema in (TIMELINE, SUMMARY):
        marker = re.compile(rf"(<!-- schema:{schema.name} -->\n).*?(<!-- /schema:{schema.name} -->)", re.S)
        if not marker.search(text):
            raise SystemExit(f"{PAGE}: no <!-- schema:{schema.name} --> markers")
        text = marker.sub(lambda m, s=schema: m.group(1) + s.markdown() + m.group(2), text)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
