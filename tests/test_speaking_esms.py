"""What eSMS may answer beyond its samples: refused look-ups, an unknown OAID,
answers that are not answers, and redirects (never followed: the keys are in the body)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.delivery.status import look_up
from batch_sender.errors import AccountError
from batch_sender.esms import protocol as esms
from batch_sender.journal.records import ACCEPTED, Outcome
from batch_sender.journal.store import Journal
from batch_sender.results.rows import RESULT_COLUMNS
from batch_sender.simulator.config import SimulatorConfig

from .conftest import (
    CREDENTIALS,
    HEADER,
    LONG_ID,
    message_rows,
    read_results,
    simulator_running,
    write_csv,
)
from .test_sender import requests_made

FIXTURES = Path(__file__).parent / "fixtures" / "esms"
BASE = "https://esms.test"
STATUS = "https://status.esms.test"
KEYS = ["--api-key", "the-key", "--secret-key", "the-secret"]


def accepted_results(tmp_path: Path, smsids: list[str]) -> Path:
    """A result file and journal with these SMSIDs accepted (as `send` leaves them)."""
    results = tmp_path / "r.csv"
    rows = []
    kept = Journal.open(tmp_path / "r.csv.journal.sqlite", "c", sending=True)
    for i, smsid in enumerate(smsids):
        row = {"row": str(i + 2), "status": "accepted", "RequestId": f"rid-{i}", "SMSID": smsid}
        rows.append([LONG_ID, "Chào", "https://x/a.jpg", *(row.get(c, "") for c in RESULT_COLUMNS)])
        kept.record(f"rid-{i}", i + 2, Outcome(ACCEPTED, "100", smsid, ""))
    kept.close()
    write_csv(results, rows, header=[*HEADER, *RESULT_COLUMNS])
    return results


# --- status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"Code": 101, "Message": "Authorize Failed"}, "refused the ApiKey/SecretKey (101)"),
        ({"Code": "799", "Message": "OAID wrong"}, "refused the OAID (Code 799 OAID wrong)"),
        ({"Code": 204, "Message": ""}, "check ESMS_OAID / --oaid"),
        ({"Code": 999, "Message": "Busy"}, "answered Code 999 Busy"),
        ({"Message": "?"}, "answered no Code ?"),
    ],
)
def test_status_turns_a_code_other_than_100_into_one_line_exit_3(
    tmp_path: Path, answer: dict[str, Any], says: str
) -> None:
    results = accepted_results(tmp_path, ["s1"])
    with aioresponses() as m:
        m.post(STATUS + esms.GET_CALLBACK_PATH, payload=answer)
        result = CliRunner().invoke(
            cli, ["status", str(results), "--status-base-url", STATUS, *KEYS, "--oaid", "1"]
        )
    assert result.exit_code == 3, result.output
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("Error")]
    assert says in line and "Traceback" not in result.output
    assert "the-secret" not in result.output


def test_status_needs_the_keys_and_the_oaid(tmp_path: Path) -> None:
    results = accepted_results(tmp_path, ["s1"])
    result = CliRunner().invoke(cli, ["status", str(results), "--status-base-url", STATUS])
    assert result.exit_code == 2
    assert "ESMS_API_KEY" in result.stderr and "ESMS_OAID" in result.stderr


class CountingLimiter:
    def __init__(self) -> None:
        self.calls = 0

    async def acquire(self) -> None:
        self.calls += 1


async def no_sleep(_: float) -> None:
    return None


async def ask(results: Path, limiter: CountingLimiter, sleep: Any = no_sleep) -> Any:
    """look_up against STATUS with a counting limiter and no real waits."""
    return await look_up(
        results,
        status_base_url=STATUS,
        credentials=esms.Credentials("k", "s", "oa"),
        timeout=5,
        say=lambda _: None,
        limiter=limiter,
        sleep=sleep,
    )


async def test_status_asks_200_smsids_a_call_through_the_limiter(tmp_path: Path) -> None:
    smsids = [f"sms-{i:04d}" for i in range(450)]
    results = accepted_results(tmp_path, smsids)
    limiter = CountingLimiter()
    url = STATUS + esms.GET_CALLBACK_PATH
    with aioresponses() as m:
        m.post(url, payload={"Code": 100, "Message": "Success", "Data_callback": []}, repeat=True)
        outcome = await ask(results, limiter)
        asked = [c.kwargs["json"]["ListRefid"] for calls in m.requests.values() for c in calls]
    assert [len(a) for a in asked] == [200, 200, 50]
    assert [s for page in asked for s in page] == smsids
    assert limiter.calls == 3
    assert (outcome.asked, outcome.known) == (450, 0)


async def test_status_retries_a_busy_or_failed_page_through_the_limiter(tmp_path: Path) -> None:
    # GetCallback allows 20 calls a second; Code 160 is "over the TPS limit": wait, ask again.
    results = accepted_results(tmp_path, ["s1"])
    limiter = CountingLimiter()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    url = STATUS + esms.GET_CALLBACK_PATH
    record = {"SMSID": "s1", "SendFailed": 0, "SendSuccess": 1, "SendStatus": 5, "RequestId": None}
    with aioresponses() as m:
        m.post(url, status=503)
        m.post(url, payload={"Code": 160, "Message": "Request per second over limit"})
        m.post(url, payload={"Code": "100", "Message": "Success", "Data_callback": [record]})
        outcome = await ask(results, limiter, sleep)
    assert outcome.found == {"delivered": 1}
    assert limiter.calls == 3  # every attempt waits its turn under the 20/s limit
    assert len(waits) == 2 and all(w > 0 for w in waits)


async def test_status_that_stays_over_the_limit_stops_with_one_line(tmp_path: Path) -> None:
    results = accepted_results(tmp_path, ["s1"])
    limiter = CountingLimiter()
    url = STATUS + esms.GET_CALLBACK_PATH
    with aioresponses() as m:
        m.post(url, payload={"Code": 160, "Message": "Request per second over limit"}, repeat=True)
        with pytest.raises(AccountError) as caught:
            await ask(results, limiter)
    assert limiter.calls > 1
    assert "Code 160 Request per second over limit" in str(caught.value)
    assert "try again later" in str(caught.value)


def test_status_against_the_simulator_with_a_wrong_oaid_is_exit_3(
    tmp_path: Path, esms: Any
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    sent = CliRunner().invoke(
        cli,
        ["send", str(path), "-o", "r.csv", "--callback-url", "http://127.0.0.1:9/cb", *esms.args],
    )
    assert sent.exit_code == 0, sent.output
    keys = esms.args[esms.args.index("--api-key") : esms.args.index("--oaid")]
    result = CliRunner().invoke(
        cli, ["status", "r.csv", "--status-base-url", esms.url, *keys, "--oaid", "typo"]
    )
    assert result.exit_code == 3
    assert "check ESMS_OAID / --oaid" in result.stderr


# --- preflight: the OAID against ZNS/GetListZOA -------------------------------------


def send_with(
    tmp_path: Path, oaid: str, *list_oa: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    """`send` of two rows with JSON logs; the exit code and the log's events, in order."""
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    with aioresponses() as m:
        m.post(BASE + esms.BALANCE_PATH, payload={"Balance": 9, "CodeResponse": "100", "UserID": 1})
        for answer in list_oa:  # one answer per request, in order
            m.post(BASE + esms.LIST_OA_PATH, **answer)
        m.post(
            BASE + esms.SEND_PATH,
            payload={"CodeResult": "100", "CountRegenerate": 0, "SMSID": "x"},
            repeat=True,
        )
        result = CliRunner().invoke(
            cli,
            [
                *("send", str(path), "-o", "r.csv", "--base-url", BASE, *KEYS),
                *("--oaid", oaid, "--log-format", "json", "--backoff", "0"),
            ],
        )
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.exit_code, events


