"""What a scheduler reads while a send runs: logging, stderr in a file, the JSON log."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import batch_sender
from batch_sender.cli import cli
from batch_sender.cli.console import ProgressBar
from batch_sender.sending.progress import ProgressLog

from .conftest import CREDENTIALS, RunningSimulator, message_rows, write_csv


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_progress_line_every_interval_with_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = ProgressLog(interval=10.0, clock=clock)
    caplog.set_level(logging.INFO, logger="batch_sender")
    log(0, 300)
    for done in range(1, 301):
        clock.now += 0.1  # ten messages a second
        log(done, 300)
    log.finish()

    lines = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "progress"]
    assert lines[0] == "progress: 100/300 sent (33%), 10.0 messages/s, about 20 s left"
    assert lines[1] == "progress: 200/300 sent (67%), 10.0 messages/s, about 10 s left"
    assert lines[-1] == "progress: 300/300 sent (100%), 10.0 messages/s"
    assert len(lines) == 3  # the last interval's line is the final one
    assert all(r.name == "batch_sender" for r in caplog.records)


def test_the_library_logs_the_plan_warnings_progress_and_summary(
    tmp_path: Path,
    esms: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="batch_sender")
    path = write_csv(tmp_path / "c.csv", [*message_rows(5), ["12ab", "hi", "https://x.vn/a.jpg"]])
    key, secret, oaid = CREDENTIALS[1::2]
    account = batch_sender.Account(api_key=key, secret_key=secret, oaid=oaid, base_url=esms.url)

    batch_sender.send(path, tmp_path / "r.csv", account=account, rate=0)

    messages = [r.getMessage() for r in caplog.records if r.name == "batch_sender"]
    assert messages[0] == "campaign 'c': 5 to send"
    assert any(m.startswith("1 invalid and 0 duplicate rows are not sent") for m in messages)
    assert "progress: 5/5 sent (100%)" in " ".join(messages)
    assert messages[-2].startswith("c.csv: ") and "5 accepted, 1 invalid" in messages[-2]
    assert messages[-1].startswith("sent 5 messages in ")
    assert capsys.readouterr() == ("", "")  # the library prints nothing


def _send_process(
    esms: RunningSimulator, rows: int, stderr: Path, *more: str
) -> subprocess.Popen[bytes]:
    path = write_csv(Path("c.csv"), message_rows(rows))
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "batch_sender", "send", str(path), "-o", "r.csv"),
                *esms.args,
                *more,
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": ""},
        )


def _wait_for(condition: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_stderr_in_a_file_has_each_line_as_it_happens_and_after_kill_9(
    esms: RunningSimulator,
) -> None:
    err = Path("err.txt")
    process = _send_process(esms, 200, err, "--rate", "40", "--progress-every", "0.5")
    try:
        _wait_for(lambda: "progress: " in err.read_text(), "no progress line while it sends")
        running = err.read_text().splitlines()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    after = err.read_text()

    assert running[0] == "campaign 'c': 200 to send"  # the plan first
    assert any(line.startswith("progress: ") and " sent (" in line for line in running)
    assert after.endswith("\n")  # whole lines only, nothing lost in a buffer
    assert after.startswith("\n".join(running))
    assert "\x1b[" not in after and "\r" not in after  # no bar frames in a file
    assert 0 < esms.stats()["accepted"] < 200


def test_the_plan_comes_before_stopping(esms: RunningSimulator) -> None:
    err = Path("err.txt")
    process = _send_process(esms, 100, err, "--rate", "10")
    try:
        _wait_for(lambda: esms.stats()["accepted"] >= 2, "nothing sent")
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 130
    finally:
        if process.poll() is None:
            process.kill()
    lines = err.read_text().splitlines()

    plan = lines.index("campaign 'c': 100 to send")
    stopping = next(i for i, line in enumerate(lines) if line.startswith("stopping:"))
    assert plan < stopping


def test_the_bar_reaches_its_total_and_lines_are_not_glued_to_it() -> None:
    from rich.console import Console

    screen = io.StringIO()
    bar = ProgressBar(enabled=True, console=Console(file=screen, force_terminal=True, width=80))
    for done in range(301):
        bar(batch_sender.Progress(done, 300))
    bar.print("campaign 'c': 300 to send")
    bar.close()

    text = screen.getvalue()
    # The bar's line is erased before the line is written, and drawn again after it.
    assert "\r\x1b[2Kcampaign 'c': 300 to send\n" in text
    last_frame = text.rsplit("\r", 1)[-1]
    assert "300/300" in last_frame


def test_the_json_log_has_iso_times_every_row_and_the_summary(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = [*message_rows(3), message_rows(1)[0], ["12ab", "hi", "https://x.vn/a.jpg"]]
    path = write_csv(tmp_path / "c.csv", rows)
    excluded = rows[2][0]
    Path("optout.txt").write_text(f"{excluded}\n")
    result = CliRunner().invoke(
        cli,
        [
            *("send", str(path), "-o", "r.csv", "--log-format", "json"),
            *("--summary-json", "s.json", "--exclude", "optout.txt", *esms.args),
        ],
    )
    assert result.exit_code == 1, result.output
    events = [json.loads(line) for line in result.stderr.splitlines()]

    for event in events:
        when = dt.datetime.fromisoformat(event["time"])
        assert when.tzinfo is not None and "T" in event["time"]
    outcome = {e["row"]: e["status"] for e in events if e["event"] == "row"}
    assert outcome == {2: "accepted", 3: "accepted", 4: "excluded", 5: "duplicate", 6: "invalid"}
    invalid = next(e for e in events if e["event"] == "row" and e["status"] == "invalid")
    assert invalid["ErrorMessage"] and invalid["RequestId"] == ""
    assert events[-1]["event"] == "summary"
    assert events[-1]["summary"] == json.loads(Path("s.json").read_text(encoding="utf-8"))
