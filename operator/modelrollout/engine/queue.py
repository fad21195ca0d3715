"""Rollout slots: the operator's limits of rollouts in progress at once (overall, per
namespace, per value of a label such as a GPU pool's), and who gets the next slot.

First come, first served, fair across namespaces: a namespace's first waiting rollout
goes before any namespace's second, and so on; among equals, the one that joined the
line first. A rollout whose limits are all free goes even if one ahead of it waits
for a different, full limit (a full GPU pool does not hold up another pool). The line
is rebuilt from the cluster every time (each ModelDeployment's status says whether it
holds a slot and since when it waits), so it survives restarts and failover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from modelrollout.engine.model import Slot

Key = tuple[str, str]  # (namespace, name)
HELD_BY_SHOWN = 8


@dataclass(frozen=True)
class Contender:
    """A ModelDeployment as far as the slots care."""

    key: Key
    labels: Mapping[str, str] = field(default_factory=dict)  # only the limited keys
    holding: bool = False  # a rollout in progress (or handing traffic back)
    since: datetime | None = None  # waiting in line since

    @property
    def namespace(self) -> str:
        return self.key[0]


@dataclass(frozen=True)
class Limits:
    overall: int | None = None
    per_namespace: int | None = None
    per_label: Mapping[str, int] = field(default_factory=dict)  # label key -> limit per value

    def any(self) -> bool:
        return self.overall is not None or self.per_namespace is not None or bool(self.per_label)

    def groups(self, c: Contender) -> list[tuple[str, int]]:
        """The limited groups `c` belongs to, each with its limit."""
        found: list[tuple[str, int]] = []
        if self.overall is not None:
            found.append(("all rollouts", self.overall))
        if self.per_namespace is not None:
            found.append((f"namespace {c.namespace}", self.per_namespace))
        for label, limit in sorted(self.per_label.items()):
            value = c.labels.get(label)
            if value is not None:
                found.append((f"{label}={value}", limit))
        return found


def line(waiting: Sequence[Contender]) -> list[Contender]:
    """The waiting rollouts in the order they get slots."""
    by_namespace: dict[str, list[Contender]] = {}
    for c in sorted(waiting, key=_arrival):
        by_namespace.setdefault(c.namespace, []).append(c)
    ranked = [(rank, c) for queue in by_namespace.values() for rank, c in enumerate(queue)]
    return [c for _, c in sorted(ranked, key=lambda pair: (pair[0], *_arrival(pair[1])))]


def _arrival(c: Contender) -> tuple[datetime, Key]:
    assert c.since is not None, "only waiting rollouts are in line"
    return (c.since, c.key)


def admit(fleet: Sequence[Contender], limits: Limits, me: Contender) -> Slot:
    """Whether `me` (not holding, waiting since `me.since`) may start now."""
    others = [c for c in fleet if c.key != me.key]
    holders = [c for c in others if c.holding]
    used: Counter[str] = Counter(g for c in holders for g, _ in limits.groups(c))
    waiting = [c for c in others if not c.holding and c.since is not None]
    for position, c in enumerate(line([*waiting, me]), start=1):
        full = [(g, n) for g, n in limits.groups(c) if used[g] >= n]
        if c.key == me.key:
            if not full:
                return Slot(granted=True)
            group, limit = full[0]
            held = [h.key for h in holders if group in dict(limits.groups(h))]
            return Slot(
                granted=False,
                position=position,
                limit=f"{limit} at once in {group}",
                held_by=tuple(f"{ns}/{name}" for ns, name in held[:HELD_BY_SHOWN]),
            )
        if not full:  # it goes first: its slots are taken
            used.update(g for g, _ in limits.groups(c))
    raise AssertionError("me is in line")
