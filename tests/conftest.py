"""For every test run: print what the generated tests tried (testenv.tally)."""

from __future__ import annotations

import pytest

from testenv.tally import TALLIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, counts in TALLIES.items():
        total = sum(counts.values())
        parts = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        terminalreporter.write_line(f"{name}: {total} ({parts})")
