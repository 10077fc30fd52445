"""A disk that fills up mid-run loses no SMSID: every row eSMS accepted keeps it.

Counted against the simulator's own record of what it accepted, on a real
small filesystem (a tmpfs) and with write failures injected where a real
disk cannot be made to fail at the right instant.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.journal.files import journal_path
from batch_sender.simulator.config import SimulatorConfig

from .conftest import (
    RunningSimulator,
    message_rows,
    read_results,
    simulator_running,
    small_disk,
    write_csv,
)

ROWS = 1_200


def _fill(disk: Path, leave: int) -> Path:
    """Another program's file takes all of the disk but `leave` bytes."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    filler = disk / "someone-elses.log"
    with filler.open("wb") as f:
        f.write(b"x" * max(0, free - leave))
    return filler


def _accepted(esms: RunningSimulator) -> dict[str, str]:
    """RequestId -> SMSID of every message the simulator accepted."""
    return dict(esms.call(lambda: {rid: a.smsid for rid, a in esms.simulator.accepted.items()}))


def _journal_smsids(output: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(journal_path(output))) as db:
        return dict(db.execute("SELECT request_id, smsid FROM messages WHERE smsid != ''"))


def _lost(accepted: dict[str, str], kept: dict[str, str]) -> list[str]:
    return sorted(rid for rid, smsid in accepted.items() if kept.get(rid) != smsid)


@contextlib.contextmanager
def _greedy(disk: Path) -> Iterator[None]:
    """Another program that keeps writing: whatever room is freed, it takes at once."""
    done = threading.Event()

    def grab() -> None:
        with (disk / "growing.log").open("ab", buffering=0) as f:
            while not done.is_set():
                try:
                    f.write(b"y" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    done.wait(0.001)  # the disk is full: look again in a moment

    thread = threading.Thread(target=grab, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    (disk / "growing.log").unlink()


@contextlib.contextmanager
def _full_disk_run(
    tmp_path: Path, leave: int, *, greedy: bool = False
) -> Iterator[tuple[Path, RunningSimulator, list[str]]]:
    """A send onto a disk with `leave` bytes free; yields (output, esms, command)."""
    source = write_csv(tmp_path / "c.csv", message_rows(ROWS))
    with (
        small_disk(tmp_path / "disk", "4m") as disk,
        simulator_running(SimulatorConfig(seed=5)) as esms,
    ):
        output = disk / "r.csv"
        command = ["send", str(source), "-o", str(output), "--rate", "0", "--concurrency", "16"]
        filler = _fill(disk, leave)
        with _greedy(disk) if greedy else contextlib.nullcontext():
            full = CliRunner().invoke(cli, [*command, *esms.args])
        assert full.exit_code == 3, full.output
        assert full.stderr.count("Error:") == 1, full.stderr
        assert "free space and rerun" in full.stderr  # SQLite may say "disk I/O error"
        assert "Traceback" not in full.output
        filler.unlink()
        yield output, esms, [*command, *esms.args]


@pytest.mark.parametrize("leave", [150_000, 300_000, 700_000])
def test_a_disk_that_fills_mid_run_loses_no_smsid(tmp_path: Path, leave: int) -> None:
    """However little room is left when the run starts, no accepted row loses its SMSID."""
    with _full_disk_run(tmp_path, leave) as (output, esms, command):
        first = _accepted(esms)
        again = CliRunner().invoke(cli, command)
        assert again.exit_code == 0, again.output
        # Nothing accepted by the first run is sent again, and every SMSID is kept.
        assert {rid: s for rid, s in _accepted(esms).items() if rid in first} == first
        results = read_results(output)
        assert [r["status"] for r in results] == ["accepted"] * ROWS
        kept = {r["RequestId"]: r["SMSID"] for r in results}
        assert _lost(_accepted(esms), kept) == []
        assert _lost(_accepted(esms), _journal_smsids(output)) == []


def test_a_disk_another_program_keeps_filling_loses_no_smsid(tmp_path: Path) -> None:
    """Room given back mid-run is taken by someone else: the answers in flight are kept."""
    with _full_disk_run(tmp_path, 700_000, greedy=True) as (output, esms, command):
        assert CliRunner().invoke(cli, command).exit_code == 0
        kept = {r["RequestId"]: r["SMSID"] for r in read_results(output)}
        assert _lost(_accepted(esms), kept) == []
        assert len(kept) == ROWS == len(_accepted(esms))


FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_answers_in_flight_when_neither_log_nor_sqlite_has_room_are_kept(tmp_path: Path) -> None:
    """The instant a real disk cannot be made to hit: SQLite and the logs both full."""
    import batch_sender.journal.crashlog as crashlog
    from batch_sender.journal.errors import JournalError
    from batch_sender.journal.records import Outcome
    from batch_sender.journal.store import Journal

    path = tmp_path / "j.sqlite"
    journal = Journal.open(path, "c", sending=True, commit_interval=3600)
    in_flight = [f"r{i}" for i in range(200)]
    for line, rid in enumerate(in_flight, start=2):
        journal.intend(rid, line)

    def full(_fd: int, _data: bytes) -> int:
        raise FULL

    def no_commit(_batch: object) -> None:
        raise JournalError(path, sqlite3.OperationalError("database or disk is full"))

    with pytest.MonkeyPatch.context() as disk:
        disk.setattr(crashlog, "_write_fd", full)
        disk.setattr(journal.writer, "apply", no_commit)
        with pytest.raises(JournalError):
            journal.intend("not-sent", 999)  # no room: this request must not go out
        for line, rid in enumerate(in_flight, start=2):
            with contextlib.suppress(JournalError):  # the run is stopping; the answer is kept
                journal.record(rid, line, Outcome("accepted", "100", f"smsid-{rid}"))
        journal.close()
    # room again

    rerun = Journal.open(path, "c", sending=True)
    found = rerun.lookup([*in_flight, "not-sent"])
    assert {rid: found[rid].smsid for rid in in_flight} == {r: f"smsid-{r}" for r in in_flight}
    assert "not-sent" not in found
    rerun.close()
    assert not rerun.reserve_path.exists()
