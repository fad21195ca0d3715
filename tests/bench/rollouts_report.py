"""The rollouts benchmark's figures: a summary with goals, and its markdown table."""

from __future__ import annotations

import statistics
from typing import Any

from testenv.prometheus import SCRAPE_INTERVAL

RPS = 100.0


def summarize(
    failed: dict[str, list[dict[str, Any]]],
    mirrored: dict[str, list[dict[str, Any]]],
    good: list[dict[str, Any]],
) -> dict[str, Any]:
    scrape = float(SCRAPE_INTERVAL.rstrip("s"))
    detection = {}
    for interval, runs in failed.items():
        values = [r["detection_s"] for r in runs]
        goal = 2 * float(interval.rstrip("s")) + scrape
        detection[interval] = {
            "median_s": statistics.median(values),
            "max_s": max(values),
            "goal_s": goal,
            "goal_met": max(values) <= goal,
        }
    shares = [r["failed_share"] for runs in failed.values() for r in runs]
    mirrored_shares = [r["failed_share"] for runs in mirrored.values() for r in runs]
    mirror_detection = {
        interval: {
            "median_s": statistics.median(r["mirror_to_no_mirror_s"] for r in runs),
            "max_s": max(r["mirror_to_no_mirror_s"] for r in runs),
            "recorded_median_s": statistics.median(
                r["mirror_to_rollback_recorded_s"] for r in runs
            ),
        }
        for interval, runs in mirrored.items()
    }
    return {
        "benchmark": "rollouts",
        "requests_per_second": RPS,
        "operator_loop": "event-driven",
        "scrape_interval": SCRAPE_INTERVAL,
        "detection": detection,
        "failed_canary_share": {
            "median": statistics.median(shares),
            "max": max(shares),
            "goal": 0.005,
            "goal_met": max(shares) < 0.005,
        },
        "failed_mirrored_canary_share": {
            "median": statistics.median(mirrored_shares),
            "max": max(mirrored_shares),
            "goal": 0.005,
            "goal_met": max(mirrored_shares) < 0.005,
        },
        "mirror_detection": mirror_detection,
        "successful_rollout_failed_requests": {
            "total": sum(r["failed"] for r in good),
            "goal": 0,
            "goal_met": all(r["failed"] == 0 for r in good),
        },
        "pods_restarted_by_promotion": {
            "total": sum(r["pods_restarted_by_promotion"] for r in good),
            "goal": 0,
            "goal_met": all(r["pods_restarted_by_promotion"] == 0 for r in good),
        },
        "failed_canary_runs": failed,
        "failed_mirrored_canary_runs": mirrored,
        "successful_runs": good,
    }


def markdown(s: dict[str, Any]) -> str:
    def met(flag: bool) -> str:
        return "met" if flag else "**not met**"

    lines = [
        f"# Rollouts on the traffic lab ({s['requests_per_second']:.0f} requests/s through Envoy, "
        f"scrape {s['scrape_interval']})",
        "",
        "| measure | median | max | goal | |",
        "|---|---|---|---|---|",
    ]
    for interval, d in s["detection"].items():
        lines.append(
            f"| 1. bad version's first request -> no traffic (interval {interval}) "
            f"| {d['median_s']} s | {d['max_s']} s | <= {d['goal_s']} s | {met(d['goal_met'])} |"
        )
    f = s["failed_canary_share"]
    lines.append(
        f"| 2. requests failed during a failed canary (5% step, 50% failing) "
        f"| {100 * f['median']:.2f}% | {100 * f['max']:.2f}% | < 0.5% | {met(f['goal_met'])} |"
    )
    m = s["failed_mirrored_canary_share"]
    lines.append(
        f"| 3. requests failed during a failed canary whose first step mirrors 100% "
        f"| {100 * m['median']:.2f}% | {100 * m['max']:.2f}% | < 0.5% (0 expected) "
        f"| {met(m['goal_met'])} |"
    )
    for interval, d in s["mirror_detection"].items():
        lines.append(
            f"| 3. mirroring to the bad version -> mirror removed (interval {interval}) "
            f"| {d['median_s']} s | {d['max_s']} s | | |"
        )
    g, p = s["successful_rollout_failed_requests"], s["pods_restarted_by_promotion"]
    lines.append(
        f"| 4. failed requests, successful canary + blue/green (all runs) | | {g['total']} | 0 "
        f"| {met(g['goal_met'])} |"
    )
    lines.append(
        f"| 5. model pods restarted by promotion (all runs) | | {p['total']} | 0 "
        f"| {met(p['goal_met'])} |"
    )
    lines += [
        "",
        "Why (2) sits near 2.5%: while a version failing half its requests holds 5% of the "
        "traffic, 2.5% of all requests fail, and a verdict needs one full analysis window of "
        "its requests, so the share is about 2.5% times the part of the canary's life it held "
        "weight. Under 0.5% needs the version judged before it gets live weight: (3), a "
        "first step mirroring live traffic, judges it on copies whose answers no user sees.",
        "",
        "## Failed canaries",
        "",
        "| interval | detection (s) | requests | failed | failed share | share while weighted |",
        "|---|---|---|---|---|---|",
    ]
    for runs in s["failed_canary_runs"].values():
        for r in runs:
            lines.append(
                f"| {r['interval']} | {r['detection_s']} | {r['requests']} | {r['failed']} "
                f"| {100 * r['failed_share']:.2f}% "
                f"| {100 * r['failed_share_while_weighted']:.2f}% |"
            )
    lines += [
        "",
        "## Failed canaries, first step a 100% mirror",
        "",
        "| interval | mirror -> no mirror (s) | mirror -> rollback recorded (s) | requests "
        "| failed | answered by the bad version | copies to it (failed) |",
        "|---|---|---|---|---|---|---|",
    ]
    for runs in s["failed_mirrored_canary_runs"].values():
        for r in runs:
            lines.append(
                f"| {r['interval']} | {r['mirror_to_no_mirror_s']} "
                f"| {r['mirror_to_rollback_recorded_s']} | {r['requests']} | {r['failed']} "
                f"| {r['answered_by_bad_version']} "
                f"| {r['mirrored_to_bad_version']} ({r['mirrored_failed']}) |"
            )
    lines += [
        "",
        "## Successful rollouts",
        "",
        "| strategy | requests | failed | canary pods | restarted by promotion "
        "| time to decision (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in s["successful_runs"]:
        lines.append(
            f"| {r['strategy']} | {r['requests']} | {r['failed']} "
            f"| {r['canary_pods_before_promotion']} | {r['pods_restarted_by_promotion']} "
            f"| {r['seconds_to_decision']} |"
        )
    return "\n".join(lines) + "\n"
