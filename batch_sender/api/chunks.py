"""The sheet streamed through a send, chunk by chunk: read ahead, written in order."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.disposition import KEPT, SEND, Disposition, Rules, decide
from batch_sender.check.rules import DUPLICATE, EXCLUDED, INVALID
from batch_sender.errors import for_cli
from batch_sender.i18n import _
from batch_sender.journal.errors import WriteFailed
from batch_sender.journal.store import Journal
from batch_sender.offloop import in_thread
from batch_sender.results.files import RowWriter
from batch_sender.results.paths import is_spreadsheet
from batch_sender.results.rows import UNSENT, output_rows, result_rows, texts_column
from batch_sender.results.tally import Tally
from batch_sender.sending.config import Stop
from batch_sender.sending.plan import (
    Plan,
    SendJob,
    count_chunk,
)


@dataclass
class Chunk:
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


class SheetStream:
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
        self.pending: collections.deque[Chunk] = collections.deque()
        self.written = asyncio.Event()
        self.at_end = False
        self.failure: Exception | None = None
        self.stopped: Stop | None = None
        self.sent_seconds = 0.0
        """time.monotonic() when the sending ended."""
        self.tally = Tally(limit=job.limit, limit_reason=unsent_reason(job, None))
        self.spreadsheet = is_spreadsheet(job.output, excel=job.excel)
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "batch-sender-results")
        self.writes: list[concurrent.futures.Future[None]] = []

    async def next_chunk(self) -> Chunk | None:
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
        entry = Chunk(chunk, checked, dispositions, int(chunk.index[-1]) if len(chunk) else 0)
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
        return chunk, checked, decide(checked, self.journal, self.rules, time.time())

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

    def _write(self, entry: Chunk) -> None:
        unsent = unsent_reason(self.job, self.stopped)
        # In the caller's context: the rows' messages are in the language it chose.
        context = contextvars.copy_context()
        self.writes.append(self.executor.submit(context.run, self._write_rows, entry, unsent))

    def _tell_skipped(self, rows: list[tuple[int, str, str, str]]) -> None:
        """In the event loop's thread, as every other callback the caller gives."""
        tell = self.job.on_skipped_row
        if tell is not None:
            for row in rows:
                tell(*row)

    def _write_rows(self, entry: Chunk, unsent: str) -> None:
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

    def _write_chunk(self, entry: Chunk, unsent: str) -> None:
        chunk, checked = entry.chunk, entry.checked
        dispositions = entry.dispositions
        if any(d.action == SEND for d in dispositions):
            # Decided again for what happened. A chunk with nothing to send (a finished
            # campaign's) is as it was read: this run changed none of its rows.
            dispositions = decide(checked, self.journal, self.rules, time.time())
        extra = result_rows(
            chunk,
            checked,
            dispositions,
            unsent_reason=unsent,
            deliveries=self.journal.deliveries.reported(d.request_id for d in dispositions),
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
        sent = checked
        kept = [d.request_id for d in dispositions if d.action == KEPT]
        if kept:
            # The earlier send went out with another text: the journal's (blank if it
            # was made before texts were kept).
            earlier = self.journal.rows.sent_texts(kept)
            texts = checked["text"].tolist()
            sent = checked.assign(
                text=texts_column(
                    [
                        earlier.get(d.request_id, "") if d.action == KEPT else t
                        for d, t in zip(dispositions, texts, strict=True)
                    ],
                    checked.index,
                )
            )
        self.writer.write(output_rows(chunk, extra, sent, spreadsheet=self.spreadsheet))


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
    if stopped.outside:
        return _("not sent: the run stopped: {reason}", reason=for_cli(stopped.reason))
    return _("not sent: the run was interrupted; rerun the same command to send it")
