"""Keeping the detectors' windows from holding the GIL: full collections deferred, big
lists freed in steps.

A full (generation 2) collection walks every object the collector tracks, holding the GIL
throughout, so the checks' event loop waits for it whatever thread triggered it. A detector
pass over a tenant's window builds hundreds of thousands of such objects (100,000 outcomes
and their rows), all alive until the pass ends: measured with `gc.callbacks` under
`bench/detector_stall.py`, full collections then ran several times a pass, 60-100 ms each,
and freed nothing. Deferred, the next full collection comes after the pass, when the
window has been freed by reference counting and there is little left to walk.

Collections of the younger generations go on as usual. A deferral that has lasted
`MAX_DEFERRAL_S` (passes overlapping without a gap) ends, so that cyclic garbage is never
kept for long.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

MAX_DEFERRAL_S = 60.0
_NEVER = 2**30  # generation-1 collections before a full one: none in practice


class FullCollections:
    """`deferred()` as a context manager; nested and overlapping uses share one deferral.

    Used from one thread (the event loop): the count is not locked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._depth = 0
        self._saved: tuple[int, int, int] | None = None  # the thresholds while deferring
        self._since = 0.0

    @property
    def deferring(self) -> bool:
        return self._saved is not None

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        if self._depth == 0 and self._saved is None:
            threshold0, threshold1, threshold2 = gc.get_threshold()
            self._saved = (threshold0, threshold1, threshold2)
            self._since = self._clock()
            gc.set_threshold(threshold0, threshold1, _NEVER)
        elif self._saved is not None and self._clock() - self._since > MAX_DEFERRAL_S:
            self._restore()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._restore()

    def _restore(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


# The process's one deferral: every user shares it, so that one cannot restore the
# thresholds while another's pass still holds its window.
FULL_COLLECTIONS = FullCollections()


RELEASE_STEP = 4096


def release_in_steps(items: list[Any]) -> None:
    """Empty `items` from the end, `RELEASE_STEP` at a time. Freeing a window at once is one
    C call that holds the GIL: about 16 ms for 100,000 outcomes, 12 ms for their rows. Run on
    a thread, in steps, it lets the event loop in between (each step about 0.6 ms)."""
    while items:
        del items[-RELEASE_STEP:]
