"""The journal: what a rerun finds after a crash, stale rows, one campaign per journal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_sender.check.disposition import _latest_tries
from batch_sender.check.request_ids import Campaign
from batch_sender.cli import cli
from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import Delivery
from batch_sender.journal.files import LOCK_SUFFIX, journal_path, side_files
from batch_sender.journal.lock import no_send_running
from batch_sender.journal.records import FINAL, STALE_AFTER, Outcome
from batch_sender.journal.statements import text_id
from batch_sender.journal.store import Journal, settled

from .conftest import RunningSimulator, message_rows, read_results, write_csv


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_records_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal.open(path, "c")
    journal.sending("r1", 2)
    journal.record("r1", 2, Outcome("accepted", "100", "sms-1"))
    journal.sending("r2", 3)  # a crash right after this request went out
    journal.close()

    again = Journal.open(path, "c")
    assert again.resumed
    found = again.lookup(["r1", "r2", "r3"])
    assert set(found) == {"r1", "r2"}
    assert (found["r1"].status, found["r1"].smsid, found["r1"].attempts) == (
        "accepted",
        "sms-1",
        1,
    )
    assert found["r2"].status == "sending"
    again.close()


def test_an_unanswered_request_goes_stale_after_24_hours(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite", clock=clock)
    journal.sending("dropped", 2)
    journal.ambiguous("dropped")
    journal.record("dropped", 2, Outcome("failed", message="connection lost"))
    journal.sending("refused", 3)  # never reached eSMS: not ambiguous
    journal.record("refused", 3, Outcome("failed", message="cannot connect"))
    journal.sending("crashed", 4)
    journal.sending("accepted", 5)
    journal.ambiguous("accepted")
    journal.record("accepted", 5, Outcome("accepted", "124"))
    records = journal.lookup(["dropped", "refused", "crashed", "accepted"])

    later = clock.now + STALE_AFTER - 1
    assert not any(r.is_stale(later) for r in records.values())
    much_later = clock.now + STALE_AFTER + 1
    assert {k for k, r in records.items() if r.is_stale(much_later)} == {"dropped", "crashed"}
    journal.close()


def test_a_rerun_keeps_the_doubt_a_crash_left(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite", clock=clock)
    journal.sending("r", 2)  # a crash: this request's fate is unknown
    clock.now += 60
    journal.sending("r", 2)  # the rerun's request is refused outright...
    journal.record("r", 2, Outcome("failed", message="cannot connect"))
    record = journal.lookup(["r"])["r"]
    # ...which says nothing about the first one: it still counts from the crash.
    assert record.ambiguous_since == clock.now - 60
    assert record.is_stale(clock.now - 60 + STALE_AFTER + 1)
    journal.close()


def test_an_intent_survives_a_kill_before_any_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    crashed = Journal.open(path, "c", sending=True, commit_interval=3600)
    crashed.record("done", 2, Outcome("accepted", "100", "s"))
    crashed.commit()
    crashed.intend("done", 2)  # a (pointless) resend of an accepted row...
    crashed.intend("r", 3)  # ...and a request that went out: then kill -9
    assert crashed._lock is not None
    crashed._lock.close()  # the process is gone: no close(), no commit, its lock released

    rerun = Journal.open(path, "c", sending=True)
    found = rerun.lookup(["done", "r"])
    assert found["r"].status == "sending"
    assert found["r"].unanswered_since() is not None
    assert found["done"].status == "accepted"  # final answers are never undone
    assert all(p.stat().st_size == 0 for p in rerun.log_paths)
    rerun.close()


def test_a_journal_belongs_to_one_campaign(tmp_path: Path) -> None:
    Journal.open(tmp_path / "j.sqlite", "thang-11").close()
    with pytest.raises(UsageError) as err:
        Journal.open(tmp_path / "j.sqlite", "thang-12")
    assert err.value.cli_message == (
        f"{tmp_path / 'j.sqlite'} belongs to campaign 'thang-11', not 'thang-12': "
        "pass --campaign-id 'thang-11' to continue it, or choose another -o"
    )
    assert str(err.value).endswith(  # a Python caller reads the keyword arguments' names
        "pass campaign_id 'thang-11' to continue it, or choose another output"
    )


def test_only_the_sender_empties_the_intent_log(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    sender = Journal.open(path, "c", sending=True, commit_interval=3600)
    sender.intend("r", 2)
    # The callback receiver commits its own writes to the same journal...
    receiver = Journal(path)
    receiver.set_meta("x", "y")
    receiver.commit()
    receiver.close()
    # ...which must not empty the log of the send still running.
    assert b'"r",2,' in b"".join(p.read_bytes() for p in sender.log_paths)
    sender.close()


def test_a_second_sender_on_the_same_campaign_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = Journal.open(path, "c", sending=True)
    # flock is per open file: another process (here a child) must be refused.
    code = (
        "import sys; from pathlib import Path; from batch_sender.journal.store import Journal\n"
        "from batch_sender.errors import UsageError\n"
        "try:\n"
        f"    Journal.open(Path({str(path)!r}), 'c', sending=True, lock_wait=0.1)\n"
        "except UsageError as e:\n    print(e); sys.exit(2)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 2
    assert "another batch-sender is sending this campaign" in child.stdout
    first.close()
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stdout + child.stderr


def test_stale_rows_are_held_back_unless_asked(tmp_path: Path, esms: RunningSimulator) -> None:
    rows = message_rows(3)
    path = write_csv(tmp_path / "c.csv", rows)
    args = ["send", str(path), "-o", "r.csv", *esms.args]
    # A first run that crashed two days ago right after sending row 3.
    first = CliRunner().invoke(cli, [*args, "--quiet"])
    assert first.exit_code == 0
    rid = read_results(Path("r.csv"))[1]["RequestId"]
    journal = Journal(journal_path(Path("r.csv")), clock=lambda: 0.0)
    journal.sending(rid, 3)
    journal.close()

    held = CliRunner().invoke(cli, args)
    assert held.exit_code == 1
    assert "2 done earlier, 0 to send, 1 held back (no answer for over 24 hours)" in held.stderr
    row = read_results(Path("r.csv"))[1]
    assert row["status"] == "failed"
    assert row["ErrorMessage"].startswith("an earlier request got no answer over 24 hours ago")
    assert esms.stats()["requests"] == 3

    resent = CliRunner().invoke(cli, [*args, "--resend-stale"])
    assert resent.exit_code == 0
    assert read_results(Path("r.csv"))[1]["status"] == "accepted"
    assert esms.stats()["requests"] == 4


def test_a_timed_out_request_stays_in_doubt_after_a_kill_before_the_commit(
    tmp_path: Path,
) -> None:
    """intend, timeout (ambiguous), the run stops (failed), kill -9 inside the group commit."""
    path = tmp_path / "j.sqlite"
    campaign = Campaign("c")
    rid = campaign.request_id("1", "t", "u")
    Journal.open(path, "c").close()
    script = f"""
