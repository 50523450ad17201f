"""What a load spends before its first byte of data moves, phase by phase (pure: no Airflow, no I/O)."""

from __future__ import annotations

import gc
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

#: the phases of a load's set-up, in the order they usually run.
SETUP_PHASES = ("hook", "S3 client", "listing", "probes", "catalog")


class SetupTimes:
    """Seconds per set-up phase, and from the start to the first ``COPY`` (``first_byte``).

    Phases may overlap (the S3 client is created on a helper thread while the warehouse is asked its
    catalog), so their sum can exceed ``first_byte``; ``first_byte`` is the wall time that matters.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = dict.fromkeys(SETUP_PHASES, 0.0)
        self.first_byte: float | None = None
        self._lock = threading.Lock()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def data_moves(self) -> None:
        """Mark the first byte of data moving (the first ``COPY``); later calls change nothing."""
        if self.first_byte is None:
            self.first_byte = time.perf_counter() - self.started

    def summary(self) -> str:
        phases = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in self.seconds.items())
        first = "n/a" if self.first_byte is None else f"{self.first_byte:.3f} s"
        return f"set-up before the first byte {first} ({phases})"

    def as_dict(self) -> dict[str, float | None]:
        return {"first_byte": self.first_byte, **self.seconds}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a burst of allocations (restored as it was).

    Making a boto3 client allocates ~100k objects (the S3 model); in a task process each full
    collection that triggers also walks the ~200k objects Airflow's imports left, which made the S3
    client cost three times what it costs without them (1.2 s vs 0.4 s measured). Garbage made meanwhile
    is collected when the collector runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
