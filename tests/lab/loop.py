"""LAB-ONLY: a reconcile loop on a thread, as the lab's stand-in controllers run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class Loop:
    """Calls `step` every `interval` seconds until stopped; an error is logged and retried."""

    def __init__(self, name: str, interval: float, step: Callable[[], None]) -> None:
        self.name, self.interval, self.step = name, interval, step
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.step()
            except Exception:
                logging.getLogger(self.name).exception("%s failed; retrying", self.name)
