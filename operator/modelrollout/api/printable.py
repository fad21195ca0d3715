"""Text shown to people (a terminal, a log line) with nothing in it that acts."""

from __future__ import annotations


def escaped(text: str) -> str:
    """Printable characters as they are; any other (a newline, a terminal escape, a
    bidirectional override) as its Python escape: \\n, \\x1b, \\u202e."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
