"""A journal made by an earlier version opens, is brought up to date, and reads as it was.

The samples in fixtures/journals are dumps of journals the earlier versions
themselves wrote (the same three messages and one delivery report each):
version 1 as first released, with the price column, with the row columns,
versions 2, 3 and 4.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from batch_sender.esms.delivery_report import Delivery
from batch_sender.journal.files import journal_path
from batch_sender.journal.records import Outcome
from batch_sender.journal.schema import SCHEMA_VERSION
from batch_sender.journal.store import Journal
from batch_sender.results.rows import RESULT_COLUMNS

from .conftest import RunningSimulator
from .test_delivery_promises import _in_read_only

SAMPLES = sorted((Path(__file__).parent / "fixtures" / "journals").glob("schema-*.sql"))


def _journal_from(sample: Path, tmp_path: Path) -> Path:
    path = tmp_path / "r.csv.journal.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(sample.read_text())
    db.close()
    return path


def test_every_older_version_has_a_sample() -> None:
    versions = {s.stem.removeprefix("schema-").split("-")[0] for s in SAMPLES}
    assert versions == {str(v) for v in range(1, int(SCHEMA_VERSION))}
    assert {"schema-1-first", "schema-1-identity", "schema-1-price"} <= {s.stem for s in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.stem)
def test_an_older_journal_is_migrated_and_keeps_what_it_held(sample: Path, tmp_path: Path) -> None:
    path = _journal_from(sample, tmp_path)
    journal = Journal.open(path, "spring", sending=True)
    try:
        assert journal.resumed
        assert journal.meta("schema") == SCHEMA_VERSION
        found = journal.lookup(["rid-a", "rid-b", "rid-c"])
        assert (found["rid-a"].status, found["rid-a"].smsid) == ("accepted", "sms-a")
        assert (found["rid-b"].status, found["rid-b"].code) == ("rejected", "160")
        assert found["rid-c"].may_have_reached  # a fate unknown stays unknown
        assert journal.deliveries.reported(["rid-a"])["rid-a"][0] == "delivered"
        # What the newer version writes, an older journal now takes too.
        journal.intend("rid-d", 5)
        journal.rows.identify("rid-d", "u4", "u4", "rid-d", "oa1", False, "Xin chào")
        journal.record("rid-d", 5, Outcome("accepted", "100", "sms-d"))
        journal.deliveries.record(Delivery("", "sms-d", "delivered", "", "t", "300"))
        journal.rows.remember_scope("oa1", False)
        journal.commit()
        assert journal.rows.sent_texts(["rid-d"]) == {"rid-d": "Xin chào"}
        assert journal.rows.sends(["u4"], "oa1", False)["u4"].request_id == "rid-d"
        assert "300" in journal.deliveries.prices()
        assert journal.rows.followers_sent(["u4"], "oa1", False)["u4"].request_id == "rid-d"
        indexes = {r[0] for r in journal.writer.execute("SELECT name FROM sqlite_master")}
        assert {"messages_row_key", "messages_user_id", "messages_line"} <= indexes
    finally:
        journal.close()


def test_a_journal_up_to_date_is_opened_without_a_write(tmp_path: Path) -> None:
    """Opening (report, status) never waits for the write lock a send may hold."""
    path = tmp_path / "j.sqlite"
    Journal.open(path, "c").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a send's commit in progress
    try:
        journal = Journal(path, busy_timeout=0.1)
        assert journal.meta("campaign_id") == "c"
        journal.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _archive_from(sample: Path, tmp_path: Path) -> Path:
    """A campaign's folder as an earlier version left it: the result file and its journal."""
    folder = tmp_path / "archive"
    folder.mkdir()
    _journal_from(sample, folder)
    results = folder / "r.csv"
    with results.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["user_id", *RESULT_COLUMNS])
        blank = [""] * (len(RESULT_COLUMNS) - 7)
        out.writerow(["u1", "2", "accepted", "rid-a", "sms-a", "100", "", "1", *blank])
        out.writerow(["u2", "3", "rejected", "rid-b", "", "160", "bad user", "1", *blank])
        out.writerow(["u3", "4", "unknown", "rid-c", "", "", "", "1", *blank])
    return results


def _report(results: Path) -> list[str]:
    return [sys.executable, "-m", "batch_sender", "report", str(results)]


def _status(results: Path, esms: RunningSimulator) -> list[str]:
    command = [sys.executable, "-m", "batch_sender", "status", str(results)]
    return [*command, "--status-base-url", esms.url, *esms.args[2:]]


def _says_the_old_campaign(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stdout + done.stderr
    if "campaign spring" in done.stdout:  # report's figures, as the journal holds them
        assert re.search(r"delivered +1 +100.0% of accepted", done.stdout), done.stdout
        assert "bad user (eSMS 160)" in done.stdout


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.stem)
def test_report_and_status_read_an_older_campaign(
    sample: Path, tmp_path: Path, esms: RunningSimulator
) -> None:
    """In its own folder: brought up to date there, as a rerun would."""
    results = _archive_from(sample, tmp_path)
    for command in (_report(results), _status(results, esms), _report(results)):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        _says_the_old_campaign(done)
    db = sqlite3.connect(journal_path(results))
    try:  # brought up to date in its folder, as a rerun would
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            SCHEMA_VERSION,
        )
    finally:
        db.close()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.stem)
def test_report_and_status_read_an_older_campaign_archived_read_only(
    sample: Path, tmp_path: Path, esms: RunningSimulator
) -> None:
    """Read-only: read from an up-to-date copy in memory; the archive stays as it was."""
    results = _archive_from(sample, tmp_path)
    before = {p.name: p.read_bytes() for p in results.parent.iterdir()}
    for command in (_report(results), _status(results, esms), _report(results)):
        _says_the_old_campaign(_in_read_only(results.parent, *command))
    assert {p.name: p.read_bytes() for p in results.parent.iterdir()} == before


def test_a_journal_row_reads_as_the_record_of_its_columns(tmp_path: Path) -> None:
    """A Record is SQLite's row taken as it is: each column must land in its own field."""
    from batch_sender.journal.records import _COLUMNS, Record, record_of

    assert [c.strip() for c in _COLUMNS.split(",")] == list(Record._fields)
    journal = Journal.open(tmp_path / "r.csv.journal.sqlite", "c")
    try:
        journal.sending("c-1", 7)
        journal.record("c-1", 7, Outcome("accepted", "100", "SMS-1"))
        (record,) = journal.lookup(["c-1"]).values()
    finally:
        journal.close()
    assert (record.request_id, record.line, record.status, record.smsid) == (
        "c-1",
        7,
        "accepted",
        "SMS-1",
    )
    assert record.attempts == 1 and record.last_sent_at is not None
    again = record_of(tuple(record))
    assert type(again) is Record and again.smsid == "SMS-1" and again.row_key == record.row_key
