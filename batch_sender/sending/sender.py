"""Send: messages through a bounded queue to concurrent workers, each row to one outcome.

Each HTTP attempt takes a slot from the rate limiter, is marked in the journal
before it goes out, and its outcome is recorded when it comes back. Reruns and
retries reuse the row's RequestId, so eSMS itself refuses a second delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from batch_sender.esms import protocol as esms
from batch_sender.esms.client import HttpRefused, Redirected, Transient, send_message
from batch_sender.esms.protocol import Message, Verdict
from batch_sender.esms.retry import Sleep, retrying
from batch_sender.i18n import N_, _
from batch_sender.journal.records import ACCEPTED, FAILED, REJECTED, Outcome, Record
from batch_sender.journal.store import Journal
from batch_sender.sending.concurrency import Concurrency, Gate
from batch_sender.sending.config import Limiter, SendConfig, Stop, stop_for

# HTTP statuses that mean the URL or the account is wrong, not this row.
_RUN_STOPPING_HTTP = frozenset({401, 403, 404, 405})


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
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        """Rows that reached an outcome in this run."""
        self._last_response = clock()
        self.concurrency = Concurrency(config.rate, config.concurrency)
        self.gate = Gate(self.concurrency.limit())

    def stop(self, why: Stop) -> None:
        """Start no new request; the first reason given is the one reported."""
        if self.stopped is None:
            self.stopped = why
        self.stop_event.set()

    def abort(self) -> None:
        """Cancel the requests in flight (a second Ctrl-C): their rows stay in doubt."""
        for task in list(self._tasks):
            task.cancel()

    async def run(self, messages: AsyncIterator[Message]) -> None:
        """Send every message; a row starts only when an in-flight slot is free.

        A fixed pool of workers, each pulling the next row when it holds a
        slot: no task per row, and memory holds the in-flight rows only,
        whatever the campaign's size.
        """
        pulling = asyncio.Lock()  # an async generator serves one caller at a time

        async def worker() -> None:
            while not self.stop_event.is_set():
                await self.gate.acquire()
                if self.stop_event.is_set():
                    self.gate.release()
                    return  # the rest stay unsent
                try:
                    async with pulling:
                        message = await anext(messages, None)
                except Exception as exc:  # reading the rows failed: stop, as for a row
                    self.gate.release()
                    self.fail(exc, None)
                    return
                except BaseException:
                    self.gate.release()
                    raise
                if message is None:
                    self.gate.release()
                    return
                await self._handle(message)

        workers = [asyncio.create_task(worker()) for _ in range(max(1, self.concurrency.ceiling))]
        self._tasks.update(workers)  # abort() cancels them with their rows in flight
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            self._tasks.difference_update(workers)

    async def _handle(self, message: Message) -> None:
        """One row, start to end: whatever goes wrong stops the run, once and cleanly."""
        try:
            try:
                outcome = await self.deliver(message)
            finally:
                self.gate.release()
            if outcome is not None:
                self.journal.record(message.request_id, message.line, outcome)
                self.sent += 1
                if self.on_done:
                    self.on_done(message, outcome)
        except Exception as exc:  # never lost in a task nobody awaits
            self.fail(exc, message)

    def fail(self, exc: Exception, message: Message | None) -> None:
        """Stop the run for an error outside the rows: a journal that cannot be written, a bug.

        The rows in flight finish and are recorded; the first error is the one reported.
        """
        self.stop(stop_for(exc, message))

    async def deliver(self, message: Message) -> Outcome | None:
        """Send one row with retries; None when the run stopped before its first request."""
        body = esms.send_body(self.config.credentials, message, self.config.options)
        attempts = 0
        last: Transient | None = None
        # What this run's own failed attempts say, known here whatever the journal
        # managed to commit: one may have reached eSMS; eSMS itself refused one.
        reached = refused = False

        async def attempt() -> esms.Answer:
            nonlocal attempts, last, reached, refused
            await self.limiter.acquire()
            if self.journal.claim.lost:
                self.stop(Stop(_(TAKEN_OVER), outside=True))
            if self.stop_event.is_set():
                raise _Stopped
            attempts += 1
            try:
                return await self._attempt(message, body, first=attempts == 1)
            except Transient as exc:
                last = exc
                reached = reached or exc.ambiguous
                refused = refused or (exc.connected and not exc.ambiguous)
                raise

        try:
            try:
                # Most rows succeed at once: only a row that needs a retry pays
                # for building tenacity's machinery.
                answer = await attempt()
            except Transient as first:
                answer = await self._retry(attempt, first)
        except _Stopped:
            if last is None:
                return None
            code = last.answer.code if last.answer else ""
            return Outcome(FAILED, code=code, message=f"{last.reason}; {_(NOT_RETRIED)}")
        except Transient as exc:
            why = (
                _(NOT_RETRIED)
                if self.stop_event.is_set()
                else _("gave up after {n} attempts", n=attempts)
            )
            code = exc.answer.code if exc.answer else ""
            return Outcome(FAILED, code=code, message=f"{exc.reason}; {why}")
        except HttpRefused as exc:
            if exc.status in _RUN_STOPPING_HTTP or isinstance(exc, Redirected):
                self.stop(Stop(f"{exc}: check {{opt:base_url}}", outside=True))
            return Outcome(FAILED, message=str(exc))
        tries = _Tries(attempts, reached, refused)
        earlier = None
        if answer.code == esms.ALREADY_ACCEPTED and not reached:
            # Earlier runs' attempts, committed when the journal opened. A journal
            # read: in a thread, so that the event loop never waits for SQLite.
            earlier = await asyncio.to_thread(self._earlier, message)
        return self._outcome(answer, tries, earlier)

    async def _retry(
        self, attempt: Callable[[], Awaitable[esms.Answer]], first: Transient
    ) -> esms.Answer:
        """Hand a row whose first attempt failed to the tenacity policy.

        tenacity sees the first failure as its own attempt one (replayed, not
        sent again), so its stop and wait rules count every request.
        """
        replay: Transient | None = first

        async def again() -> esms.Answer:
            nonlocal replay
            if replay is not None:
                failure, replay = replay, None
                raise failure
            return await attempt()

        policy = retrying(
            max_attempts=self.config.max_attempts,
            backoff=self.config.backoff,
            stop_event=self.stop_event,
            sleep=self.sleep,
        )
        return await policy(again)

    async def _attempt(
        self, message: Message, body: dict[str, object], first: bool = False
    ) -> esms.Answer:
        identity = None
        if first:
            identity = self.journal.rows.identity(
                message.row_key,
                message.user_id,
                message.content_id or message.request_id,
                self.config.scope_oaid,
                self.config.options.sandbox,
                message.text,
            )
        self.journal.intend(message.request_id, message.line, identity)
        started = self.clock()
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
            else:
                self.journal.answered(message.request_id)
            raise
        except HttpRefused:
            self._last_response = self.clock()
            raise
        self._last_response = self.clock()
        if self.concurrency.fixed is None and self.concurrency.rate > 0:
            self.gate.set_limit(self.concurrency.observe(self._last_response - started))
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
                    _(
                        "eSMS has not answered for {seconds:.0f} s ({reason}): "
                        "check the network and {opt:base_url}, then rerun",
                        seconds=silent,
                        reason=exc.reason,
                    ),
                    outside=True,
                )
            )

    def _earlier(self, message: Message) -> Record | None:
        """What the journal holds for this RequestId: this run's attempts and earlier runs'.

        124 ("RequestId used within 24 hours") is our own message accepted
        only when one of them may have got through (see _not_ours).
        """
        return self.journal.lookup([message.request_id]).get(message.request_id)

    def _outcome(self, answer: esms.Answer, tries: _Tries, earlier: Record | None) -> Outcome:
        verdict = answer.verdict
        if answer.code == esms.ALREADY_ACCEPTED and not (
            tries.reached or (earlier is not None and earlier.ambiguous_since is not None)
        ):
            return self._not_ours(tries, earlier)
        if verdict is Verdict.ACCEPTED:
            # 100 without an SMSID is still eSMS taking the message (sending it again
            # could deliver it twice), but no report can find the row: say so.
            note = _(NO_SMSID) if answer.code == esms.ACCEPTED and not answer.smsid else ""
            return Outcome(ACCEPTED, answer.code, answer.smsid, answer.message or note)
        if verdict is Verdict.ACCOUNT:
            reason = _(esms.ACCOUNT_CODES[answer.code])
            self.stop(Stop(reason, outside=True, code=answer.code))
            # failed, not rejected: the row itself is fine and a rerun sends it.
            return Outcome(FAILED, answer.code, "", answer.message or reason)
        return Outcome(REJECTED, answer.code, "", answer.message)

    def _not_ours(self, tries: _Tries, earlier: Record | None) -> Outcome:
        """124 with no request of ours that may have reached eSMS: not proof of a delivery.

        124 means accepted only when an earlier request with this RequestId
        may have got through (a timeout, a dropped connection, a 5xx, a crash
        before the answer). If our earlier requests were all refused (160,
        429...), eSMS keeps refused RequestIds blocked: the message never went
        out, and a rerun sends it under a new RequestId. With no earlier
        request at all, another run (another result file, a lost journal)
        used it within 24 hours.
        """
        # Only a refusal eSMS itself gave counts: a connection that never opened
        # told eSMS nothing, and "reserved" would send the row again under a new id.
        earlier_refused = (
            earlier is not None
            and earlier.attempts > tries.attempts
            and earlier.code not in ("", esms.ALREADY_ACCEPTED)
        )
        if tries.refused or earlier_refused:
            return Outcome(FAILED, esms.ALREADY_ACCEPTED, "", _(RESERVED_124))
        return Outcome(REJECTED, esms.ALREADY_ACCEPTED, "", _(NOT_OURS_124))


@dataclass(frozen=True, slots=True)
class _Tries:
    """This run's attempts at one row, the last of which got the answer."""

    attempts: int
    reached: bool
    """One that failed may have reached eSMS (timeout, dropped connection, 5xx)."""
    refused: bool
    """eSMS itself refused one that failed (160, 429...)."""


NO_SMSID = N_("eSMS accepted it but gave no SMSID: no delivery report can be matched to this row")
NOT_RETRIED = N_("not retried: the run stopped")
TAKEN_OVER = N_(
    "another send of this campaign took it over while this one was frozen; "
    "this one stops so that nobody is sent twice: rerun once the other has finished"
)
RESERVED_124 = N_(
    "not sent: eSMS refused this RequestId earlier and now answers 124 (it keeps refused "
    "RequestIds blocked)"
)
NOT_OURS_124 = N_(
    "not sent: eSMS already had this RequestId from another run within 24 hours (another "
    "result file, or a lost journal); it may never have been delivered: check that run, or "
    "send it anew with another --campaign-id and -o"
)


class _Stopped(Exception):
    """Raised inside an attempt when the run stops while it waited for the limiter."""
