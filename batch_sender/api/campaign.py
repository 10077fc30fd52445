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
import collections
import concurrent.futures
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from batch_sender.check.disposition import KEPT, SEND, Disposition, Rules, dispose
from batch_sender.check.dry_run import checked_chunks
from batch_sender.check.rules import DUPLICATE, EXCLUDED, INVALID
from batch_sender.errors import AccountError, InputError, for_cli
from batch_sender.esms import protocol as esms
from batch_sender.esms.client import new_session
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _, is_warning
from batch_sender.journal.files import journal_path, side_files
from batch_sender.journal.records import Outcome
from batch_sender.journal.store import Journal, JournalError, WriteFailed
from batch_sender.offloop import in_thread
from batch_sender.results.adoption import Adoption, adopt, check_result_file, remember_written
from batch_sender.results.files import RowWriter, open_output, remove_orphans
from batch_sender.results.paths import check_output_path, is_spreadsheet
from batch_sender.results.rows import UNSENT, output_rows, result_rows
from batch_sender.results.tally import Tally
from batch_sender.sending.account import check_account, oaid_warnings
from batch_sender.sending.concurrency import Concurrency
from batch_sender.sending.plan import (
    Changes,
    Plan,
    SendJob,
    count_chunk,
    describe_plan,
    for_journal,
    job_rules,
    new_plan,
    refuse_new_campaign,
    sheet_changes,
)
from batch_sender.sending.ratelimit import rate_limiter
from batch_sender.sending.sender import Sender, Stop

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
            return ExitCode.ACCOUNT if self.stopped.account else ExitCode.INTERRUPTED
        return self.tally.exit_code()


INTERRUPTED = "interrupted"


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
    created = not path.exists()
    journal = await in_thread(Journal.open, path, job.campaign.id, sending=True)
    try:
        adoption = await in_thread(_take_over, for_journal(job, journal), journal)
    except BaseException:
        journal.close()
        if created:
            forget_journal(path)  # refused: no journal of a campaign that did not start
        raise
    cancelled = False
    try:
        job = for_journal(job, journal)
        journal.remember_scope(job.config.scope_oaid, job.config.options.sandbox)
        plan = await in_thread(new_plan, job, journal)
        rules = job_rules(job, plan)
        changes = Changes()
        if plan.sent_rows and plan.earlier_rows and not job.resend_changed:
            changes = await in_thread(sheet_changes, job, journal, rules)
            if changes.mostly:
                raise refuse_new_campaign(job, changes)
        report = CampaignRun(plan=plan, tally=Tally(), sent=0, seconds=0.0)
        if adoption is not None:
            plan.resumed = True
            report.adopted = dict(adoption.counts)
            say(adoption.plan_line())

        def whole_sheet_read() -> None:
            for line in describe_plan(job, plan):
                say(line)
                if is_warning(line):
                    report.warnings.append(line)

        # Under the send lock, any temporary result file left here is a killed run's.
        remove_orphans(job.output)
        try:
            with open_output(job.output, bom=job.excel) as writer:
                sheet = _Sheet(job, journal, rules, plan, writer, whole_sheet_read)
                sheet.sent_texts = job.checks.template is not None or changes.kept > 0
                try:
                    cancelled = await _send_and_write(job, journal, sheet, report, say, stop)
                except InputError as exc:
                    if report.sent:
                        # The sheet is read as it is sent: a bad line far down comes late.
                        exc.args = (
                            _(
                                "{error}; {n:,} rows before it were sent: fix the file and "
                                "rerun the same command, rows already sent are not sent again",
                                error=exc.template,
                                n=report.sent,
                            ),
                        )
                    raise
                finally:
                    await in_thread(sheet.executor.shutdown)
        except OSError as exc:  # the result file's own writes (the journal raises its own)
            raise WriteFailed(
                _("the result file {path}", path=job.output), job.output, exc
            ) from None
        await in_thread(remember_written, journal, job.output)
        report.seconds = sheet.sent_seconds - started
        report.tally = sheet.tally
        if report.stopped is None and (cancelled or (stop is not None and stop.is_set())):
            # Stopped while the result file was written: it is whole, but the
            # caller asked to stop and hears so.
            report.stopped = Stop(INTERRUPTED, account=False)
    finally:
        journal.close()
    if cancelled:
        raise asyncio.CancelledError
    if report.stopped is not None and report.stopped.crash is not None:
        raise report.stopped.crash  # a bug: the caller hears it, after the result file
    return report


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


