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
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd

from batch_sender import esms
from batch_sender.client import HttpRefused, Transient, new_session
from batch_sender.concurrency import Concurrency
from batch_sender.disposition import DONE, HOLD, KEPT, SEND, Disposition, Rules, dispose
from batch_sender.dry_run import checked_chunks
from batch_sender.errors import AccountError, InputError, for_cli
from batch_sender.exit_codes import ExitCode
from batch_sender.journal import (
    ACCEPTED,
    Journal,
    JournalError,
    Outcome,
    WriteFailed,
    journal_path,
)
from batch_sender.offloop import in_thread
from batch_sender.ratelimit import rate_limiter
from batch_sender.reader import Table
from batch_sender.results import (
    RowWriter,
    check_output_path,
    is_spreadsheet,
    open_output,
    output_rows,
    remove_orphans,
    result_rows,
)
from batch_sender.retry import or_stop, post_json_retried
from batch_sender.sender import SendConfig, Sender, Stop
from batch_sender.summary import Tally
from batch_sender.validate import (
    DUPLICATE,
    EXCLUDED,
    INVALID,
    VALID,
    Campaign,
    Checks,
    send_scope,
)

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --- send ----------------------------------------------------------------------


@dataclass(frozen=True)
class SendJob:
    table: Table
    output: Path
    campaign: Campaign
    config: SendConfig
    excel: bool = False
    resend_stale: bool = False
    resend_changed: bool = False
    """Send the new version of rows sent earlier with different content."""
    checks: Checks = field(default_factory=Checks)
    limit: int | None = None
    """Send at most this many rows in this run (a test batch); the rest stay unsent."""
    on_row: Callable[[esms.Message, Outcome], None] | None = None
    """Called with each row's outcome as it is recorded (e.g. a JSON log line)."""
    on_progress: Callable[[int, int], None] | None = None
    """Called with (rows done, rows to send) when sending starts and after each row.

    The sheet is read as it is sent: rows to send counts those read so far
    (within --limit), and is the whole sheet's once it has been read."""


@dataclass
class Plan:
    """The input's rows against the journal of earlier runs, counted as they are read."""

    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicate: int = 0
    excluded: int = 0
    done_before: int = 0
    to_send: int = 0
    stale: int = 0
    changed_kept: int = 0
    """Rows sent earlier with other content whose earlier send stands."""
    changed_resent: int = 0
    """Rows sent earlier with other content whose new version goes out (--resend-changed)."""
    shown_sends: int = 0
    """Sheet rows with an earlier accepted send that this input still has."""
    sent_rows: int = 0
    """Sheet rows with an accepted send in the journal (this OAID, sandbox or real)."""
    sandbox_rows: int = 0
    """Rows that went out in sandbox trials earlier (a real run: they do not count)."""
    resumed: bool = False
    earlier_rows: bool = True
    """The journal had sends identified by row before this run (see disposition.Rules)."""

    @property
    def gone(self) -> int:
        """Rows sent earlier that are no longer in the sheet (their sends stay in the journal)."""
        return max(self.sent_rows - self.shown_sends, 0)


@dataclass
class SendReport:
    plan: Plan
    tally: Tally
    sent: int
    seconds: float
    stopped: Stop | None = None
    warnings: list[str] = field(default_factory=list)
    """What the run noticed but went on with (an OAID not among the account's OAs)."""

    @property
    def exit_code(self) -> ExitCode:
        if self.stopped is not None:
            return ExitCode.ACCOUNT if self.stopped.account else ExitCode.INTERRUPTED
        return self.tally.exit_code()


def job_rules(job: SendJob, plan: Plan | None = None) -> Rules:
    options = job.config.options
    return Rules(
        campaign=job.campaign,
        oaid=job.config.credentials.oaid,
        sandbox=options.sandbox,
        resend_stale=job.resend_stale,
        resend_changed=job.resend_changed,
        earlier_rows=plan is None or plan.earlier_rows,
    )


