"""The election in a process of its own (handlers.election_process, handlers.leadership):
the memory both processes share, the lines they speak, and an election process that
never outlives the operator."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from modelrollout.handlers import election_process, leadership, lease_state
from modelrollout.handlers.election import LeaseTiming, Lock
from modelrollout.handlers.election_process import Candidate
from modelrollout.handlers.fencing import clock
from modelrollout.handlers.leadership import Leadership

WAIT_S = 30.0  # bounds for what takes milliseconds: a loaded machine is slow, not stuck


def test_what_one_process_writes_the_other_reads_at_once() -> None:
    fd, state = lease_state.create()
    writer = textwrap.dedent(f"""
        from modelrollout.handlers import lease_state
        state = lease_state.attach({fd})
        assert state.alive_at == 7.25, "the operator's write is seen here"
        state.renewed_at = 42.5
        state.leading = True
    """)
    state.alive_at = 7.25
    subprocess.run([sys.executable, "-c", writer], pass_fds=(fd,), check=True, timeout=WAIT_S)
    assert (state.renewed_at, state.leading, state.released) == (42.5, True, False)


def fake_election(script: str) -> list[str]:
    """An election process that says what `script` says (it gets the state's fd)."""
    return [sys.executable, "-c", textwrap.dedent(script)]


class Lost:
    def __init__(self) -> None:
        self.why: list[str] = []
        self.told = threading.Event()

    def __call__(self, why: str) -> None:
        self.why.append(why)
        self.told.set()


def started(monkeypatch: pytest.MonkeyPatch, script: str) -> tuple[Leadership, Lost]:
    monkeypatch.setattr(election_process, "command", lambda *_: fake_election(script))
    lost = Lost()
    lead = Leadership("ops", "modelrollout", "me", on_lost=lost)
    lead.start()
    return lead, lost


LEADS_AND_RELEASES = """
    import sys
    print("leading", flush=True)
    if sys.stdin.readline().strip() == "release":
        print("released", flush=True)
"""


def test_the_operator_hears_when_it_leads_and_hands_the_lease_back_on_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead, lost = started(monkeypatch, LEADS_AND_RELEASES)
    told = threading.Event()
    lead.when_leading(told.set)
    assert told.wait(WAIT_S), "the election process said it leads"
    lead.release()
    assert lead.state.released, "the fence closed first"
    assert lead.process is not None
    assert lead.process.returncode == 0, "it exited once it answered"
    assert lost.why == [], "a release is not a loss"


def test_an_election_process_that_ends_unasked_ends_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, lost = started(monkeypatch, "import sys; sys.exit(3)")
    assert lost.told.wait(WAIT_S)
    assert lost.why == ["Lease ops/modelrollout: the election process ended (3)"]


@pytest.fixture
def silent_kubeconfig(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose API server takes connections and never answers: the election
    waits on its first request for as long as the test runs (an unreachable one would
    fail it, and the election process would exit on its own)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        path = tmp_path / "kubeconfig"
        path.write_text(
            textwrap.dedent(f"""
            apiVersion: v1
            kind: Config
            clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{silent.getsockname()[1]}"}}}}]
            users: [{{name: u, user: {{token: t}}}}]
            contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
            current-context: x
        """)
        )
        yield path


def test_the_real_election_process_answers_a_release_and_goes_when_the_operator_goes(
    monkeypatch: pytest.MonkeyPatch, silent_kubeconfig: Path
) -> None:
    """Not leading yet, it still answers; and it exits when its stdin closes, as it does
    when the operator's process dies (even by SIGKILL)."""
    monkeypatch.setenv("KUBECONFIG", str(silent_kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for asks in ("release\n", ""):
        fd, state = lease_state.create()
        state.alive_at = clock()
        command = election_process.command("ops", "modelrollout", "me", LeaseTiming(), fd)
        done = subprocess.run(
            command, input=asks, capture_output=True, text=True, pass_fds=(fd,), timeout=WAIT_S
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == ("kept\n" if asks else ""), "not leading: nothing to hand back"
        assert not state.leading


class Replacing:
    """CoordinationV1Api's read and replace of the Lease, recorded."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.replaced: list[client.V1Lease] = []

    def read_namespaced_lease(self, name: str, namespace: str) -> client.V1Lease:
        spec = client.V1LeaseSpec(holder_identity=self.holder, lease_duration_seconds=4)
        return client.V1Lease(metadata=client.V1ObjectMeta(name=name), spec=spec)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: client.V1Lease
    ) -> client.V1Lease:
        self.replaced.append(body)
        return body


def candidate(holder: str, leading: bool) -> tuple[Candidate, Replacing]:
    lock = Lock(client.ApiClient(), "modelrollout", "ops", "me")
    api = Replacing(holder)
    lock.api_instance = api
    lock.state.leading = leading
    return Candidate(lock, LeaseTiming()), api


def test_a_release_hands_back_only_a_lease_we_hold() -> None:
    ours, api = candidate("me", leading=True)
    assert ours.release()
    assert [(b.spec.holder_identity, b.spec.lease_duration_seconds) for b in api.replaced] == [
        (None, 1)
    ], "handed back: the standby, which watches it, takes it at once"
    assert ours.lock.released, "and never renewed again"
    taken, api = candidate("them", leading=True)
    assert not taken.release()
    assert api.replaced == [], "another replica's Lease is left alone"
    standby, api = candidate("them", leading=False)
    assert not standby.release()
    assert api.replaced == []


def test_the_stall_bound_comes_from_the_operator_s_heartbeat() -> None:
    ours, _ = candidate("me", leading=True)
    ours.lock.state.alive_at = clock()
    assert ours.alive()
    ours.lock.state.alive_at = clock() - LeaseTiming().stall_seconds - 1
    assert not ours.alive()
    lead = Leadership("ops", "modelrollout", "me")
    lead.state.alive_at = 0.0
    lead.alive()
    assert clock() - lead.state.alive_at < 1, "the operator's beat is written to the state"


def test_leadership_timings_come_from_the_command_line() -> None:
    parser = argparse.ArgumentParser()
    leadership.add_arguments(parser)
    args = parser.parse_args(["--lease-stall-seconds=20", "--lease-seconds=5"])
    assert leadership.timing(args) == LeaseTiming(5, 3, 1.5, 0.5, 20)