async def _send_and_write(
    job: SendJob,
    journal: Journal,
    sheet: _Sheet,
    report: CampaignRun,
    say: Say,
    stop: asyncio.Event | None,
) -> bool:
    """Send, then write the rest of the sheet; True if the task was cancelled (once)."""
    cancelled = False
    if stop is not None and stop.is_set():
        report.stopped = Stop(INTERRUPTED, account=False)
    else:
        cancelled = await _send(job, journal, sheet, report, say, stop)
    try:
        await in_thread(journal.commit)
    except JournalError as exc:
        # Every answer is in the journal's log, folded in by the rerun.
        if report.stopped is None or not report.stopped.account:
            report.stopped = Stop(str(exc), account=True)
    sheet.sent_seconds = time.monotonic()
    sheet.stopped = report.stopped
    # The rest of the sheet is written whatever happens now: a cancellation
    # meanwhile waits for the result file to be whole.
    return await _to_the_end(sheet.finish()) or cancelled


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
    sheet: _Sheet,
    report: CampaignRun,
    say: Say,
    stop: asyncio.Event | None,
) -> bool:
    """Send the rows still to send; True if the task was cancelled (once) meanwhile."""
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
            try:
                await check_account(session, job.config)
            except AccountError as exc:
                # Nothing was sent: every row to send is `unsent` in the result file.
                sender.stop(Stop(exc.template, account=True, code=exc.code))
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
                report.warnings.append(warning)
                say(warning)
            if job.on_progress is not None:
                job.on_progress(0, total())
            return True

        try:
            messages = _messages(job, sheet, start, sender.stop_event)
            cancelled = await _run_stoppably(sender, messages, stop)
        finally:
            report.sent = sender.sent
        report.stopped = sender.stopped
        return cancelled
    finally:
        await session.close()


async def _run_stoppably(
    sender: Sender, messages: AsyncIterator[esms.Message], stop: asyncio.Event | None
) -> bool:
    """sender.run, stopped by `stop` or by a cancellation; True if it was cancelled."""
    run = asyncio.ensure_future(sender.run(messages))
    watch = None
    if stop is not None:
        watch = asyncio.ensure_future(stop.wait())
        watch.add_done_callback(
            lambda w: None if w.cancelled() else sender.stop(Stop(INTERRUPTED, account=False))
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
        sender.stop(Stop(INTERRUPTED, account=False))
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
    job: SendJob, sheet: _Sheet, start: Callable[[], Awaitable[bool]], stopping: asyncio.Event
) -> AsyncIterator[esms.Message]:
    budget = job.limit
    started = False
    while True:
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
        sheet.flush()
        await sheet.keep_up()


@dataclass
class _Chunk:
    chunk: pd.DataFrame
    checked: pd.DataFrame
    dispositions: list[Disposition]
    """As decided when the chunk was read (its rows to send)."""
    last_line: int
    outstanding: int = 0
    """Rows handed to the Sender and not done yet."""
    handed_out: bool = False
    """Every row of it to send has been handed to the Sender."""


MAX_PENDING = 4
"""Chunks held unwritten while an earlier row is still out (retrying): memory stays bounded."""


