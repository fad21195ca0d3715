"""Field types the spec's models share: durations, DNS labels, int-or-string."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field

from modelrollout.api.durations import DURATION_PATTERN

Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        description="A duration such as 30s, 2m, 1h30m or 500ms.",
        json_schema_extra={"example": "30s"},
    ),
]
DNSLabel = Annotated[
    str,
    Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
ZERO = timedelta(0)
IntOrString = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]

# Characters that drive a terminal or forge a log line when a string is shown: C0 and
# C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees.
# The overrides are literal characters in the pattern: Go (the API server), Rust
# (pydantic) and Python (lint's JSON schema) share no escape for them.
_BIDI = "\u202a-\u202e\u2066-\u2069"
NO_CONTROLS = f"^[^\\x00-\\x1f\\x7f-\\x9f{_BIDI}]*$"
# Multi-line text (a PromQL query): tab and newline allowed, nothing else of the above.
NO_CONTROLS_BUT_LINES = f"^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]*$"
