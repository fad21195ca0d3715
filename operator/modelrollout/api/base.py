"""The base of every resource model: camelCase on the wire, snake_case in Python, and
validation rules written once for both the API server (CEL) and Python (offline lint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict


class Rule(NamedTuple):
    """A rule the schema's types cannot express: CEL for the API server, and the same
    rule in Python so `kubectl modelrollout lint` and the operator agree with it."""

    cel: str
    message: str
    holds: Callable[[Any], bool]


def _add_rules(schema: JsonDict, cls: type[Any]) -> None:
    rules: tuple[Rule, ...] = cls.__dict__.get("__rules__", ())
    if rules:
        schema["x-kubernetes-validations"] = [{"rule": r.cel, "message": r.message} for r in rules]


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",  # the API server prunes unknown fields; tolerate newer ones
        json_schema_extra=_add_rules,
    )
    __rules__: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        for rule in type(self).__rules__:
            if not rule.holds(self):
                raise ValueError(rule.message)
        return self

    @classmethod
    def wire_keys(cls) -> list[str]:
        """Every field's name on the wire, in declaration order."""
        return [f.alias or name for name, f in cls.model_fields.items()]

    def chosen_key(self) -> str:
        """The wire key of the one field set, for a model whose fields are alternatives
        (a step kind, a strategy, a router; its CEL rule requires exactly one)."""
        fields = type(self).model_fields
        return next(f.alias or n for n, f in fields.items() if getattr(self, n) is not None)

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict as stored in the cluster (aliases, no unset optionals)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