import os
from pathlib import Path
from batch_sender.journal.store import Journal, Outcome
j = Journal.open(Path({str(path)!r}), "c", sending=True, commit_interval=3600)
j.intend({rid!r}, 2)
j.rows.identify({rid!r}, "row-2", "u", "content", "oa", False)
j.ambiguous({rid!r})
j.record({rid!r}, 2, Outcome("failed", message="no answer; not retried: the run stopped"))
os._exit(137)
"""
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)

    rerun = Journal.open(path, "c", sending=True)
    record = rerun.lookup([rid])[rid]
    assert record.status == "failed"
    assert record.may_have_reached  # not a definitive refusal: it may have reached eSMS
    assert (record.row_key, record.user_id, record.oaid) == ("row-2", "u", "oa")
    # ...so the rerun tries it again under the same RequestId, which eSMS refuses (124)
    # if the first one got through, instead of a derived one it would deliver again.
    assert _latest_tries([rid], rerun, campaign)[rid][0] == rid
    rerun.close()


def test_a_first_attempt_s_mark_and_row_survive_a_kill_in_one_entry(tmp_path: Path) -> None:
    """The send logs a first attempt's mark and its row as one entry: both come back."""
    path = tmp_path / "j.sqlite"
    Journal.open(path, "c").close()
    script = f"""
import os
from pathlib import Path
from batch_sender.journal.store import Journal
j = Journal.open(Path({str(path)!r}), "c", sending=True, commit_interval=3600)
j.intend("r1", 2, j.rows.identity("row-2", "u2", "c2", "oa", False, "Xin chào"))
j.intend("r2", 3, j.rows.identity("row-3", "u3", "c3", "oa", True))
# The same entry cut short by the kill (a full disk's short write): it replays nothing.
os.write(j.log._fds[j.log._active], b'\\n["s",1,"r3",4,1.5,"row-4","u4"')
os._exit(137)
"""
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    rerun = Journal.open(path, "c", sending=True)
    found = rerun.lookup(["r1", "r2", "r3"])
    text_ids = dict(rerun.writer.execute("SELECT request_id, text_id FROM messages").fetchall())
    rerun.close()
    assert set(found) == {"r1", "r2"}
    first, second = found["r1"], found["r2"]
    assert (first.status, first.line, first.row_key, first.user_id) == ("sending", 2, "row-2", "u2")
    assert (second.status, second.row_key, second.content_id, second.sandbox) == (
        "sending",
        "row-3",
        "c3",
        1,
    )
    # Which text r1 went with (the text itself is not logged: see RowSends._text_key).
    assert text_ids == {"r1": text_id("Xin chào"), "r2": None}


