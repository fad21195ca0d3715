"""Operator replicas electing a leader through a Lease, supervised as the kubelet would:
a replica that exits (killed, or giving up a Lease it could not renew) starts again."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from kubernetes import client

from testenv.cluster import Cluster
from testenv.operator import OperatorProcess
from testenv.procs import pid_alive, wait_until
from testenv.serviceaccounts import cluster_admin_service_account

LEASE = "modelrollout"
# For tests that kill leaders often: a failover in 2.5 to 4 s (the defaults, spelled out
# so that these tests keep them if the defaults change).
FAST_LEASE = (
    "--lease-seconds=4",
    "--lease-renew-deadline-seconds=3",
    "--lease-renew-interval-seconds=1.5",
    "--lease-retry-seconds=0.5",
)


class Replicas:
    def __init__(
        self,
        api: client.ApiClient,
        kubeconfig: Path,
        log_dir: Path,
        lease_namespace: str,
        count: int = 2,
        lease_args: tuple[str, ...] = (),
        kubeconfigs: list[Path] | None = None,  # one per replica (its own identity)
    ) -> None:
        args = [f"--leader-election-namespace={lease_namespace}", f"--lease-name={LEASE}"]
        configs = kubeconfigs or [kubeconfig] * count
        self.members = [
            OperatorProcess(configs[i], log_dir / f"replica-{i}", [*args, *lease_args])
            for i in range(count)
        ]
        self.coordination = client.CoordinationV1Api(api)
        self.lease_namespace = lease_namespace
        self.kills = 0

    def start(self) -> None:
        for member in self.members:
            member.start()

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def holder_pid(self) -> int | None:
        """The pid in the Lease's holder identity (`<host>-<pid>-<nonce>`)."""
        try:
            lease = self.coordination.read_namespaced_lease(LEASE, self.lease_namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        holder = lease.spec.holder_identity if lease.spec else None
        return int(holder.rsplit("-", 2)[1]) if holder else None

    def leader(self) -> OperatorProcess | None:
        """The live replica holding the Lease, if any."""
        pid = self.holder_pid()
        for member in self.members:
            if member.process is not None and member.process.pid == pid and pid_alive(pid):
                return member
        return None

    def wait_for_leader(self, timeout: float = 60, besides: int | None = None) -> OperatorProcess:
        """A live leader (other than pid `besides`), restarting any replica that exited."""
        found: list[OperatorProcess] = []

        def led() -> bool:
            self.restart_exited()
            leader = self.leader()
            if leader is None or leader.process is None or leader.process.pid == besides:
                return False
            found[:] = [leader]
            return True

        wait_until(led, timeout=timeout, what="a live replica holding the Lease", interval=0.2)
        return found[0]

    def kill(self, member: OperatorProcess) -> int:
        """SIGKILL (no clean exit, no Lease handed back) and start again at once; the pid
        that was killed."""
        assert member.process is not None
        pid = member.process.pid
        member.kill()
        self.kills += 1
        member.start()
        return pid

    def restart_exited(self) -> None:
        for member in self.members:
            popen = member.process.popen if member.process else None
            if popen is not None and popen.poll() is not None:
                member.start()

    def stopped_in(self, member: OperatorProcess, timeout: float) -> float:
        """SIGTERM, and the seconds until the process has exited."""
        assert member.process is not None
        assert member.process.popen is not None
        started = time.monotonic()
        os.kill(member.process.pid, signal.SIGTERM)
        member.process.popen.wait(timeout=timeout)
        return time.monotonic() - started


@contextlib.contextmanager
def audited_replicas(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    workdir: Path,
    lease_args: tuple[str, ...] = (),
) -> Iterator[tuple[Replicas, list[str]]]:
    """Two started replicas, each its own ServiceAccount; with their audit users, so
    kube-apiserver's audit log says which replica sent what (testenv.audit)."""
    if cluster.audit_log is None:
        raise AssertionError(
            "this test reads kube-apiserver's audit log: run it on the local control plane"
        )
    names = ["replica-0", "replica-1"]
    with contextlib.ExitStack() as stack:
        kubeconfigs = [
            stack.enter_context(
                cluster_admin_service_account(
                    api, cluster.kubeconfig, namespace, name, workdir / f"{name}.kubeconfig"
                )
            )
            for name in names
        ]
        replicas = Replicas(
            api,
            cluster.kubeconfig,
            workdir,
            namespace,
            lease_args=lease_args,
            kubeconfigs=kubeconfigs,
        )
        replicas.start()
        try:
            yield replicas, [f"system:serviceaccount:{namespace}:{name}" for name in names]
        finally:
            for member in replicas.members:  # none left stopped, whatever happened
                if member.process is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(member.process.pid, signal.SIGCONT)  # its group
            replicas.stop()
