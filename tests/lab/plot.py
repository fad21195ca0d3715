"""LAB-ONLY: a PNG of the rollouts, second by second: the new version's traffic (the
weight Envoy applied, and the share it copied to it as a mirror), each check's evidence
against its rollback boundary, and the requests users saw fail."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure  # the object API: no display, no global state

from lab.record import RolloutRecord


def error_rate_per_second(record: RolloutRecord) -> tuple[list[float], list[float]]:
    bins: dict[int, list[int]] = {}
    for o in record.outcomes:
        counts = bins.setdefault(int(o.sent - record.started), [0, 0])
        counts[0] += 1
        counts[1] += not o.ok
    seconds = sorted(bins)
    return [s + 0.5 for s in seconds], [100 * bins[s][1] / bins[s][0] for s in seconds]


def _steps(points: list[tuple[float, float]], start: float) -> tuple[list[float], list[float]]:
    t = [a - start for a, _ in points]
    share = [100 * s for _, s in points]
    return [0, *t], [0, *share]


def plot(records: list[RolloutRecord], path: Path, boundary: float | None = None) -> Path:
    fig = Figure(figsize=(5.5 * len(records), 9))
    axes = fig.subplots(3, len(records), squeeze=False)
    for column, record in enumerate(records):
        traffic, evidence, errors = (axes[row][column] for row in range(3))
        end = max(o.sent for o in record.outcomes) - record.started if record.outcomes else 1
        for points, style, label in (
            (record.shares, "-", "weight"),
            (record.mirrors, "--", "mirrored copies"),
        ):
            x, y = _steps(points, record.started)
            traffic.step([*x, end], [*y, y[-1]], where="post", linestyle=style, label=label)
        traffic.set_title(
            f"{record.version}: {record.outcome} after {record.seconds_to_decision:.0f} s"
        )
        traffic.set_ylabel("traffic to the new version (%)")
        traffic.set_ylim(-5, 105)
        traffic.legend(loc="upper left", fontsize="small")
        for name in sorted({name for _, name, _ in record.evidence}):
            points = [(t - record.started, e) for t, n, e in record.evidence if n == name]
            evidence.plot([t for t, _ in points], [max(e, 1e-3) for _, e in points], label=name)
        if boundary is not None:
            evidence.axhline(boundary, color="red", linewidth=1, label="rollback")
        evidence.set_yscale("log")
        evidence.set_ylim(1e-2, max(1e4, (boundary or 1) * 100))
        evidence.set_ylabel("evidence the canary is worse (x)")
        evidence.legend(loc="upper left", fontsize="small")
        x, rate = error_rate_per_second(record)
        errors.bar(x, rate, width=1.0, color="C3")
        errors.set_ylabel("user requests failed (%)")
        errors.set_xlabel("seconds since the rollout started")
        errors.set_ylim(0, max([5.0, *rate]) * 1.1)
        for ax in (traffic, evidence, errors):
            ax.axvline(record.seconds_to_decision, color="grey", linestyle="--", linewidth=1)
            ax.set_xlim(0, end)
            ax.grid(alpha=0.3)
    fig.suptitle("modelrollout traffic lab: traffic Envoy applied, the judge's evidence, failures")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
