"""Benchmark: the judge's distribution checks in the traffic lab (real Envoy, model
servers, Prometheus; the operator as a process), at 5, 20 and 100 requests/s, every
version judged on mirrored copies of all of them (so the canary sees that rate) for a
minute before any user gets its answers.

Versions, each after the last (a version not caught is promoted and becomes stable):
a good model (same as stable); garbage on 30% and on 10% of predictions (one class
whatever the input); a model 30% slower in the median (stable answers in a log-normal
20 ms, sigma 0.5; no threshold set). Figure: from the first mirrored copy to the
decision. Goal: garbage on 30% rolled back within 10 s at 20 req/s. The simulation
(shares_simulation.py) measures false rollbacks and the threshold query beside it.

    python tests/bench/predictions_lab.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lab.lab import Lab, lab_model_deployment
from lab.record import RolloutRecord, play, settled_after
from testenv import settings
from testenv.namespaces import temporary_namespace
from testenv.prometheus import SCRAPE_INTERVAL
from testenv.stack import running_stack

RESULTS = Path(__file__).parent / "results"
NAME = "iris"
MIRROR_SECONDS = 60
STRATEGY = {
    "canary": {
        "steps": [
            {"mirror": {"percent": 100}},
            {"pause": {"duration": f"{MIRROR_SECONDS}s"}},
            {"setWeight": 50},
            {"pause": {"duration": "5s"}},
        ],
        "scaleDownDelay": "2s",
        "abortScaleDownDelay": "2s",
    }
}
CHECKS = [{"kind": "errors"}, {"kind": "latency"}, {"kind": "predictions"}]
BASE = {"MODEL_FAULT_LATENCY_SECONDS": "0.02", "MODEL_FAULT_LATENCY_SPREAD": "0.5"}
VERSIONS = [
    ("2.0.0", "good", BASE),
    ("3.0.0", "garbage on 30%", {**BASE, "MODEL_FAULT_DRIFT_SHARE": "0.3"}),
    ("4.0.0", "garbage on 10%", {**BASE, "MODEL_FAULT_DRIFT_SHARE": "0.1"}),
    ("5.0.0", "30% slower median", {**BASE, "MODEL_FAULT_LATENCY_SECONDS": "0.026"}),
]


def judged(prometheus_url: str) -> dict[str, Any]:
    return {
        "prometheus": {"url": prometheus_url, "timeout": "2s", "scrapeInterval": SCRAPE_INTERVAL},
        "minSampleSize": 20,
        "judge": {"falseRollbackRate": 0.01, "checks": CHECKS},
    }


def first_copy(lab: Lab, record: RolloutRecord) -> float | None:
    copied = [a.at for a in lab.gateway.history if a.mirrors.get(record.cluster)]
    return min(copied) if copied else None


def one_rate(stack: Any, rps: float, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    with (
        temporary_namespace(stack.api, "bench") as namespace,
        Lab(stack.api, namespace, stack.prometheus, workdir / namespace) as lab,
    ):
        url = stack.prometheus.url
        body = lab_model_deployment(
            NAME, "1.0.0", url, BASE, strategy=STRATEGY, analysis=judged(url)
        )
        lab.deploy(body)
        load = lab.load(rps)
        stable = "1.0.0"
        for version, what, faults in VERSIONS:
            record = play(
                lab, NAME, version, load, faults, settle=settled_after(lab, version, stable)
            )
            stable = version if record.outcome == "Promoted" else stable
            copied = first_copy(lab, record)
            rows.append(
                {
                    "canary_rps": rps,
                    "model": what,
                    "outcome": record.outcome,
                    "seconds_from_first_copy": None
                    if copied is None
                    else round(record.decided - copied, 1),
                    "reason": record.reason[:300],
                }
            )
            print(rows[-1], flush=True)
        load.stop()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# The judge's distribution checks in the traffic lab",
        "",
        f"Mirrored copies of every request for {MIRROR_SECONDS} s before any user weight; "
        "checks errors, latency (no threshold), predictions; falseRollbackRate 0.01; "
        "scrape 1 s. Seconds from the first mirrored copy to the decision.",
        "",
        "| canary req/s | model | outcome | seconds |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['canary_rps']:g} | {r['model']} | {r['outcome']} | "
            f"{r['seconds_from_first_copy']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[5.0, 20.0, 100.0])
    args = parser.parse_args()
    workdir = settings.CACHE_DIR / "bench-predictions"
    rows: list[dict[str, Any]] = []
    with running_stack(workdir) as stack:
        for rps in args.rates:
            rows += one_rate(stack, rps, workdir / "labs")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predictions_lab.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = markdown(rows)
    (RESULTS / "predictions_lab.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