LISTED = {"body": (FIXTURES / "getlistzoa-100.json").read_text(encoding="utf-8")}


def test_an_oaid_not_in_the_accounts_list_is_a_warning_before_the_first_message(
    tmp_path: Path,
) -> None:
    code, events = send_with(tmp_path, "4097311281936189040", LISTED)  # one digit off
    assert code == 0  # a warning, never a stop: eSMS's 799 decides
    messages = [e.get("message", "") for e in events]
    (warning,) = [i for i, m in enumerate(messages) if "not among the account's Zalo OAs" in m]
    assert "745830328927467685 (Hệ thống ESMS Marketing)" in messages[warning]
    assert "4097311281936189049 (SVoucher)" in messages[warning]
    first_row = min(i for i, e in enumerate(events) if e.get("event") == "row")
    assert warning < first_row
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted", "accepted"]


def test_a_listed_oaid_gives_no_warning(tmp_path: Path) -> None:
    code, events = send_with(tmp_path, "4097311281936189049", LISTED)
    assert code == 0
    assert not [e for e in events if "OAID" in e.get("message", "")]


@pytest.mark.parametrize(
    "list_oa",
    [
        {"status": 404},
        {"status": 503},
        {"body": (FIXTURES / "getlistzoa-101.json").read_text(encoding="utf-8")},
        {"payload": {"CodeResult": "555", "ErrorMessage": "new"}},
        {"body": "<html>proxy</html>"},
    ],
)
def test_a_failed_oa_check_is_a_warning_and_the_run_goes_on(
    tmp_path: Path, list_oa: dict[str, Any]
) -> None:
    code, events = send_with(tmp_path, "4097311281936189049", list_oa)
    assert code == 0
    assert any("the OAID was not checked" in e.get("message", "") for e in events)
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted", "accepted"]


