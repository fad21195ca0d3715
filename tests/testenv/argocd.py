"""Our Argo CD scripts, run as Argo CD runs them, and the argocd-cm snippet that carries them.

Argo CD runs resource-customization Lua in gopher-lua (Lua 5.1) with only the base,
package and table libraries and a safe `os` (time and date, reachable through
`require("os")`). We run the same scripts in real Lua 5.1 (lupa) inside the same sandbox, so
a script that leans on `string` or `math` fails here as it would there.

`python -m testenv.argocd` prints the argocd-cm ConfigMap (`make argocd-cm`).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import yaml
from lupa import lua51

from modelrollout.engine.model import REQUEST_ACTIONS
from testenv import settings

GROUP_KIND = "modelrollout.io/ModelDeployment"
SCRIPTS = settings.REPO_ROOT / "argocd" / "resource_customizations" / GROUP_KIND
CONFIG_MAP = settings.REPO_ROOT / "argocd" / "argocd-cm.yaml"

SANDBOX = """
local safe_os = {time = os.time, date = os.date}
string, math, io, debug, os, coroutine = nil, nil, nil, nil, nil, nil
getmetatable("").__index = nil        -- no ("x"):sub(...) either: gopher-lua sets none
package.loaded.os = nil
package.preload.os = function() return safe_os end
"""
PINNED_CLOCK = """
local clock, date = ..., os.date
os.time = function() return clock end
os.date = function(format) return date(format, clock) end
"""


class ArgoLua:
    """One Lua 5.1 state per script run, as Argo CD does; `now` pins os.time/os.date."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def run(self, script: str, obj: dict[str, Any]) -> Any:
        lua = lua51.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
        if self.now is not None:
            lua.execute(PINNED_CLOCK, int(self.now.timestamp()))
        lua.execute(SANDBOX)
        lua.globals().obj = lua.table_from(obj, recursive=True)
        return to_python(lua.execute(script))

    def health(self, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.run(read("health.lua"), obj)
        return result

    def discover(self, obj: dict[str, Any]) -> dict[str, bool]:
        """Action name -> disabled."""
        found = self.run(read("actions/discovery.lua"), obj)
        return {name: bool(spec.get("disabled", False)) for name, spec in found.items()}

    def act(self, action: str, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = clean_returned(
            self.run(read(f"actions/{action}/action.lua"), obj), obj
        )
        return result


def read(relative: str) -> str:
    return (SCRIPTS / relative).read_text()


def to_python(value: Any) -> Any:
    """Lua tables back to JSON-like values as Argo CD's encoder makes them: 1..n keys and
    empty tables make lists; integral numbers ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not hasattr(value, "items"):
        return value
    items = {k: to_python(v) for k, v in value.items()}
    if list(items) == list(range(1, len(items) + 1)):
        return list(items.values())
    return items


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) from old to new: what Argo CD sends after an action."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old or old[key] != value:
            patch[key] = merge_patch(old.get(key), value)
    return patch


def clean_returned(new: Any, old: Any) -> Any:
    """Argo CD's cleanReturnedObj: an empty table that was an object stays an object."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: clean_returned(v, old[k]) if k in old else v for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, dict) and not new:
        return old
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [clean_returned(n, o) for n, o in zip(new, old, strict=True)]
    return new


class _Literal(str):
    """A multi-line string dumped as a YAML block (|), as people write argocd-cm."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Literal, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
)


def config_map() -> str:
    key = GROUP_KIND.replace("/", "_")
    actions = {
        "discovery.lua": _Literal(read("actions/discovery.lua")),
        "definitions": [
            {"name": a, "action.lua": _Literal(read(f"actions/{a}/action.lua"))}
            for a in REQUEST_ACTIONS
        ],
    }
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "data": {
            f"resource.customizations.health.{key}": _Literal(read("health.lua")),
            f"resource.customizations.actions.{key}": _Literal(
                yaml.dump(actions, Dumper=_Dumper, sort_keys=False)
            ),
        },
    }
    header = (
        "# Generated by `make argocd-cm` from argocd/resource_customizations/: do not edit.\n"
        "# Merge into your argocd-cm (or the Argo CD Helm chart's configs.cm values).\n"
    )
    return header + yaml.dump(body, Dumper=_Dumper, sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(config_map())
