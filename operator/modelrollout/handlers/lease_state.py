"""What the election process and the operator's process share: a few numbers in memory
both map (a memfd), read and written without a lock or a message.

The fence reads the last renewal here just before each write, so it never waits on
the election process, and the election process reads here whether the operator's
event loop still turns. Each field is written by one side only, in one aligned
store, so a reader sees either the old value or the new one.
"""

from __future__ import annotations

import ctypes
import mmap
import os


class LeaseState(ctypes.Structure):
    _fields_ = [
        # fencing.clock() before the last successful renewal's request went out; 0: none
        ("renewed_at", ctypes.c_double),
        # fencing.clock() when the operator's event loop last turned (written by it)
        ("alive_at", ctypes.c_double),
        ("leading", ctypes.c_bool),  # written by the election process
        ("released", ctypes.c_bool),  # written by the operator: handed back, write no more
    ]

    renewed_at: float
    alive_at: float
    leading: bool
    released: bool


def create() -> tuple[int, LeaseState]:
    """A new shared state and the file descriptor to hand to the election process."""
    fd = os.memfd_create("modelrollout-lease", 0)  # closed on exec unless passed
    os.ftruncate(fd, ctypes.sizeof(LeaseState))
    return fd, attach(fd)


def attach(fd: int) -> LeaseState:
    """The state behind `fd`, mapped into this process (for as long as it runs)."""
    shared = mmap.mmap(fd, ctypes.sizeof(LeaseState))
    return LeaseState.from_buffer(shared)
