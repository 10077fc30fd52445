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

from batch_sender.errors import AccountError
from batch_sender.esms.client import HttpRefused, Transient, post_json
from batch_sender.i18n import _

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


class Busy(Transient):
    """An answer saying "not now" (eSMS's 160: over its requests-per-second limit)."""


async def post_json_retried(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    *,
    timeout: float,
    max_attempts: int,
    backoff: float,
    before: Callable[[], Awaitable[None]] | None = None,
    busy: Callable[[dict[str, Any]], str | None] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any]:
    """POST with the retry policy; the answer, or the last Transient / HttpRefused.

    `before` runs ahead of every attempt (a rate limiter: retries count against
    the limit too); `busy` names why an answer is a "try again later" (Busy).
    """
    async for attempt in retrying(max_attempts=max_attempts, backoff=backoff, sleep=sleep):
        with attempt:
            if before is not None:
                await before()
            data = await post_json(session, url, body, timeout)
            reason = busy(data) if busy is not None else None
            if reason:
                raise Busy(reason, ambiguous=False)
            return data
    raise AssertionError("unreachable: retrying runs at least once")  # pragma: no cover


async def or_stop(
    request: Awaitable[dict[str, Any]], *, unreachable: str, option: str
) -> dict[str, Any]:
    """The answer of a post_json_retried request; AccountError (exit 3) if there is none."""
    try:
        return await request
    except Busy as exc:
        raise AccountError(
            "", _("eSMS kept answering {reason}: try again later", reason=exc.reason)
        ) from None
    except Transient as exc:
        raise AccountError(
            "", _("{unreachable} ({reason})", unreachable=unreachable, reason=exc.reason)
        ) from None
    except HttpRefused as exc:
        raise AccountError("", _("{exc}: check {option}", exc=exc, option=option)) from None


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
