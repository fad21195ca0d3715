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
