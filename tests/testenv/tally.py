"""Counts that generated tests keep (how many inputs of each kind they tried), printed at
the end of the pytest run by tests/conftest.py, so every run's output records them."""

from __future__ import annotations

from collections import Counter

TALLIES: dict[str, Counter[str]] = {}


def tally(name: str) -> Counter[str]:
    """The counter named `name`, made on first use."""
    return TALLIES.setdefault(name, Counter())
