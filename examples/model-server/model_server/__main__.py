"""Run the model server, configured from the environment.

MODEL_PATH       the trained artifact (default /model/model.json, where the image puts it)
MODEL_NAME, MODEL_VERSION, MODEL_REVISION   set by the modelrollout operator
MODEL_NAMESPACE  the pod's namespace (a downward-API env var in the pod template)
HOST, PORT       where to listen (default 127.0.0.1:8080; the image sets HOST=0.0.0.0)
plus the MODEL_FAULT_* switches of model_server.faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from model_server.app import DRAINING, IN_FLIGHT, Identity, create_app
from model_server.faults import Faults
from model_server.model import Model

# How long in-flight requests may take to finish after SIGTERM.
SHUTDOWN_TIMEOUT_SECONDS = 10.0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    env = os.environ
    try:
        faults = Faults.from_env(env)
        model = Model.load(Path(env.get("MODEL_PATH", "/model/model.json")))
        port = int(env.get("PORT", "8080"))
    except (OSError, ValueError, KeyError) as exc:
        print(f"model-server: cannot start: {exc}", file=sys.stderr)
        return 2
    identity = Identity(
        namespace=env.get("MODEL_NAMESPACE", "default"),
        model=env.get("MODEL_NAME", "iris"),
        version=env.get("MODEL_VERSION", "0.0.0"),
        revision=env.get("MODEL_REVISION", ""),
    )
    logging.info("serving %s version %s with faults %s", identity.model, identity.version, faults)
    app = create_app(model, identity, faults)
    asyncio.run(serve(app, env.get("HOST", "127.0.0.1"), port))
    return 0


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain: readiness fails, no new connections
    are accepted, and the requests in flight are answered before the server stops.

    aiohttp's own shutdown stops reading from open connections at once, so the rest of a
    request whose handler already started (a body sent after its headers, as urllib3
    does) would be lost and the request cut; hence the drain comes first.
    """
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    app[DRAINING].set()
    await site.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(app[IN_FLIGHT].idle.wait(), SHUTDOWN_TIMEOUT_SECONDS)
    await runner.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
