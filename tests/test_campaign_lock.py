"""One send per campaign, even when its lock file is deleted, replaced or a symbolic link."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.errors import UsageError
from batch_sender.journal import running
from batch_sender.journal.files import journal_path, lock_path
from batch_sender.journal.lock import NOTE, no_send_running, take_lock
from batch_sender.journal.running import RUNNING, running_send
from batch_sender.journal.store import Journal
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import RunningSimulator, message_rows, read_results, simulator_running, write_csv


def _recorded(output: Path) -> dict[str, object] | None:
    """The running send the journal records, read as another process would."""
    journal = journal_path(output)
    if not journal.exists():
        return None
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (RUNNING,)).fetchone()
    except sqlite3.OperationalError:
        return None  # not made yet
    return None if row is None else dict(json.loads(row[0]))


def _started(output: Path, send: subprocess.Popen[str], esms: RunningSimulator) -> None:
    deadline = time.monotonic() + 20
    while not journal_path(output).exists() or len(esms.stats()["messages"]) < 3:
        assert send.poll() is None, send.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _messages_per_user(esms: RunningSimulator) -> collections.Counter[str]:
    return collections.Counter(m["user_id"] for m in esms.stats()["messages"].values())


def _send(path: Path, esms: RunningSimulator, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "batch_sender", "send", str(path), "-o", "r.csv", "-q"]
    return subprocess.Popen(
        [*command, *args, *esms.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _refused_while(first: subprocess.Popen[str], path: Path, esms: RunningSimulator) -> None:
    _started(Path("r.csv"), first, esms)
    lock_path(journal_path(Path("r.csv"))).unlink()  # "a leftover": an operator cleans up
    second = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", "-q", *esms.args])
    assert second.exit_code == 2, second.output
    [line] = second.output.strip().splitlines()
    assert "another send of this campaign is running" in line
    assert f"pid {first.pid} since" in line
    assert first.poll() is None  # refused at once, while the first still sends


def test_a_second_send_is_refused_when_the_lock_file_was_deleted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(40))
    with simulator_running(SimulatorConfig(seed=1, faults=Faults(latency=0.02))) as esms:
        first = _send(path, esms, "--rate", "20")
        try:
            _refused_while(first, path, esms)
        except BaseException:
            first.kill()
            first.communicate()
            raise
        _out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        args = ["send", str(path), "-o", "r.csv", "-q", "--rate", "0", *esms.args]
        rerun = CliRunner().invoke(cli, args)
        assert rerun.exit_code == 0, rerun.output
        sent = _messages_per_user(esms)
    assert len(sent) == 40 and set(sent.values()) == {1}  # nobody messaged twice
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 40
    assert _recorded(Path("r.csv")) is None  # a finished send leaves no record


def test_a_killed_sends_record_does_not_hold_the_campaign(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(40))
    with simulator_running(SimulatorConfig(seed=1, faults=Faults(latency=0.02))) as esms:
        first = _send(path, esms, "--rate", "20")
        _started(Path("r.csv"), first, esms)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        assert _recorded(Path("r.csv")) is not None  # what kill -9 leaves

        rerun = CliRunner().invoke(
            cli, ["send", str(path), "-o", "r.csv", "-q", "--rate", "0", *esms.args]
        )
        assert rerun.exit_code == 0, rerun.output
        sent = _messages_per_user(esms)
    assert len(sent) == 40 and set(sent.values()) == {1}


def test_the_receiver_sees_a_send_whose_lock_file_was_deleted(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "r.csv")
    sender = Journal.open(path, "c", sending=True)
    lock_path(path).unlink()
    receiver = Journal(path)
    with no_send_running(path, lambda: running_send(receiver.writer)) as free:
        assert not free  # the result file is the running send's to write
    sender.close()
    with no_send_running(path, lambda: running_send(receiver.writer)) as free:
        assert free
    receiver.close()


def test_a_lock_file_replaced_between_open_and_flock_is_not_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted after this send opened it, before its flock: another send locks the new file."""
    import batch_sender.journal.lock as lock_module

    path = journal_path(tmp_path / "r.csv")
    real_open = lock_module._open_lock
    opened: list[int] = []

    def open_then_lose(journal: Path) -> object:
        handle = real_open(journal)
        if not opened:
            lock_path(journal).unlink()  # the race: the path now names no file (or another)
        opened.append(handle.fileno())
        return handle

    monkeypatch.setattr(lock_module, "_open_lock", open_then_lose)
    held = take_lock(path, wait=0.1)
    assert len(opened) == 2  # it locked the file the path names now, not the lost one
    monkeypatch.setattr(lock_module, "_open_lock", real_open)
    with pytest.raises(UsageError):
        take_lock(path, wait=0.1)  # a second send takes the same file: refused
    held.close()


def test_the_lock_file_says_what_it_is_and_is_never_followed(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "r.csv")
    held = take_lock(path, wait=0.1)
    assert lock_path(path).read_bytes() == NOTE
    held.close()
    lock_path(path).unlink()
    outside = tmp_path / "elsewhere" / "made-by-the-lock"
    lock_path(path).symlink_to(outside)  # dangling
    with pytest.raises(UsageError) as err:
        take_lock(path, wait=0.1)
    assert "is a symbolic link" in str(err.value)
    assert not outside.exists() and not outside.parent.exists()