def test_the_oa_check_is_retried_like_any_request(tmp_path: Path) -> None:
    code, events = send_with(
        tmp_path, "4097311281936189040", {"status": 503}, {"exception": TimeoutError()}, LISTED
    )
    assert code == 0
    messages = [e.get("message", "") for e in events]
    assert not [m for m in messages if "the OAID was not checked" in m]
    assert [m for m in messages if "not among the account's Zalo OAs" in m]


# --- redirects ---------------------------------------------------------------------


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    """A server that answers every POST with 307 to plain http (here: itself, /steal)."""
    hits: list[str] = []
    ready: Future[str] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        base = ""

        async def redirect(request: web.Request) -> web.Response:
            hits.append(request.path)
            if request.path == "/steal":
                return web.json_response({"CodeResult": "100", "CodeResponse": "100", "Code": 100})
            raise web.HTTPTemporaryRedirect(base + "/steal")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", redirect)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        ready.set_result(base)
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=10), hits
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def test_send_balance_status_and_audience_never_follow_a_redirect(
    tmp_path: Path, redirecting: tuple[str, list[str]]
) -> None:
    url, hits = redirecting
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    runner = CliRunner()
    send = runner.invoke(
        cli, ["send", str(path), "-o", "r.csv", "--base-url", url, *KEYS, "--oaid", "1"]
    )
    balance = runner.invoke(cli, ["balance", "--base-url", url, *KEYS])
    (tmp_path / "looked-up").mkdir()
    results = accepted_results(tmp_path / "looked-up", ["s1"])
    status = runner.invoke(
        cli, ["status", str(results), "--status-base-url", url, *KEYS, "--oaid", "1"]
    )
    audience = runner.invoke(
        cli,
        [
            *("audience", "-o", "a.csv", "--base-url", url, *KEYS, "--oaid", "1"),
            *("--from", "2026-11-01", "--to", "2026-11-30"),
        ],
    )
    for result in (send, balance, status, audience):
        assert result.exit_code == 3, result.output
        assert f"HTTP 307 Temporary Redirect at {url}" in result.stderr
        assert "redirecting to http://127.0.0.1:" in result.stderr
        assert "the-secret" not in result.output
    assert "/steal" not in hits  # the keys were never posted again
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["unsent", "unsent"]


