"""Reruns keep their promises: one message per follower, a scheduled campaign continued,
a recurring sheet that changed is not a silent success, a result file without its
journal is adopted or refused, never written over blindly."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import batch_sender
from batch_sender.cli import cli
from batch_sender.delivery.receiver import Receiver
from batch_sender.journal.files import journal_path
from batch_sender.journal.schema import SCHEMA_VERSION
from batch_sender.journal.store import Journal
from batch_sender.results.adoption import RESULT_FILE
from batch_sender.sending import schedule
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY

from .conftest import RunningSimulator, message_rows, read_results, write_csv


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def delivered(esms: RunningSimulator) -> dict[str, dict[str, object]]:
    messages: dict[str, dict[str, object]] = esms.stats()["messages"]
    return messages


# --- 6: the same follower twice ----------------------------------------------------------


def crm_export(tmp_path: Path) -> Path:
    """One member listed twice (another rank, another text), and one exact repeat."""
    a, b = message_rows(2)
    rows = [a, b, [a[0], "Chào hội viên Vàng, ưu đãi riêng", a[2]], list(b)]
    return write_csv(tmp_path / "crm.csv", rows)


def test_the_same_follower_twice_is_a_duplicate_naming_the_earlier_line(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = crm_export(tmp_path)
    checked = run("validate", str(path))
    assert checked.exit_code == 1
    assert checked.stdout.splitlines()[:3] == [
        "crm.csv: 4 rows: 2 valid, 2 duplicate",
        "  line 4: duplicate: same user_id as line 2; one message per follower per campaign "
        "(--allow-repeats sends repeats on purpose)",
        "  line 5: duplicate: same user_id as line 3; one message per follower per campaign "
        "(--allow-repeats sends repeats on purpose)",
    ]
    page = run("preview", str(path), "-o", "p.html")
    assert page.stdout.startswith("crm.csv: 4 rows: 2 would be sent, 2 would not")
    assert "same user_id as line 2" in Path("p.html").read_text(encoding="utf-8")

    sent = run("send", str(path), "-o", "r.csv", *esms.args)
    assert sent.exit_code == 1
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted", "accepted", "duplicate", "duplicate"]
    assert rows[2]["ErrorMessage"].startswith("same user_id as line 2")
    assert len(delivered(esms)) == 2  # one message per follower


def test_allow_repeats_sends_a_follower_s_other_rows_on_purpose(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = crm_export(tmp_path)
    checked = run("validate", str(path), "--allow-repeats")
    assert checked.stdout.splitlines()[:2] == [
        "crm.csv: 4 rows: 3 valid, 1 duplicate",
        "  line 5: duplicate: same user_id, text and url as line 3; not sent twice",
    ]
    report = batch_sender.send(
        path,
        "r.csv",
        allow_repeats=True,
        base_url=esms.url,
        simulate=False,
        api_key="SIMULATOR-API-KEY",
        secret_key="SIMULATOR-SECRET-KEY",
        oaid="SIMULATOR-OAID",
    )
    assert report.counts == {"accepted": 3, "duplicate": 1}
    assert len(delivered(esms)) == 3


def test_a_campaign_that_sent_repeats_keeps_them_when_rerun_without_the_option(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """Sent under the old rule (repeats were sent): the rerun sends nobody, changes no RequestId."""
    path = crm_export(tmp_path)
    first = run("send", str(path), "-o", "r.csv", "--allow-repeats", *esms.args)
    assert first.exit_code == 1
    before = read_results(Path("r.csv"))
    again = run("send", str(path), "-o", "r.csv", *esms.args)
    assert esms.stats()["requests"] == 3
    after = read_results(Path("r.csv"))
    assert [r["status"] for r in after] == ["accepted", "accepted", "accepted", "duplicate"]
    assert [(r["RequestId"], r["SMSID"]) for r in after] == [
        (r["RequestId"], r["SMSID"]) for r in before
    ]
    assert again.exit_code == 1  # line 5 is still a duplicate


@pytest.mark.parametrize("option", [(), ("--resend-changed",)])
def test_an_edited_copy_above_a_sent_row_never_messages_its_follower_twice(
    tmp_path: Path, esms: RunningSimulator, option: tuple[str, ...]
) -> None:
    """The sent row is still there, an edited copy of it added above: that row is a duplicate."""
    lan, minh = ["7800024000000000001", "Chào chị Lan"], ["7800024000000000002", "Chào anh Minh"]
    image = "https://cdn.example.vn/a.jpg"
    path = write_csv(tmp_path / "m.csv", [[*lan, image], [*minh, image]])
    send = ("send", str(path), "-o", "r.csv", *esms.args)
    assert run(*send).exit_code == 0
    write_csv(path, [[lan[0], "Chào chị Lan (sửa)", image], [*lan, image], [*minh, image]])
    again = run(*send, *option)
    assert len(delivered(esms)) == 2, "a follower got two messages"
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["duplicate", "accepted", "accepted"]
    assert "one message per follower per campaign" in rows[0]["ErrorMessage"]
    assert rows[0]["SMSID"] == ""
    assert again.exit_code == 1  # a duplicate row needs attention
    assert "resuming campaign 'm': 2 done earlier, 0 to send" in again.stderr
    assert "0 invalid and 1 duplicate rows are not sent" in again.stderr


def test_the_plan_line_counts_what_the_result_file_then_shows(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """--limit 5, then the sheet edited: a sent row changed, a row added on top for a
    follower already sent. 'done earlier' and 'to send' add up to the accepted rows."""
    rows = message_rows(8)
    path = write_csv(tmp_path / "c.csv", rows)
    send = ("send", str(path), "-o", "r.csv", *esms.args)
    assert run(*send, "--limit", "5").exit_code == 1
    edited = [list(r) for r in rows]
    edited[2][1] = "Chào bạn, ưu đãi mới (sửa)"
    edited.insert(0, [rows[1][0], "Chào lại bạn", rows[1][2]])
    write_csv(path, edited)
    again = run(*send)
    assert again.exit_code == 1, again.output  # the row on top is a duplicate
    statuses = [r["status"] for r in read_results(Path("r.csv"))]
    assert statuses.count("accepted") == 8 and statuses.count("duplicate") == 1
    assert len(delivered(esms)) == 8
    lines = again.stderr.splitlines()
    assert "resuming campaign 'c': 5 done earlier, 3 to send" in lines, again.stderr
    assert (
        "warning: 1 row sent earlier with different content: the earlier send stands "
        "(--resend-changed sends the new version)" in lines
    )
    assert "0 invalid and 1 duplicate rows are not sent" in again.stderr
    assert "sent 3 messages" in again.output


# --- 9: a scheduled campaign rerun after its time ----------------------------------------


def test_a_scheduled_campaign_continues_after_its_time(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(4))
    send = ("send", str(path), "-o", "r.csv", "--send-at", "2030-01-01 09:00", *esms.args)
    monkeypatch.setattr(schedule, "now", lambda: dt.datetime(2029, 12, 31, tzinfo=dt.UTC))
    batch = run(*send, "--limit", "2")
    assert batch.exit_code == 1  # two rows unsent
    monkeypatch.setattr(schedule, "now", lambda: dt.datetime(2030, 1, 2, tzinfo=dt.UTC))
    rest = run(*send)
    assert rest.exit_code == 0, rest.output
    assert (
        "--send-at 2030-01-01 09:00:00 (Vietnam time) has passed: the campaign continues and "
        "its rows still to send go out now" in rest.stderr
    )
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 4
    # The rows sent after the time go out at once: eSMS gets no SendDate for them.
    assert esms.call(lambda: esms.simulator.send_dates) == ["2030-01-01 09:00:00"] * 2

    first = run("send", str(path), "-o", "new.csv", "--send-at", "2030-01-01 09:00", *esms.args)
    assert first.exit_code == 2
    assert "is in the past" in first.stderr
    assert not Path("new.csv").exists()


def test_a_send_at_long_past_on_a_campaign_under_way_is_a_warning_even_with_q(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    # A typo (2020 for 2026) on a rerun is not refused, the campaign being under way;
    # it must not pass unseen either: a scheduler's run is quiet.
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    assert run("send", str(path), "-o", "r.csv", "--limit", "1", *esms.args).exit_code == 1
    late = ("--send-at", "2020-01-01")
    rest = run(
        "send", str(path), "-o", "r.csv", *late, "-q", "--summary-json", "s.json", *esms.args
    )
    assert rest.exit_code == 0, rest.output
    warning = (
        "warning: --send-at 2020-01-01 00:00:00 (Vietnam time) has passed: the campaign "
        "continues and its rows still to send go out now"
    )
    assert warning in rest.stderr.splitlines()
    assert json.loads(Path("s.json").read_text("utf-8"))["warnings"] == [warning]
    write_csv(path, message_rows(4))
    report = batch_sender.send(
        path,
        "r.csv",
        send_at="2020-01-01",
        base_url=esms.url,
        api_key=SIMULATOR_API_KEY,
        secret_key=SIMULATOR_SECRET_KEY,
        oaid=SIMULATOR_OAID,
    )
    assert report.exit_code == 0 and report.sent == 1
    assert report.warnings == [warning]


# --- 7: a recurring file rewritten with new texts -----------------------------------------


def nightly(tmp_path: Path, night: int, changed: int | None = None) -> Path:
    """campaigns/thang12.csv as a nightly job writes it: the same ids, the night's texts."""
    folder = tmp_path / "campaigns"
    folder.mkdir(exist_ok=True)
    rows = message_rows(10)
    for i, row in enumerate(rows):
        text_of = night if changed is None or i < changed else 1
        row[1] = f"Đêm {text_of}: ưu đãi mới cho bạn số {i}"
    return write_csv(folder / "thang12.csv", rows)