def new_plan(job: SendJob, journal: Journal) -> Plan:
    """The counts the journal gives before any row is read."""
    plan = Plan(resumed=journal.resumed)
    plan.earlier_rows = journal.has_row_sends(
        job.config.credentials.oaid, job.config.options.sandbox
    )
    rules = job_rules(job, plan)
    plan.sent_rows = journal.sent_row_count(rules.oaid, rules.sandbox)
    if not rules.sandbox:
        plan.sandbox_rows = journal.sent_row_count(rules.oaid, True)
    return plan


def count_chunk(plan: Plan, checked: pd.DataFrame, dispositions: list[Disposition]) -> None:
    """Add one chunk's rows to the plan's counts."""
    counts = checked["status"].value_counts()
    plan.rows += len(checked)
    plan.valid += int(counts.get(VALID, 0))
    plan.invalid += int(counts.get(INVALID, 0))
    plan.duplicate += int(counts.get(DUPLICATE, 0))
    plan.excluded += int(counts.get(EXCLUDED, 0))
    for status, disposition in zip(checked["status"].tolist(), dispositions, strict=True):
        sent = disposition.earlier or disposition.record
        if (
            sent is not None
            and sent.row_key
            and sent.status == ACCEPTED
            and (disposition.action in (DONE, KEPT) or disposition.changed)
        ):
            plan.shown_sends += 1  # this row of the sheet is still there
        if status != VALID:
            continue
        if disposition.action == DONE:
            plan.done_before += 1
        elif disposition.action == HOLD:
            plan.stale += 1
        elif disposition.action == KEPT:
            plan.changed_kept += 1
        else:
            plan.to_send += 1
            plan.changed_resent += disposition.changed


def describe_plan(job: SendJob, plan: Plan) -> list[str]:
    campaign = job.campaign
    lines = []
    if plan.resumed:
        line = (
            f"resuming campaign {campaign.id!r}: {plan.done_before:,} done earlier, "
            f"{plan.to_send:,} to send"
        )
        if plan.stale:
            line += f", {plan.stale:,} held back (no answer for over 24 hours)"
        lines.append(line)
    else:
        lines.append(f"campaign {campaign.id!r}: {plan.to_send:,} to send")
    if plan.sandbox_rows:
        lines.append(
            f"{_rows(plan.sandbox_rows)} went out in sandbox trials earlier: not delivered, "
            "they do not count as sent"
        )
    if plan.changed_kept:
        lines.append(
            f"warning: {_rows(plan.changed_kept)} sent earlier with different content: "
            "the earlier send stands (--resend-changed sends the new version)"
        )
    if plan.changed_resent:
        lines.append(
            f"{_rows(plan.changed_resent)} sent earlier with different content: sending the "
            "new version (--resend-changed)"
        )
    if plan.gone:
        lines.append(
            f"warning: {_rows(plan.gone)} sent earlier no longer in the sheet: the sends stay "
            f"in the journal (`batch-sender report {job.output}` lists them)"
        )
    skipped = plan.invalid + plan.duplicate
    if skipped:
        lines.append(
            f"{plan.invalid:,} invalid and {plan.duplicate:,} duplicate rows are not sent "
            "(run `batch-sender validate` for details)"
        )
    if plan.excluded:
        rows = "row is" if plan.excluded == 1 else "rows are"
        lines.append(f"{plan.excluded:,} {rows} excluded by the suppression lists")
    return lines


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


INTERRUPTED = "interrupted"


