"""A send that stops when asked: by the caller's `stop` event or by a cancellation.

A first stop lets the requests in flight finish and be recorded (their answers
may hold SMSIDs); a second one, or one while already stopping, quits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from batch_sender.esms import protocol as esms
from batch_sender.sending.config import INTERRUPTED, Stop
from batch_sender.sending.sender import Sender


async def run_stoppably(
    sender: Sender, messages: AsyncIterator[esms.Message], stop: asyncio.Event | None
) -> bool:
    """sender.run, stopped by `stop` or by a cancellation; True if it was cancelled."""
    run = asyncio.ensure_future(sender.run(messages))
    watch = None
    if stop is not None:
        watch = asyncio.ensure_future(stop.wait())
        watch.add_done_callback(
            lambda w: None if w.cancelled() else sender.stop(Stop(INTERRUPTED, outside=False))
        )
    try:
        await asyncio.shield(run)
        return False
    except asyncio.CancelledError:
        if run.done():
            raise
        if sender.stopped is not None:
            await _abort(sender, run)  # cancelled while already stopping: quit now
            raise
        sender.stop(Stop(INTERRUPTED, outside=False))
        try:
            await asyncio.shield(run)  # in-flight rows finish and are recorded
        except asyncio.CancelledError:
            await _abort(sender, run)  # cancelled again: quit now
            raise
        return True
    finally:
        if watch is not None:
            watch.cancel()


async def _abort(sender: Sender, run: asyncio.Future[None]) -> None:
    sender.abort()
    with contextlib.suppress(BaseException):
        await asyncio.wait([run])
