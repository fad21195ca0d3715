"""The test tree itself: pytest's default import mode needs unique test module names."""

from __future__ import annotations

import subprocess
from collections import Counter

from testenv import settings


def test_test_module_names_are_unique() -> None:
    names = Counter(p.name for p in (settings.REPO_ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []


def test_nothing_in_the_repository_refers_to_a_folder_beside_it() -> None:
    """A plain clone has nothing beside it: no file may read from or point to one."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=settings.REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = "../" + "shared"  # spelled apart so this file does not match itself
    found = [
        path
        for path in tracked
        if (settings.REPO_ROOT / path).is_file()
        and outside in (settings.REPO_ROOT / path).read_text(errors="ignore")
    ]
    assert found == []
