"""Send: messages through a bounded queue to concurrent workers, each row to one outcome.

Each HTTP attempt takes a slot from the rate limiter, is marked in the journal
before it goes out, and its outcome is recorded when it comes back. Reruns and
retries reuse the row's RequestId, so eSMS itself refuses a second delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from batch_sender import esms
from batch_sender.client import HttpRefused, Transient, send_message
from batch_sender.esms import Credentials, Message, SendOptions, Verdict
from batch_sender.journal import ACCEPTED, FAILED, REJECTED, Journal, Outcome
from batch_sender.retry import Sleep, retrying

# HTTP statuses that mean the URL or the account is wrong, not this row.
_RUN_STOPPING_HTTP = frozenset({401, 403, 404, 405})


class Limiter(Protocol):
    async def acquire(self) -> None: ...


@dataclass(frozen=True)
class SendConfig:
    base_url: str
    credentials: Credentials
    options: SendOptions = field(default_factory=SendOptions)
    timeout: float = 30.0
    concurrency: int = 16
    max_attempts: int = 5
    backoff: float = 0.5
    unreachable_after: float = 60.0
    """Stop the run when no request has had any HTTP answer for this long."""

    @property
    def send_url(self) -> str:
        return self.base_url.rstrip("/") + esms.SEND_PATH


@dataclass(frozen=True)
class Stop:
    """Why the run stopped early; `exit_code` per PRODUCT.md."""

    reason: str
    account: bool
    code: str = ""


class Sender:
    def __init__(
        self,
        config: SendConfig,
        session: aiohttp.ClientSession,
        limiter: Limiter,
        journal: Journal,
        *,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_done: Callable[[Message, Outcome], None] | None = None,
    ) -> None:
        self.config = config
        self.session = session
        self.limiter = limiter
        self.journal = journal
        self.sleep = sleep or self._sleep_unless_stopped
        self.clock = clock
        self.on_done = on_done
        self.stop_event = asyncio.Event()
        self.stopped: Stop | None = None
        self.sent = 0
        """Rows that reached an outcome in this run."""
        self._last_response = clock()

    def stop(self, why: Stop) -> None:
        """Start no new request; the first reason given is the one reported."""
        if self.stopped is None:
            self.stopped = why
        self.stop_event.set()

    async def run(self, messages: AsyncIterator[Message]) -> None:
        queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=2 * self.config.concurrency)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.config.concurrency)]
        try:
            async for message in messages:
                if self.stop_event.is_set():
                    break
                await _put_unless(queue, message, self.stop_event)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)

    async def _worker(self, queue: asyncio.Queue[Message | None]) -> None:
        while (message := await queue.get()) is not None:
            if self.stop_event.is_set():
                continue  # left unsent; drain so the producer never blocks
            outcome = await self.deliver(message)
            if outcome is not None:
                self.journal.record(message.request_id, message.line, outcome)
                self.sent += 1
                if self.on_done:
                    self.on_done(message, outcome)

    async def deliver(self, message: Message) -> Outcome | None:
        """Send one row with retries; None when the run stopped before its first request."""
        body = esms.send_body(self.config.credentials, message, self.config.options)
        attempts = 0
        last: Transient | None = None
        try:
            async for attempt in retrying(
                max_attempts=self.config.max_attempts,
                backoff=self.config.backoff,
                stop_event=self.stop_event,
                sleep=self.sleep,
            ):
                with attempt:
                    await self.limiter.acquire()
                    if self.stop_event.is_set():
                        raise _Stopped
                    attempts += 1
                    try:
                        answer = await self._attempt(message, body)
                    except Transient as exc:
                        last = exc
                        raise
        except _Stopped:
            if last is None:
                return None
            code = last.answer.code if last.answer else ""
            return Outcome(
                FAILED, code=code, message=f"{last.reason}; not retried: the run stopped"
            )
        except Transient as exc:
            why = (
                "not retried: the run stopped"
                if self.stop_event.is_set()
                else f"gave up after {attempts} attempts"
            )
            code = exc.answer.code if exc.answer else ""
            return Outcome(FAILED, code=code, message=f"{exc.reason}; {why}")
        except HttpRefused as exc:
            if exc.status in _RUN_STOPPING_HTTP:
                self.stop(Stop(f"{exc}: check --base-url", account=True))
            return Outcome(FAILED, message=str(exc))
        return self._outcome(answer)

    async def _attempt(self, message: Message, body: dict[str, object]) -> esms.Answer:
        self.journal.sending(message.request_id, message.line)
        try:
            answer = await send_message(
                self.session, self.config.send_url, body, self.config.timeout
            )
        except Transient as exc:
            if exc.answer is not None:
                self._last_response = self.clock()
            else:
                self._check_reachable(exc)
            if exc.ambiguous:
                self.journal.ambiguous(message.request_id)
            raise
        except HttpRefused:
            self._last_response = self.clock()
            raise
        self._last_response = self.clock()
        return answer

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        """Back off, but wake up at once when the run stops (Ctrl-C must not wait 30 s)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)

    def _check_reachable(self, exc: Transient) -> None:
        silent = self.clock() - self._last_response
        if silent >= self.config.unreachable_after:
            self.stop(
                Stop(
                    f"eSMS has not answered for {silent:.0f} s ({exc.reason}): "
                    "check the network and --base-url, then rerun",
                    account=True,
                )
            )

    def _outcome(self, answer: esms.Answer) -> Outcome:
        verdict = answer.verdict
        if verdict is Verdict.ACCEPTED:
            return Outcome(ACCEPTED, answer.code, answer.smsid, answer.message)
        if verdict is Verdict.ACCOUNT:
            reason = esms.ACCOUNT_CODES[answer.code]
            self.stop(Stop(reason, account=True, code=answer.code))
            # failed, not rejected: the row itself is fine and a rerun sends it.
            return Outcome(FAILED, answer.code, "", answer.message or reason)
        return Outcome(REJECTED, answer.code, "", answer.message)


class _Stopped(Exception):
    """Raised inside an attempt when the run stops while it waited for the limiter."""


async def _put_unless(
    queue: asyncio.Queue[Message | None], message: Message, stop: asyncio.Event
) -> None:
    """Put, but give up if the run stops while the queue is full."""
    if not queue.full():
        queue.put_nowait(message)
        return
    put = asyncio.ensure_future(queue.put(message))
    stopped = asyncio.ensure_future(stop.wait())
    _, pending = await asyncio.wait({put, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
