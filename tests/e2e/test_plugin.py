"""The real `kubectl-modelrollout` console script against the test cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.operator import OperatorProcess
from testenv.rollouts import HELD_CANARY, Scenario

PLUGIN = Path(sys.executable).parent / "kubectl-modelrollout"


def plugin(cluster: Cluster, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert PLUGIN.exists(), f"{PLUGIN} is not installed: run `make venv`"
    return subprocess.run(
        [str(PLUGIN), "-n", namespace, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), COLUMNS="200"),
        timeout=60,
        check=False,
    )


@pytest.fixture
def held(make_scenario: Callable[..., Scenario]) -> Scenario:
    """v1 Healthy, v2 canary held at the `pause: {}` after 20%."""
    s = make_scenario("fraud")
    s.traffic("1.0.0", Traffic())
    s.traffic("2.0.0", Traffic())
    s.create("1.0.0", strategy=HELD_CANARY)
    s.wait_healthy("1.0.0")
    s.set_version("2.0.0")
    s.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at the pause step")
    return s


def test_kubectl_finds_the_plugin_on_path(cluster: Cluster) -> None:
    found = shutil.which("kubectl-modelrollout", path=str(PLUGIN.parent))
    assert found == str(PLUGIN)


def test_status_shows_phase_steps_and_weights(held: Scenario, cluster: Cluster) -> None:
    result = plugin(cluster, held.namespace, "status", "fraud")
    assert result.returncode == 0, result.stderr
    assert "Paused" in result.stdout
    assert "pause (until promoted)" in result.stdout
    assert "20%" in result.stdout


def test_promote_ends_the_pause_step_once_even_across_an_operator_restart(
    held: Scenario, cluster: Cluster, operator: OperatorProcess
) -> None:
    operator.kill()
    result = plugin(cluster, held.namespace, "promote", "fraud")
    assert result.returncode == 0, result.stderr
    operator.start()
    status = held.wait_status(
        lambda st: (st.get("canary") or {}).get("weight") == 40 and st.get("phase") == "Paused",
        "held again at the second pause, weight 40",
    )
    assert status["currentStep"] == 3, "one step promoted, not two"
    assert status["handledRequest"].startswith("promote:")
    assert plugin(cluster, held.namespace, "promote", "fraud", "--full").returncode == 0
    held.wait_healthy("2.0.0")


def test_abort_then_retry_then_nonsense(held: Scenario, cluster: Cluster) -> None:
    assert plugin(cluster, held.namespace, "abort", "fraud").returncode == 0
    held.wait_status(lambda st: st.get("phase") == "RolledBack", "rolled back")
    held.wait_route_weight(0)
    again = plugin(cluster, held.namespace, "abort", "fraud")
    assert again.returncode == 1
    assert "no rollout in progress" in again.stderr
    assert plugin(cluster, held.namespace, "retry", "fraud").returncode == 0
    held.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "the retried canary held")
    history = plugin(cluster, held.namespace, "history", "fraud")
    assert "RolledBack" in history.stdout


def test_missing_object_and_wrong_namespace(cluster: Cluster, namespace: str) -> None:
    result = plugin(cluster, namespace, "status", "nope")
    assert result.returncode == 3
    assert f'not found in namespace "{namespace}"' in result.stderr


def test_undo_rolls_exactly_the_previous_revision_out_again(
    held: Scenario, cluster: Cluster
) -> None:
    """Fields added to the template since stay out (the result is the old revision, not
    a mix), and a record someone rewrote on the old Deployment is refused."""
    first = held.status()["stable"]["revision"]
    nothing = plugin(cluster, held.namespace, "undo", "fraud")
    assert nothing.returncode == 1, "a rollout is in progress"
    added = {"spec": {"template": {"metadata": {"annotations": {"added": "since"}}}}}
    held.custom.patch_namespaced_custom_object(
        "modelrollout.io", "v1alpha1", held.namespace, "modeldeployments", "fraud", added
    )
    held.wait_status(
        lambda st: (
            st.get("pauseReason") == "PauseStep"
            and (st.get("canary") or {}).get("revision") == held.get_revision()
        ),
        "the edited canary held",
    )
    assert plugin(cluster, held.namespace, "promote", "fraud", "--full").returncode == 0
    held.wait_healthy("2.0.0")
    old = held.apps.read_namespaced_deployment(f"fraud-{first}", held.namespace)
    record = old.metadata.annotations["modelrollout.io/source"]
    planted = record.replace("example.test/fraud:1.0.0", "example.test/evil:1")
    assert planted != record
    plant = {"metadata": {"annotations": {"modelrollout.io/source": planted}}}
    held.apps.patch_namespaced_deployment(f"fraud-{first}", held.namespace, plant)
    refused = plugin(cluster, held.namespace, "undo", "fraud")
    assert refused.returncode == 1
    assert "does not match its hash" in refused.stderr
    plant["metadata"]["annotations"]["modelrollout.io/source"] = record
    held.apps.patch_namespaced_deployment(f"fraud-{first}", held.namespace, plant)
    result = plugin(cluster, held.namespace, "undo", "fraud")
    assert result.returncode == 0, result.stderr
    assert first in result.stdout
    status = held.wait_status(
        lambda st: (st.get("canary") or {}).get("revision") == first,
        "the previous revision rolling out again",
    )
    assert status["canary"]["version"] == "1.0.0"
    assert plugin(cluster, held.namespace, "promote", "fraud", "--full").returncode == 0
    assert held.wait_healthy("1.0.0")["stable"]["revision"] == first


def test_a_malformed_request_is_reported_once_and_changes_nothing(held: Scenario) -> None:
    patch = {"metadata": {"annotations": {"modelrollout.io/request": "explode:1"}}}
    held.custom.patch_namespaced_custom_object(
        "modelrollout.io", "v1alpha1", held.namespace, "modeldeployments", "fraud", patch
    )
    status = held.wait_status(lambda st: st.get("refusedRequest") == "explode:1", "request seen")
    assert status["pauseReason"] == "PauseStep", "the rollout did not move"
    invalid = held.wait_events(
        lambda t, r, _m: (t, r) == ("Warning", "RequestInvalid"), "a RequestInvalid warning"
    )
    assert len(invalid) == 1
    assert "promote" in invalid[0]


def test_a_restored_or_replayed_request_does_not_run_again(
    held: Scenario, cluster: Cluster, operator: OperatorProcess
) -> None:
    """A GitOps tool restores the annotation as it was in Git (an older request): it is
    refused with a message, the rollout stays where the newer request left it, and an
    operator restart does not make it run either."""
    assert plugin(cluster, held.namespace, "abort", "fraud").returncode == 0
    held.wait_status(lambda st: st.get("phase") == "RolledBack", "rolled back")
    aborted = held.status()["handledRequest"]
    assert plugin(cluster, held.namespace, "retry", "fraud").returncode == 0
    held.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "the retried canary held")
    operator.kill()
    restore = {"metadata": {"annotations": {"modelrollout.io/request": aborted}}}
    held.custom.patch_namespaced_custom_object(
        "modelrollout.io", "v1alpha1", held.namespace, "modeldeployments", "fraud", restore
    )
    operator.start()
    refused = held.wait_events(
        lambda t, r, _m: (t, r) == ("Warning", "RequestRefused"), "a RequestRefused warning"
    )
    assert "is older than the last request handled" in refused[0]
    status = held.status()
    assert status["refusedRequest"] == aborted
    assert status["phase"] == "Paused", "not aborted a second time"
    assert status["canary"]["version"] == "2.0.0"
