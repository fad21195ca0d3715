"""`kubectl modelrollout lint FILE`: check ModelDeployments offline, explained in plain words.

Two passes, as the API server does them: the CRD's OpenAPI schema (types, ranges,
patterns, required fields, and no unknown fields, as kubectl's strict field validation)
and then the rules it enforces with CEL, here in Python from the same definitions
(api.base.Rule).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import ValidationError

from modelrollout.api.crd import GROUP, KIND, custom_resource_definition
from modelrollout.api.names import NAME_RULE
from modelrollout.api.spec import ModelDeploymentSpec


@dataclass(frozen=True)
class Problem:
    resource: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.path}: {self.message}"


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_schema())


@functools.cache
def _schema() -> dict[str, Any]:
    version = custom_resource_definition()["spec"]["versions"][0]
    strict: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return strict


def _strict(schema: Any) -> Any:
    """The schema as the API server applies it: unknown fields refused in every object
    that lists its properties (unless it preserves unknown fields), and int-or-string
    fields typed, and patterns anchored at the very end."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        strict["additionalProperties"] = False
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
        # Go's `$` is the end of the text; Python's also matches before a final newline.
        strict["pattern"] = pattern[:-1] + "\\Z"
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        strict["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return strict


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def lint_document(doc: dict[str, Any]) -> list[Problem]:
    name = f"{KIND}/{(doc.get('metadata') or {}).get('name', '<no name>')}"
    if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
        return [Problem(name, "metadata.name", "every resource needs a name")]
    if not isinstance(doc["metadata"]["name"], str) or not NAME_RULE.holds(doc["metadata"]["name"]):
        return [Problem(name, "metadata.name", NAME_RULE.message)]
    doc = _without_nulls(doc, _schema())
    validator = _validator()
    problems = [
        Problem(name, _path(error.absolute_path), _plain(error))
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        return problems
    try:
        ModelDeploymentSpec.model_validate(doc["spec"])
    except ValidationError as exc:
        for error in exc.errors():
            where = _path(
                ("spec", *(p for p in error["loc"] if not str(p).startswith("function-")))
            )
            problems.append(Problem(name, where, error["msg"].removeprefix("Value error, ")))
    return problems


def _without_nulls(value: Any, schema: dict[str, Any]) -> Any:
    """The API server drops null known fields (none of ours is nullable) before it
    validates; an unknown field is refused even when null."""
    known = schema.get("properties")
    if isinstance(value, dict) and known is not None:
        return {
            k: _without_nulls(v, known.get(k, {}))
            for k, v in value.items()
            if not (v is None and k in known)
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_without_nulls(v, schema["items"]) for v in value]
    return value


def _plain(error: jsonschema.ValidationError) -> str:
    instance, schema = error.instance, error.schema
    if error.validator == "additionalProperties" and isinstance(schema, dict):
        assert isinstance(instance, dict)
        unknown = sorted(set(instance) - set(schema.get("properties", {})))
        return f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
    if error.validator == "maxLength" and isinstance(instance, str):  # not echoed whole
        return f"{len(instance)} characters: at most {error.validator_value} characters"
    return error.message


def lint_file(path: Path) -> tuple[int, list[Problem]]:
    """(ModelDeployments checked, problems); other kinds in the file are skipped."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    checked = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    problems: list[Problem] = []
    for doc in checked:
        if doc.get("apiVersion") != f"{GROUP}/v1alpha1":
            problems.append(
                Problem(
                    f"{KIND}",
                    "apiVersion",
                    f"expected {GROUP}/v1alpha1, got {doc.get('apiVersion')}",
                )
            )
            continue
        problems += lint_document(doc)
    return len(checked), problems
