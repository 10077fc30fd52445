"""Retry policy: which failures are tried again, and how long to wait between tries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from batch_sender.client import HttpRefused, Transient, post_json
from batch_sender.errors import AccountError

Sleep = Callable[[float], Awaitable[None]]


class wait_retry_after(wait_base):
    """Wait what the server asked for (Retry-After), else fall back to `fallback`."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return exc.retry_after
        return self.fallback(retry_state)


async def post_json_or_stop(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    *,
    timeout: float,
    max_attempts: int,
    backoff: float,
    unreachable: str,
    option: str,
) -> dict[str, Any]:
    """POST with the retry policy; AccountError (exit 3) if eSMS cannot be reached or refuses."""
    try:
        async for attempt in retrying(max_attempts=max_attempts, backoff=backoff):
            with attempt:
                return await post_json(session, url, body, timeout)
    except Transient as exc:
        raise AccountError("", f"{unreachable} ({exc.reason})") from None
    except HttpRefused as exc:
        raise AccountError("", f"{exc}: check {option}") from None
    raise AssertionError("unreachable: retrying runs at least once")  # pragma: no cover


def retrying(
    *,
    max_attempts: int,
    backoff: float,
    max_backoff: float = 30.0,
    stop_event: asyncio.Event | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncRetrying:
    """Transient failures only, exponential backoff with jitter, no retry once stopping."""
    stop: stop_base = stop_after_attempt(max_attempts)
    if stop_event is not None:
        # stop_when_event_set only calls is_set(), which asyncio.Event has too.
        stop = stop_any(stop, stop_when_event_set(stop_event))  # type: ignore[arg-type]
    return AsyncRetrying(
        retry=retry_if_exception_type(Transient),
        stop=stop,
        # backoff * 2**n, plus up to `backoff` of jitter so that rows that failed
        # together do not all come back in the same instant.
        wait=wait_retry_after(
            wait_exponential(multiplier=backoff, max=max_backoff) + wait_random(0, backoff)
        ),
        sleep=sleep,
        reraise=True,
    )
