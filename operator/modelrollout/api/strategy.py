"""How a new revision replaces the stable one: a canary's steps, or a blue/green switch."""

from __future__ import annotations

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import Duration
from modelrollout.api.route_parts import HeaderRoute, Mirror, PreviewTraffic


class Pause(Model):
    """Wait at the current weight."""

    duration: Duration | None = Field(
        default=None,
        description="How long to wait; without it, wait until a person promotes.",
    )


class Capacity(Model):
    """A budget of pods (hence GPUs) for a rollout: at no moment do the model's revisions
    have more than replicas + maxSurge pods between them."""

    max_surge: int = Field(
        ge=0,
        le=1000,
        strict=True,
        description=(
            "Pods allowed beyond spec.replicas during a rollout. The canary's pods come "
            "out of stable's as its share grows: stable shrinks only once the canary's "
            "new pods are ready and serving, and a rollback brings stable back to full "
            "size before the canary loses its traffic. With 0, one pod may be missing "
            "at a time (as a Deployment with maxUnavailable 1), so the rollout moves a "
            "pod at a time."
        ),
    )


_CAPACITY = (
    "A budget of pods: the revisions never have more than replicas + maxSurge pods "
    "between them. Without it, stable keeps its full size and the new revision's pods "
    "come on top."
)


class CanaryStep(Model):
    """One step of a canary: exactly one of setWeight, pause, mirror or headerRoute."""

    __rules__ = (
        Rule(
            "[has(self.setWeight), has(self.pause), has(self.mirror), has(self.headerRoute)]"
            ".exists_one(x, x)",
            "a step sets exactly one of setWeight, pause, mirror or headerRoute",
            lambda step: sum(getattr(step, f) is not None for f in type(step).model_fields) == 1,
        ),
    )
    # strict: the API server's CEL rules refuse 20.0 here (its schema check alone would not)
    set_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        strict=True,
        description=("Percent of live traffic sent to the canary. A weight above 0 ends a mirror."),
    )
    pause: Pause | None = Field(default=None, description="Wait before the next step.")
    mirror: Mirror | None = Field(
        default=None,
        description=(
            "Copy a percent of live requests to the canary, judged on them before any user "
            "depends on it. Lasts until a later step sets a weight above 0 or a mirror of 0, "
            "and ends at promotion and rollback."
        ),
    )
    header_route: HeaderRoute | None = Field(
        default=None,
        description=(
            "Send requests meeting conditions (headers, a cookie) to the canary whatever "
            "the weights. Lasts until a later headerRoute replaces it (an empty match "
            "ends it), and ends at promotion and rollback."
        ),
    )

    @property
    def kind(self) -> str:
        """The one field set (engine.canary.STEP_KINDS has a row each)."""
        return self.chosen_key()


class CanaryStrategy(Model):
    """Move traffic to the new revision step by step, judged at every step."""

    __rules__ = (
        Rule(
            "self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
            "setWeight values must not decrease from one step to the next",
            lambda canary: canary.set_weights() == sorted(canary.set_weights()),
        ),
    )
    steps: list[CanaryStep] = Field(
        min_length=1,
        max_length=64,
        description="The steps, in order. After the last one the canary is promoted.",
    )
    scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "After promotion, how long the previous revision stays up (warm) "
            "before it is scaled to zero."
        ),
    )
    abort_scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "After a rollback, how long the canary stays up (for inspection) "
            "before it is scaled to zero."
        ),
    )

    capacity: Capacity | None = Field(default=None, description=_CAPACITY)

    def set_weights(self) -> list[int]:
        return [s.set_weight for s in self.steps if s.set_weight is not None]


class BlueGreenStrategy(Model):
    """Bring the new revision up at full size behind a preview Service, then switch at once."""

    auto_promotion_after: Duration | None = Field(
        default=None,
        description=(
            "Promote this long after the preview is ready and analysis passed; "
            "without it, wait for a person."
        ),
    )
    preview_duration: Duration | None = Field(
        default=None,
        description="Least time the ready preview is analysed before it may be promoted.",
    )
    preview_traffic: PreviewTraffic | None = Field(
        default=None,
        description=(
            "Live traffic for the ready preview (mirrored, or header-matched), so "
            "pre-promotion analysis has data to judge. Needs spec.traffic."
        ),
    )
    scale_down_delay: Duration = Field(
        default="5m",
        description=(
            "How long the previous revision stays warm after the switch; post-promotion "
            "analysis runs meanwhile and a failure switches traffic straight back to it."
        ),
    )
    abort_scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "After a rollback, how long the new revision stays up before it is scaled to zero."
        ),
    )

    capacity: Capacity | None = Field(
        default=None,
        description=_CAPACITY + " The preview is full size, so maxSurge must be at least replicas.",
    )


class Strategy(Model):
    """How a new revision replaces the stable one. Exactly one of canary or blueGreen."""

    __rules__ = (
        Rule(
            "[has(self.canary), has(self.blueGreen)].exists_one(x, x)",
            "set exactly one strategy: canary or blueGreen",
            lambda strategy: (strategy.canary is None) != (strategy.blue_green is None),
        ),
    )
    canary: CanaryStrategy | None = Field(default=None, description="A stepwise canary.")
    blue_green: BlueGreenStrategy | None = Field(default=None, description="A blue/green switch.")

    @property
    def kind(self) -> str:
        """canary or blueGreen: the one field set."""
        return self.chosen_key()

    def _chosen(self) -> CanaryStrategy | BlueGreenStrategy:
        chosen = self.canary or self.blue_green
        assert chosen is not None, "the CRD requires exactly one strategy"
        return chosen

    def capacity(self) -> Capacity | None:
        return self._chosen().capacity

    def scale_down_delay(self) -> str:
        return self._chosen().scale_down_delay

    def abort_scale_down_delay(self) -> str:
        return self._chosen().abort_scale_down_delay
