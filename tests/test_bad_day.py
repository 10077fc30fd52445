"""A bad day: a full disk, a busy or damaged journal, a stranger at the receiver.

Each test replays one scenario of a bad day; the number in its name is the
scenario's. Receiver tests talk to 127.0.0.1 only and are bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.delivery.receiver import Limits, Receiver, StoreFailed, printable
from batch_sender.delivery.server import serve_callbacks
from batch_sender.esms.delivery_report import from_report
from batch_sender.journal.errors import JournalError
from batch_sender.journal.files import journal_path
from batch_sender.journal.records import Outcome
from batch_sender.journal.store import Journal
from batch_sender.journal.writer import Writer
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import (
    CREDENTIALS,
    RunningSimulator,
    message_rows,
    read_results,
    simulator_running,
    small_disk,
    write_csv,
)

HOSTILE = [
    '=HYPERLINK("http://evil.example/x","click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\tTAB",
    "\rCR",
]


def _hostile_esms(esms: RunningSimulator) -> None:
    """eSMS (or whoever answers in its name) puts formulas in ErrorMessage."""
    answers = iter(HOSTILE * 10)

    def accept(_body: dict[str, Any]) -> dict[str, str]:
        return {"CodeResult": "99", "ErrorMessage": next(answers)}

    def install() -> None:
        esms.simulator._accept = accept  # type: ignore[method-assign, assignment]

    esms.call(install)


def _rows_with_formula_text(count: int) -> list[list[str]]:
    rows = message_rows(count)
    rows[0][1] = "=1+1 is the user's own text, as they typed it"
    return rows


@pytest.mark.parametrize("output", ["r.csv", "r.xlsx"])
def test_8_cells_from_strangers_never_become_formulas(tmp_path: Path, output: str) -> None:
    path = write_csv(tmp_path / "c.csv", _rows_with_formula_text(len(HOSTILE)))
    with simulator_running(SimulatorConfig(seed=3)) as esms:
        _hostile_esms(esms)
        args = ["send", str(path), "-o", output, "--rate", "0", "--concurrency", "1", *esms.args]
        result = CliRunner().invoke(cli, [*args, "--excel"])
    assert result.exit_code == 1, result.output
    rows = _read_any(Path(output))
    assert sorted(r["ErrorMessage"] for r in rows) == sorted("'" + h for h in HOSTILE)
    assert all(r["status"] == "rejected" for r in rows)
    assert rows[0]["text"] == "=1+1 is the user's own text, as they typed it"  # untouched


def test_8_plain_csv_for_pipelines_keeps_the_exact_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(len(HOSTILE)))
    with simulator_running(SimulatorConfig(seed=3)) as esms:
        _hostile_esms(esms)
        args = ["send", str(path), "-o", "r.csv", "--rate", "0", "--concurrency", "1"]
        assert CliRunner().invoke(cli, [*args, *esms.args]).exit_code == 1
    assert sorted(r["ErrorMessage"] for r in read_results(Path("r.csv"))) == sorted(HOSTILE)


def test_8_a_callback_error_info_is_made_inert_in_an_excel_result_file(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = write_csv(tmp_path / "c.csv", _rows_with_formula_text(2))
    sent = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", "--excel", *esms.args])
    assert sent.exit_code == 0, sent.output
    rows = read_results(Path("r.csv"))
    journal = Journal(journal_path(Path("r.csv")))
    receiver = Receiver(Path("r.csv"), journal, lambda _line: None)
    for row, info in zip(rows, ('=HYPERLINK("http://evil.example")', "-114 inactive"), strict=True):
        params = {"SMSID": row["SMSID"], "SendStatus": "5", "SendFailed": "1", "error_info": info}
        assert receiver.store(from_report(params)) == row["RequestId"]
    receiver.changed = True
    assert receiver.rewrite()
    journal.close()
    receiver.close()
    again = read_results(Path("r.csv"))
    assert [r["delivery_error"] for r in again] == [
        '\'=HYPERLINK("http://evil.example")',
        "'-114 inactive",
    ]
    assert again[0]["text"] == rows[0]["text"]  # the user's cell as they wrote it
    shown = CliRunner().invoke(cli, ["report", "r.csv"])
    assert "(Zalo -114)" in shown.stdout and "'-114" not in shown.stdout  # read back as sent


def _read_any(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".csv":
        return read_results(path)
    from openpyxl import load_workbook
    from openpyxl.utils.escape import unescape

    sheet = load_workbook(path, read_only=True).active
    assert sheet is not None
    values = [
        [unescape(str(c)) if c is not None else "" for c in row]
        for row in sheet.iter_rows(values_only=True)
    ]
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


# --- the receiver under attack ---------------------------------------------------


GOOD = {"SendStatus": "5", "SendSuccess": "1", "SendFailed": "0", "RequestId": ""}


@contextlib.contextmanager
def receiver_running(
    results: Path,
    limits: Limits,
    token: str | None = "t0ken-for-tests",  # noqa: S107
) -> Iterator[tuple[str, list[str]]]:
    """serve_callbacks in a thread of its own, on 127.0.0.1, port chosen by the system."""
    lines: list[str] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def say(line: str) -> None:
        lines.append(line)
        if line.startswith("receiving eSMS callbacks at "):
            started.set()

    async def main() -> None:
        task = asyncio.create_task(
            serve_callbacks(
                results, host="127.0.0.1", port=0, token=token, every=0.2, say=say, limits=limits
            )
        )
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def run() -> None:
        loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), lines
    url = lines[0].rsplit(" ", 1)[-1]
    try:
        yield url, lines
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def get(url: str, params: dict[str, str], timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(  # noqa: S310 - the test's own http://127.0.0.1 URL
            url + "?" + urllib.parse.urlencode(params), timeout=timeout
        ) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_6_half_open_connections_are_dropped_and_a_real_report_gets_through(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=20, idle_timeout=0.5, log_every=60)
    with receiver_running(tmp_path / "r.csv", limits) as (url, lines):
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        attackers = []
        for _ in range(200):  # ten times the cap, each sends half a request line
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /esms/call")
            attackers.append(s)
        # Not starved: answered within get's timeout (no wall-clock bound of
        # our own, which a loaded shared machine could miss).
        status, _ = get(url, {**GOOD, "SMSID": "real-report"}, timeout=3)
        assert status == 200
        closed = 0
        for s in attackers:
            s.settimeout(3)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
            s.close()
        assert closed == len(attackers)  # every half-open client was dropped
    assert sum("connections open" in line for line in lines) == 1  # once, not per connection
    with sqlite3.connect(journal_path(tmp_path / "r.csv")) as db:
        assert db.execute("SELECT smsid FROM deliveries").fetchall() == [("real-report",)]


def test_6_eleven_hundred_half_open_connections_at_the_usual_file_limit(tmp_path: Path) -> None:
    """A flood of connections against the real CLI, at the common 1,024 open files."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))\n"
        "from batch_sender.cli import main\n"
        "sys.argv = ['batch-sender', 'callbacks', 'r.csv', '--port', '0', "
        "'--token', 't0ken-for-tests', '--campaign-id', 'c']\n"
        "main()\n"
    )
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip("this test needs 1,300 open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    attackers: list[socket.socket] = []
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("receiving eSMS callbacks at "), first
        url = first.rsplit(" ", 1)[-1].strip()
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        for _ in range(1_100):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /esms/callback/t0ken-for-tests?SMSID=")
            attackers.append(s)
        # Not starved: answered within get's timeout, the only time bound asserted.
        status, _ = get(url, {**GOOD, "SMSID": "real-report"}, timeout=3)
        assert status == 200
    finally:
        for s in attackers:
            s.close()
        process.terminate()
        _out, err = process.communicate(timeout=20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "Traceback" not in err
    assert len(err.splitlines()) < 8, err


def test_6_loop_errors_such_as_emfile_are_logged_once_per_cause() -> None:
    import errno

    from batch_sender.delivery.receiver import Throttled
    from batch_sender.delivery.server import _loop_errors

    lines: list[str] = []
    clock = [0.0]
    handle = _loop_errors(Throttled(lines.append, 10.0, clock=lambda: clock[0]))
    loop = asyncio.new_event_loop()
    try:
        for i in range(50_000):
            clock[0] = i / 1000  # 50,000 failures in 50 s
            emfile = OSError(errno.EMFILE, "Too many open files")
            handle(loop, {"message": "socket.accept() out of system resource", "exception": emfile})
        handle(loop, {"message": "Fatal error on transport\x1b[2J", "exception": ValueError("x")})
    finally:
        loop.close()
    assert lines[0] == "socket.accept() out of system resource: Too many open files"
    assert len(lines) == 6  # once per 10 s, then the other cause once
    assert "9,999 more like it before" in lines[1]
    assert lines[-1] == "Fatal error on transport\\x1b[2J: x"


async def test_7_forged_reports_are_bounded_and_escaped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "r.csv.journal.sqlite")
    journal.record("known", 2, Outcome("accepted", "100", "sms-known"))
    journal.commit()
    lines: list[str] = []
    # Past 50 unknown reports, the disk must keep more than any disk has: "nearly full".
    limits = Limits(unknown_kept=50, min_free=1 << 62)
    receiver = Receiver(tmp_path / "r.csv", journal, lines.append, limits)
    try:
        refused = 0
        for i in range(2_000):
            forged = {**GOOD, "SMSID": f"forged-{i}\n2026-11-28 fake log line \x1b[2J"}
            try:
                receiver.store(from_report(forged))
            except StoreFailed:
                refused += 1  # not answered at all: eSMS would send a real one again
        receiver.store(from_report({**GOOD, "SMSID": "sms-known"}))
        assert journal.deliveries.reported(["known"])["known"][0] == "delivered"
        assert journal.deliveries.unknown() == 50  # stored up to the bound...
        assert refused == 1_950  # ...then only while the disk has room to spare
    finally:
        receiver.close()
        journal.close()
    assert printable("a\nb\x1b[2Jc\u2028") == "a\\nb\\x1b[2Jc\\u2028"


def test_7_the_log_stays_one_line_per_cause(tmp_path: Path) -> None:
    limits = Limits(log_every=60)
    with receiver_running(tmp_path / "r.csv", limits) as (url, lines):
        for i in range(30):
            params = {**GOOD, "SMSID": f"forged-{i}\nFAKE LINE \x1b[31mred"}
            assert get(url, params)[0] == 200
    shown = [line for line in lines if "no send has recorded" in line]
    assert len(shown) == 1
    assert "\n" not in shown[0] and "\x1b" not in shown[0]
    assert "\\n" in shown[0] and "\\x1b" in shown[0]


def test_7_a_receiver_open_to_the_network_needs_a_token(tmp_path: Path) -> None:
    refused = CliRunner().invoke(cli, ["callbacks", "r.csv", "--host", "0.0.0.0", "--port", "0"])  # noqa: S104
    assert refused.exit_code == 2
    assert "--token is required to listen on 0.0.0.0" in refused.stderr


def test_7_without_a_token_on_loopback_it_warns(tmp_path: Path) -> None:
    with receiver_running(tmp_path / "r.csv", Limits(), token=None) as (url, lines):
        assert get(url, {**GOOD, "SMSID": "s"})[0] == 200
    assert any(line.startswith("warning: no --token") for line in lines)


def test_10_a_busy_journal_never_costs_a_report(tmp_path: Path) -> None:
    """The journal locked by another process: 200 only once kept on disk, folded in later."""
    path = tmp_path / "r.csv.journal.sqlite"
    Journal(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    limits = Limits(busy_timeout=0.05)
    with receiver_running(tmp_path / "r.csv", limits) as (url, lines):
        statuses = [get(url, {**GOOD, "SMSID": f"s{i}"})[0] for i in range(5)]
        assert statuses == [200] * 5
        assert (tmp_path / "r.csv.journal.sqlite-reports").stat().st_size > 0
        blocker.execute("ROLLBACK")
        blocker.close()
        deadline = time.monotonic() + 5
        while (tmp_path / "r.csv.journal.sqlite-reports").stat().st_size:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with sqlite3.connect(path) as db:
        assert {s for (s,) in db.execute("SELECT smsid FROM deliveries")} == {
            f"s{i}" for i in range(5)
        }
    assert sum(line.startswith("journal busy (") for line in lines) == 1


def test_10_a_report_that_cannot_be_stored_gets_no_answer_never_a_5xx(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.journal.sqlite"
    Journal(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    (tmp_path / "r.csv.journal.sqlite-reports").mkdir()  # and its log cannot be written either
    limits = Limits(busy_timeout=0.05, hold_unstored=0.3)
    with receiver_running(tmp_path / "r.csv", limits) as (url, lines):
        with pytest.raises((urllib.error.URLError, ConnectionError, TimeoutError)) as failed:
            get(url, {**GOOD, "SMSID": "s"}, timeout=3)
        assert not isinstance(failed.value, urllib.error.HTTPError)  # no status at all
    blocker.execute("ROLLBACK")
    blocker.close()
    assert any("cannot store a report" in line for line in lines)


# --- the journal on a bad day ------------------------------------------------------


def _send_process(path: Path, output: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "batch_sender", "send", str(path), "-o", output, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _announced(output: Path) -> int:
    """Requests send has marked, committed or still only in its intent logs."""
    journal = journal_path(output)
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        found = {rid for (rid,) in db.execute("SELECT request_id FROM messages")}
    for log in (f"{journal}-intents", f"{journal}-intents-1"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(log).read_text().splitlines():
                if line.startswith('["i",'):
                    found.add(json.loads(line)[2])
    return len(found)


def test_1_a_stalled_esms_never_holds_the_journal(tmp_path: Path) -> None:
    """eSMS stalls with requests in flight: the receiver's report still goes straight in."""
    path = write_csv(tmp_path / "c.csv", message_rows(4))
    config = SimulatorConfig(seed=1, faults=Faults(slow=1.0, slow_seconds=1.5))
    with simulator_running(config) as esms:
        # Small chunks: before, reading the next chunk began the transaction
        # that then stayed open until the stalled answers came back.
        args = ["--rate", "0", "--concurrency", "4", "--timeout", "10", "--chunk-rows", "2"]
        send = _send_process(path, "r.csv", *args, *esms.args)
        deadline = time.monotonic() + 10
        # Four requests stuck in the stall, and send's marks of all four written.
        while esms.stats()["slowed"] < 4 or _announced(Path("r.csv")) < 4:
            assert time.monotonic() < deadline and send.poll() is None
            time.sleep(0.02)
        # Both chunks are read and the four marks written (each before its request
        # went out): before, those writes began the transaction that stayed open.
        other = sqlite3.connect(journal_path(Path("r.csv")), timeout=0.5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # "database is locked" while send held a transaction
        other.execute("ROLLBACK")
        other.close()
        with receiver_running(Path("r.csv"), Limits(busy_timeout=0.5)) as (url, _lines):
            assert get(url, {**GOOD, "SMSID": "during-the-stall"}) == (200, "OK\n")
            with sqlite3.connect(journal_path(Path("r.csv"))) as db:
                stored = db.execute("SELECT smsid FROM deliveries").fetchall()
            assert stored == [("during-the-stall",)]  # in the journal itself, not a side log
            assert send.poll() is None  # all this while send was still waiting on eSMS
        _out, err = send.communicate(timeout=30)
    assert send.returncode == 0, err
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 4


FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _disk_fills_after(monkeypatch: pytest.MonkeyPatch, entries: int) -> list[int]:
    """The journal's logs get `entries` writes, then the disk is full until [0] is reset."""
    import batch_sender.journal.crashlog as journal_module

    left = [entries]

    def write(fd: int, data: bytes) -> int:
        if left[0] == 0:
            raise FULL
        left[0] -= 1
        return os.write(fd, data)

    monkeypatch.setattr(journal_module, "_write_fd", write)
    return left


def _assert_every_smsid_kept(esms: RunningSimulator, rows: int) -> None:
    results = read_results(Path("r.csv"))
    assert [r["status"] for r in results] == ["accepted"] * rows
    accepted = esms.call(lambda: dict(esms.simulator.accepted))
    assert len(accepted) == rows  # each message delivered exactly once
    assert {r["RequestId"]: r["SMSID"] for r in results} == {
        rid: a.smsid for rid, a in accepted.items()
    }


def test_2_a_full_disk_stops_the_run_once_and_loses_no_smsid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 300
    path = write_csv(tmp_path / "c.csv", message_rows(rows))
    with simulator_running(SimulatorConfig(seed=4)) as esms:
        command = ["send", str(path), "-o", "r.csv", "--rate", "0", "--concurrency", "16"]
        space = _disk_fills_after(monkeypatch, 150)
        full = CliRunner().invoke(cli, [*command, *esms.args])
        assert full.exit_code == 3, full.output
        assert full.stderr.count("Error:") == 1
        assert (
            "Error: stopped: cannot write the journal: No space left on device; "
            "free space and rerun\n"
        ) in full.stderr
        assert "Traceback" not in full.output and "never retrieved" not in full.output
        first = read_results(Path("r.csv"))  # the disk allowed the result file
        assert 0 < sum(r["status"] == "accepted" for r in first) < rows
        space[0] = -1  # space freed
        again = CliRunner().invoke(cli, [*command, *esms.args])
        assert again.exit_code == 0, again.output
        _assert_every_smsid_kept(esms, rows)


def test_2_a_really_full_disk(tmp_path: Path) -> None:
    """A real filesystem that fills up mid-run (a tmpfs: CI runs as root)."""
    rows = 2_000
    path = write_csv(tmp_path / "c.csv", message_rows(rows))
    with (
        small_disk(tmp_path / "disk", "768k") as disk,
        simulator_running(SimulatorConfig(seed=4)) as esms,
    ):
        output = disk / "r.csv"
        command = ["send", str(path), "-o", str(output), "--rate", "0", "--concurrency", "16"]
        full = _send_process(path, str(output), *command[4:], *esms.args)
        _out, err = full.communicate(timeout=60)
        assert full.returncode == 3, err
        assert err.count("Error:") == 1, err
        assert "No space left on device; free space and rerun" in err
        assert "Traceback" not in err and "never retrieved" not in err
        mount = shutil.which("mount")
        assert mount is not None
        subprocess.run([mount, "-o", "remount,size=16m", str(disk)], check=True)
        again = _send_process(path, str(output), *command[4:], *esms.args)
        _out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        results = read_results(output)
        accepted = esms.call(lambda: dict(esms.simulator.accepted))
        assert [r["status"] for r in results] == ["accepted"] * rows
        assert len(accepted) == rows
        assert {r["RequestId"]: r["SMSID"] for r in results} == {
            rid: a.smsid for rid, a in accepted.items()
        }


def test_3_a_damaged_journal_is_one_line_and_nothing_is_sent(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(400))
    with simulator_running(SimulatorConfig(seed=2)) as esms:
        command = ["send", str(path), "-o", "r.csv", "--rate", "0", *esms.args]
        assert CliRunner().invoke(cli, [*command, "--limit", "300"]).exit_code == 1
        journal = journal_path(Path("r.csv"))
        size = journal.stat().st_size
        assert size > 32 * 1024
        with journal.open("r+b") as f:
            f.seek(size // 2)
            f.write(random.Random(8).randbytes(8 * 1024))
        before = esms.stats()["requests"]
        for args in (command, ["report", "r.csv"], ["callbacks", "r.csv", "--port", "0"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 2, (args, result.output)
            assert result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith(f"Error: {journal}: the journal is damaged ("), args
            assert ("nothing was sent" in result.stderr) == (args is command), result.stderr
            assert "124" in result.stderr
            assert "Traceback" not in result.output
        assert esms.stats()["requests"] == before


def test_3_a_journal_with_a_garbage_header_is_one_line_for_every_command(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(20))
    with simulator_running(SimulatorConfig(seed=3)) as esms:
        command = ["send", str(path), "-o", "r.csv", "--rate", "0", *esms.args]
        assert CliRunner().invoke(cli, [*command, "--limit", "10"]).exit_code == 1
        journal = journal_path(Path("r.csv"))
        with journal.open("r+b") as f:
            f.write(random.Random(9).randbytes(100))  # SQLite: "file is not a database"
        before = esms.stats()["requests"]
        status = ["status", "r.csv", "--status-base-url", esms.url, *CREDENTIALS]
        for args in (command, ["report", "r.csv"], status, ["callbacks", "r.csv", "--port", "0"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 2, (args, result.output)
            assert result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith(f"Error: {journal}: the journal is damaged ("), args
            assert ("nothing was sent" in result.stderr) == (args is command), result.stderr
            assert "Traceback" not in result.output
        assert esms.stats()["requests"] == before


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_5_a_closed_stdout_or_stderr_changes_nothing(tmp_path: Path, closed: str) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(30))
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| true`: nobody reads
    streams: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    streams[closed] = write_end
    command = [sys.executable, "-m", "batch_sender", "send", str(path), "-o", "r.csv"]
    try:
        run = subprocess.run(
            [*command, "--simulate", "--rate", "0", "--summary-json", "s.json"],
            timeout=60,
            check=False,
            text=True,
            **streams,
        )
    finally:
        os.close(write_end)
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert json.loads(Path("s.json").read_text(encoding="utf-8"))["exit_code"] == 0
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 30
    other = run.stderr if closed == "stdout" else run.stdout
    assert "Traceback" not in other and "Broken pipe" not in other


def test_9_an_exception_in_a_row_stops_the_run_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, esms: RunningSimulator
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(40))
    real = Journal.record

    def record(self: Journal, request_id: str, line: int, outcome: Outcome) -> None:
        if line == 7:
            raise OSError(errno.EIO, "Input/output error")
        real(self, request_id, line, outcome)

    monkeypatch.setattr(Journal, "record", record)
    command = ["send", str(path), "-o", "r.csv", "--rate", "0", "--concurrency", "1"]
    result = CliRunner().invoke(cli, [*command, *esms.args])
    assert result.exit_code == 3, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: stopped: unexpected error at row 7 (OSError: [Errno 5] Input/output error); "
        "what was sent is recorded: rerun the same command to continue"
    ]
    assert "Error: stopped: unexpected error at row 7 (OSError: [Errno 5] Input/output error)" in (
        result.stderr
    )
    assert "Traceback" not in result.output and "never retrieved" not in result.output
    rows = read_results(Path("r.csv"))
    assert rows[5]["status"] == "failed"  # row 7 (line 7 = the sixth data row)
    assert rows[5]["ErrorMessage"] == "no answer recorded: rerun to find out"
    assert {r["status"] for r in rows[6:]} == {"unsent"}  # no new request after the failure


def test_10_the_receiver_recovers_once_the_disk_has_room_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "r.csv.journal.sqlite")
    receiver = Receiver(tmp_path / "r.csv", journal, lambda _line: None)
    real = Writer.apply
    full = [True]

    def apply(self: Writer, batch: list[tuple[str, tuple[object, ...]]]) -> None:
        if full[0]:
            raise JournalError(self.path, sqlite3.OperationalError("database or disk is full"))
        real(self, batch)

    monkeypatch.setattr(Writer, "apply", apply)
    try:
        receiver.store(from_report({**GOOD, "SMSID": "while-full"}))
        assert receiver.logged == 1  # kept in the reports log, answered 200
        full[0] = False
        receiver.store(from_report({**GOOD, "SMSID": "after"}))
        assert receiver.logged == 1  # straight into the journal again
        receiver.fold()
        with sqlite3.connect(journal.path) as db:
            stored = {s for (s,) in db.execute("SELECT smsid FROM deliveries")}
        assert stored == {"while-full", "after"}
    finally:
        receiver.close()
        journal.close()


@pytest.mark.parametrize("command", ["report", "status", "callbacks"])
def test_a_journal_sqlite_cannot_open_for_writing_is_one_line_for_every_command_that_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A full disk at open (SQLite: "disk I/O error" growing the WAL): one line, exit 3."""
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    with simulator_running(SimulatorConfig()) as esms:
        sent = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", *esms.args])
        assert sent.exit_code == 0, sent.output
    real_connect = sqlite3.connect

    class FullDisk(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql.startswith("PRAGMA journal_mode"):
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql, *args)

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, **kwargs, factory=FullDisk)

    monkeypatch.setattr(sqlite3, "connect", connect)
    argv = {
        "report": ["report", "r.csv"],
        "status": ["status", "r.csv", "--status-base-url", "http://127.0.0.1:9", *CREDENTIALS],
        "callbacks": ["callbacks", "r.csv", "--port", "0"],
    }[command]
    result = CliRunner().invoke(cli, argv)
    if command == "report":  # it only reads: it opens the journal read-only, and works
        assert result.exit_code == 0, result.output
        assert "accepted by eSMS        2" in result.stdout
        return
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == (
        "Error: cannot write the journal: disk I/O error; is the disk full? free space and rerun"
    )
