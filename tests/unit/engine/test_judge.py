"""The comparative judge in the engine: when it looks, how a look turns into evidence in
the status, when it rolls back, and why it never passes without data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sim import World, healthy_world, rate_tallies, spec

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.analysis import next_analysis_at
from modelrollout.engine.checks.reads import Tallies
from modelrollout.engine.judge_plan import judge_since, next_look_at
from modelrollout.engine.model import JudgeReading

SCRAPE = timedelta(seconds=5)
STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"pause": {"duration": "1m"}},
    {"setWeight": 50},
    {"pause": {"duration": "1m"}},
]


def judged_spec(version: str = "1.0.0", **judge: Any) -> ModelDeploymentSpec:
    return spec(
        version,
        strategy={"canary": {"steps": STEPS}},
        analysis={
            "prometheus": {"url": "http://prometheus:9090", "scrapeInterval": "5s"},
            "minSampleSize": 50,
            "consecutiveErrorLimit": 3,
            "judge": {"falseRollbackRate": 0.01, **judge},
        },
    )


@dataclass
class Served:
    """Cumulative counts as Prometheus would report them since the judge began."""

    canary: float = 0
    canary_errors: float = 0
    stable: float = 0
    stable_errors: float = 0

    def add(self, canary: float, canary_errors: float, stable: float, stable_errors: float) -> None:
        self.canary += canary
        self.canary_errors += canary_errors
        self.stable += stable
        self.stable_errors += stable_errors

    def tallies(self) -> Tallies:
        return errors(self.canary, self.canary_errors, self.stable, self.stable_errors)


def errors(canary: float, canary_bad: float, stable: float, stable_bad: float) -> Tallies:
    return rate_tallies("errors", canary, canary_bad, stable, stable_bad)


def reading(world: World, served: Served) -> JudgeReading | None:
    """A look, while the judge applies (not once a promotion moves traffic for good)."""
    since = judge_since(world.spec, world.status)
    return None if since is None else JudgeReading(since, served.tallies())


def rolling() -> World:
    world = healthy_world(strategy={"canary": {"steps": STEPS}})
    world.spec = judged_spec("2.0.0")
    world.tick()
    world.tick()  # pods ready: weight 10
    assert world.weight == 10
    return world


def look(world: World, served: Served) -> None:
    world.tick(judge=reading(world, served), advance=SCRAPE)


def test_the_judge_looks_one_scrape_after_traffic_begins_then_after_every_scrape() -> None:
    world = healthy_world(strategy={"canary": {"steps": STEPS}})
    world.spec = judged_spec("2.0.0")
    world.tick()  # the canary's pods are not ready: no traffic, nothing to judge
    assert next_look_at(world.spec, world.status) is None
    world.tick()
    started = world.status.weight_set_at
    assert started is not None
    assert next_look_at(world.spec, world.status) == started + SCRAPE
    assert world.last is not None
    assert world.last.next_due == started + SCRAPE
    assert next_analysis_at(world.spec, world.status) is None, "no threshold metrics"

    look(world, Served(60, 0, 540, 1))
    judge = world.status.analysis.judge
    assert judge is not None
    assert judge.since == started
    assert next_look_at(world.spec, world.status) == world.now + SCRAPE
    # The pause is over, but the newest look is older than a scrape: no step forward.
    world.tick(advance=timedelta(minutes=1))
    assert world.weight == 10
    assert world.status.message.endswith(
        "waiting for a successful look of the judge newer than 5s"
    ), world.status.message
    # Counting keeps its start when the weight changes.
    look(world, Served(120, 0, 1080, 2))
    world.tick()  # the canary is sized for 50%
    world.tick()
    assert world.weight == 50
    assert judge_since(world.spec, world.status) == started


def test_a_canary_worse_than_stable_is_rolled_back_at_the_look_the_evidence_suffices() -> None:
    world = rolling()
    served = Served()
    served.add(10, 1, 90, 1)
    look(world, served)
    assert world.status.phase == Phase.PROGRESSING, "one canary error is not enough"
    served.add(10, 5, 90, 1)
    look(world, served)

    assert world.status.phase == Phase.ROLLED_BACK
    assert world.status.rollback_reason == Reason.CANARY_WORSE
    assert world.weight == 0
    message = world.status.history[0].reason
    assert "errors (5xx answers): canary 30.0% (6/20) vs stable 1.1% (2/180)" in message
    assert "(rollback at 100x)" in message
    rolled = [e for e in world.events if e.reason == Reason.CANARY_WORSE]
    assert len(rolled) == 1
    assert rolled[0].type == "Warning"


def test_a_good_canary_passes_a_step_only_once_it_served_min_sample_size_in_it() -> None:
    world = rolling()
    served = Served()
    for _ in range(12):  # a minute of looks with 3 canary requests each: 36 < 50
        served.add(3, 0, 27, 0)
        look(world, served)
    assert world.status.current_step == 1, world.status.message
    assert world.status.message == (
        "step 2/4: waiting for the judge to count 50 canary requests in this step (36 so far)"
    )
    served.add(20, 0, 180, 2)
    look(world, served)
    assert world.status.current_step == 2
    advanced = [e.message for e in world.events if e.reason == Reason.STEP_ADVANCED][-1]
    assert advanced.startswith(
        "step 2/4: pause of 1m done (the judge: errors (5xx answers): canary 0.0%"
    )
    judge = world.status.analysis.judge
    assert judge is not None
    assert judge.step_requests == 0, "each step counts anew"

    for _ in range(40):
        if world.status.phase == Phase.HEALTHY:
            break
        served.add(100, 1, 100, 1)
        look(world, served)
    assert world.status.phase == Phase.HEALTHY, world.status.message
    assert world.status.stable is not None
    assert world.status.stable.version == "2.0.0"


def test_no_data_never_passes_a_step() -> None:
    world = rolling()
    since = judge_since(world.spec, world.status)
    assert since is not None
    for _ in range(30):
        world.tick(judge=JudgeReading(since, problem="no request counts yet"), advance=SCRAPE)
    assert world.status.current_step == 1
    judge = world.status.analysis.judge
    assert judge is not None
    assert judge.message == "no evidence yet: no request counts yet"


def test_a_count_that_went_down_adds_no_evidence_and_the_next_look_counts_from_before() -> None:
    world = rolling()
    served = Served()
    served.add(10, 1, 90, 1)
    look(world, served)
    judge = world.status.analysis.judge
    assert judge is not None
    before = list(judge.checks[0].log_ratios)

    lower = Served(9, 0, 90, 1)  # a reset Prometheus could not follow, say
    look(world, lower)
    judge = world.status.analysis.judge
    assert judge is not None
    assert judge.checks[0].log_ratios == before
    assert "a count went down, no evidence taken from this look" in judge.message
    assert world.status.phase == Phase.PROGRESSING

    served.add(10, 5, 90, 1)  # growth since the first look: the evidence suffices
    look(world, served)
    assert world.status.phase == Phase.ROLLED_BACK


def test_unreadable_looks_are_errors_that_pause_at_the_limit_and_resume_once_read() -> None:
    world = rolling()
    since = judge_since(world.spec, world.status)
    assert since is not None
    unreachable = JudgeReading(since, problem="Prometheus unreachable", error=True)
    for _ in range(3):
        world.tick(judge=unreachable, advance=SCRAPE)
    assert world.status.phase == Phase.PAUSED
    assert world.status.pause_reason == Reason.ANALYSIS_ERRORS
    assert [e.reason for e in world.events].count("AnalysisError") == 1, "said once"
    assert world.status.analysis.errors == 3

    look(world, Served(10, 0, 90, 1))
    assert world.status.phase == Phase.PROGRESSING
    assert world.status.analysis.consecutive_errors == 0
    assert Reason.RESUMED in world.reasons()


def test_the_evidence_carries_over_a_restarted_operator() -> None:
    world = rolling()
    served = Served()
    served.add(10, 2, 90, 0)
    look(world, served)
    judge = world.status.analysis.judge
    assert judge is not None
    assert 1 < judge.checks[0].evidence < 100
    # A new process reads the status back from the API server (JSON) and goes on.
    world.status = ModelDeploymentStatus.model_validate_json(
        world.status.model_dump_json(by_alias=True)
    )
    served.add(10, 2, 90, 0)
    look(world, served)
    assert world.status.phase == Phase.ROLLED_BACK, "the evidence of both looks adds up"


def test_the_latency_check_rolls_back_too_and_a_missing_bucket_is_said() -> None:
    world = healthy_world(strategy={"canary": {"steps": STEPS}})
    world.spec = judged_spec(
        "2.0.0", checks=[{"kind": "errors"}, {"kind": "latency", "threshold": "500ms"}]
    )
    world.tick()
    world.tick()
    since = judge_since(world.spec, world.status)
    assert since is not None
    world.tick(judge=JudgeReading(since, errors(10, 0, 90, 1)), advance=SCRAPE)
    judge = world.status.analysis.judge
    assert judge is not None
    assert judge.message.endswith(
        "(no latency counts for both versions: is 500ms one of the histogram's bucket "
        "boundaries (le)?)"
    ), judge.message
    slow = {
        **errors(30, 0, 270, 1),
        ("canary", "latency", "requests", ""): 30,
        ("canary", "latency", "fast", ""): 18,
        ("stable", "latency", "requests", ""): 270,
        ("stable", "latency", "fast", ""): 269,
    }
    world.tick(judge=JudgeReading(since, slow), advance=SCRAPE)
    assert world.status.phase == Phase.ROLLED_BACK
    reason = world.status.history[0].reason
    assert "latency (slower than the threshold): canary 40.0% (12/30)" in reason, reason
    assert "(rollback at 200x)" in reason, "two checks share falseRollbackRate"


def test_a_judge_and_threshold_metrics_are_both_needed_to_pass() -> None:
    world = healthy_world(strategy={"canary": {"steps": STEPS}})
    with_metrics = judged_spec("2.0.0").model_dump(by_alias=True, exclude_none=True)
    with_metrics["analysis"]["metrics"] = [
        {"name": "error-rate", "template": "errorRate", "max": 0.05}
    ]
    world.spec = ModelDeploymentSpec.model_validate(with_metrics)
    world.tick()
    world.tick()
    served = Served()
    for _ in range(15):
        served.add(10, 0, 90, 0)
        look(world, served)
    assert world.status.current_step == 1, "the judge saw enough, the metrics never ran"
    assert world.status.analysis.judge is not None
    assert world.status.analysis.judge.step_requests >= 50


def test_growth_on_one_side_only_waits_for_the_next_look_instead_of_being_lost() -> None:
    """Prometheus scrapes canary and stable pods at different moments: between two looks
    a second apart often only one side's counters moved. Those requests (and their
    errors) are judged at the next look, with the other side's."""
    world = rolling()
    served = Served()
    for _ in range(4):
        served.add(3, 2, 0, 0)  # the canary's errors, stable not scraped since
        look(world, served)
    judge = world.status.analysis.judge
    assert judge is not None
    assert judge.checks == [] or judge.checks[0].evidence == 1.0
    served.add(0, 0, 120, 0)
    look(world, served)
    assert world.status.phase == Phase.ROLLED_BACK
    assert "canary 66.7% (8/12)" in world.status.history[0].reason


