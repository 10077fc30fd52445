"""How many requests may be in flight: fixed, or derived from the rate and the latency.

To start `rate` requests a second when each takes `latency` seconds, about
rate x latency must be in flight (Little's law). The auto policy watches the
latency and keeps a margin above that, so `--rate 100` against a server
answering in 200 ms really sends 100 a second, without opening hundreds of
idle connections against a fast server.
"""

from __future__ import annotations

import asyncio
import collections
import math
from dataclasses import dataclass

MIN_AUTO = 4
MAX_AUTO = 1000
UNLIMITED_RATE_CONCURRENCY = 16
HEADROOM = 1.5
"""In flight = rate x latency x HEADROOM (+2): latency varies from request to request."""


class Gate:
    """At most `limit` holders at a time, first come first served; the limit can change."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)


@dataclass
class Concurrency:
    """The in-flight limit: `fixed` if the user gave one, else adapted to the latency."""

    rate: float
    fixed: int | None = None
    latency: float | None = None
    """Smoothed seconds per request, once one has been measured."""
    smoothing: float = 0.2

    @property
    def ceiling(self) -> int:
        """The most connections the pool may ever need."""
        if self.fixed is not None:
            return self.fixed
        return MAX_AUTO if self.rate > 0 else UNLIMITED_RATE_CONCURRENCY

    def limit(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self.rate <= 0:
            return UNLIMITED_RATE_CONCURRENCY
        # Before any answer, assume a second per request: enough for most servers.
        latency = 1.0 if self.latency is None else self.latency
        wanted = math.ceil(self.rate * latency * HEADROOM) + 2
        return max(MIN_AUTO, min(MAX_AUTO, wanted))

    def observe(self, seconds: float) -> int:
        """Record one request's latency; the new limit."""
        if self.latency is None:
            self.latency = seconds
        else:
            self.latency += self.smoothing * (seconds - self.latency)
        return self.limit()