async def send_campaign(
    job: SendJob, say: Say = _quiet, stop: asyncio.Event | None = None
) -> SendReport:
    """Send what the input and the journal say is still to send; write the result file.

    Setting `stop`, or cancelling the task, stops the run the way Ctrl-C does:
    no new request starts, the ones in flight finish and are recorded, the
    result file is written. A cancelled run then raises CancelledError; a
    second cancellation abandons the requests in flight (their rows stay in
    doubt, which a rerun resolves through their RequestIds).
    """
    check_output_path(job.output, job.table.source.path, resumes=True)
    started = time.monotonic()
    journal = await in_thread(Journal.open, journal_path(job.output), job.campaign.id, sending=True)
    cancelled = False
    try:
        job = for_journal(job, journal)
        journal.remember_scope(job.config.credentials.oaid, job.config.options.sandbox)
        plan = await in_thread(new_plan, job, journal)
        report = SendReport(plan=plan, tally=Tally(), sent=0, seconds=0.0)

        def whole_sheet_read() -> None:
            for line in describe_plan(job, plan):
                say(line)
                if line.startswith("warning:"):
                    report.warnings.append(line)

        # Under the send lock, any temporary result file left here is a killed run's.
        remove_orphans(job.output)
        try:
            with open_output(job.output, bom=job.excel) as writer:
                sheet = _Sheet(job, journal, job_rules(job, plan), plan, writer, whole_sheet_read)
                try:
                    cancelled = await _send_and_write(job, journal, sheet, report, say, stop)
                except InputError as exc:
                    if report.sent:
                        # The sheet is read as it is sent: a bad line far down comes late.
                        exc.args = (
                            f"{exc}; {report.sent:,} rows before it were sent: fix the file "
                            "and rerun the same command, rows already sent are not sent again",
                        )
                    raise
                finally:
                    await in_thread(sheet.executor.shutdown)
        except OSError as exc:  # the result file's own writes (the journal raises its own)
            raise WriteFailed(f"the result file {job.output}", job.output, exc) from None
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
    return report


