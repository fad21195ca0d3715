"""LAB-ONLY: a PNG of the rollouts: the new version's traffic weight and the error
rate clients saw, second by second."""

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


def plot(records: list[RolloutRecord], path: Path) -> Path:
    fig = Figure(figsize=(6 * len(records), 6))
    axes = fig.subplots(2, len(records), squeeze=False)
    for column, record in enumerate(records):
        weight, errors = axes[0][column], axes[1][column]
        t = [a - record.started for a, _ in record.shares]
        share = [100 * s for _, s in record.shares]
        end = max(o.sent for o in record.outcomes) - record.started if record.outcomes else 1
        weight.step([0, *t, end], [0, *share, share[-1] if share else 0], where="post", color="C0")
        weight.set_title(
            f"{record.version}: {record.outcome} after {record.seconds_to_decision:.0f} s"
        )
        weight.set_ylabel("traffic to the new version (%)")
        weight.set_ylim(-5, 105)
        x, rate = error_rate_per_second(record)
        errors.bar(x, rate, width=1.0, color="C3")
        errors.set_ylabel("requests failed (%)")
        errors.set_xlabel("seconds since the rollout started")
        errors.set_ylim(0, max([5.0, *rate]) * 1.1)
        for ax in (weight, errors):
            ax.axvline(record.seconds_to_decision, color="grey", linestyle="--", linewidth=1)
            ax.set_xlim(0, end)
            ax.grid(alpha=0.3)
    fig.suptitle("modelrollout traffic lab: weight Envoy applied, and failed requests")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
