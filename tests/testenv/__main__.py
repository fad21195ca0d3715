"""`python -m testenv build|up|down|status`: the test environment for people (make cluster-*)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from testenv.binaries import ensure_kubernetes
from testenv.environment import Environment, read_state, stop_recorded, write_state


def main() -> int:
    parser = argparse.ArgumentParser(prog="testenv", description=__doc__)
    parser.add_argument("command", choices=["build", "up", "down", "status"])
    command = parser.parse_args().command
    if command == "build":
        ensure_kubernetes()
    elif command == "up":
        stopped = stop_recorded()
        if stopped:
            print(f"stopped {stopped} processes of the previous environment")
        env = Environment(detach=True)
        env.start()
        state = env.state()
        write_state(state)
        print(f"control plane and Prometheus up in {state.start_seconds:.1f}s")
        print(f"  export KUBECONFIG={state.kubeconfig}")
        print(f"  Prometheus: {state.prometheus}")
        print("stop it with: make cluster-down")
    elif command == "down":
        print(f"stopped {stop_recorded()} processes")
    else:
        recorded = read_state()
        print(json.dumps(asdict(recorded), indent=2) if recorded else "no environment recorded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
