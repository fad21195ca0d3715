"""`python -m testenv build|helm|up|down|status`: the test environment for people."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from testenv.binaries import endpoint_picker, ensure_kubernetes, prometheus_adapter
from testenv.crds import MODELROLLOUT_CRD, apply_crds, upstream_crds
from testenv.environment import Environment, read_state, stop_recorded, write_state
from testenv.helm import ensure_helm


def main() -> int:
    parser = argparse.ArgumentParser(prog="testenv", description=__doc__)
    parser.add_argument("command", choices=["build", "helm", "up", "down", "status"])
    command = parser.parse_args().command
    if command == "build":
        ensure_kubernetes()
        prometheus_adapter()
        endpoint_picker()
    elif command == "helm":
        print(ensure_helm())
    elif command == "up":
        stopped = stop_recorded()
        if stopped:
            print(f"stopped {stopped} processes of the previous environment")
        env = Environment(detach=True)
        env.start()
        api = env.control_plane.api_client()
        upstream = ("gateway-api", "istio", "inference-extension")
        apply_crds(api, [MODELROLLOUT_CRD, *(crd for u in upstream for crd in upstream_crds(u))])
        state = env.state()
        write_state(state)
        print(f"control plane and Prometheus up in {state.start_seconds:.1f}s; CRDs installed")
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
