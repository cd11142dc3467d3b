"""Run a few functions on threads and fail loudly if any of them failed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

__all__ = ["run_threads"]


def run_threads(targets: Sequence[Callable[[], object]]) -> None:
    """Start one thread per target, wait for all, then re-raise the first error."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], object]) -> None:
        try:
            target()
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