class _Sheet:
    """The input's chunks from reading to the result file, in input order.

    A chunk is read, validated and its rows' dispositions decided off the
    event loop (then counted into the plan), its rows to send handed out, and
    it is written once each of those rows is done: memory holds the chunks
    with rows in flight, whatever the sheet's size. The result rows are built
    and written by one thread of their own, in order, so the event loop keeps
    sending.
    """

    def __init__(
        self,
        job: SendJob,
        journal: Journal,
        rules: Rules,
        plan: Plan,
        writer: RowWriter,
        read_whole: Callable[[], None],
    ) -> None:
        self.job, self.journal, self.rules, self.plan = job, journal, rules, plan
        self.writer = writer
        self.read_whole = read_whole
        self.rows = checked_chunks(job.table, job.campaign, job.checks)
        self.ahead: tuple[pd.DataFrame, pd.DataFrame] | BaseException | bool | None = False
        """The chunk read after the one handed out (False: none read yet; None: the end)."""
        self.loop = asyncio.get_running_loop()
        self.pending: collections.deque[_Chunk] = collections.deque()
        self.written = asyncio.Event()
        self.at_end = False
        self.failure: Exception | None = None
        self.stopped: Stop | None = None
        self.sent_seconds = 0.0
        """time.monotonic() when the sending ended."""
        self.tally = Tally(limit=job.limit, limit_reason=unsent_reason(job, None))
        self.sent_texts = job.checks.template is not None
        """The result file has `sent_text`: with a template, or beside rows kept from earlier."""
        self.spreadsheet = is_spreadsheet(job.output, excel=job.excel)
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "batch-sender-results")
        self.writes: list[concurrent.futures.Future[None]] = []

    async def next_chunk(self) -> _Chunk | None:
        if self.failure is not None:
            raise self.failure  # the sheet cannot be read on: never half a result file
        if self.at_end:
            return None
        try:
            read = await in_thread(self._read)
        except Exception as exc:
            self.failure = exc
            raise
        if read is None:
            self.at_end = True
            self.read_whole()
            return None
        chunk, checked, dispositions = read
        count_chunk(self.plan, checked, dispositions)
        entry = _Chunk(chunk, checked, dispositions, int(chunk.index[-1]) if len(chunk) else 0)
        self.pending.append(entry)
        if self.ahead is None:
            # The last chunk: the plan is whole before its first row goes out.
            self.at_end = True
            self.read_whole()
        return entry

    def _read(self) -> tuple[pd.DataFrame, pd.DataFrame, list[Disposition]] | None:
        """The next chunk, validated, and what to do with each row (a worker thread)."""
        pair = self._next_pair()
        if pair is None:
            return None
        chunk, checked = pair
        # Decided now for what to send; again when written, for what happened.
        return chunk, checked, dispose(checked, self.journal, self.rules, time.time())

    def _next_pair(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The next chunk and its checks, the one after it read too (to know the end)."""
        ahead = self.ahead
        if ahead is False:
            pair = next(self.rows, None)
        elif isinstance(ahead, BaseException):
            raise ahead  # met while reading ahead: told when its rows are due, not earlier
        else:
            pair = ahead  # type: ignore[assignment]
        if pair is None:
            self.ahead = None
            return None
        try:
            self.ahead = next(self.rows, None)
        except Exception as exc:
            self.ahead = exc
        return pair

    def done(self, line: int) -> None:
        """A row handed out has its outcome."""
        for entry in self.pending:
            if line <= entry.last_line:
                entry.outstanding -= 1
                break
        self.flush()

    def flush(self) -> None:
        """Write the leading chunks whose rows are all done."""
        pending = self.pending
        while pending and pending[0].handed_out and pending[0].outstanding <= 0:
            self._write(pending.popleft())
            self.written.set()

    async def room(self, stopping: asyncio.Event) -> None:
        """Read on only when fewer than MAX_PENDING chunks wait (or the run stops).

        A row retried for minutes holds its chunk, and so every later one, out
        of the result file; the sending waits for it rather than the memory.
        """
        while len(self.pending) >= MAX_PENDING and not stopping.is_set():
            self.written.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (self.written, stopping)]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()

    async def finish(self) -> None:
        """After the send: every chunk still here, then the rest of the sheet, written."""
        if self.failure is not None:
            raise self.failure
        for held in self.pending:
            held.handed_out, held.outstanding = True, 0
        self.flush()
        while (entry := await self.next_chunk()) is not None:
            entry.handed_out = True
            self.flush()
            await self.keep_up()
        await self.keep_up(0)

    async def keep_up(self, most: int = 2) -> None:
        """Wait until at most `most` chunks wait to be written: reading runs no further ahead."""
        while len(self.writes) > most:
            await asyncio.wrap_future(self.writes.pop(0))

    def _write(self, entry: _Chunk) -> None:
        unsent = unsent_reason(self.job, self.stopped)
        self.writes.append(self.executor.submit(self._write_rows, entry, unsent))

    def _tell_skipped(self, rows: list[tuple[int, str, str, str]]) -> None:
        """In the event loop's thread, as every other callback the caller gives."""
        tell = self.job.on_skipped_row
        if tell is not None:
            for row in rows:
                tell(*row)

    def _write_rows(self, entry: _Chunk, unsent: str) -> None:
        """One chunk's result rows, from the journal as it is now (the results thread)."""
        if self.failure is not None:
            return  # the file is thrown away: a later chunk must not follow a broken one
        try:
            self._write_chunk(entry, unsent)
        except OSError as exc:
            output = self.job.output
            self.failure = WriteFailed(_("the result file {path}", path=output), output, exc)
            raise self.failure from None
        except Exception as exc:
            self.failure = exc
            raise

    def _write_chunk(self, entry: _Chunk, unsent: str) -> None:
        chunk, checked = entry.chunk, entry.checked
        dispositions = dispose(checked, self.journal, self.rules, time.time())
        extra = result_rows(
            chunk,
            checked,
            dispositions,
            unsent_reason=unsent,
            deliveries=self.journal.deliveries(d.request_id for d in dispositions),
        )
        self.tally.add(extra)
        if self.job.on_skipped_row is not None:
            skipped = [
                (int(line), status, rid, message)
                for line, status, rid, message in zip(
                    extra["row"].tolist(),
                    extra["status"].tolist(),
                    extra["RequestId"].tolist(),
                    extra["ErrorMessage"].tolist(),
                    strict=True,
                )
                if status in SKIPPED
            ]
            if skipped:
                self.loop.call_soon_threadsafe(self._tell_skipped, skipped)
        templated = checked if self.sent_texts else None
        kept = [d.request_id for d in dispositions if d.action == KEPT]
        if templated is not None and kept:
            # The earlier send went out with another text: the journal's (blank if it
            # was made before texts were kept).
            earlier = self.journal.sent_texts(kept)
            texts = checked["text"].tolist()
            templated = checked.assign(
                text=[
                    earlier.get(d.request_id, "") if d.action == KEPT else t
                    for d, t in zip(dispositions, texts, strict=True)
                ]
            )
        self.writer.write(output_rows(chunk, extra, templated, spreadsheet=self.spreadsheet))


def forget_journal(path: Path) -> None:
    for file in (path, *side_files(path)):
        file.unlink(missing_ok=True)


SKIPPED = frozenset({INVALID, DUPLICATE, EXCLUDED, UNSENT})
"""Rows this run does not send, told through on_skipped_row."""


def unsent_reason(job: SendJob, stopped: Stop | None) -> str:
    if stopped is None and job.limit is not None:
        return _(
            "not sent: --limit {limit} reached; run again without --limit to send it",
            limit=job.limit,
        )
    if stopped is None:
        return _("not sent: rerun the same command to send it")
    if stopped.account:
        return _("not sent: the run stopped: {reason}", reason=for_cli(stopped.reason))
    return _("not sent: the run was interrupted; rerun the same command to send it")
