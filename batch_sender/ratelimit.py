"""Rate limit: never more than `rate` requests started in any one second."""

from __future__ import annotations

from aiolimiter import AsyncLimiter


class Unlimited:
    """--rate 0: no limit, same interface."""

    async def acquire(self) -> None:
        return None


def rate_limiter(rate: float) -> AsyncLimiter | Unlimited:
    """A leaky bucket that holds one request, drained at `rate` per second.

    aiolimiter's usual AsyncLimiter(rate, 1) starts full and lets `rate`
    requests through at once, then `rate` more within the same second: twice
    the limit in the first second. A capacity of one spaces requests at least
    1/rate apart, so no one-second window ever sees more than `rate` starts.
    """
    if rate <= 0:
        return Unlimited()
    return AsyncLimiter(max_rate=1, time_period=1.0 / rate)
