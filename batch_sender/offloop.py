"""Blocking work (pandas, SQLite, files) in worker threads, so the event loop keeps turning."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")

# asyncio is imported where it is used: the dry run (validate) never loads it.


async def in_thread(fn: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    """fn in a worker thread; a cancellation waits for it to finish, then propagates.

    A thread cannot be stopped: returning early would close the journal (or
    leave half a result file) under it.
    """
    import asyncio

    future = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await asyncio.wait([future])
        raise


def run_to_end(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run to the end; from inside a running loop (a notebook), in a thread of its own."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:
            failure.append(exc)

    # The caller's context (a language chosen with speaking()), as asyncio.to_thread does.
    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(run,), name="batch-sender")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
