"""Rate limit: never more than `rate` requests started in any one second, in arrival order."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter


class Unlimited:
    """--rate 0: no limit, same interface."""

    async def acquire(self) -> None:
        return None


class FairLimiter:
    """An aiolimiter bucket that serves waiters first come, first served.

    AsyncLimiter lets a newcomer take capacity that has just leaked out ahead
    of the tasks already waiting, so one row can wait far longer than the
    rest. Queueing on an asyncio.Lock (FIFO) in front of it keeps rows going
    out in input order.
    """

    def __init__(self, limiter: AsyncLimiter) -> None:
        self._limiter = limiter
        self._turn = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._turn:
            await self._limiter.acquire()


def rate_limiter(rate: float) -> FairLimiter | Unlimited:
    """A leaky bucket that holds one request, drained at `rate` per second.

    aiolimiter's usual AsyncLimiter(rate, 1) starts full and lets `rate`
    requests through at once, then `rate` more within the same second: twice
    the limit in the first second. A capacity of one spaces requests at least
    1/rate apart, so no one-second window ever sees more than `rate` starts.
    """
    if rate <= 0:
        return Unlimited()
    return FairLimiter(AsyncLimiter(max_rate=1, time_period=1.0 / rate))