@pytest.mark.parametrize(
    "refusal",
    ["no account", "output is the input", "a pipe without a campaign id", "a bad --test-to"],
)
def test_a_send_refused_at_its_first_checks_replaces_last_night_s_summary(
    tmp_path: Path, esms: RunningSimulator, refusal: str
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    send = ["send", str(path), "-o", "r.csv", *esms.args]
    assert run(*send, "--summary-json", "s.json").exit_code == 0
    again = {
        "no account": ["send", str(path), "-o", "r.csv", "--base-url", esms.url],
        "output is the input": ["send", str(path), "-o", str(path), *esms.args],
        "a pipe without a campaign id": ["send", "/dev/stdin", "-o", "r.csv", *esms.args],
        "a bad --test-to": [*send, "--test-to", "not-an-id"],
    }[refusal]
    refused = CliRunner().invoke(cli, [*again, "--summary-json", "s.json"], input="")
    assert refused.exit_code == 2, refused.output
    summary = json.loads(Path("s.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 2, "last night's summary still says all went well"
    assert summary["error"]
    assert (summary["statuses"], summary["rows"]) == ({}, 0)
    assert esms.stats()["requests"] == 3


def test_a_sheet_whose_texts_mostly_changed_is_refused_as_a_new_campaign(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = nightly(tmp_path, 1)
    send = ("send", str(path), "-o", "r.csv", "--rate", "0", *esms.args)
    assert run(*send, "--summary-json", "s.json").exit_code == 0  # last night's summary
    before = Path("r.csv").read_bytes()
    path = nightly(tmp_path, 2)
    again = run(*send, "--summary-json", "s.json")
    assert again.exit_code == 2
    summary = json.loads(Path("s.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 2, "last night's summary still says all went well"
    assert "this looks like a new campaign" in summary["error"]
    assert (summary["statuses"], summary["rows"]) == ({}, 0)  # a scheduler reads them
    assert esms.stats()["requests"] == 10  # nothing sent
    assert Path("r.csv").read_bytes() == before
    assert again.stderr.strip().splitlines()[-1] == (
        f"Error: {path}: 10 of its 10 rows were sent earlier in campaign 'thang12' "
        "with other content: this looks like a new campaign, and nothing was sent; "
        "start it with another -o (and --campaign-id), or pass --resend-changed to send the "
        "new texts to the same followers as part of this campaign"
    )
    assert summary["error"] == again.stderr.strip().splitlines()[-1].removeprefix("Error: ")
    resent = run(*send, "--resend-changed")
    assert resent.exit_code == 0, resent.output
    assert len(delivered(esms)) == 20
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted"] * 10
    assert {r["ErrorMessage"] for r in rows} == {""}  # the new texts went out
    night3 = nightly(tmp_path, 3)
    new = run(
        *("send", str(night3), "-o", "dem3.csv", "--campaign-id", "thang12-dem3"),
        *("--rate", "0", *esms.args),
    )
    assert new.exit_code == 0 and len(delivered(esms)) == 30


@pytest.fixture
def sheet_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a run starts reading its sheet (one entry per reading)."""
    from batch_sender.api import chunks
    from batch_sender.sending import plan

    reads: list[int] = []
    real = plan.checked_chunks  # type: ignore[attr-defined]

    def counted(*args: object, **kwargs: object) -> object:
        reads.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(chunks, "checked_chunks", counted)  # SheetStream's reading
    monkeypatch.setattr(plan, "checked_chunks", counted)
    return reads


def test_a_finished_campaign_s_rerun_reads_its_sheet_once(
    tmp_path: Path, esms: RunningSimulator, sheet_reads: list[int]
) -> None:
    # Every Airflow retry of a night that went well: nothing to send, and said at the cost
    # of one reading of the sheet, not two (issue 23: 2x validate at 20k rows, 3.7x at 200k).
    path = nightly(tmp_path, 1)
    send = ("send", str(path), "-o", "r.csv", "--rate", "0", "--chunk-rows", "3", *esms.args)
    assert run(*send).exit_code == 0
    before = Path("r.csv").read_bytes()
    sheet_reads.clear()
    again = run(*send)
    assert again.exit_code == 0, again.output
    assert again.stderr.startswith("resuming campaign 'thang12': 10 done earlier, 0 to send")
    assert len(sheet_reads) == 1
    assert Path("r.csv").read_bytes() == before
    assert esms.stats()["requests"] == 10


def test_a_finished_campaign_s_rerun_never_loads_the_http_client(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    # aiohttp and the sender were a fifth of this rerun's time at 20,000 rows.
    path = nightly(tmp_path, 1)
    send = ["send", str(path), "-o", "r.csv", "--rate", "0", *esms.args]
    assert run(*send).exit_code == 0
    script = (
        "import sys\n"
        "from batch_sender.cli import main\n"
        f"sys.argv = ['batch-sender', *{send!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as exit:\n"
        "    m = sys.modules\n"
        "    print(exit.code, 'aiohttp' in m, 'batch_sender.sending.sender' in m)\n"
    )

    def rerun() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
        )
        return done.stdout.splitlines()[-1].split() if done.stdout else [done.stderr]

    assert rerun() == ["0", "False", "False"]
    assert esms.stats()["requests"] == 10
    with path.open("a", encoding="utf-8") as f:
        f.write("7800378501923859999,Xin chào,https://cdn.example.vn/b.jpg\n")
    assert rerun() == ["0", "True", "True"]  # a new row: it is sent
    assert esms.stats()["requests"] == 11


def sent_then_rewritten(
    tmp_path: Path,
    esms: RunningSimulator,
    chunk_rows: int,
    at: int,
    extra: list[str],
    output: str = "r.csv",
) -> tuple[Path, tuple[str, ...], bytes]:
    """Night 1 sent; the sheet then rewritten with every text new and one more row at `at`.

    Returns the sheet, the send command and the result file's bytes after night 1.
    """
    path = nightly(tmp_path, 1)
    send: tuple[str, ...] = ("send", str(path), "-o", output, "--rate", "0")
    send = (*send, "--chunk-rows", str(chunk_rows), *esms.args)
    assert run(*send).exit_code == 0
    rows = message_rows(10)
    for i, row in enumerate(rows):
        row[1] = f"Đêm 2: ưu đãi mới cho bạn số {i}"
    rows.insert(at, extra)
    write_csv(path, rows)
    return path, send, Path(output).read_bytes()


@pytest.mark.parametrize(
    ("log", "output"), [("text", "r.csv"), ("json", "r.csv"), ("text", "r.xlsx")]
)
def test_a_mostly_changed_sheet_is_refused_without_a_word_of_a_plan_or_a_row(
    tmp_path: Path, esms: RunningSimulator, log: str, output: str
) -> None:
    # Refused once the sheet's end is read (text), or before (the JSON log tells each
    # skipped row as it is written, so that run counts the sheet first).
    invalid = ["not-an-id", "Xin chào", "https://cdn.example.vn/a.jpg"]
    _, send, before = sent_then_rewritten(tmp_path, esms, 3, 4, invalid, output)
    # A process of its own: what the workbook's writer leaves at exit is heard too.
    again = subprocess.run(
        [sys.executable, "-m", "batch_sender", *send, "--log-format", log],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert lines == [lines[-1]], "a plan, a row, a warning or a traceback besides the refusal"
    assert "10 of its 10 rows were sent earlier in campaign 'thang12'" in lines[-1]
    assert Path(output).read_bytes() == before
    assert esms.stats()["requests"] == 10


def test_a_mostly_changed_sheet_with_a_new_row_early_on_is_refused_before_its_first_request(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    # The new row is read, and due to go out, long before the sheet's end says the
    # rest changed: the run counts the whole sheet before the first request.
    path, send, before = sent_then_rewritten(tmp_path, esms, 2, 2, message_rows(1, start=50)[0])
    again = run(*send)
    assert again.exit_code == 2
    assert (
        again.stderr.strip()
        .splitlines()[0]
        .startswith(f"Error: {path}: 10 of its 11 rows were sent earlier in campaign 'thang12'")
    )
    assert esms.stats()["requests"] == 10, "the new row went out"
    assert Path("r.csv").read_bytes() == before


def test_a_result_file_without_its_journal_refused_as_a_new_campaign_adopts_nothing_aloud(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = nightly(tmp_path, 1)
    send = ("send", str(path), "-o", "r.csv", "--rate", "0", "--chunk-rows", "3", *esms.args)
    assert run(*send).exit_code == 0
    before = Path("r.csv").read_bytes()
    for side in Path().glob("r.csv.journal.sqlite*"):
        side.unlink()
    nightly(tmp_path, 2, changed=6)  # the 4 rows as they were are adopted
    again = run(*send)
    assert again.exit_code == 2
    assert "adopted the sends" not in again.stderr
    assert "this looks like a new campaign" in again.stderr
    assert Path("r.csv").read_bytes() == before
    assert esms.stats()["requests"] == 10


def test_some_rows_changed_keep_their_send_with_the_text_it_had_and_say_so(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = nightly(tmp_path, 1)
    send = ("send", str(path), "-o", "r.csv", "--rate", "0", *esms.args)
    assert run(*send).exit_code == 0
    nightly(tmp_path, 2, changed=3)
    warning = (
        "warning: 3 rows sent earlier with different content: the earlier send stands "
        "(--resend-changed sends the new version)"
    )
    again = run(*send, "-q", "--summary-json", "s.json")
    assert again.exit_code == 0, again.output
    assert warning in again.stderr
    assert json.loads(Path("s.json").read_text(encoding="utf-8"))["warnings"] == [warning]
    rows = read_results(Path("r.csv"))
    assert [r["sent_text"] for r in rows[:3]] == [
        f"Đêm 1: ưu đãi mới cho bạn số {i}" for i in range(3)
    ]
    assert [r["text"] for r in rows[:3]] == [f"Đêm 2: ưu đãi mới cho bạn số {i}" for i in range(3)]
    assert rows[5]["sent_text"] == rows[5]["text"]
    assert len(delivered(esms)) == 10

    report = batch_sender.send(
        path,
        "r.csv",
        base_url=esms.url,
        api_key="SIMULATOR-API-KEY",
        secret_key="SIMULATOR-SECRET-KEY",
        oaid="SIMULATOR-OAID",
    )
    assert report.warnings == [warning]
    assert report.as_dict()["warnings"] == [warning]


def test_a_journal_from_before_sent_texts_is_migrated_and_stays_readable(tmp_path: Path) -> None:
    import sqlite3

    from batch_sender.journal.records import Outcome
    from batch_sender.journal.store import Journal

    path = tmp_path / "r.csv.journal.sqlite"
    journal = Journal.open(path, "c", sending=True)
    journal.intend("c-1", 2)
    journal.record("c-1", 2, Outcome("accepted", "100", "S1"))
    journal.close()
    conn = sqlite3.connect(path)  # as the version before sent texts made it
    conn.execute("ALTER TABLE messages DROP COLUMN text_id")
    conn.execute("DROP TABLE sent_texts")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    journal = Journal.open(path, "c", sending=True)
    assert journal.meta("schema") == SCHEMA_VERSION
    assert journal.lookup(["c-1"])["c-1"].smsid == "S1"
    assert journal.rows.sent_texts(["c-1"]) == {}
    journal.intend("c-2", 3)
    journal.rows.identify("c-2", "u2", "u2", "c-2", "oa", False, "Xin chào")
    journal.close()
    journal = Journal.open(path, "c")
    assert journal.rows.sent_texts(["c-1", "c-2"]) == {"c-2": "Xin chào"}
    journal.close()


# --- 1: a result file without its journal --------------------------------------------------


def forget_journal(results: Path) -> None:
    """What a clean-up that kept only the result file leaves (or a folder copied without it)."""
    for side in results.parent.glob(f"{results.name}.journal.sqlite*"):
        side.unlink()


def forget_request_ids(esms: RunningSimulator) -> None:
    """More than 24 hours later: eSMS no longer refuses a RequestId it accepted."""
    esms.call(esms.simulator.accepted.clear)


@pytest.mark.parametrize("later", ["within 24 hours", "over 24 hours later"])
@pytest.mark.parametrize("name", ["r.csv", "r.xlsx"])
def test_a_result_file_without_its_journal_is_adopted_and_nobody_is_messaged_again(
    tmp_path: Path, esms: RunningSimulator, later: str, name: str
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(30))
    send = ("send", str(path), "-o", name, "--rate", "0", *esms.args)
    assert run(*send).exit_code == 0
    results = Path(name)
    before = read_sends(results)
    forget_journal(results)
    if later != "within 24 hours":
        forget_request_ids(esms)
    again = run(*send, "--summary-json", "s.json")
    assert again.exit_code == 0, again.output
    assert esms.stats()["requests"] == 30  # nobody messaged a second time
    assert read_sends(results) == before  # the 30 first SMSIDs are all still there
    assert (
        f"adopted the sends of {name}, whose journal was missing: 30 accepted "
        f"(kept in a new journal, {name}.journal.sqlite)"
    ) in again.stderr
    summary = json.loads(Path("s.json").read_text(encoding="utf-8"))
    assert summary["adopted"] == {"accepted": 30}
    assert summary["sent"] == 0
    third = run(*send)  # the new journal wrote it: an ordinary rerun from here on
    assert third.exit_code == 0 and "adopted" not in third.stderr


def read_sends(results: Path) -> list[tuple[str, str, str, str]]:
    if results.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(results, read_only=True)
        sheet = book.active
        assert sheet is not None
        rows = [[str(c or "") for c in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        header = rows[0]
        records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    else:
        records = read_results(results)
    return [(r["status"], r["RequestId"], r["SMSID"], r["CodeResult"]) for r in records]


def test_adopted_unsent_and_failed_rows_are_sent_once_with_their_request_ids(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(6))
    send = ("send", str(path), "-o", "r.csv", *esms.args)
    assert run(*send, "--limit", "3").exit_code == 1
    first = read_results(Path("r.csv"))
    assert [r["status"] for r in first] == ["accepted"] * 3 + ["unsent"] * 3
    forget_journal(Path("r.csv"))
    rest = run(*send)
    assert rest.exit_code == 0, rest.output
    assert "3 accepted" in rest.stderr and "3 to send" in rest.stderr
    assert esms.stats()["requests"] == 6
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted"] * 6
    assert [r["RequestId"] for r in rows] == [r["RequestId"] for r in first]
    assert [r["SMSID"] for r in rows[:3]] == [r["SMSID"] for r in first[:3]]


def test_another_campaign_s_result_file_is_refused_naming_both_files(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    other = write_csv(tmp_path / "thang11.csv", message_rows(5, start=100))
    assert run("send", str(other), "-o", "r.csv", *esms.args).exit_code == 0
    forget_journal(Path("r.csv"))
    before = Path("r.csv").read_bytes()
    path = write_csv(tmp_path / "thang12.csv", message_rows(5))
    refused = run("send", str(path), "-o", "r.csv", *esms.args)
    assert refused.exit_code == 2
    assert esms.stats()["requests"] == 5
    assert Path("r.csv").read_bytes() == before
    # The refused run left no journal; the lock file stays, as every released one does.
    assert [p.name for p in tmp_path.glob("r.csv.journal.sqlite*")] == ["r.csv.journal.sqlite-lock"]
    line = refused.stderr.strip()
    assert "\n" not in line
    assert line.startswith("Error: r.csv: its journal (r.csv.journal.sqlite) is missing and")
    assert str(path) in line and "nothing was sent" in line


def test_a_refused_new_campaign_removes_its_journal_while_it_still_holds_the_lock(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send waiting on the lock must find the journal whole or gone, never half deleted;
    and the lock file stays, or a third send would lock a new one beside the second."""
    import fcntl

    other = write_csv(tmp_path / "thang11.csv", message_rows(5, start=100))
    assert run("send", str(other), "-o", "r.csv", *esms.args).exit_code == 0
    forget_journal(Path("r.csv"))
    lock = tmp_path / "r.csv.journal.sqlite-lock"
    held_while_removed: dict[str, bool] = {}
    unlink = Path.unlink

    def watched(self: Path, missing_ok: bool = False) -> None:
        if self.name.startswith("r.csv.journal.sqlite") and self.exists():
            with lock.open("ab") as probe:  # another open file: flock is refused while held
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held_while_removed[self.name] = False
                except BlockingIOError:
                    held_while_removed[self.name] = True
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", watched)
    path = write_csv(tmp_path / "thang12.csv", message_rows(5))
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 2
    assert "r.csv.journal.sqlite" in held_while_removed
    assert held_while_removed == dict.fromkeys(held_while_removed, True), held_while_removed
    assert lock.exists() and not Path("r.csv.journal.sqlite").exists()


@pytest.mark.parametrize("receiver", [False, True], ids=["alone", "after-a-receiver-round"])
def test_a_journal_beside_a_result_file_it_did_not_write_refuses(
    tmp_path: Path, esms: RunningSimulator, receiver: bool
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(5))
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    other = write_csv(tmp_path / "d.csv", message_rows(5, start=50))
    assert run("send", str(other), "-o", "d-results.csv", *esms.args).exit_code == 0
    shutil.copy("d-results.csv", "r.csv")  # another campaign's result file put in its place
    before = Path("r.csv").read_bytes()
    # A receiver running beside it must not make the stranger look like the journal's.
    said = receiver_round(Path("r.csv")) if receiver else []
    refused = run("send", str(path), "-o", "r.csv", *esms.args)
    assert refused.exit_code == 2
    assert Path("r.csv").read_bytes() == before
    line = refused.stderr.strip()
    assert line.startswith("Error: r.csv: was not written by its journal r.csv.journal.sqlite")
    assert esms.stats()["requests"] == 10
    if receiver:
        assert any("not rewritten" in line for line in said), said


def test_a_result_file_its_journal_wrote_stays_its_own_after_status_rewrote_it(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    nowhere = "http://127.0.0.1:9/esms/callback"  # the reports' only way back is GetCallback
    send = ("send", str(path), "-o", "r.csv", "--callback-url", nowhere, *esms.args)
    assert run(*send).exit_code == 0
    deadline = time.monotonic() + 10
    while len(esms.call(lambda: dict(esms.simulator.reports))) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status = run("status", "r.csv", "--status-base-url", esms.url, *esms.args[2:])
    assert status.exit_code == 0, status.output
    assert {r["delivery"] for r in read_results(Path("r.csv"))} == {"delivered"}
    rewritten = Path("r.csv").read_bytes()
    again = run(*send)
    assert again.exit_code == 0, again.output
    assert Path("r.csv").read_bytes() == rewritten


def receiver_round(results: Path) -> list[str]:
    """One round of `batch-sender callbacks` on the file (its journal opened or made, as there)."""
    lines: list[str] = []
    journal = Journal(journal_path(results))
    receiver = Receiver(results, journal, lines.append)
    try:
        assert receiver.rewrite()
    finally:
        receiver.close()
        journal.close()
    return lines


def test_the_receiver_s_count_of_lines_held_back_is_in_the_language_chosen(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    import os

    from batch_sender.i18n import speaking

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    other = write_csv(tmp_path / "d.csv", message_rows(3, start=50))
    assert run("send", str(other), "-o", "d-results.csv", *esms.args).exit_code == 0
    shutil.copy("d-results.csv", "r.csv")  # not the journal's file: never rewritten
    lines: list[str] = []
    journal = Journal(journal_path(Path("r.csv")))
    with speaking("vi"):
        receiver = Receiver(Path("r.csv"), journal, lines.append)
        try:
            for second in (1, 2, 3):  # the file changes: found again, refused again
                os.utime("r.csv", ns=(second * 10**9, second * 10**9))
                receiver.changed = True  # as a report received since does
                assert receiver.rewrite()
        finally:
            receiver.close()
            journal.close()
    assert len(lines) == 2, lines
    assert lines[0].startswith("r.csv: chưa ghi lại: ")
    assert lines[1] == "chưa ghi lại: thêm 2 lần nữa, không hiển thị"


@pytest.mark.parametrize("name", ["r.csv", "r.xlsx"])
def test_a_receiver_started_first_leaves_a_result_file_without_its_journal_to_adopt(
    tmp_path: Path, esms: RunningSimulator, name: str
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(8))
    send = ("send", str(path), "-o", name, *esms.args)
    assert run(*send).exit_code == 0
    results = Path(name)
    before = read_sends(results)
    forget_journal(results)
    said = receiver_round(results)  # the receiver runs before the rerun, as the docs advise
    again = run(*send)
    assert again.exit_code == 0, again.output
    assert f"adopted the sends of {name}" in again.stderr
    assert esms.stats()["requests"] == 8  # nobody messaged a second time
    assert read_sends(results) == before  # the 8 first SMSIDs are all still there
    assert any("not rewritten" in line for line in said), said


def test_a_receiver_still_refreshes_its_journal_s_file_whose_fingerprint_was_lost(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """A kill between a rewrite and its fingerprint: the file's sends are all the journal's."""
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    journal = Journal(journal_path(Path("r.csv")))
    journal.set_meta(RESULT_FILE, "0:lost")
    journal.commit()
    journal.close()
    said = receiver_round(Path("r.csv"))
    assert not any("not rewritten" in line for line in said), said
    again = run("send", str(path), "-o", "r.csv", *esms.args)
    assert again.exit_code == 0, again.output
    assert esms.stats()["requests"] == 3


# --- a rerun reads its own earlier words back ------------------------------------------


def test_a_stale_row_reworded_by_a_later_release_is_still_held_back_after_adoption(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """The row a journal-less rerun must not resend is told by --resend-stale, not the wording."""
    import csv

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    send = ("send", str(path), "-o", "r.csv", *esms.args)
    assert run(*send, "--quiet").exit_code == 0
    rid = read_results(Path("r.csv"))[1]["RequestId"]
    journal = Journal(journal_path(Path("r.csv")), clock=lambda: 0.0)
    journal.sending(rid, 3)  # sent two days ago, never answered
    journal.close()
    assert run(*send).exit_code == 1
    rows = read_results(Path("r.csv"))
    assert rows[1]["status"] == "failed" and "--resend-stale" in rows[1]["ErrorMessage"]
    # As a later release might word it, in Vietnamese; then the journal is lost.
    rows[1]["ErrorMessage"] = (
        "yêu cầu gửi hơn 24 giờ trước chưa có phản hồi; eSMS không còn chặn gửi lặp nên "
        "dòng này chưa được gửi lại: kiểm tra tin đã đến chưa rồi chạy lại với --resend-stale"
    )
    with Path("r.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    forget_journal(Path("r.csv"))
    forget_request_ids(esms)  # over 24 hours: eSMS would take the same RequestId again

    again = run(*send)
    assert esms.stats()["requests"] == 3, again.output  # nobody messaged a second time
    assert read_results(Path("r.csv"))[1]["status"] == "failed"
    assert "held back" in again.stderr


def test_the_words_a_rerun_reads_back_are_frozen() -> None:
    """A result file of any release is read by these: a reworded text must be added, never
    replace the earlier one (a stale row not recognised would be sent a second time)."""
    from batch_sender.i18n import LANGUAGES, catalog
    from batch_sender.results import rows

    def every_language(message: str) -> set[str]:
        return {catalog(lang).gettext(message) for lang in LANGUAGES}

    assert rows.WRITTEN_STALE[:2] == (
        "an earlier request got no answer over 24 hours ago and eSMS no longer blocks a repeat, "
        "so it was not sent again; check whether it arrived, then rerun with --resend-stale",
        "yêu cầu trước đó đã quá 24 giờ vẫn chưa có phản hồi và eSMS không còn chặn gửi lặp, "
        "nên chưa gửi lại; hãy kiểm tra xem tin đã đến chưa, rồi chạy lại với --resend-stale",
    )
    assert rows.WRITTEN_NO_ANSWER[:2] == (
        "no answer recorded: rerun to find out",
        "chưa ghi nhận phản hồi nào: chạy lại để biết kết quả",
    )
    assert rows.WRITTEN_DEFINITIVE[:2] == (
        "a rerun sends it again under a new RequestId",
        "chạy lại sẽ gửi lại dòng này với RequestId mới",
    )
    for message, written in (
        (rows.STALE_MESSAGE, rows.WRITTEN_STALE),
        (rows.NO_ANSWER, rows.WRITTEN_NO_ANSWER),
        (rows.DEFINITIVE, rows.WRITTEN_DEFINITIVE),
    ):
        assert set(every_language(message)) <= set(written), "add the new wording to the list"
    assert all(rows.is_stale(text) for text in rows.WRITTEN_STALE)
    assert all(rows.STALE_MARK in text for text in every_language(rows.STALE_MESSAGE))
    assert all(rows.is_definitive(f"160: blocked; {text}") for text in rows.WRITTEN_DEFINITIVE)
    assert not any(rows.is_stale(text) for text in (*rows.WRITTEN_NO_ANSWER, "160: blocked"))


@pytest.mark.parametrize("templated", [False, True], ids=["column", "column in the template"])
def test_renaming_an_extra_column_sends_nobody_again(
    tmp_path: Path, esms: RunningSimulator, templated: bool
) -> None:
    """A column renamed (a sheet's `Status` now refused as one of ours) keeps every row's identity.

    A row is its user_id and which of that user's rows it is, its RequestId
    its content: neither names a column, so the renamed sheet continues the
    campaign.
    """
    rows = [[*row, f"tier {i % 2}"] for i, row in enumerate(message_rows(4))]
    results = tmp_path / "r.csv"

    def send(column: str) -> Result:
        path = write_csv(tmp_path / "c.csv", rows, header=["user_id", "text", "url", column])
        template = ["--template", f"{{{column}}}: {{text}}"] if templated else []
        args = ["send", str(path), "-o", str(results), "--rate", "0", *template, *esms.args]
        return CliRunner().invoke(cli, args)

    first = send("tier")
    assert first.exit_code == 0, first.output
    requests = esms.stats()["requests"]
    again = send("input_tier")
    assert again.exit_code == 0, again.output
    assert esms.stats()["requests"] == requests  # nobody is sent to again
    sent = read_results(results)
    assert [r["status"] for r in sent] == ["accepted"] * 4
    if templated:
        assert sent[1]["sent_text"].startswith("tier 1: Xin chào"), sent[1]


@pytest.mark.parametrize("excel", [False, True], ids=["utf-8", "utf-8 with BOM"])
def test_the_journal_knows_its_result_file_by_the_bytes_it_wrote(
    esms: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, excel: bool
) -> None:
    # The send digests the result file as it writes it: the fingerprint it keeps must be
    # the one a later run reads off the file, or that run takes its own file for a stranger's.
    from batch_sender.results.digest import fingerprint

    monkeypatch.chdir(tmp_path)
    path = write_csv(tmp_path / "c.csv", message_rows(7))
    options = ("--excel",) if excel else ()
    assert run("send", str(path), "-o", "r.csv", *options, *esms.args).exit_code == 0
    journal = Journal(journal_path(Path("r.csv")))
    try:
        assert journal.meta(RESULT_FILE) == fingerprint(Path("r.csv"))
    finally:
        journal.close()
    assert Path("r.csv").read_bytes().startswith(b"\xef\xbb\xbf") == excel


def test_a_result_file_showing_sends_accepted_that_its_journal_has_refused_is_not_overwritten(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two folders sent the same campaign: the second journal heard 124 for every row.
    # The first folder's result file copied over the second's holds the SMSIDs, the
    # proof of delivery; the second journal must not write its refusals over them.
    sheet = write_csv(tmp_path / "c.csv", message_rows(4))
    campaign = ("--campaign-id", "thang12")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        assert run("send", str(sheet), "-o", "r.csv", *campaign, *esms.args).exit_code in (0, 1)
    assert {r["status"] for r in read_results(tmp_path / "a" / "r.csv")} == {"accepted"}
    assert {r["status"] for r in read_results(tmp_path / "b" / "r.csv")} == {"rejected"}
    shutil.copy(tmp_path / "a" / "r.csv", "r.csv")
    before = Path("r.csv").read_bytes()
    refused = run("send", str(sheet), "-o", "r.csv", *campaign, *esms.args)
    assert refused.exit_code == 2, refused.output
    assert Path("r.csv").read_bytes() == before
    assert refused.stderr.strip().startswith(
        "Error: r.csv: was not written by its journal r.csv.journal.sqlite (line 2 shows a "
        "send accepted that the journal has as rejected)"
    ), refused.stderr
    assert esms.stats()["accepted"] == 4