async def _send_and_write(
    job: SendJob,
    journal: Journal,
    sheet: _Sheet,
    report: SendReport,
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


def for_journal(job: SendJob, journal: Journal) -> SendJob:
    """The job with RequestIds as this campaign's journal derives them."""
    options = job.config.options
    campaign = dataclasses.replace(
        job.campaign,
        scope=send_scope(job.config.credentials.oaid, options.sandbox),
        scheme=journal.request_id_scheme(),
    )
    return dataclasses.replace(job, campaign=campaign)


async def _send(
    job: SendJob,
    journal: Journal,
    sheet: _Sheet,
    report: SendReport,
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
        self.pending: collections.deque[_Chunk] = collections.deque()
        self.written = asyncio.Event()
        self.at_end = False
        self.failure: Exception | None = None
        self.stopped: Stop | None = None
        self.sent_seconds = 0.0
        """time.monotonic() when the sending ended."""
        self.tally = Tally()
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
        return entry

    def _read(self) -> tuple[pd.DataFrame, pd.DataFrame, list[Disposition]] | None:
        """The next chunk, validated, and what to do with each row (a worker thread)."""
        pair = next(self.rows, None)
        if pair is None:
            return None
        chunk, checked = pair
        # Decided now for what to send; again when written, for what happened.
        return chunk, checked, dispose(checked, self.journal, self.rules, time.time())

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

    def _write_rows(self, entry: _Chunk, unsent: str) -> None:
        """One chunk's result rows, from the journal as it is now (the results thread)."""
        if self.failure is not None:
            return  # the file is thrown away: a later chunk must not follow a broken one
        try:
            self._write_chunk(entry, unsent)
        except OSError as exc:
            output = self.job.output
            self.failure = WriteFailed(f"the result file {output}", output, exc)
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
        templated = checked if self.job.checks.template is not None else None
        if templated is not None and any(d.action == KEPT for d in dispositions):
            # The earlier send went out with another text, which the journal does not keep.
            texts = checked["text"].tolist()
            templated = checked.assign(
                text=[
                    "" if d.action == KEPT else t for d, t in zip(dispositions, texts, strict=True)
                ]
            )
        self.writer.write(output_rows(chunk, extra, templated, spreadsheet=self.spreadsheet))


def unsent_reason(job: SendJob, stopped: Stop | None) -> str:
    if stopped is None and job.limit is not None:
        return f"not sent: --limit {job.limit} reached; run again without --limit to send it"
    if stopped is None:
        return "not sent: rerun the same command to send it"
    if stopped.account:
        return f"not sent: the run stopped: {for_cli(stopped.reason)}"
    return "not sent: the run was interrupted; rerun the same command to send it"


async def account_request(
    session: aiohttp.ClientSession, config: SendConfig, path: str
) -> dict[str, Any]:
    """GetBalance_json or ZNS/GetListZOA (the same body), with the run's retry policy."""
    return await post_json_retried(
        session,
        config.base_url.rstrip("/") + path,
        esms.balance_body(config.credentials),
        timeout=config.timeout,
        max_attempts=config.max_attempts,
        backoff=config.backoff,
    )


async def check_account(session: aiohttp.ClientSession, config: SendConfig) -> str:
    """GetBalance_json before the first message: wrong keys stop here, nothing sent."""
    data = await or_stop(
        account_request(session, config, esms.BALANCE_PATH),
        unreachable=f"cannot reach eSMS at {config.base_url}: check the network and "
        "{opt:base_url}, then rerun",
        option="{opt:base_url}",
    )
    # GetBalance_json answers CodeResponse (its page), not CodeResult.
    raw = data.get("CodeResponse")
    if raw is None:
        raw = data.get("CodeResult")
    code = "" if raw is None else str(raw).strip()
    if code == esms.ACCEPTED:
        return str(data.get("Balance", ""))
    if code in esms.ACCOUNT_CODES:
        raise AccountError(code, esms.ACCOUNT_CODES[code])
    message = str(data.get("ErrorMessage") or "")
    shown = f"code {code}" if code else "no CodeResponse"
    raise AccountError(code, f"eSMS refused the account check: {shown} {message}".strip())


async def oaid_warnings(session: aiohttp.ClientSession, config: SendConfig) -> list[str]:
    """ZNS/GetListZOA: is the OAID one of the account's OAs? Warnings only, never a stop.

    The page does not say that this list holds every OA allowed to send
    follower messages, so a miss is a warning (a typo shows here, before
    the first request); eSMS's 799 on the first send still stops the run.
    """
    unchecked = "warning: the OAID was not checked against the account's OAs (ZNS/GetListZOA"
    try:
        data = await account_request(session, config, esms.LIST_OA_PATH)
    except (Transient, HttpRefused) as exc:
        reason = exc.reason if isinstance(exc, Transient) else str(exc)
        return [f"{unchecked}: {reason}); sending anyway"]
    code = str(data.get("CodeResult", "")).strip()
    listed = data.get("ZOAList")
    if code != esms.ACCEPTED or not isinstance(listed, list):
        message = str(data.get("ErrorMessage") or "").strip()
        return [
            f"{unchecked} answered code {code or 'none'} {message}".rstrip() + "); sending anyway"
        ]
    oas = [oa for oa in listed if isinstance(oa, dict)]
    if any(str(oa.get("OAID", "")).strip() == config.credentials.oaid for oa in oas):
        return []
    found = ", ".join(f"{oa.get('OAID', '')} ({oa.get('OAName', '')})" for oa in oas) or "none"
    return [
        f"warning: OAID {config.credentials.oaid} is not among the account's Zalo OAs "
        f"(ZNS/GetListZOA lists: {found}): check ESMS_OAID / --oaid; sending anyway, "
        "eSMS stops the run with 799 if it is wrong"
    ]


async def account_balance(base_url: str, api_key: str, secret_key: str, timeout: float) -> str:
    """The balance eSMS reports for these keys; AccountError if it refuses them."""
    config = SendConfig(
        base_url=base_url,
        credentials=esms.Credentials(api_key, secret_key, ""),
        timeout=timeout,
        max_attempts=3,
    )
    session = new_session(1)
    try:
        return await check_account(session, config)
    finally:
        await session.close()
