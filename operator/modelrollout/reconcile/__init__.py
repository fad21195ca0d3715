"""Observe -> decide -> record -> act: the only place that sequences the adapters and
the engine.

A decision is recorded before it is acted on (`reconcile` decides, in deciding.py; the
caller writes the status; then `carry_out` acts, in acting.py; ports.py holds the
adapters and the Result). The status write is guarded by the resourceVersion the
decision was made on, so a decision made on a stale object is refused before it
touches anything; and a process that dies between the write and the actions leaves a
status whose desired state the next decision re-asserts, never an older one.

Bad input never changes what serves: a spec the models reject, a route that is missing,
not wired to our Services or unable to do what the spec asks, or unusable credentials
become an InvalidSpec condition and an Event, and no workload or route is touched.
"""

from modelrollout.reconcile.acting import carry_out, release_route
from modelrollout.reconcile.deciding import error_text, parse_request, reconcile
from modelrollout.reconcile.ports import (
    Adapters,
    InvalidSpec,
    Plan,
    Result,
    WorkloadsPort,
    cluster_adapters,
)
from modelrollout.reconcile.urgency import Urgency, acting, under_way, urgency

__all__ = [
    "Adapters",
    "InvalidSpec",
    "Plan",
    "Result",
    "Urgency",
    "WorkloadsPort",
    "acting",
    "carry_out",
    "cluster_adapters",
    "error_text",
    "parse_request",
    "reconcile",
    "release_route",
    "under_way",
    "urgency",
]
