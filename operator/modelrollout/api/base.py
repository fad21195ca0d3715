"""The base of every resource model: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",  # the API server prunes unknown fields; tolerate newer ones
    )

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict as stored in the cluster (aliases, no unset optionals)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(*rules: tuple[str, str]) -> JsonDict:
    """CEL validation rules for a model's schema: (rule, message) pairs."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
