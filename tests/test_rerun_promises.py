"""Reruns keep their promises: one message per follower, a scheduled campaign continued,
a recurring sheet that changed is not a silent success, a result file without its
journal is adopted or refused, never written over blindly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import batch_sender
from batch_sender.cli import cli
from batch_sender.sending import schedule

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
