"""Scale: the figures of scale.py as markdown, against the goals."""

from __future__ import annotations

from typing import Any

GOALS = {
    "idle_requests_per_s": 1.0,
    "idle_cpu_percent": 5.0,
    "rss_mib": 1024.0,
    "p99_s": 1.0,
    "failover_s": 5.0,
    "abort_s": 2.0,
}


def markdown(results: list[dict[str, Any]]) -> str:
    def met(value: float, goal: float) -> str:
        return "met" if value <= goal else "**not met**"

    lines = [
        "# Scale: idle cost, reaction time, failover and a burst (2 replicas, a hot standby)",
        "",
        "| N | unrelated objects | leader / standby RSS MiB | leader / standby CPU idle "
        "| replicas' requests/s idle | apply -> all Healthy | first action p50 / p99 / max "
        "| failover (SIGKILL of the leader ->) | SIGTERM -> exit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        i, f, o, s = r["idle"], r["first_action"], r["failover"], r["shutdown"]
        lines.append(
            f"| {r['n']} | {i['unrelated_objects']} ({i['foreign_watch_events_leader']:.0f} "
            f"delivered) | {i['leader_rss_mib']:.0f} / {i['standby_rss_mib']:.0f} "
            f"| {i['leader_cpu_percent']:.1f}% / {i['standby_cpu_percent']:.1f}% "
            f"| {i['replicas_requests_per_s']:.2f} "
            f"| {r['all_healthy_s']:.0f} s | {f['p50_s']:.3f} / {f['p99_s']:.3f} / "
            f"{f['max_s']:.3f} s | {'; '.join(f'{k} {v:.2f}' for k, v in o.items())} "
            f"| {s['exit_s']:.1f} s ({s['orphaned_or_unclosed_lines']} bad lines) |"
        )
    bursts = [r for r in results if r["burst"] is not None]
    lines += (
        [
            "",
            "| N | burst: rollouts | first step p50 / p99 / all | abort -> traffic back "
            "| rollouts yet to start then |",
            "|---|---|---|---|---|",
        ]
        if bursts
        else []
    )
    for r in bursts:
        b = r["burst"]
        lines.append(
            f"| {r['n']} | {b['rollouts']} | {b['first_step_p50_s']:.1f} / "
            f"{b['first_step_p99_s']:.1f} / {b['all_first_steps_s']:.1f} s "
            f"| {b['abort_acted_s']:.2f} s | {b['rollouts_yet_to_start_when_the_abort_acted']} |"
        )
    biggest = max(results, key=lambda r: r["n"])
    i, f = biggest["idle"], biggest["first_action"]
    checks = [
        (
            "idle requests/s (both replicas, Lease renewals included)",
            i["replicas_requests_per_s"],
            GOALS["idle_requests_per_s"],
            "{:.2f}",
        ),
        ("idle CPU, % of a core", i["leader_cpu_percent"], GOALS["idle_cpu_percent"], "{:.1f}"),
        ("leader RSS, MiB", i["leader_rss_mib"], GOALS["rss_mib"], "{:.0f}"),
        ("first action p99, s", f["p99_s"], GOALS["p99_s"], "{:.3f}"),
    ]
    failover = biggest["failover"].get("abort_at_the_kill_acted_s")
    if failover is not None:
        checks.append(
            (
                "failover: an abort asked at the leader's kill -> acted, s",
                failover,
                GOALS["failover_s"],
                "{:.2f}",
            )
        )
    burst = max(bursts, key=lambda r: r["n"], default=None)
    if burst is not None:
        checks.append(
            (
                f"an abort during the burst at N = {burst['n']}, s",
                burst["burst"]["abort_acted_s"],
                GOALS["abort_s"],
                "{:.2f}",
            )
        )
    lines += ["", f"Goals at N = {biggest['n']}:"]
    for what, value, goal, fmt in checks:
        lines.append(f"- {what}: {fmt.format(value)} (goal <= {goal:g}) -> {met(value, goal)}")
    return "\n".join(lines) + "\n"
