"""LAB-ONLY: the endpoint pickers a lab's InferencePools name, one process each: the
Gateway API Inference Extension's reference picker (cmd/lwepp, built from its pinned Go
module: hack/lwepp), started for its pool (`--pool-name`), reading pods and the pool
from the cluster. The gateway finds a picker by the Service name the pool's
`endpointPickerRef` gives, as a gateway resolves that Service."""

from __future__ import annotations

from pathlib import Path

from lab.pools import NO_PICKER, picker_cluster
from testenv.binaries import endpoint_picker
from testenv.ports import free_port
from testenv.procs import Process


class Pickers:
    def __init__(
        self, kubeconfig: Path, namespace: str, workdir: Path, pools: dict[str, str]
    ) -> None:
        """`pools`: each picker's Service name -> the pool it is started for."""
        self.kubeconfig, self.namespace, self.workdir = kubeconfig, namespace, workdir
        self.pools = pools
        self.ports = {service: free_port() for service in pools}
        self.processes: list[Process] = []

    def grpc_services(self) -> dict[str, int]:
        """Envoy's clusters of the pickers (and the default no route ever calls)."""
        clusters = {picker_cluster(self.namespace, s): p for s, p in self.ports.items()}
        return {**clusters, NO_PICKER: free_port()}

    def start(self) -> None:
        binary = endpoint_picker()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for service, pool in self.pools.items():
            process = Process(
                f"picker {service}",
                [
                    str(binary),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--pool-name={pool}",
                    f"--pool-namespace={self.namespace}",
                    f"--grpc-port={self.ports[service]}",
                    f"--grpc-health-port={free_port()}",
                    f"--metrics-port={free_port()}",
                    "--secure-serving=false",  # plain gRPC on 127.0.0.1
                    "--zap-devel=false",
                    "--zap-log-level=error",
                ],
                self.workdir / f"{service}.log",
            )
            process.start(detach=False)
            self.processes.append(process)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
