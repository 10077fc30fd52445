"""A run's sending: the HTTP client, the Sender and the rows handed to it.

Imported only by a run with a row to send: aiohttp and the sender are a
fifth of a finished campaign's rerun at 20,000 rows, which never needs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from batch_sender.api.chunks import Chunk, SheetStream
from batch_sender.check.disposition import SEND
from batch_sender.errors import AccountError
from batch_sender.esms import protocol as esms
from batch_sender.esms.client import new_session
from batch_sender.i18n import _
from batch_sender.journal.records import Outcome
from batch_sender.journal.store import Journal
from batch_sender.sending.account import check_account, oaid_warnings
from batch_sender.sending.concurrency import Concurrency
from batch_sender.sending.config import Stop
from batch_sender.sending.plan import SendJob
from batch_sender.sending.ratelimit import rate_limiter
from batch_sender.sending.sender import Sender
from batch_sender.sending.stopping import run_stoppably

if TYPE_CHECKING:
    from batch_sender.api.campaign import CampaignRun, Verdict

Say = Callable[[str], None]


async def send_rows(
    job: SendJob,
    journal: Journal,
    sheet: SheetStream,
    run: CampaignRun,
    say: Say,
    stop: asyncio.Event | None,
    verdict: Verdict,
    first: Chunk,
) -> bool:
    """Send the rows still to send, from `first` on; True if the task was cancelled (once)."""
    session = new_session(Concurrency(job.config.rate, job.config.concurrency).ceiling)
    plan = sheet.plan

    def total() -> int:
        return plan.to_send if job.limit is None else min(plan.to_send, job.limit)

    try:
        sender = Sender(
            job.config,
            session,
            rate_limiter(job.config.rate),
            journal,
            on_done=_row_done(total, job.on_row, job.on_progress, sheet.done),
        )

        async def start() -> bool:
            """Before the first message: the account check (wrong keys: nothing is sent)."""
            if verdict.pending:
                # Due to go out before the sheet's end is read: the whole sheet is counted.
                await verdict.count(job, journal, sheet.rules)
            if verdict.refusal is not None:
                return False
            try:
                await check_account(session, job.config)
            except AccountError as exc:
                # Nothing was sent: every row to send is `unsent` in the result file.
                sender.stop(Stop(exc.template, outside=True, code=exc.code))
                sheet.stopped = sender.stopped
                return False
            if not sheet.at_end:
                # A sheet longer than a chunk is counted as it is sent: say something first.
                say(
                    _(
                        "campaign {campaign}: sending while the sheet is read "
                        "({n:,} to send so far; the counts follow once it is read)",
                        campaign=repr(job.campaign.id),
                        n=plan.to_send,
                    )
                )
            for warning in await oaid_warnings(session, job.config):
                run.warnings.append(warning)
                say(warning)
            if job.on_progress is not None:
                job.on_progress(0, total())
            return True

        try:
            messages = _messages(job, sheet, start, sender.stop_event, first)
            cancelled = await run_stoppably(sender, messages, stop)
        finally:
            run.sent = sender.sent
        run.stopped = sender.stopped
        return cancelled
    finally:
        await session.close()


def _row_done(
    total: Callable[[], int],
    on_row: Callable[[esms.Message, Outcome], None] | None,
    on_progress: Callable[[int, int], None] | None,
    written: Callable[[int], None],
) -> Callable[[esms.Message, Outcome], None]:
    done = 0

    def row_done(message: esms.Message, outcome: Outcome) -> None:
        nonlocal done
        done += 1
        if on_row is not None:
            on_row(message, outcome)
        if on_progress is not None:
            on_progress(done, total())
        written(message.line)

    return row_done


async def _messages(
    job: SendJob,
    sheet: SheetStream,
    start: Callable[[], Awaitable[bool]],
    stopping: asyncio.Event,
    first: Chunk,
) -> AsyncIterator[esms.Message]:
    budget = job.limit
    started = False
    entry: Chunk | None = first
    while True:
        if entry is None:
            await sheet.room(stopping)
            if (entry := await sheet.next_chunk()) is None:
                return
        checked = entry.checked
        for line, base, user_id, text, url, row_key, disposition in zip(
            checked.index.tolist(),
            checked["RequestId"].tolist(),
            checked["user_id"].tolist(),
            checked["text"].tolist(),
            checked["url"].tolist(),
            checked["row_key"].tolist(),
            entry.dispositions,
            strict=True,
        ):
            if disposition.action != SEND or not base:
                continue
            if budget is not None:
                if budget == 0:
                    return  # --limit reached: the rest stay unsent
                budget -= 1
            if not started:
                started = True
                if not await start():
                    return
            entry.outstanding += 1
            yield esms.Message(int(line), disposition.request_id, user_id, text, url, row_key, base)
        entry.handed_out = True
        entry = None
        sheet.flush()
        await sheet.keep_up()
