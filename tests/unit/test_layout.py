"""The test tree itself: pytest's default import mode needs unique test module names."""

from __future__ import annotations

from collections import Counter

from testenv import settings


def test_test_module_names_are_unique() -> None:
    names = Counter(p.name for p in (settings.REPO_ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
