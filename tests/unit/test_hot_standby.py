"""A hot standby: kopf and its caches run, but no loop decides and kopf writes nothing
until this replica leads (handlers.loop, handlers.kopf_writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter, FlagSetter
from kopf._cogs.clients import patching
from kubernetes import client

from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.handlers import kopf_writes
from modelrollout.handlers.caches import Wakes
from modelrollout.handlers.loop import Runtime, Turn, drive
from modelrollout.handlers.workers import Workers
from modelrollout.reconcile import Result

INDICES = {
    name: {}
    for name in ("owned_deployments", "owned_services", "owned_endpoint_slices", "owned_pools")
}
BODY = {
    "apiVersion": "modelrollout.io/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "m", "namespace": "ml", "resourceVersion": "1"},
    "spec": {"model": {"version": "1"}},
}


class Switch:
    def __init__(self, holds: bool) -> None:
        self.held = holds

    def holds(self) -> bool:
        return self.held


class Recording:
    """Workers that record each reconcile handed to them, and stop the loop after it."""

    def __init__(self, stop: FlagSetter[kopf.DaemonStoppingReason]) -> None:
        self.stop = stop
        self.runs: list[str] = []
        self.ran = asyncio.Event()

    async def run(
        self,
        priority: Any,
        namespace: str | None,
        fn: Any,
        *args: Any,
        started: asyncio.Event | None = None,
    ) -> Any:
        if started is not None:
            started.set()
        self.runs.append(fn.__name__)
        self.ran.set()
        self.stop.set(kopf.DaemonStoppingReason.OPERATOR_EXITING)
        status = ModelDeploymentStatus()
        return Turn(Result(status, status, []), written=True)


def standby() -> tuple[Runtime, FlagSetter[kopf.DaemonStoppingReason], Recording]:
    setter: FlagSetter[kopf.DaemonStoppingReason] = FlagSetter()
    workers = Recording(setter)
    rt = Runtime(api=client.ApiClient(), workers=cast(Workers, workers), wakes=Wakes())
    return rt, setter, workers


async def loop_of(rt: Runtime, setter: FlagSetter[kopf.DaemonStoppingReason]) -> None:
    await drive(  # type: ignore[call-arg]
        body=kopf.Body(BODY), memo=kopf.Memo(runtime=rt), stopped=AsyncFlagWaiter(setter), **INDICES
    )


def test_a_standby_decides_nothing_and_leaves_a_deleted_object_to_the_leader() -> None:
    async def scenario() -> list[str]:
        rt, setter, workers = standby()
        loop = asyncio.create_task(loop_of(rt, setter))
        rt.wakes.event(("ml", "m")).set()  # watch events reach a standby's loops too
        setter.set(kopf.DaemonStoppingReason.RESOURCE_DELETED)
        await asyncio.wait_for(loop, timeout=10)
        return workers.runs

    assert asyncio.run(scenario()) == [], "no reconcile, and no route released"


def test_a_standby_decides_as_soon_as_it_leads() -> None:
    async def scenario() -> list[str]:
        rt, setter, workers = standby()
        loop = asyncio.create_task(loop_of(rt, setter))
        await asyncio.sleep(0)  # the loop is waiting for the Lease
        assert not workers.ran.is_set()
        rt.leading.set()
        await asyncio.wait_for(workers.ran.wait(), timeout=10)
        await asyncio.wait_for(loop, timeout=10)
        return workers.runs

    assert asyncio.run(scenario()) == ["_work"]


@pytest.fixture
def kopf_patch() -> Iterator[list[dict[str, Any]]]:
    """kopf's patch function, recording instead of sending; restored afterwards."""
    sent: list[dict[str, Any]] = []

    async def recorded(**kwargs: Any) -> tuple[Any, Any]:
        sent.append(kwargs)
        return {"metadata": {"resourceVersion": "2"}}, None

    original = kopf_writes._PATCH_OBJ
    kopf_writes._PATCH_OBJ = recorded  # type: ignore[assignment]
    try:
        yield sent
    finally:
        kopf_writes._PATCH_OBJ = original
        patching.patch_obj = original


def test_kopfs_finalizer_writes_wait_for_the_lease(kopf_patch: list[dict[str, Any]]) -> None:
    fence = Switch(holds=False)
    kopf_writes.install(fence)

    def patch() -> tuple[Any, Any]:
        return asyncio.run(patching.patch_obj(namespace="ml", name="m", patch={}))

    assert patch() == (None, None), "held back: as if the object were gone"
    assert kopf_patch == []
    fence.held = True
    assert patch() == ({"metadata": {"resourceVersion": "2"}}, None)
    assert [sent["name"] for sent in kopf_patch] == ["m"]


def test_taking_the_lease_lets_the_loops_with_something_under_way_go_first() -> None:
    """A thousand loops wake at once on a takeover: those whose object has something
    under way (here a person's abort) take the free threads before the settled ones
    even queue, whatever order they were started in (a settled loop's own work on the
    event loop comes after the abort's reconcile is on its thread)."""
    settled = {**BODY, "metadata": {**BODY["metadata"], "name": "settled"}}
    aborted = {
        **BODY,
        "metadata": {
            **BODY["metadata"],
            "name": "aborted",
            "annotations": {"modelrollout.io/request": "abort:20261205T115959Z"},
        },
    }

    async def scenario() -> list[str]:
        setters = {name: FlagSetter[kopf.DaemonStoppingReason]() for name in ("settled", "aborted")}
        order: list[str] = []

        class InOrder(Recording):
            def run(  # type: ignore[override]  # called when queued, run when awaited
                self, *given: Any, started: asyncio.Event | None = None
            ) -> Coroutine[Any, Any, Any]:
                name = given[4][1]  # (priority, namespace, fn, rt, key, ...)
                order.append(f"{name} queued")

                async def running() -> Any:
                    order.append(f"{name} runs")
                    setters[name].set(kopf.DaemonStoppingReason.OPERATOR_EXITING)
                    return await Recording.run(self, *given, started=started)

                return running()

        workers = InOrder(FlagSetter())
        rt = Runtime(api=client.ApiClient(), workers=cast(Workers, workers), wakes=Wakes())
        loops = [
            asyncio.create_task(
                drive(  # type: ignore[call-arg]
                    body=kopf.Body(given),
                    memo=kopf.Memo(runtime=rt),
                    stopped=AsyncFlagWaiter(setters[given["metadata"]["name"]]),
                    **INDICES,
                )
            )
            for given in (settled, aborted)
        ]
        await asyncio.sleep(0)  # both wait for the Lease
        rt.leading.set()
        await asyncio.wait_for(asyncio.gather(*loops), timeout=10)
        return order

    assert asyncio.run(scenario()) == [
        "aborted queued",
        "aborted runs",
        "settled queued",
        "settled runs",
    ]
