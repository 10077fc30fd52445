"""A whole send run, read -> validate -> send -> record -> report, as a library (no Click).

`send` reads the input once, chunk by chunk, and streams: each chunk is
validated and compared with the journal of earlier runs (the plan's counts
add up as it goes), its rows to send go to the Sender at once, and the chunk
is written to the result file as soon as those rows are done. The first
request leaves as early on a 2,000,000-row sheet as on a 20-row one; counts
that need the whole sheet are told once it has been read.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from batch_sender.api.chunks import Chunk, SheetStream
from batch_sender.check.disposition import SEND, Rules
from batch_sender.errors import InputError, UsageError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _, is_warning
from batch_sender.journal.errors import JournalError, WriteFailed
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal
from batch_sender.offloop import in_thread
from batch_sender.results.adoption import Adoption, adopt, check_result_file, remember_written
from batch_sender.results.files import open_output, remove_orphans
from batch_sender.results.paths import check_output_path
from batch_sender.results.tally import Tally
from batch_sender.sending.config import INTERRUPTED, Stop, stop_for
from batch_sender.sending.plan import (
    Changes,
    Plan,
    SendJob,
    describe_plan,
    for_journal,
    job_rules,
    new_plan,
    refuse_new_campaign,
    sheet_changes,
)

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --- send ----------------------------------------------------------------------


@dataclass
class CampaignRun:
    """What one run of the campaign did (the public SendReport is made from it)."""

    plan: Plan
    tally: Tally
    sent: int
    seconds: float
    stopped: Stop | None = None
    warnings: list[str] = field(default_factory=list)
    """What the run noticed but went on with (an OAID not among the account's OAs)."""
    adopted: dict[str, int] | None = None
    """Status -> rows taken over from a result file whose journal was missing."""

    @property
    def exit_code(self) -> ExitCode:
        if self.stopped is not None:
            return ExitCode.STOPPED if self.stopped.outside else ExitCode.INTERRUPTED
        return self.tally.exit_code()


async def send_campaign(
    job: SendJob, say: Say = _quiet, stop: asyncio.Event | None = None
) -> CampaignRun:
    """Send what the input and the journal say is still to send; write the result file.

    Setting `stop`, or cancelling the task, stops the run the way Ctrl-C does:
    no new request starts, the ones in flight finish and are recorded, the
    result file is written. A cancelled run then raises CancelledError; a
    second cancellation abandons the requests in flight (their rows stay in
    doubt, which a rerun resolves through their RequestIds).
    """
    check_output_path(job.output, job.table.source.path, resumes=True)
    started = time.monotonic()
    path = journal_path(job.output)
    journal = await in_thread(Journal.open, path, job.campaign.id, sending=True)
    try:
        adoption = await in_thread(_take_over, for_journal(job, journal), journal)
    except BaseException:
        # Refused: no journal of a campaign that did not start. `created` is seen under
        # the lock: a send that waited there keeps the journal the other send made.
        journal.close(remove=journal.created)
        raise
    cancelled = False
    try:
        job = for_journal(job, journal)
        # Reports kept unknown that a row accepted without an SMSID is the follower's of:
        # the rows done earlier show them from the start.
        await in_thread(journal.deliveries.claim_by_follower)
        journal.rows.remember_scope(job.config.scope_oaid, job.config.options.sandbox)
        plan = await in_thread(new_plan, job, journal)
        rules = job_rules(job, plan)
        run = CampaignRun(plan=plan, tally=Tally(), sent=0, seconds=0.0)
        if adoption is not None:
            plan.resumed = True
            run.adopted = dict(adoption.counts)

        def going_on() -> None:
            if adoption is not None:
                say(adoption.plan_line())

        watch = plan.sent_rows > 0 and plan.earlier_rows and not job.resend_changed
        verdict = Verdict(watch, going_on)
        if verdict.pending and job.on_skipped_row is not None:
            # Rows are told as they are written: a refusal must come before the first.
            await verdict.count(job, journal, rules)
        if verdict.refusal is not None:
            raise verdict.refusal

        def whole_sheet_read() -> None:
            if verdict.pending:
                verdict.settle(job, plan.changes)
            if verdict.refusal is not None:
                return  # not a word of a plan the run will not carry out
            for line in describe_plan(job, plan):
                say(line)
                if is_warning(line):
                    run.warnings.append(line)

        # Under the send lock, any temporary result file left here is a killed run's.
        remove_orphans(job.output)
        try:
            with open_output(job.output, bom=job.excel) as writer:
                sheet = SheetStream(job, journal, rules, plan, writer, whole_sheet_read)
                try:
                    cancelled = await _send_and_write(job, journal, sheet, run, say, stop, verdict)
                except InputError as exc:
                    if run.sent:
                        # The sheet is read as it is sent: a bad line far down comes late.
                        exc.args = (
                            _(
                                "{error}; {n:,} rows before it were sent: fix the file and "
                                "rerun the same command, rows already sent are not sent again",
                                error=exc.template,
                                n=run.sent,
                            ),
                        )
                    raise
                finally:
                    await in_thread(sheet.executor.shutdown)
        except OSError as exc:  # the result file's own writes (the journal raises its own)
            raise WriteFailed(
                _("the result file {path}", path=job.output), job.output, exc
            ) from None
        # The CSV writer digested what it wrote: no reading 100 MB back to learn it.
        await in_thread(remember_written, journal, writer.fingerprint or job.output)
        run.seconds = sheet.sent_seconds - started
        run.tally = sheet.tally
        if run.stopped is None and (cancelled or (stop is not None and stop.is_set())):
            # Stopped while the result file was written: it is whole, but the
            # caller asked to stop and hears so.
            run.stopped = Stop(INTERRUPTED, outside=False)
    finally:
        journal.close()
    if cancelled:
        raise asyncio.CancelledError
    if run.stopped is not None and run.stopped.crash is not None:
        raise run.stopped.crash  # a bug: the caller hears it, after the result file
    return run


def _take_over(job: SendJob, journal: Journal) -> Adoption | None:
    """Adopt the result file's sends into a new journal, or check that this journal wrote it."""
    table, options = job.table, job.config.options
    try:
        adoption = adopt(
            job.output,
            journal,
            job.campaign,
            table=table,
            checks=job.checks,
            oaid=job.config.scope_oaid,
            sandbox=options.sandbox,
        )
    except sqlite3.Error as exc:
        raise JournalError(journal.path, exc) from None
    if adoption is None:
        check_result_file(job.output, journal, table.header, table.fields["user_id"])
    return adoption


class Verdict:
    """Whether a rerun's sheet is still this campaign's: mostly changed, it is refused.

    Settled from the counts the send makes as it reads, once the sheet's end
    is read: a finished campaign's rerun reads its sheet once. A row due to
    go out earlier has the whole sheet counted first. Refused, nothing was
    sent and the result file is left as it was (it is written beside it).
    """

    def __init__(self, pending: bool, going_on: Callable[[], None]) -> None:
        self.pending = pending
        self.going_on = going_on
        """Called once the run is known to go on (at once when nothing is pending)."""
        self.refusal: UsageError | None = None
        if not pending:
            going_on()

    def settle(self, job: SendJob, changes: Changes) -> None:
        self.pending = False
        if changes.mostly:
            self.refusal = refuse_new_campaign(job, changes)
        else:
            self.going_on()

    async def count(self, job: SendJob, journal: Journal, rules: Rules) -> None:
        self.settle(job, await in_thread(sheet_changes, job, journal, rules))


async def _send_and_write(
    job: SendJob,
    journal: Journal,
    sheet: SheetStream,
    run: CampaignRun,
    say: Say,
    stop: asyncio.Event | None,
    verdict: Verdict,
) -> bool:
    """Send, then write the rest of the sheet; True if the task was cancelled (once)."""
    cancelled = False
    if stop is not None and stop.is_set():
        run.stopped = Stop(INTERRUPTED, outside=False)
    else:
        cancelled = await _send(job, journal, sheet, run, say, stop, verdict)
    if verdict.refusal is not None:
        raise verdict.refusal  # nothing went out; the result file is thrown away
    try:
        await in_thread(journal.commit)
    except JournalError as exc:
        # Every answer is in the journal's log, folded in by the rerun.
        if run.stopped is None or not run.stopped.outside:
            run.stopped = Stop(str(exc), outside=True)
    sheet.sent_seconds = time.monotonic()
    sheet.stopped = run.stopped
    # The rest of the sheet is written whatever happens now: a cancellation
    # meanwhile waits for the result file to be whole.
    cancelled = await _to_the_end(sheet.finish()) or cancelled
    if verdict.refusal is not None:
        raise verdict.refusal  # stopped before the sheet's end was read: nothing went out
    return cancelled


async def _to_the_end(work: Coroutine[object, object, None]) -> bool:
    """Run `work` to its end even when cancelled meanwhile; True if it was."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
        return False
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        task.result()
        return True


async def _send(
    job: SendJob,
    journal: Journal,
    sheet: SheetStream,
    run: CampaignRun,
    say: Say,
    stop: asyncio.Event | None,
    verdict: Verdict,
) -> bool:
    """Send the rows still to send; True if the task was cancelled (once) meanwhile."""
    halt = asyncio.Event()
    reading = asyncio.ensure_future(_first_to_send(sheet, run, stop, halt))
    try:
        first = await asyncio.shield(reading)
    except asyncio.CancelledError:
        # As a first Ctrl-C: the chunk being read is kept, the rest written after.
        halt.set()
        try:
            await asyncio.shield(reading)
        except asyncio.CancelledError:
            reading.cancel()
            raise  # cancelled again: quit now, as a send does (sending.stopping)
        if run.stopped is None:
            run.stopped = Stop(INTERRUPTED, outside=False)
        return True
    if first is None:
        if run.stopped is None and stop is not None and stop.is_set():
            run.stopped = Stop(INTERRUPTED, outside=False)
        return False
    # Only a run that sends loads it (see its docstring), off the event loop: the
    # import takes a fifth of a second, which the caller's loop must not wait for.
    await in_thread(importlib.import_module, "batch_sender.api.dispatch")
    from batch_sender.api.dispatch import send_rows

    return await send_rows(job, journal, sheet, run, say, stop, verdict, first)


async def _first_to_send(
    sheet: SheetStream, run: CampaignRun, stop: asyncio.Event | None, halt: asyncio.Event
) -> Chunk | None:
    """Read on, writing the chunks with no row to send; the first chunk with one, if any.

    A finished campaign's rerun reads its whole sheet here, and never needs
    the HTTP client. A bad line or a failed write is kept by the sheet, which
    raises it when the rest is written; anything else stops the run as it
    stops a Sender (a bug is raised once the result file is written).
    """
    while not halt.is_set() and (stop is None or not stop.is_set()):
        try:
            entry = await sheet.next_chunk()
            if entry is None:
                return None
            if any(d.action == SEND for d in entry.dispositions):
                return entry
            entry.handed_out = True
            sheet.flush()
            await sheet.keep_up()
        except Exception as exc:
            if exc is not sheet.failure:
                run.stopped = stop_for(exc, None)
            return None
    return None
