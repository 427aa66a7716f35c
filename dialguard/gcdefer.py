"""Keeping the detectors' windows from holding the GIL: full collections deferred, big
lists freed in steps.

A full (generation 2) collection walks every object the collector tracks, holding the GIL
throughout, so the checks' event loop waits for it whatever thread triggered it. A detector
pass over a tenant's window builds hundreds of thousands of such objects (100,000 outcomes
and their rows), all alive until the pass ends: measured with `gc.callbacks` under
`bench/detector_stall.py`, full collections then ran several times a pass, 60-100 ms each,
and freed nothing. Deferred, the next full collection comes after the pass, when the
window has been freed by reference counting and there is little left to walk.

Collections of the younger generations go on as usual. Once no full collection has run
for `MAX_DEFERRAL_S`, passes stop deferring them until one has, so that cyclic garbage is
never kept for long.
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

    Passes that follow one another closely could put off full collections for good: once
    none has run for `MAX_DEFERRAL_S`, a pass starting then does not defer (and ends a
    deferral in progress), so that the next one comes when it is due. Used from one thread
    (the event loop): the count is not locked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._depth = 0
        self._saved: tuple[int, int, int] | None = None  # the thresholds while deferring
        self._full_count = _full_collections_so_far()
        self._full_seen_at = clock()  # when `_full_count` last changed, as far as seen

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        if self._overdue():
            self._restore()
        elif self._depth == 0 and self._saved is None:
            threshold0, threshold1, threshold2 = gc.get_threshold()
            self._saved = (threshold0, threshold1, threshold2)
            gc.set_threshold(threshold0, threshold1, _NEVER)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._restore()

    def _overdue(self) -> bool:
        """No full collection for `MAX_DEFERRAL_S`, as far as this has seen."""
        now, count = self._clock(), _full_collections_so_far()
        if count != self._full_count:
            self._full_count, self._full_seen_at = count, now
        return now - self._full_seen_at > MAX_DEFERRAL_S

    def _restore(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


def _full_collections_so_far() -> int:
    return int(gc.get_stats()[-1]["collections"])


# The process's one deferral: every user shares it, so that one cannot restore the
# thresholds while another's pass still holds its window.
FULL_COLLECTIONS = FullCollections()


RELEASE_STEP = 4096


def release_in_steps(items: list[Any]) -> None:
    """Empty `items` from the end, `RELEASE_STEP` at a time. Freeing a window at once is one
    C call that holds the GIL: about 16 ms for 100,000 outcomes, 12 ms for their rows. Run on
    a thread, in steps of about 0.6 ms, it lets the event loop take the GIL between them (at
    the interpreter's switch interval, 5 ms)."""
    while items:
        del items[-RELEASE_STEP:]