def test_a_redirect_on_send_stops_the_run(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    with aioresponses() as m:
        m.post(BASE + esms.BALANCE_PATH, payload={"Balance": 9, "CodeResponse": "100", "UserID": 1})
        m.post(BASE + esms.LIST_OA_PATH, body=LISTED["body"])
        m.post(
            BASE + esms.SEND_PATH,
            status=307,
            headers={"Location": "http://evil.example/x"},
            repeat=True,
        )
        result = CliRunner().invoke(
            cli,
            [
                *("send", str(path), "-o", "r.csv", "--base-url", BASE, *KEYS),
                *("--oaid", "4097311281936189049", "--concurrency", "1"),
            ],
        )
        assert requests_made(m) == 3  # balance, the OA list, one send: then it stopped
    assert result.exit_code == 3, result.output
    assert "redirecting to http://evil.example" in result.stderr


def test_status_before_the_verdict_records_pending(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    with simulator_running(SimulatorConfig(seed=3, callback_delay=60)) as running:
        sent = CliRunner().invoke(
            cli,
            [
                *("send", str(path), "-o", "r.csv"),
                *("--callback-url", "http://127.0.0.1:9/cb", *running.args),
            ],
        )
        assert sent.exit_code == 0, sent.output
        status = ["status", "r.csv", "--status-base-url", running.url, *CREDENTIALS]
        result = CliRunner().invoke(cli, status)
    assert result.exit_code == 0, result.output
    assert "reports: 3 pending" in result.stdout
    assert [r["delivery"] for r in read_results(Path("r.csv"))] == ["pending"] * 3


def test_status_with_a_plain_http_base_names_its_own_option(tmp_path: Path) -> None:
    results = accepted_results(tmp_path, ["s1"])
    result = CliRunner().invoke(
        cli,
        [
            "status",
            str(results),
            "--status-base-url",
            "http://status.example",
            *KEYS,
            "--oaid",
            "1",
        ],
    )
    assert result.exit_code == 2
    assert "--status-base-url http://status.example is plain http" in result.stderr


async def test_a_balance_answer_without_code_response_says_so() -> None:
    from batch_sender.sending.account import account_balance

    with aioresponses() as m:
        m.post(BASE + esms.BALANCE_PATH, payload={"CodeResponse": None})
        with pytest.raises(AccountError) as caught:
            await account_balance(BASE, "k", "s", 5)
    assert "no CodeResponse" in str(caught.value) and "None" not in str(caught.value)


def test_quiet_keeps_the_oaid_warning(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(1))
    with aioresponses() as m:
        m.post(BASE + esms.BALANCE_PATH, payload={"Balance": 9, "CodeResponse": "100", "UserID": 1})
        m.post(BASE + esms.LIST_OA_PATH, body=LISTED["body"])
        m.post(BASE + esms.SEND_PATH, payload={"CodeResult": "100", "SMSID": "x"})
        result = CliRunner().invoke(
            cli, ["send", str(path), "-o", "r.csv", "--base-url", BASE, *KEYS, "--oaid", "1", "-q"]
        )
    assert result.exit_code == 0, result.output
    assert "warning: OAID 1 is not among the account's Zalo OAs" in result.stderr
    assert "to send" not in result.stderr  # the plan lines stay quiet


async def test_status_takes_code_105_as_nothing_known_yet(tmp_path: Path) -> None:
    # The code table: 105 "message not found; one just sent is not known at once".
    results = accepted_results(tmp_path, ["s1"])
    with aioresponses() as m:
        m.post(STATUS + esms.GET_CALLBACK_PATH, payload={"Code": 105, "Message": "Not found"})
        outcome = await ask(results, CountingLimiter())
    assert (outcome.asked, outcome.known, sum(outcome.found.values())) == (1, 0, 0)


def test_an_accepted_answer_without_smsid_is_accepted_and_says_so(tmp_path: Path) -> None:
    # 100 is eSMS's word that it took the message: sending again could deliver it twice.
    # But with no SMSID, no report can be matched to the row: the row says so.
    path = write_csv(tmp_path / "c.csv", message_rows(1))
    with aioresponses() as m:
        m.post(BASE + esms.BALANCE_PATH, payload={"Balance": 9, "CodeResponse": 100, "UserID": 1})
        m.post(BASE + esms.LIST_OA_PATH, body=LISTED["body"])
        m.post(
            BASE + esms.SEND_PATH, payload={"CodeResult": 100, "SMSID": None, "ErrorMessage": None}
        )
        result = CliRunner().invoke(
            cli, ["send", str(path), "-o", "r.csv", "--base-url", BASE, *KEYS, "--oaid", "1"]
        )
        assert requests_made(m) == 3
    assert result.exit_code == 0, result.output
    (row,) = read_results(Path("r.csv"))
    assert (row["status"], row["CodeResult"], row["SMSID"]) == ("accepted", "100", "")
    assert "no SMSID" in row["ErrorMessage"]


async def test_status_does_not_blame_124_for_every_row_without_smsid(tmp_path: Path) -> None:
    results = accepted_results(tmp_path, [""])
    said: list[str] = []
    await look_up(
        results,
        status_base_url=STATUS,
        credentials=esms.Credentials("k", "s", "oa"),
        timeout=5,
        say=said.append,
    )
    (line,) = [s for s in said if "no SMSID" in s]
    assert "eSMS gave none" in line
