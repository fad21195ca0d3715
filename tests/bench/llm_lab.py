"""Benchmark: LLM rollouts through InferencePools in the traffic lab (real Envoy, the
Inference Extension's reference picker per pool through ext_proc, stand-in vLLM servers
streaming tokens, Prometheus; the operator as a process), at 5 and 20 streamed
completions a second, every version judged on mirrored copies of all of them (so the
canary sees that rate) before any user gets its answers, then 5% and 50% of users.

Versions, each after the last (a version not caught is promoted and becomes stable):
good ones (the same as stable: a rollback is a false one), time to first token 1.5x and
2x, time between tokens 1.3x. Checks: errors, timeToFirstToken, interTokenLatency at
their default tolerance; falseRollbackRate 0.01. Figures: seconds from the canary's
first mirrored copy to its rollback (its weight stays 0: judged on copies), false
rollbacks of good versions, and streams that failed or were cut while each rollout
ran, promotion and rollback included (goal: 0).

    python tests/bench/llm_lab.py [--rates 5 20] [--good 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lab.llm_lab import LlmLab, llm_model_deployment, llm_patch
from lab.record import RolloutRecord, play, settled_after
from testenv import settings
from testenv.namespaces import temporary_namespace
from testenv.prometheus import SCRAPE_INTERVAL
from testenv.stack import running_stack

RESULTS = Path(__file__).parent / "results"
NAME = "chat"
MIRROR_SECONDS = 30
STRATEGY = {
    "canary": {
        "steps": [
            {"mirror": {"percent": 100}},
            {"pause": {"duration": f"{MIRROR_SECONDS}s"}},
            {"setWeight": 5},
            {"pause": {"duration": "10s"}},
            {"setWeight": 50},
            {"pause": {"duration": "10s"}},
        ],
        "scaleDownDelay": "2s",
        "abortScaleDownDelay": "2s",
    }
}
CHECKS = [{"kind": "errors"}, {"kind": "timeToFirstToken"}, {"kind": "interTokenLatency"}]
BAD = [
    ("time to first token 1.5x", {"LLM_FAULT_TTFT_FACTOR": "1.5"}),
    ("time to first token 2x", {"LLM_FAULT_TTFT_FACTOR": "2"}),
    ("time between tokens 1.3x", {"LLM_FAULT_ITL_FACTOR": "1.3"}),
]


def judged(prometheus_url: str) -> dict[str, Any]:
    return {
        "prometheus": {
            "url": prometheus_url,
            "timeout": "2s",
            "scrapeInterval": SCRAPE_INTERVAL,
            "conventions": {"server": "vllm"},
        },
        "minSampleSize": 10,
        "judge": {"falseRollbackRate": 0.01, "checks": CHECKS},
    }


def first_copy(lab: LlmLab, record: RolloutRecord) -> float | None:
    copied = [a.at for a in lab.gateway.history if a.mirrors.get(record.cluster)]
    return min(copied) if copied else None


def one_rate(stack: Any, rps: float, good: int, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    plan: list[tuple[str, dict[str, str]]] = [("good", {})] * good + BAD
    with temporary_namespace(stack.api, "bench") as namespace:
        kubeconfig = stack.endpoints.kubeconfig
        with LlmLab(
            stack.api, namespace, stack.prometheus, workdir / namespace, kubeconfig, NAME
        ) as lab:
            url = stack.prometheus.url
            lab.deploy(
                llm_model_deployment(NAME, "1.0.0", url, strategy=STRATEGY, analysis=judged(url))
            )
            load = lab.load_streams(rps)
            stable = "1.0.0"
            for n, (what, faults) in enumerate(plan, start=2):
                version = f"{n}.0.0"
                record = play(
                    lab,
                    NAME,
                    version,
                    None,
                    patch=llm_patch(version, faults),
                    settle=settled_after(lab, version, stable),
                )
                stable = version if record.outcome == "Promoted" else stable
                streams = load.between(record.started, record.decided + 10)
                copied = first_copy(lab, record)
                rows.append(
                    {
                        "canary_rps": rps,
                        "version": what,
                        "outcome": record.outcome,
                        "seconds_from_first_copy": None
                        if copied is None
                        else round(record.decided - copied, 1),
                        "user_weight_reached": max((w for _, _, w in record.steps), default=0),
                        "streams": len(streams),
                        "failed_or_cut": sum(not s.ok for s in streams),
                        # each: seconds after the spec change, status, tokens, ended
                        "failures": [
                            (round(s.sent - record.started, 1), s.status, s.tokens, s.done)
                            for s in streams
                            if not s.ok
                        ],
                        "reason": record.reason[:400],
                    }
                )
                print(rows[-1], flush=True)
            load.stop()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# LLM rollouts through InferencePools in the traffic lab",
        "",
        f"Mirrored copies of every stream for {MIRROR_SECONDS} s, then 5% and 50% of users; "
        "checks errors, timeToFirstToken, interTokenLatency (default tolerance 0.05); "
        "falseRollbackRate 0.01; scrape 1 s. Seconds from the canary's first mirrored copy "
        "to the decision; streams failed or cut while the rollout ran (and 10 s after).",
        "",
        "| canary streams/s | version | outcome | seconds | highest user weight | streams | "
        "failed or cut |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['canary_rps']:g} | {r['version']} | {r['outcome']} | "
            f"{r['seconds_from_first_copy']} | {r['user_weight_reached']}% | {r['streams']} | "
            f"{r['failed_or_cut']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[5.0, 20.0])
    parser.add_argument("--good", type=int, default=3, help="good versions per rate")
    args = parser.parse_args()
    workdir = settings.CACHE_DIR / "bench-llm"
    rows: list[dict[str, Any]] = []
    with running_stack(workdir) as stack:
        for rps in args.rates:
            rows += one_rate(stack, rps, args.good, workdir / "labs")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "llm_lab.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = markdown(rows)
    (RESULTS / "llm_lab.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
