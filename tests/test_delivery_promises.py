"""Reports answered 200 are never lost; a receiver never blocks a send; report reads read-only.

The receiver runs in a thread of this process (its limits lowered where a
test needs a bound reached quickly); sends go through the real CLI to the
project's simulator, on 127.0.0.1 only.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.delivery.receiver import Limits, Receiver
from batch_sender.esms.delivery_report import from_report
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal
from batch_sender.simulator.config import SimulatorConfig

from .conftest import RunningSimulator, message_rows, read_results, simulator_running, write_csv
from .test_bad_day import GOOD, get, receiver_running


def _all_reports_sent(esms: RunningSimulator, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(esms.call(lambda: dict(esms.simulator.reports))) < count or esms.call(
        lambda: len(esms.simulator.tasks)
    ):
        assert time.monotonic() < deadline, "the simulator's reports never all went out"
        time.sleep(0.05)


def test_reports_that_beat_the_send_reach_their_rows(tmp_path: Path) -> None:
    """Receiver first, eSMS reporting ~10 ms after each answer: every report reaches its row.

    Most reports arrive before the send has committed their SMSID (it commits
    in batches), far more than the receiver's bound on reports it cannot place yet.
    """
    count = 1_000  # some 800 beat the send here: eight times the bound of 100
    path = write_csv(tmp_path / "c.csv", message_rows(count))
    results = tmp_path / "r.csv"
    config = SimulatorConfig(seed=11, callback_delay=0.0, zalo_fail=0.2)
    with (
        simulator_running(config) as esms,
        receiver_running(results, Limits(unknown_kept=100)) as (url, _lines),
    ):
        sent = CliRunner().invoke(
            cli,
            [
                "send",
                str(path),
                "-o",
                str(results),
                "--rate",
                "0",
                "--callback-url",
                url,
                *esms.args,
            ],
        )
        assert sent.exit_code == 0, sent.output
        _all_reports_sent(esms, count)
        reported = esms.call(lambda: dict(esms.simulator.reports))
    rows = read_results(results)
    assert len(rows) == count
    in_file = [r for r in rows if r["delivery"] in ("delivered", "failed")]
    assert len(in_file) == count, f"{count - len(in_file)} reports answered 200 and lost"
    for row in rows:
        assert row["delivery"] == ("failed" if reported[row["SMSID"]].failed else "delivered")
    journal = Journal(journal_path(results))
    try:
        assert len(journal.deliveries.reported(r["RequestId"] for r in rows)) == count
        assert journal.deliveries.unknown() == 0
    finally:
        journal.close()


def _request(url: str, method: str, params: dict[str, str]) -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request(method, f"{parts.path}?{urllib.parse.urlencode(params)}")
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_head_request_is_not_a_report(tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    with receiver_running(results, Limits()) as (url, _lines):
        for i in range(9):
            assert _request(url, "GET", {**GOOD, "SMSID": f"s{i}"}) == 200
        assert _request(url, "HEAD", {**GOOD, "SMSID": "head"}) == 200
    journal = Journal(journal_path(results))
    try:
        assert journal.deliveries.unknown() == 9  # nine reports kept, the HEAD none
    finally:
        journal.close()


def test_finished_with_neither_success_nor_failure_is_not_delivered() -> None:
    """SendStatus 5 means 'finished: see SendSuccess/SendFailed'; with both 0 nothing is known."""
    report = from_report({"SMSID": "s", "SendStatus": "5", "SendSuccess": "0", "SendFailed": "0"})
    assert report.delivery == "pending"
    assert report.at == ""
    missing = from_report({"SMSID": "s", "SendStatus": "5"})
    assert missing.delivery == "pending"


def test_a_report_that_cannot_be_stored_gets_no_200(tmp_path: Path) -> None:
    """The disk under its floor: a report for an unknown message is not answered at all."""
    results = tmp_path / "r.csv"
    limits = Limits(unknown_kept=2, min_free=1 << 62, hold_unstored=0.2)
    with receiver_running(results, limits) as (url, lines):
        assert [get(url, {**GOOD, "SMSID": f"s{i}"})[0] for i in range(2)] == [200, 200]
        status: int | str
        try:
            status = get(url, {**GOOD, "SMSID": "one-too-many"})[0]
        except (ConnectionError, http.client.HTTPException) as exc:
            status = type(exc).__name__  # closed without an answer
        assert status not in (200, 500, 503)
    assert any("not answered" in line for line in lines), lines


def test_a_send_started_while_the_receiver_rewrites_proceeds(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """A rewrite held up (as a long campaign's is) neither refuses a send nor undoes its file."""
    path = write_csv(tmp_path / "c.csv", message_rows(10))
    results = tmp_path / "r.csv"
    args = ["send", str(path), "-o", str(results), "--rate", "0", "--limit", "5", *esms.args]
    assert CliRunner().invoke(cli, args).exit_code == 1  # five sent, five to go
    journal = Journal(journal_path(results))
    receiver = Receiver(results, journal, lambda _line: None)
    reading, release = threading.Event(), threading.Event()
    real = journal.deliveries.reported

    def slow(request_ids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        reading.set()  # the rewrite has begun reading the result file
        assert release.wait(30)
        return real(request_ids)

    journal.deliveries.reported = slow  # type: ignore[method-assign]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        rewrite = pool.submit(receiver.rewrite)
        assert reading.wait(10)
        try:
            second = CliRunner().invoke(cli, args)
        finally:
            release.set()
        rewrite.result(timeout=30)
    try:
        assert second.exit_code == 0, second.output
        # The rewrite began from the file before the send: it must not put it back.
        assert [r["status"] for r in read_results(results)] == ["accepted"] * 10
        journal.deliveries.reported = real  # type: ignore[method-assign]
        assert receiver.rewrite()  # the next round writes it, from the send's file
        assert [r["status"] for r in read_results(results)] == ["accepted"] * 10
    finally:
        receiver.close()
        journal.close()


_READ_ONLY = (
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; '
    'touch "$1/.probe" 2>/dev/null && exit 98; shift; exec "$@"'
)


def _in_read_only(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """The command with `folder` read-only for real, even to root (a private ro bind mount)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1)")
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", _READ_ONLY, "sh", str(folder), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 97 or "unshare failed" in done.stderr:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    assert done.returncode != 98, "the folder was still writable"
    return done


def _archived_campaign(tmp_path: Path, esms: RunningSimulator) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    path = write_csv(tmp_path / "c.csv", message_rows(4))
    results = folder / "r.csv"
    sent = CliRunner().invoke(cli, ["send", str(path), "-o", str(results), *esms.args])
    assert sent.exit_code == 0, sent.output
    return results


def test_report_reads_a_read_only_archive(tmp_path: Path, esms: RunningSimulator) -> None:
    results = _archived_campaign(tmp_path, esms)
    before = sorted(p.name for p in results.parent.iterdir())
    done = _in_read_only(
        results.parent, sys.executable, "-m", "batch_sender", "report", str(results)
    )
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout and "4" in done.stdout
    assert "cannot write" not in done.stdout + done.stderr
    assert sorted(p.name for p in results.parent.iterdir()) == before


def test_status_on_a_read_only_archive(tmp_path: Path, esms: RunningSimulator) -> None:
    """Nothing left to ask: it says so, exit 0. Something to ask: one line, before asking."""
    results = _archived_campaign(tmp_path, esms)
    status = [sys.executable, "-m", "batch_sender", "status", str(results)]
    status += ["--status-base-url", esms.url, *esms.args[2:]]
    requests = esms.stats()["requests"]
    asking = _in_read_only(results.parent, *status)
    assert asking.returncode == 3, asking.stderr
    assert "make the folder writable and rerun" in asking.stderr
    assert len(asking.stderr.strip().splitlines()) == 1
    assert esms.stats()["requests"] == requests  # eSMS was not asked
    journal = Journal(journal_path(results))
    try:
        for row in read_results(results):
            journal.deliveries.record(from_report({**GOOD, "SMSID": row["SMSID"]}))
        journal.commit()
    finally:
        journal.close()
    done = _in_read_only(results.parent, *status)
    assert done.returncode == 0, done.stderr
    assert "cannot write" not in done.stdout + done.stderr


def test_reruns_while_reports_arrive_keep_the_journal_whole(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """A send rerun (its own process) while the receiver takes reports and rewrites the file.

    Each rewrite takes the campaign's lock; each rerun opens and closes the
    journal. Neither may cost the other its SQLite locks (a damaged journal).
    """
    count = 600
    path = write_csv(tmp_path / "c.csv", message_rows(count))
    results = tmp_path / "r.csv"
    args = ["send", str(path), "-o", str(results), "--rate", "0", "--quiet", *esms.args]
    assert CliRunner().invoke(cli, args).exit_code == 0
    smsids = [r["SMSID"] for r in read_results(results)]
    answered: list[str] = []
    reruns: list[subprocess.CompletedProcess[str]] = []
    done = threading.Event()
    with receiver_running(results, Limits()) as (url, lines):

        def report(part: list[str]) -> None:
            for smsid in part:
                if done.is_set():
                    return
                status, _ = get(url, {**GOOD, "SMSID": smsid})
                if status == 200:
                    answered.append(smsid)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            firing = [pool.submit(report, smsids[k::4]) for k in range(4)]
            while len(reruns) < 3 and not all(f.done() for f in firing):
                reruns.append(
                    subprocess.run(
                        [sys.executable, "-m", "batch_sender", *args],
                        capture_output=True,
                        text=True,
                        timeout=60,
                    )
                )
            done.set()
            for f in firing:
                f.result()
    assert reruns, "the reports all went before a rerun could start"
    for rerun in reruns:
        assert rerun.returncode == 0, rerun.stderr
    assert not [line for line in lines if "error" in line.lower()], lines
    check = sqlite3.connect(journal_path(results))
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()
    delivered = {r["SMSID"] for r in read_results(results) if r["delivery"] == "delivered"}
    assert set(answered) <= delivered, f"{len(set(answered) - delivered)} answered 200, lost"
