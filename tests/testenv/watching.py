"""A watch that resumes: from the last version seen across reconnects (a watch that
fails on a loaded machine is picked up again, not the end of the record), listing anew
only when that version is too old (410), in which case in-between versions are gone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client, watch


def follow(
    stop: threading.Event,
    list_call: Callable[..., Any],
    *args: Any,
    on_event: Callable[[str, Any], None],
    **kwargs: Any,
) -> None:
    """Call `on_event(type, object)` for every event until `stop` is set (run it in a
    thread of its own)."""
    version = None
    while not stop.is_set():
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            list_call, *args, resource_version=version, timeout_seconds=2, **kwargs
        )
        try:
            for event in stream:
                found = event["object"]
                meta = found["metadata"] if isinstance(found, dict) else found.metadata
                version = (
                    meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
                )
                on_event(event["type"], found)
        except client.ApiException as exc:
            if exc.status != 410:
                raise
            version = None
        except (urllib3.exceptions.HTTPError, OSError):
            stop.wait(0.2)