def blue_green_judged(version: str) -> ModelDeploymentSpec:
    return spec(
        version,
        strategy={
            "blueGreen": {
                "previewTraffic": {"mirror": {"percent": 100}},
                "autoPromotionAfter": "30s",
                "scaleDownDelay": "5m",
            }
        },
        analysis={
            "prometheus": {"url": "http://prometheus:9090", "scrapeInterval": "5s"},
            "minSampleSize": 50,
            "judge": {},
        },
    )


def test_a_blue_green_preview_is_judged_against_stable_before_the_switch() -> None:
    for errors, outcome in ((0, "Promoted"), (30, "RolledBack")):
        world = World(blue_green_judged("1.0.0"))
        world.tick()
        world.tick()
        world.spec = blue_green_judged("2.0.0")
        world.tick()
        world.tick()  # the preview is ready: mirrored traffic starts
        assert world.status.canary is not None
        assert world.status.canary.mirror == 100
        served = Served()
        for _ in range(20):
            if world.status.history:
                break
            served.add(60, errors / 6, 60, 0)
            look(world, served)
        assert world.status.history, world.status.message
        assert world.status.history[0].outcome == outcome, world.status.history[0].reason
        if outcome == "RolledBack":
            assert world.weights_seen == [0], "users never reached the bad preview"
