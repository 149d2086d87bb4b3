"""Pure-Python batch work on a worker thread, cut into slices so the event loop is not kept waiting.

A thread holding the GIL keeps the event loop from running until it blocks or the interpreter's
switch interval (5 ms) forces a hand-over. Batch work (building log records, turning them into
rows) therefore pauses briefly after every half millisecond. Releasing the GIL without sleeping
(`sleep(0)`) is not enough: on a shared core the thread takes it straight back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

SLICE_S = 0.0005
PAUSE_S = 0.0001


def in_slices(items: Iterable[T]) -> Iterator[T]:
    """`items`, one by one, with a `PAUSE_S` sleep whenever the caller has worked `SLICE_S` since the last."""
    slice_started = time.perf_counter()
    for item in items:
        yield item
        if time.perf_counter() - slice_started > SLICE_S:
            time.sleep(PAUSE_S)
            slice_started = time.perf_counter()
