"""Rate limit: never more than `rate` requests started in any one second, spread evenly.

Why not aiolimiter's leaky bucket: started full (its default) it lets twice
the rate through in the first second; sized to hold one request it never
bursts, but every millisecond the event loop wakes a waiter late is lost for
good (measured: 90.7 messages/s at --rate 100 against 200 ms answers). A
bucket cannot both forbid a burst and recover lateness. Two rules can:

* schedule: starts follow an ideal clock, one every 1/rate seconds; a start
  may come half an interval early (GCRA), so a waiter the event loop woke a
  little late is followed sooner; lateness beyond that (a stall of the loop)
  is remembered, up to 50 ms, and made up by pulling the next starts earlier,
  never closer than half an interval to one another;
* window: never `rate` starts already in the second before this one: the
  hard limit, whatever the schedule allows.

The window is WINDOW_MARGIN longer than a second: requests leave this process
a few milliseconds apart from when they were let go (journal write, a new
connection), and the server counts their arrival. Without the margin the
simulator saw 101 in its busiest second at --rate 100.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Awaitable, Callable

WINDOW_MARGIN = 0.02
MIN_SLEEP = 1e-6
CATCH_UP = 0.05
"""Seconds of lateness the schedule makes up for."""
"""Float residue can leave a wait of 1e-16 s; sleeping less than the clock can tell spins."""


class Unlimited:
    """--rate 0: no limit, same interface."""

    async def acquire(self) -> None:
        return None


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if rate >= 1:
            self.cap, self.period = math.floor(rate), 1.0 + WINDOW_MARGIN
        else:  # under one a second: one start per 1/rate seconds
            self.cap, self.period = 1, (1.0 + WINDOW_MARGIN) / rate
        self.interval = self.period / self.cap
        self.spacing = self.interval / 2
        self.early = self.spacing
        self._credit = 0.0
        """Lateness still to make up (seconds)."""
        self._sleep = sleep
        self._starts: collections.deque[float] = collections.deque()
        self._due = -math.inf
        """When the next start is due on the ideal schedule."""
        # FIFO: rows start in the order they asked; none waits behind newcomers.
        self._turn = asyncio.Lock()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def acquire(self) -> None:
        async with self._turn:
            woke_at: float | None = None
            while (wait := self._wait(self._now())) > 0:
                woke_at = self._now() + wait
                await self._sleep(max(wait, MIN_SLEEP))
            now = self._now()
            if woke_at is not None:  # only a waiter can be late; an idle limiter is not
                self._credit = min(self._credit + max(now - woke_at, 0.0), CATCH_UP)
            self._starts.append(now)
            pull = min(self._credit, self.interval - self.spacing)
            self._credit -= pull
            self._due = max(self._due, now) + self.interval - pull

    def _wait(self, now: float) -> float:
        starts = self._starts
        while starts and now - starts[0] >= self.period:
            starts.popleft()
        wait = self._due - self.early - now
        if starts:
            wait = max(wait, starts[-1] + self.spacing - now)
        if len(starts) >= self.cap:
            wait = max(wait, starts[0] + self.period - now)
        return wait


def rate_limiter(rate: float) -> RateLimiter | Unlimited:
    """The limiter for `--rate` (0 = none)."""
    return RateLimiter(rate) if rate > 0 else Unlimited()
