"""--test-to: the campaign's first valid message, sent to the marketer's own follower id.

Filed apart from the campaign: its own journal beside the result file (the
campaign's journal and result file are not touched), and its own RequestIds,
one per test message, so that the campaign's RequestIds are untouched, a
second test message goes out too, and a test never counts as a send to
anyone in the sheet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.rules import VALID, user_id_problem
from batch_sender.errors import InputError, UsageError
from batch_sender.esms import protocol as esms
from batch_sender.esms.client import new_session
from batch_sender.i18n import _
from batch_sender.journal.files import side_files
from batch_sender.journal.records import FAILED, Outcome
from batch_sender.journal.store import Journal
from batch_sender.offloop import in_thread
from batch_sender.sending.account import check_account
from batch_sender.sending.config import INTERRUPTED, Stop
from batch_sender.sending.plan import SendJob
from batch_sender.sending.ratelimit import rate_limiter
from batch_sender.sending.sender import Sender
from batch_sender.sending.stopping import run_stoppably

TEST_SENDS = ".test-sends.sqlite"
"""Beside RESULTS.csv: the journal of the test messages (never the campaign's)."""


@dataclass(frozen=True)
class TestSend:
    line: int
    """The sheet's line whose message went out."""
    user_id: str
    """Whom it went to (--test-to)."""
    message: esms.Message
    outcome: Outcome
    stopped: Stop | None
    seconds: float


def test_sends_path(output: Path) -> Path:
    return output.with_name(output.name + TEST_SENDS)


def test_sends_names(output: Path) -> list[str]:
    """The names of the test messages' journal and its files, beside the result file."""
    path = test_sends_path(output)
    return [f.name for f in (path, *side_files(path))]


def check_test_to(user_id: str) -> str:
    """The id stripped, or UsageError saying why it is not a Zalo user_id."""
    uid = user_id.strip()
    problem = user_id_problem(uid)
    if problem is not None:
        raise UsageError(_("{opt:test_to}: {problem}", problem=problem))
    return uid


def first_valid_row(job: SendJob) -> tuple[int, str, str]:
    """(line, text, url) of the sheet's first valid row, its text personalised as sent."""
    for _chunk, checked in checked_chunks(job.table, job.campaign, job.checks):
        valid = checked[checked["status"] == VALID]
        if len(valid):
            line = int(valid.index[0])
            return line, str(valid["text"].iloc[0]), str(valid["url"].iloc[0])
    raise InputError(job.table.source.display, _("no valid row to send as a test message"))


def test_request_id(campaign_id: str, slug: str, user_id: str, count: int) -> str:
    """Apart from every campaign RequestId (those have no "-test-"); new for each test."""
    seed = f"{campaign_id}\x1ftest\x1f{user_id}\x1f{count}\x1f{time.time_ns()}"
    return f"{slug}-test-{hashlib.sha256(seed.encode()).hexdigest()[:24]}"


async def send_test(job: SendJob, user_id: str, stop: asyncio.Event | None = None) -> TestSend:
    """Send the first valid row's message to `user_id`; AccountError if the keys are wrong.

    Without the campaign's CallbackUrl: its report would reach the campaign's
    receiver as a message no send of the campaign knows. `stop` stops it as
    it stops a campaign: no retry after it, an answer in flight recorded.
    """
    started = time.monotonic()
    line, text, url = await in_thread(first_valid_row, job)
    path = test_sends_path(job.output)
    options = dataclasses.replace(job.config.options, callback_url=None)
    config = dataclasses.replace(job.config, options=options)
    journal = await in_thread(
        Journal.open, path, f"{job.campaign.id} (test messages)", sending=True
    )
    cancelled = False
    try:
        count = await in_thread(journal.count)
        request_id = test_request_id(job.campaign.id, job.campaign.slug, user_id, count + 1)
        message = esms.Message(line, request_id, user_id, text, url, "", request_id)
        outcomes: list[Outcome] = []
        session = new_session(4)
        try:
            await check_account(session, config)
            sender = Sender(
                config,
                session,
                rate_limiter(config.rate),
                journal,
                on_done=lambda _, outcome: outcomes.append(outcome),
            )

            async def one() -> AsyncIterator[esms.Message]:
                yield message

            if stop is not None and stop.is_set():
                sender.stop(Stop(INTERRUPTED, outside=False))
            else:
                cancelled = await run_stoppably(sender, one(), stop)
        finally:
            await session.close()
        await in_thread(journal.commit)
    finally:
        journal.close()
    if cancelled:
        raise asyncio.CancelledError
    if sender.stopped is not None and sender.stopped.crash is not None:
        raise sender.stopped.crash
    outcome = outcomes[0] if outcomes else Outcome(FAILED, message=_("not sent: the run stopped"))
    return TestSend(line, user_id, message, outcome, sender.stopped, time.monotonic() - started)
