"""Sizes within a capacity budget: never more than replicas + maxSurge pods in all.

A move takes traffic from one revision (the one giving way) to another (the one
growing): the canary's steps and promotion grow the canary, a rollback grows stable
back. Pods and traffic follow each other a pod at a time:

- the growing revision gets new pods only into room the budget has, counting the
  other's pods that still exist (a terminating pod holds its GPU);
- its weight rises to the share of the total its ready pods can carry, and to the
  goal once it has all the pods it is sized for;
- the one giving way keeps every pod the budget leaves it, and never fewer than its
  weight needs, so it shrinks only after traffic has left it. With maxSurge 0 there
  is no room at all: it may then be one pod short (as a Deployment with
  maxUnavailable 1); when neither side can move, traffic first spreads evenly over
  one pod fewer than the total, so the other side can let a pod go. A revision with
  weight keeps at least one pod.

Without a budget nothing here applies: stable keeps its full size and the canary
comes on top (budgeted.resize).

With traffic.replicaRatio the pods are the split: one Service selects every revision's
pods, so a pod carries traffic as soon as it is ready. The same moves apply, with the
surge as the budget (`budget_of`), and three differences: weights are only what the
pods can express (`ratio_weight`: a 5% step on 4 replicas is one pod, 25%); a canary
with no weight has no pod; and the side giving way keeps only the pods its weight
needs, never spare ones the budget would leave it (they would take traffic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelrollout.api.spec import ModelDeploymentSpec

# Extra pods a replica-ratio canary may use when the spec sets no capacity budget.
RATIO_SURGE = 1


@dataclass(frozen=True)
class Budget:
    total: int  # spec.replicas: what serves all the traffic (an autoscaler sets it)
    surge: int  # capacity.maxSurge
    pods_are_traffic: bool = False  # traffic.replicaRatio: every ready pod takes a share

    @property
    def limit(self) -> int:
        return self.total + self.surge

    @property
    def spare(self) -> int:
        """Pods one side may be short while nothing is spare: with no surge a move
        could not start otherwise."""
        return 1 if self.surge == 0 and self.total >= 2 else 0


def budget_of(spec: ModelDeploymentSpec) -> Budget | None:
    capacity = spec.strategy.capacity()
    if spec.splits_by_pods():
        surge = capacity.max_surge if capacity is not None else RATIO_SURGE
        return Budget(spec.replicas, surge, pods_are_traffic=True)
    return Budget(spec.replicas, capacity.max_surge) if capacity is not None else None


def ratio_weight(total: int, weight: int) -> int:
    """The weight nearest `weight` that `total` pods can express as a whole number of
    pods, never all or none of them for a weight between (so never a promotion or an
    end by rounding); what `carried` says those pods carry."""
    if weight <= 0 or weight >= 100 or total < 2:
        return max(0, min(weight, 100))
    pods = min(max(math.floor(total * weight / 100 + 0.5), 1), total - 1)  # half up
    return carried(total, pods)


def pods_for(total: int, percent: int) -> int:
    """Pods that carry `percent` of the traffic `total` pods carry (rounded up)."""
    return math.ceil(total * percent / 100)


def carried(total: int, ready: int) -> int:
    """Percent of the traffic `ready` pods carry at the per-pod load of `total`."""
    return 100 if total <= 0 else min(100, 100 * ready // total)


def left_for(total: int, weight: int) -> int:
    """Pods the other side needs for the traffic `weight` percent leaves it: the total
    less the pods `weight` is worth (the inverse of `carried`, so a weight some ready
    pods carry frees exactly those pods)."""
    if total <= 0:
        return 0
    return total - min(total, ((weight + 1) * total - 1) // 100)


@dataclass(frozen=True)
class Side:
    """One revision in a move, as the cluster holds it."""

    replicas: int  # asked for now
    pods: int  # that exist (asked for, running or terminating)
    ready: int  # ready and behind a Service


@dataclass(frozen=True)
class Move:
    growing: int  # replicas of the growing revision
    giving_way: int  # replicas of the revision giving way
    weight: int  # percent of live traffic the growing revision may carry now


def target_pods(b: Budget, share: int, goal: int) -> int:
    """Pods the growing revision is sized for: its share of the total, less what the
    other side must keep for the traffic the goal leaves it. At least one, unless its
    pods are its traffic and it is to have none."""
    least = 0 if b.pods_are_traffic and share == 0 else 1
    wanted = min(max(pods_for(b.total, share), least), max(b.total, 1))
    keep = 0 if goal >= 100 else max(left_for(b.total, goal) - b.spare, 1)
    return max(least, min(wanted, b.limit - keep))


def move(
    b: Budget, growing: Side, giving_way: Side, others: int, target: int, goal: int, weight: int
) -> Move:
    """The next sizes and weight of a move toward `goal` percent on the growing side,
    sized for `target` pods. `weight` is what the route carries now (the side giving
    way keeps the pods that needs: it shrinks only once traffic has left), and `others`
    counts the pods of revisions outside the move. Weight never goes back."""
    room = b.limit - others - giving_way.pods
    grow = max(min(target, room), min(growing.replicas, target))
    keep = left_for(b.total, weight) - (b.spare if grow < target else 0)
    # What the budget leaves it (never when pods are traffic: a spare pod takes a share).
    leftover = 0 if b.pods_are_traffic else min(b.total, b.limit - others - target)
    give = min(max(keep, leftover), b.limit - others - max(grow, growing.pods))
    if weight < 100:
        give = max(give, 1)  # a revision with traffic keeps a pod, whatever the budget
    give = max(give, 0)
    live = weight_for(b, growing.ready, target, goal, weight)
    stuck = grow == growing.replicas < target and give >= giving_way.replicas
    if stuck and b.spare and growing.ready > 0:
        # No room and nothing to give: traffic spreads evenly over one pod fewer than
        # the total, so the other side can let a pod go.
        live = max(weight, min(goal, carried(b.total - b.spare, growing.ready)))
    return Move(grow, give, live)


def weight_for(b: Budget, ready: int, target: int, goal: int, weight: int) -> int:
    """The weight the growing side's ready pods carry at the total's per-pod load,
    and the goal once all the pods it is sized for are ready."""
    if ready >= target:
        return max(goal, weight)
    return max(min(goal, carried(b.total, ready)), weight)
