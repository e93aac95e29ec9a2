"""Whole numbers as a person types them (a flag's value, a part of a selection): one parse, one message."""

from __future__ import annotations


def whole_number(text: str) -> int:
    """`text` as an int (spaces around it allowed); ValueError saying "'TEXT' is not a whole number" otherwise."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