def test_a_send_refused_after_waiting_on_the_lock_keeps_the_journal_it_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sends of a new campaign start together: the one that waited never deletes the other's."""
    import csv

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    output = Path("r.csv")
    real_take_lock = take_lock

    with simulator_running(SimulatorConfig(seed=1)) as esms:

        def first_finishes_meanwhile(journal: Path, wait: float = 5.0) -> object:
            # This send saw no journal; while it waits, the other send does the campaign.
            assert not journal.exists()
            first = _send(path, esms, "--campaign-id", "spring")
            _out, err = first.communicate(timeout=60)
            assert first.returncode == 0, err
            with output.open(newline="", encoding="utf-8-sig") as f:
                rows = list(csv.reader(f))
            at = rows[0].index("RequestId")
            rows[1][at] = "someone-elses"  # re-saved with a send the journal never made
            with output.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(rows)
            return real_take_lock(journal, wait)

        monkeypatch.setattr("batch_sender.journal.store.take_lock", first_finishes_meanwhile)
        args = ["send", str(path), "-o", "r.csv", "-q", "--campaign-id", "spring", *esms.args]
        second = CliRunner().invoke(cli, args)
        assert second.exit_code == 2, second.output
        assert "was not written by its journal" in second.output
        monkeypatch.setattr("batch_sender.journal.store.take_lock", real_take_lock)
        assert journal_path(output).exists()  # the first send's campaign is still recorded
        journal = Journal.open(journal_path(output), "spring")
        assert journal.count() == 3
        journal.close()
        sent = _messages_per_user(esms)
    assert len(sent) == 3 and set(sent.values()) == {1}


# --- the heartbeat ---------------------------------------------------------------


def _record(journal: Path, **fields: object) -> None:
    """Leave a running send's record in the journal, as another process would have."""
    made = Journal.open(journal, "c")
    made.close()
    now = time.time()
    record = {"pid": 1, "host": "elsewhere", "token": "t", "since": now, "beat": now}
    record.update(fields)
    with sqlite3.connect(journal) as db:
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (RUNNING, json.dumps(record))
        )
    db.close()


def _takes_over(journal: Path) -> bool:
    try:
        taken = Journal.open(journal, "c", sending=True, lock_wait=0.1)
    except UsageError as exc:
        assert "another send of this campaign is running" in str(exc)
        return False
    taken.close()
    return True


@pytest.fixture
def quick_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(running, "HEARTBEAT", 0.05)
    monkeypatch.setattr(running, "STALE", 0.5)


@pytest.mark.usefixtures("quick_heartbeat")
def test_a_send_on_another_host_holds_the_campaign_while_it_beats(tmp_path: Path) -> None:
    journal = journal_path(tmp_path / "r.csv")
    _record(journal, pid=os.getpid())  # its pid means nothing here
    assert not _takes_over(journal)
    _record(journal, beat=time.time() - running.STALE - 1)
    assert _takes_over(journal)


@pytest.mark.usefixtures("quick_heartbeat")
def test_a_running_send_keeps_beating(tmp_path: Path) -> None:
    journal = journal_path(tmp_path / "r.csv")
    sender = Journal.open(journal, "c", sending=True)
    try:
        first = _recorded(tmp_path / "r.csv")
        assert first is not None
        deadline = time.monotonic() + 10
        while (now := _recorded(tmp_path / "r.csv")) is None or now["beat"] == first["beat"]:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
        assert now["token"] == first["token"]
        assert float(str(now["beat"])) > float(str(first["beat"]))
    finally:
        sender.close()


@pytest.mark.usefixtures("quick_heartbeat")
def test_a_used_again_pid_does_not_hold_the_campaign(tmp_path: Path) -> None:
    journal = journal_path(tmp_path / "r.csv")
    here = {"host": socket.gethostname(), "pidns": running._pid_namespace()}
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            started = running._started_at(other.pid)
            assert started
            _record(journal, pid=other.pid, started=started, beat=0.0, **here)
            assert not _takes_over(journal)  # alive, however old its heartbeat
            _record(journal, pid=other.pid, started=str(int(started) + 1), **here)
            assert _takes_over(journal)  # the pid is another process's now
        finally:
            other.kill()


def test_a_stopped_send_still_holds_the_campaign(tmp_path: Path) -> None:
    """Ctrl-Z, a laptop asleep: no heartbeat for long, but it sends again once it goes on."""
    path = write_csv(tmp_path / "c.csv", message_rows(30))
    quick = (
        "import sys, batch_sender.journal.running as r; r.HEARTBEAT = 0.05; r.STALE = 0.5; "
        "from batch_sender.cli import cli; sys.argv[0] = 'batch-sender'; cli()"
    )
    with simulator_running(SimulatorConfig(seed=1, faults=Faults(latency=0.02))) as esms:
        command = [sys.executable, "-c", quick, "send", str(path), "-o", "r.csv", "-q"]
        first = subprocess.Popen(
            [*command, "--rate", "20", *esms.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _started(Path("r.csv"), first, esms)
            _stop_outside_a_write(first, journal_path(Path("r.csv")))
            deadline = time.monotonic() + 10
            while time.time() - float(str((_recorded(Path("r.csv")) or {})["beat"])) <= 0.6:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            lock_path(journal_path(Path("r.csv"))).unlink()
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(running, "STALE", 0.5)
                args = ["send", str(path), "-o", "r.csv", "-q", *esms.args]
                second = CliRunner().invoke(cli, args)
            assert second.exit_code == 2, second.output
            assert f"another send of this campaign is running (pid {first.pid}" in second.output
        finally:
            first.send_signal(signal.SIGCONT)
        _out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        sent = _messages_per_user(esms)
    assert len(sent) == 30 and set(sent.values()) == {1}


def _stop_outside_a_write(send: subprocess.Popen[str], journal: Path) -> None:
    """SIGSTOP the send at a moment it holds no write lock on its journal."""
    deadline = time.monotonic() + 10
    while True:
        send.send_signal(signal.SIGSTOP)
        db = sqlite3.connect(journal, timeout=0)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            send.send_signal(signal.SIGCONT)
            assert time.monotonic() < deadline
        finally:
            db.close()
