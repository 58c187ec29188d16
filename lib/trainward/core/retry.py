"""The one backoff loop: retry a call while an error says "try again", within a time bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from trainward.errors import TrainwardError

T = TypeVar("T")


def with_backoff(
    fn: Callable[[], T],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    bound_s: float,
    retryable: Callable[[BaseException], bool] = lambda err: True,
    on_retry: Callable[[BaseException, float], None] = lambda err, delay: None,
    first_delay: float = 1.0,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fn`; on an exception of `retry_on` that `retryable` accepts, wait (1, 2, 4, 8, 8 s ...)
    and call again while the next try would still start within `bound_s`. The last error is
    raised; a trainward error that was retried says so in its message."""
    deadline = clock() + bound_s
    delay = first_delay
    tried = False
    while True:
        try:
            return fn()
        except retry_on as err:
            if not retryable(err) or clock() + delay > deadline:
                if tried and isinstance(err, TrainwardError):
                    err.message = f"{err.message} (after retrying for {bound_s:.0f} s)"
                raise
            on_retry(err, delay)
            sleep(delay)
            tried = True
            delay = min(delay * 2, max_delay)
