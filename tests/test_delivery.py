"""Delivery status: callbacks into the journal and the result file, GetCallback, the report."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.delivery.receiver import Receiver
from batch_sender.delivery.server import receiver_app, serve_callbacks
from batch_sender.esms.delivery_report import BadReport, from_report, parse_error_info
from batch_sender.journal.store import Journal
from batch_sender.simulator.config import SimulatorConfig

from .conftest import CREDENTIALS, message_rows, read_results, simulator_running, write_csv

INACTIVE = (
    "-114 User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors"
)
ERROR = urllib.parse.quote('{"error":-114,"message":"User is inactive"}____27/11/2026 22:30:05')


def test_reports_become_delivered_failed_or_pending() -> None:
    delivered = from_report(
        {"SMSID": "s1", "RequestId": "r1", "SendStatus": "5", "SendSuccess": "1"}
    )
    assert (delivered.delivery, delivered.error) == ("delivered", "")
    failed = from_report(
        {
            "SMSID": "s2",
            "SendStatus": "5",
            "SendSuccess": "0",
            "SendFailed": "1",
            "error_info": ERROR,
        }
    )
    assert (failed.delivery, failed.error, failed.at) == (
        "failed",
        "-114 User is inactive",
        "2026-11-27T22:30:05+07:00",
    )
    assert from_report({"RequestId": "r", "SendStatus": "4"}).delivery == "failed"
    for waiting in ("1", "2", "7"):
        assert from_report({"RequestId": "r", "SendStatus": waiting}).delivery == "pending"
    with pytest.raises(BadReport):
        from_report({"SendStatus": "5"})
    with pytest.raises(BadReport):
        from_report({"SMSID": "s", "SendStatus": "five"})
    assert parse_error_info("not json") == ("not json", None)


@pytest.mark.parametrize("name", ["TotalPrice", "Totalprice", "totalprice"])
def test_the_price_is_read_whatever_the_casing(name: str) -> None:
    # The samples say TotalPrice, the field table Totalprice; other names come lower-case.
    report = from_report({"SMSID": "s", "SendStatus": "5", "SendSuccess": "1", name: "60.0000"})
    assert report.price == "60.0000"


def test_a_report_is_idempotent_and_final_beats_pending(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    report = {"RequestId": "r", "SMSID": "s", "SendStatus": "5", "SendSuccess": "1"}
    for params in (report, report, {**report, "SendStatus": "2"}):
        journal.deliveries.record(from_report(params))
    assert journal.deliveries.reported(["r"])["r"][0] == "delivered"
    journal.close()


@pytest.fixture
def receiver_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "batch_sender", "callbacks", "r.csv", "--port", "0"),
            *("--token", "t0ken-for-tests", "--every", "0.5", "--campaign-id", "c"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.startswith("receiving eSMS callbacks at "), line
    try:
        yield process, line.rsplit(" ", 1)[-1].strip()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_callbacks_fill_the_delivery_columns_row_for_row(
    tmp_path: Path, receiver_process: tuple[subprocess.Popen[str], str]
) -> None:
    process, url = receiver_process
    rows = message_rows(60)
    path = write_csv(tmp_path / "c.csv", rows)
    # Every encoding the pages show, taken in turn; RequestId always empty, as eSMS sends it.
    config = SimulatorConfig(
        seed=5, callback_delay=0.3, zalo_fail=0.25, callback_styles=("follower", "zns", "uid")
    )
    with simulator_running(config) as esms:
        result = CliRunner().invoke(
            cli,
            [
                *("send", str(path), "-o", "r.csv", "--rate", "100"),
                *("--callback-url", url, *esms.args),
            ],
        )
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 20
        while len(esms.call(lambda: dict(esms.simulator.reports))) < 60 or esms.call(
            lambda: len(esms.simulator.tasks)
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        reported = esms.call(lambda: dict(esms.simulator.reports))
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert "callbacks stopped: 60 reports" in out

    results = read_results(Path("r.csv"))
    assert [r["status"] for r in results] == ["accepted"] * 60
    failed = 0
    for row in results:
        report = reported[row["SMSID"]]
        if report.failed:
            failed += 1
            assert (row["delivery"], row["delivery_error"]) == ("failed", INACTIVE)
        else:
            assert (row["delivery"], row["delivery_error"]) == ("delivered", "")
        assert dt.datetime.fromisoformat(row["delivered_at"]).tzinfo is not None
    assert 5 < failed < 30  # both kinds really happened

    text = CliRunner().invoke(cli, ["report", "r.csv", "--html", "report.html"])
    assert text.exit_code == 0
    out = " ".join(text.stdout.split())
    assert f"delivered {60 - failed} " in out and f"delivery failed {failed} " in out
    assert f"{failed} the follower's Zalo is inactive, refused the message or is too old" in out
    assert "(Zalo -114)" in out
    page = Path("report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "-114 User is inactive, or reject the message" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page  # no assets


def test_status_asks_get_callback(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(250))
    with simulator_running(SimulatorConfig(seed=2, zalo_fail=0.1)) as esms:
        # Reports go nowhere (nobody listens on port 9): only the look-up can tell.
        nowhere = "http://127.0.0.1:9/esms/callback"
        sent = CliRunner().invoke(
            cli,
            [
                "send",
                str(path),
                "-o",
                "r.csv",
                "--rate",
                "0",
                "--callback-url",
                nowhere,
                *esms.args,
            ],
        )
        assert sent.exit_code == 0, sent.output
        deadline = time.monotonic() + 20
        while len(esms.call(lambda: dict(esms.simulator.reports))) < 250:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = ["status", "r.csv", "--status-base-url", esms.url, *CREDENTIALS]
        result = CliRunner().invoke(cli, status)
        assert result.exit_code == 0, result.output
        assert "asking eSMS about 250 accepted messages with no final report" in result.stderr
        assert "eSMS knew 250 of the 250 asked" in result.stdout
        rows = read_results(Path("r.csv"))
        assert {r["delivery"] for r in rows} == {"delivered", "failed"}
        assert all(r["delivered_at"] for r in rows)
        assert {r["delivery_error"] for r in rows if r["delivery"] == "failed"} == {INACTIVE}
        again = CliRunner().invoke(cli, status)
        assert "asking eSMS about 0 accepted messages" in again.stderr


async def hostile_client(tmp_path: Path) -> tuple[TestClient[Any, Any], Receiver]:
    receiver = Receiver(tmp_path / "r.csv", Journal(tmp_path / "r.csv.journal.sqlite"), print)
    client = TestClient(TestServer(receiver_app(receiver, "/esms/callback/s3cret-token")))
    await client.start_server()
    return client, receiver


async def test_hostile_callers_get_4xx_and_the_receiver_keeps_running(tmp_path: Path) -> None:
    client, receiver = await hostile_client(tmp_path)
    good = {"RequestId": "r1", "SMSID": "s1", "SendStatus": "5", "SendSuccess": "1"}
    try:
        assert (await client.get("/esms/callback", params=good)).status == 404  # no token
        assert (await client.get("/esms/callback/wrong-token", params=good)).status == 404
        assert (await client.get("/admin")).status == 404
        missing = await client.get("/esms/callback/s3cret-token", params={"SMSID": "s"})
        assert missing.status == 400
        huge = await client.get("/esms/callback/s3cret-token?" + "x=" + "a" * 10_000)
        assert 400 <= huge.status < 500
        posted = await client.post("/esms/callback/s3cret-token", data=b"x" * 100_000)
        assert 400 <= posted.status < 500

        async def one(i: int) -> int:
            params = {**good, "RequestId": f"r{i % 50}", "SMSID": f"s{i % 50}"}
            return (await client.get("/esms/callback/s3cret-token", params=params)).status

        statuses = await asyncio.gather(*(one(i) for i in range(1000)))
        assert set(statuses) == {200}
        assert (await client.get("/esms/callback/s3cret-token", params=good)).status == 200
        assert len(receiver.journal.deliveries.reported([f"r{i}" for i in range(50)])) == 50
        assert receiver.unknown == 1001  # logged, not fatal: no send recorded these yet
    finally:
        await client.close()
        receiver.journal.close()


def test_reports_stored_by_a_killed_receiver_reach_the_result_file(tmp_path: Path) -> None:
    """A receiver killed between its 200s and its rewrite: the next receiver or status folds them.

    Every report it answered is in the journal; none may stay out of the result file.
    """
    path = write_csv(tmp_path / "c.csv", message_rows(5))
    with simulator_running(SimulatorConfig(seed=3)) as esms:
        sent = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", *esms.args])
        assert sent.exit_code == 0, sent.output
    rows = read_results(Path("r.csv"))
    journal = Journal(Path("r.csv.journal.sqlite"))
    try:
        for row in rows:  # what the killed receiver stored and answered 200 for
            journal.deliveries.record(
                from_report(
                    {"SMSID": row["SMSID"], "RequestId": "", "SendStatus": "5", "SendSuccess": "1"}
                )
            )
        journal.commit()
    finally:
        journal.close()
    assert {r["delivery"] for r in read_results(Path("r.csv"))} == {""}

    async def start_and_stop() -> None:
        stop = asyncio.Event()
        stop.set()  # Ctrl-C at once: nothing new arrives
        await serve_callbacks(
            Path("r.csv"),
            host="127.0.0.1",
            port=0,
            token=None,
            every=60,
            say=lambda _: None,
            stop=stop,
        )

    asyncio.run(start_and_stop())
    assert [r["delivery"] for r in read_results(Path("r.csv"))] == ["delivered"] * 5


def test_status_folds_reports_a_killed_receiver_stored(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    with simulator_running(SimulatorConfig(seed=4)) as esms:
        # No CallbackUrl: GetCallback knows nothing of them, so status learns nothing new.
        sent = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", *esms.args])
        assert sent.exit_code == 0, sent.output
        rows = read_results(Path("r.csv"))
        journal = Journal(Path("r.csv.journal.sqlite"))
        try:
            journal.deliveries.record(
                from_report({"SMSID": rows[0]["SMSID"], "SendStatus": "5", "SendSuccess": "1"})
            )
            journal.commit()
        finally:
            journal.close()
        status = ["status", "r.csv", "--status-base-url", esms.url, *CREDENTIALS]
        result = CliRunner().invoke(cli, status)
        assert result.exit_code == 0, result.output
    assert read_results(Path("r.csv"))[0]["delivery"] == "delivered"