def test_a_definitive_answer_survives_a_kill_before_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal.open(path, "c").close()
    script = f"""
import os
from pathlib import Path
from batch_sender.journal.store import Journal
j = Journal.open(Path({str(path)!r}), "c", sending=True, commit_interval=3600)
j.intend("r", 2)
j.answered("r")  # 429: eSMS refused this attempt
os._exit(137)
"""
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    rerun = Journal.open(path, "c", sending=True)
    assert rerun.lookup(["r"])["r"].status == "failed"
    rerun.close()


def test_smsid_look_ups_use_the_smsid_index(tmp_path: Path) -> None:
    """eSMS's reports carry only the SMSID: each must not scan the whole campaign."""
    journal = Journal(tmp_path / "j.sqlite")
    for n in range(50):
        journal.sending(f"r{n}", n + 2)
        journal.record(f"r{n}", n + 2, Outcome("accepted", "100", f"sms-{n}"))
    journal.commit()
    asked: list[str] = []
    journal.writer.call(lambda: journal.writer.conn.set_trace_callback(asked.append))
    assert journal.deliveries.record(Delivery("", "sms-7", "delivered", "", "t")) == "r7"
    assert journal.deliveries.reported(["r7"]) == {"r7": ("delivered", "", "t")}
    journal.deliveries.record(Delivery("", "stranger", "delivered", "", "t"))
    assert journal.deliveries.unknown() == 1
    journal.writer.call(lambda: journal.writer.conn.set_trace_callback(None))
    by_smsid = [s for s in asked if "smsid =" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(by_smsid) == 4, asked
    for sql in by_smsid:
        plan = journal.writer.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        steps = [str(step[-1]) for step in plan]
        assert any("messages_smsid" in s or "deliveries_smsid" in s for s in steps), (sql, steps)
        assert not any(s.startswith("SCAN m") for s in steps), (sql, steps)
    journal.close()


def test_a_rerun_s_row_and_follower_look_ups_use_their_indexes(tmp_path: Path) -> None:
    """Each chunk asks which of its rows and followers were sent: never a whole-journal scan
    (600,000 sends: 3.6 s a chunk, twice per chunk)."""
    journal = Journal(tmp_path / "j.sqlite")
    for n in range(50):
        journal.sending(f"r{n}", n + 2)
        journal.rows.identify(f"r{n}", f"row-{n}", f"u{n}", f"c{n}", "oa", False)
        journal.record(f"r{n}", n + 2, Outcome("accepted", "100", f"sms-{n}"))
    journal.commit()
    asked: list[str] = []
    journal.writer.call(lambda: journal.writer.conn.set_trace_callback(asked.append))
    assert set(journal.rows.sends(["row-3", "row-9", "new"], "oa", False)) == {"row-3", "row-9"}
    assert set(journal.rows.followers_sent(["u4", "u70"], "oa", False)) == {"u4"}
    journal.writer.call(lambda: journal.writer.conn.set_trace_callback(None))
    look_ups = [s for s in asked if s.lstrip().upper().startswith("SELECT")]
    assert len(look_ups) == 2, asked
    for sql, index in zip(look_ups, ("messages_row_key", "messages_user_id"), strict=True):
        plan = journal.writer.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        steps = [str(step[-1]) for step in plan]
        assert any(index in s for s in steps), (sql, steps)
        assert not any(s.startswith("SCAN m") for s in steps), (sql, steps)
    journal.close()


def test_a_chunk_of_the_sheet_is_read_as_one_range_of_lines(tmp_path: Path) -> None:
    """A rerun's look-ups follow the sheet: neighbours on disk, not digests all over it."""
    journal = Journal(tmp_path / "j.sqlite")
    for n in range(40):
        journal.sending(f"r{n}", n + 2)
        journal.record(f"r{n}", n + 2, Outcome("accepted", "100", f"sms-{n}"))
    journal.commit()
    # Rows of lines 10..19, one moved since (line 30), one never sent.
    wanted = [*(f"r{n}" for n in range(8, 18)), "r28", "new"]
    asked: list[str] = []
    journal.writer.call(lambda: journal.writer.conn.set_trace_callback(asked.append))
    found = journal.lookup(wanted, (10, 19))
    journal.writer.call(lambda: journal.writer.conn.set_trace_callback(None))
    assert found == journal.lookup(wanted)
    assert sorted(found) == sorted(wanted[:-1])
    by_line = [s for s in asked if "BETWEEN" in s]
    assert len(by_line) == 1, asked
    plan = journal.writer.execute(f"EXPLAIN QUERY PLAN {by_line[0]}").fetchall()
    assert any("messages_line" in str(step[-1]) for step in plan), plan
    journal.close()


def test_settled_is_what_a_rerun_never_takes_for_a_row_with_no_current_try(
    tmp_path: Path,
) -> None:
    """Final, cut short or in doubt: settled; a definitive refusal or never sent: not."""
    journal = Journal(tmp_path / "j.sqlite")
    for n, request_id in enumerate(["ok", "refused", "cut", "doubt", "no"]):
        journal.sending(request_id, n + 2)
    journal.record("ok", 2, Outcome("accepted", "100", "sms-1"))
    journal.record("refused", 3, Outcome("rejected", "99"))
    journal.ambiguous("doubt")
    journal.record("doubt", 5, Outcome("failed", "", "", "timeout"))
    journal.record("no", 6, Outcome("failed", "429"))
    journal.commit()
    asked = ["ok", "refused", "cut", "doubt", "no", "never", "moved"]
    journal.sending("moved", 40)
    found = settled(journal, asked, (2, 6))
    assert found == {"ok", "refused", "cut", "doubt", "moved"}
    records = journal.lookup(asked)
    assert found == {r for r, rec in records.items() if rec.status in FINAL or rec.may_have_reached}
    journal.close()


# SQLite's unix locks are fcntl locks: per process, and dropped when the process
# closes ANY descriptor of the file. The receiver holds the journal open while it
# takes the campaign's lock for each rewrite; if that lock lived on the journal
# file, every rewrite would silently drop the receiver's SQLite locks, and a send
# closing its connection meanwhile would checkpoint and reset the WAL under it.
_SHARED_RANGE = (0x40000000 + 2, 510)  # SQLite's SHARED lock bytes (os_unix.c)

_CAN_LOCK = (
    "import fcntl, sys\n"
    "fd = open(sys.argv[1], 'rb+')\n"
    "try:\n"
    f"    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, {_SHARED_RANGE[1]}, {_SHARED_RANGE[0]})\n"
    "except OSError:\n    print('held')\nelse:\n    print('free')\n"
)


def _sqlite_lock_held(path: Path) -> bool:
    """Whether some process holds SQLite's SHARED lock on this database (asked by a child)."""
    child = subprocess.run(
        [sys.executable, "-c", _CAN_LOCK, str(path)], capture_output=True, text=True, check=True
    )
    return child.stdout.strip() == "held"


def test_the_campaign_lock_never_drops_sqlites_own_locks(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "r.csv")
    Journal.open(path, "c").close()
    receiver = Journal(path)  # the callback receiver: open the whole time
    receiver.count()
    assert _sqlite_lock_held(path)  # WAL mode: an open connection holds SHARED
    with no_send_running(path) as free:  # the receiver rewriting the result file
        assert free
    assert _sqlite_lock_held(path), "taking the campaign's lock dropped SQLite's"
    sender = Journal.open(path, "c", sending=True)  # a send in the same process
    sender.close()
    assert _sqlite_lock_held(path), "releasing the campaign's lock dropped SQLite's"
    receiver.close()
    assert not _sqlite_lock_held(path)


def test_the_campaign_lock_is_a_file_of_its_own(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "r.csv")
    sender = Journal.open(path, "c", sending=True)
    lock = path.with_name(path.name + LOCK_SUFFIX)
    assert lock.exists() and lock in side_files(path)
    with no_send_running(path) as free:
        assert not free  # a send holds it: the receiver leaves the result file alone
    sender.close()
    with no_send_running(path) as free:
        assert free


def test_a_folder_where_the_journal_belongs_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    journal_path(tmp_path / "r.csv").mkdir()
    result = CliRunner().invoke(
        cli, ["send", str(path), "-o", str(tmp_path / "r.csv"), "--simulate"]
    )
    assert result.exit_code == 2, result.output
    error = result.stderr.splitlines()[-1]
    assert (
        error.startswith("Error: ") and "is a folder where the campaign's journal belongs" in error
    )


def test_a_folder_where_the_lock_file_belongs_is_one_line_in_the_same_words(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    journal = journal_path(tmp_path / "r.csv")
    journal.with_name(journal.name + LOCK_SUFFIX).mkdir()
    result = CliRunner().invoke(
        cli, ["send", str(path), "-o", str(tmp_path / "r.csv"), "--simulate"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: {journal}{LOCK_SUFFIX} is a folder: move it aside, then rerun"
    )
