"""Progress lines through `logging`: sent/total, rate and time left, about every 10 seconds.

What a scheduler's task log (Airflow's, cron's mail) shows while a send
runs; the CLI writes them too when stderr is no terminal. Each record carries
`event="progress"` and the numbers (done, total, rate, eta_seconds) as
attributes, for handlers that want them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from batch_sender.i18n import _

LOGGER = logging.getLogger("batch_sender")
PROGRESS_EVERY = 10.0
"""Seconds between two progress lines."""


class ProgressLog:
    """Fed (done, total) as rows finish; logs a line once `interval` seconds have passed."""

    def __init__(
        self,
        *,
        interval: float = PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.logger = logger
        self.started: float | None = None
        self.last_line = 0.0
        self.done = self.total = 0
        self.logged = -1

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started = self.last_line = now
        self.done, self.total = done, total
        if done and now - self.last_line >= self.interval:
            self.last_line = now
            self._log(now)

    def finish(self) -> None:
        """The last count, unless the last line already said it (or nothing was sent)."""
        if self.started is not None and self.done and self.logged != self.done:
            self._log(self.clock())

    def _log(self, now: float) -> None:
        assert self.started is not None
        done, total = self.done, max(self.total, self.done)
        seconds = now - self.started
        rate = done / seconds if seconds > 0 else 0.0
        line = _(
            "progress: {done:,}/{total:,} sent ({share}%), {rate:,.1f} messages/s",
            done=done,
            total=total,
            share=round(done * 100 / total) if total else 100,
            rate=rate,
        )
        eta = (total - done) / rate if rate > 0 and done < total else None
        if eta is not None:
            line += _(", about {duration} left", duration=duration(eta))
        self.logged = done
        self.logger.info(
            line,
            extra={
                "event": "progress",
                "done": done,
                "total": total,
                "rate": round(rate, 1),
                "eta_seconds": None if eta is None else round(eta),
            },
        )


def duration(seconds: float) -> str:
    """20 s, 3 min 5 s, 2 h 10 min."""
    whole = round(seconds)
    if whole < 60:
        return _("{s} s", s=whole)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return _("{m} min {s} s", m=minutes, s=secs)
    hours, minutes = divmod(minutes, 60)
    return _("{h} h {m} min", h=hours, m=minutes)
