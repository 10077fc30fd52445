"""Sending one row: retry classification (aioresponses), account stops, and the journal."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from batch_sender.errors import for_cli
from batch_sender.esms.protocol import SEND_PATH, Credentials, Message
from batch_sender.journal.records import ACCEPTED, FAILED
from batch_sender.journal.store import Journal
from batch_sender.sending.config import SendConfig
from batch_sender.sending.ratelimit import Unlimited
from batch_sender.sending.sender import NOT_OURS_124, RESERVED_124, Sender

from .conftest import LONG_ID

BASE = "https://esms.test"
URL = BASE + SEND_PATH
CREDS = Credentials("the-api-key", "the-secret-key", "4321")


def msg(n: int = 0) -> Message:
    return Message(2 + n, f"c-{n:04d}", LONG_ID, "Chào", "https://x.vn/a.jpg")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "r.csv.journal.sqlite", "c", sending=True)
    yield j
    j.close()


class Harness:
    def __init__(self, journal: Journal, **config: object) -> None:
        self.waits: list[float] = []
        self.now = 0.0
        self.journal = journal
        self.config = SendConfig(base_url=BASE, credentials=CREDS, **config)  # type: ignore[arg-type]

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def sender(self, session: aiohttp.ClientSession) -> Sender:
        return Sender(
            self.config,
            session,
            Unlimited(),
            self.journal,
            sleep=self.sleep,
            clock=lambda: self.now,
        )


async def deliver(h: Harness, message: Message | None = None):
    async with aiohttp.ClientSession() as session:
        sender = h.sender(session)
        outcome = await sender.deliver(message or msg())
        return sender, outcome


def requests_made(m: aioresponses) -> int:
    return sum(len(calls) for calls in m.requests.values())


async def test_500_then_100_is_accepted_on_the_second_attempt(mocked, journal) -> None:
    mocked.post(URL, status=500, body="<html>oops</html>")
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "sms-1"})
    h = Harness(journal)
    _, outcome = await deliver(h)
    assert (outcome.status, outcome.code, outcome.smsid) == ("accepted", "100", "sms-1")
    assert requests_made(mocked) == 2
    assert journal.lookup(["c-0000"])["c-0000"].attempts == 2
    assert 0.5 <= h.waits[0] <= 1.0  # backoff 0.5, plus up to 0.5 of jitter


async def test_dropped_then_124_is_accepted(mocked, journal) -> None:
    mocked.post(URL, exception=aiohttp.ServerDisconnectedError())
    mocked.post(URL, payload={"CodeResult": "124", "ErrorMessage": "Request exist 1"})
    _, outcome = await deliver(Harness(journal))
    assert (outcome.status, outcome.code, outcome.smsid) == ("accepted", "124", "")
    journal.record("c-0000", 2, outcome)
    record = journal.lookup(["c-0000"])["c-0000"]
    assert record.ambiguous_since is None  # accepted: nothing left in doubt


def refused_connection() -> aiohttp.ClientConnectorError:
    key = SimpleNamespace(host="esms.test", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))  # type: ignore[arg-type]


async def test_124_after_a_connection_that_never_opened_is_not_taken_for_a_reserved_id(
    mocked, journal
) -> None:
    # eSMS never saw attempt 1: its 124 is another run's send of this RequestId, and
    # "reserved after our refusal" would send the row again under a new RequestId.
    mocked.post(URL, exception=refused_connection())
    mocked.post(URL, payload={"CodeResult": "124", "ErrorMessage": "Request exist 1"})
    _, outcome = await deliver(Harness(journal, backoff=0))
    assert (outcome.status, outcome.code, outcome.message) == ("rejected", "124", NOT_OURS_124)


async def test_124_after_esms_refused_our_attempt_is_a_reserved_id(mocked, journal) -> None:
    mocked.post(URL, payload={"CodeResult": "160", "ErrorMessage": "busy"})
    mocked.post(URL, payload={"CodeResult": "124", "ErrorMessage": "Request exist 1"})
    _, outcome = await deliver(Harness(journal, backoff=0))
    assert (outcome.status, outcome.code, outcome.message) == ("failed", "124", RESERVED_124)


async def test_124_after_our_own_timeout_is_accepted_even_if_the_journal_missed_it(
    mocked, journal, monkeypatch
) -> None:
    # A full disk or a busy journal: the read sees only what is committed, none of
    # this run's writes. The sender itself knows its first attempt timed out.
    monkeypatch.setattr(journal, "lookup", lambda request_ids: {})
    mocked.post(URL, exception=TimeoutError())
    mocked.post(URL, payload={"CodeResult": "124", "ErrorMessage": "Request exist 1"})
    _, outcome = await deliver(Harness(journal, backoff=0))
    assert (outcome.status, outcome.code) == ("accepted", "124")


async def test_the_same_request_id_goes_out_on_every_attempt(mocked, journal) -> None:
    mocked.post(URL, exception=TimeoutError())
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "s"})
    await deliver(Harness(journal))
    # Posted as the send page's sample does: its JSON as text/plain.
    calls = [call for calls in mocked.requests.values() for call in calls]
    assert {call.kwargs["headers"]["Content-Type"] for call in calls} == {"text/plain"}
    bodies = [json.loads(call.kwargs["data"]) for call in calls]
    assert [b["RequestId"] for b in bodies] == ["c-0000", "c-0000"]


async def test_101_is_not_retried_and_stops_the_run(mocked, journal) -> None:
    mocked.post(URL, payload={"CodeResult": "101", "ErrorMessage": "Authorize Failed"})
    sender, outcome = await deliver(Harness(journal))
    assert requests_made(mocked) == 1
    assert (outcome.status, outcome.code) == ("failed", "101")
    assert sender.stopped is not None and sender.stopped.outside
    assert "ESMS_API_KEY" in for_cli(sender.stopped.reason)


async def test_a_row_level_code_is_rejected_without_retry(mocked, journal) -> None:
    mocked.post(URL, payload={"CodeResult": "99", "ErrorMessage": "User blocked"})
    sender, outcome = await deliver(Harness(journal))
    assert requests_made(mocked) == 1
    assert (outcome.status, outcome.code, outcome.message) == ("rejected", "99", "User blocked")
    assert sender.stopped is None


async def test_160_is_retried_then_fails_with_its_code(mocked, journal) -> None:
    for _ in range(3):
        mocked.post(URL, payload={"CodeResult": "160", "ErrorMessage": "Too fast"})
    h = Harness(journal, max_attempts=3)
    _, outcome = await deliver(h)
    assert requests_made(mocked) == 3
    assert outcome.status == "failed"
    assert outcome.code == "160"
    assert outcome.message == "CodeResult 160 Too fast; gave up after 3 attempts"
    # Exponential from --backoff 0.5 (0.5, then 1.0), each plus up to 0.5 of jitter.
    assert len(h.waits) == 2
    assert 0.5 <= h.waits[0] <= 1.0 <= h.waits[1] <= 1.5


async def test_429_honours_retry_after(mocked, journal) -> None:
    mocked.post(URL, status=429, headers={"Retry-After": "7"})
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "s"})
    h = Harness(journal)
    _, outcome = await deliver(h)
    assert outcome.status == "accepted"
    assert h.waits == [7.0]


async def test_a_body_that_is_not_json_is_retried(mocked, journal) -> None:
    mocked.post(URL, status=200, body="<html>gateway</html>")
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "s"})
    _, outcome = await deliver(Harness(journal))
    assert outcome.status == "accepted"


async def test_http_404_stops_the_run_with_a_hint(mocked, journal) -> None:
    mocked.post(URL, status=404)
    sender, outcome = await deliver(Harness(journal))
    assert outcome.status == "failed"
    assert sender.stopped is not None
    assert for_cli(sender.stopped.reason).endswith("check --base-url")


async def test_unreachable_for_a_while_stops_the_run(mocked, journal) -> None:
    for _ in range(10):
        mocked.post(URL, exception=aiohttp.ClientConnectionError("refused"))
    h = Harness(journal, max_attempts=10, backoff=20.0, unreachable_after=60.0)
    sender, outcome = await deliver(h)
    assert outcome.status == "failed"
    assert sender.stopped is not None and sender.stopped.outside
    assert "has not answered" in sender.stopped.reason
    assert requests_made(mocked) < 10  # stopped early instead of burning the retries


async def messages(n: int) -> AsyncIterator[Message]:
    for i in range(n):
        yield msg(i)


async def test_run_stops_taking_rows_after_an_account_error(mocked, journal) -> None:
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "s1"})
    mocked.post(URL, payload={"CodeResult": "103", "ErrorMessage": "Balance"}, repeat=True)
    h = Harness(journal, concurrency=1)
    async with aiohttp.ClientSession() as session:
        sender = h.sender(session)
        await sender.run(messages(20))
    assert requests_made(mocked) == 2
    records = journal.lookup([f"c-{i:04d}" for i in range(20)])
    assert {r: rec.status for r, rec in records.items()} == {
        "c-0000": "accepted",
        "c-0001": "failed",
    }
    assert sender.stopped is not None and sender.stopped.code == "103"


# --- answers that are not answers --------------------------------------------------


@pytest.mark.parametrize(
    "not_an_answer", [{"CodeResult": None}, {}, {"CodeResult": ""}, {"CodeResult": " "}]
)
async def test_an_answer_without_code_result_is_retried_with_the_same_request_id(
    mocked: aioresponses,
    journal: Journal,
    not_an_answer: dict[str, Any],
) -> None:
    mocked.post(URL, payload=not_an_answer)
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "sms-1"})
    _, outcome = await deliver(Harness(journal))
    assert (outcome.status, outcome.code, outcome.smsid) == (ACCEPTED, "100", "sms-1")
    bodies = [json.loads(c.kwargs["data"]) for calls in mocked.requests.values() for c in calls]
    assert [b["RequestId"] for b in bodies] == ["c-0000", "c-0000"]


async def test_never_an_answer_is_failed_in_doubt_not_rejected_with_code_none(
    mocked: aioresponses,
    journal: Journal,
) -> None:
    mocked.post(URL, payload={"CodeResult": None}, repeat=True)
    _, outcome = await deliver(Harness(journal, max_attempts=3), msg())
    assert outcome.status == FAILED and outcome.code == ""
    assert "None" not in outcome.message
    journal.record("c-0000", 2, outcome)
    assert journal.lookup(["c-0000"])["c-0000"].ambiguous_since is not None
    assert requests_made(mocked) == 3


async def test_a_send_whose_campaign_was_taken_over_stops_before_its_next_request(
    mocked, journal
) -> None:
    # Frozen past the heartbeat's STALE (a paused VM), it finds another send's record.
    from batch_sender.journal.running import RunningSend, _write

    other = RunningSend(4242, "elsewhere", "their-token", time.time(), time.time())
    journal.writer.call(lambda: _write(journal.writer.conn, other))
    journal.writer.call(journal.claim._refresh)
    mocked.post(URL, payload={"CodeResult": "100", "SMSID": "s"})
    sender, outcome = await deliver(Harness(journal))
    assert requests_made(mocked) == 0
    assert outcome is None
    assert sender.stopped is not None and sender.stopped.outside
    assert "took it over" in sender.stopped.reason
