"""The CustomResourceDefinition, generated from the pydantic models (one source of truth).

`python -m modelrollout.api.crd` prints it; `make crds` writes crds/ and a test checks
that the committed file is current. Pydantic's JSON Schema is turned into a Kubernetes
structural schema: references inlined, Optional unwrapped, titles dropped.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from modelrollout.api.names import NAME_RULE
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus

GROUP = "modelrollout.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"

_KEEP = {
    "type",
    "description",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "minItems",
    "maxItems",
    "format",
}

Schema = dict[str, Any]


def _resolve(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline $ref / allOf-of-one and unwrap Optional (anyOf with null)."""
    schema = dict(schema)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**schema.pop("allOf")[0], **schema}
    if "$ref" in schema:
        target = defs[schema.pop("$ref").rsplit("/", 1)[-1]]
        schema = {**target, **schema}  # the field's own description wins over the class's
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(options) == 1:
            return _resolve({**options[0], **rest}, defs)
        if rest.get("x-kubernetes-int-or-string"):
            return rest
        raise ValueError(f"cannot express this union in a structural schema: {schema}")
    return schema


def structural(schema: Schema, defs: dict[str, Schema]) -> Schema:
    schema = _resolve(schema, defs)
    out: Schema = {k: v for k, v in schema.items() if k in _KEEP or k.startswith("x-kubernetes-")}
    if out.get("default", 0) is None:
        del out["default"]
    if "const" in schema:
        out["enum"] = [schema["const"]]
    if "properties" in schema:
        out["properties"] = {
            name: structural(prop, defs) for name, prop in schema["properties"].items()
        }
        if schema.get("required"):
            out["required"] = list(schema["required"])
    if "items" in schema:
        out["items"] = structural(schema["items"], defs)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        out["additionalProperties"] = structural(extra, defs)
    elif extra is True or extra == {}:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("x-kubernetes-preserve-unknown-fields") and "type" not in out:
        out["type"] = "object"
    return out


def _model_schema(model: type[ModelDeploymentSpec | ModelDeploymentStatus]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def _column(name: str, path: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "jsonPath": path, "type": kind, **extra}


def custom_resource_definition() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["mdep", "md"],
                "categories": ["modelrollout"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    # The scale subresource: `kubectl scale`, an HPA or a KEDA ScaledObject
                    # set spec.replicas and read the pods of every live revision.
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        _column("Phase", ".status.phase"),
                        _column("Stable", ".status.stable.version"),
                        _column("Canary", ".status.canary.version"),
                        _column("Weight", ".status.canary.weight", "integer"),
                        _column("Step", ".status.currentStep", "integer"),
                        _column("Queued", ".status.queue.position", "integer"),
                        _column("Age", ".metadata.creationTimestamp", "date"),
                        _column("Mirror", ".status.canary.mirror", "integer", priority=1),
                        _column("Message", ".status.message", priority=1),
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "A model server whose new versions roll out as a canary or "
                                "blue/green, judged by Prometheus metrics, promoted or "
                                "rolled back automatically."
                            ),
                            "required": ["spec"],
                            "x-kubernetes-validations": [
                                {"rule": NAME_RULE.cel, "message": NAME_RULE.message}
                            ],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "API version."},
                                "kind": {"type": "string", "description": "Kind."},
                                "metadata": {"type": "object"},
                                "spec": _model_schema(ModelDeploymentSpec),
                                "status": _model_schema(ModelDeploymentStatus),
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated by `make crds` from operator/modelrollout/api; do not edit.\n"
    return header + yaml.safe_dump(custom_resource_definition(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
