"""A report whose SMSID no message has: a row accepted through 124 finds it by its follower.

A send killed after eSMS took a request, before its answer was recorded,
leaves the row in doubt; the rerun's 124 accepts it without an SMSID, the
only key eSMS's reports carry (their RequestId is empty, their phonenumber
the follower's user_id). The receiver answered those reports 200: they must
reach their rows, and `report` must not count them twice over.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from batch_sender.cli import cli
from batch_sender.delivery.receiver import Limits
from batch_sender.esms.delivery_report import Delivery
from batch_sender.journal.files import journal_path
from batch_sender.journal.records import Outcome
from batch_sender.journal.store import Journal
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import message_rows, read_results, simulator_running, write_csv
from .test_bad_day import receiver_running
from .test_delivery_promises import _all_reports_sent

ROWS = 6


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def killed_then_rerun(
    tmp_path: Path, rows: list[list[str]], matched: int, *options: str
) -> tuple[Path, dict[str, Any], list[dict[str, object]]]:
    """Each first request taken by eSMS, its answer lost; the rerun accepted through 124.

    The receiver runs all along, until `matched` rows show their report; what
    eSMS reported (by SMSID) and accepted.
    """
    path = write_csv(tmp_path / "c.csv", rows)
    results = tmp_path / "r.csv"
    config = SimulatorConfig(seed=5, callback_delay=0.0, zalo_fail=0.3, faults=Faults(drop=1.0))
    with simulator_running(config) as esms, receiver_running(results, Limits()) as (url, _):
        send = ("send", str(path), "-o", str(results), "--rate", "0", "--callback-url", url)
        first = run(*send, "--max-attempts", "1", *options, *esms.args)
        assert first.exit_code == 1, first.output
        _all_reports_sent(esms, len(rows))  # each answered 200 by the receiver, matching no row

        def no_faults() -> None:
            esms.simulator.faults.faults = Faults()

        esms.call(no_faults)
        rerun = run(*send, *options, *esms.args)
        assert rerun.exit_code == 0, rerun.output
        written = read_results(results)
        assert {(r["status"], r["CodeResult"]) for r in written} == {("accepted", "124")}
        reports = esms.call(lambda: dict(esms.simulator.reports))
        accepted = list(esms.stats()["messages"].values())
        deadline = time.monotonic() + 10
        while sum(bool(r["delivery"]) for r in read_results(results)) < matched:
            assert time.monotonic() < deadline, "the receiver never wrote the reports in"
            time.sleep(0.05)
    return results, reports, accepted


def test_reports_of_rows_accepted_through_124_reach_their_rows(tmp_path: Path) -> None:
    results, reports, accepted = killed_then_rerun(tmp_path, message_rows(ROWS), ROWS)
    smsid_of = {str(m["user_id"]): str(m["SMSID"]) for m in accepted}
    for row in read_results(results):
        report = reports[smsid_of[row["user_id"]]]
        assert row["delivery"] == ("failed" if report.failed else "delivered")
    shown = run("report", str(results))
    assert shown.exit_code == 0, shown.output
    assert "no report yet" not in shown.output
    assert "match no row" not in shown.output
    assert f"summed over {ROWS} delivery reports)" in shown.output
    # The SMSIDs learned are the rows' from now on: the rerun's result file shows them.
    with simulator_running(SimulatorConfig(seed=6)) as esms:
        path = str(tmp_path / "c.csv")
        again = run("send", path, "-o", str(results), *esms.args)
        assert again.exit_code == 0, again.output
        assert esms.stats()["requests"] == 0
    assert {r["user_id"]: r["SMSID"] for r in read_results(results)} == smsid_of


def test_reports_of_a_follower_with_two_rows_without_smsid_are_counted_apart(
    tmp_path: Path,
) -> None:
    """Which report is which row's is unknown: neither is guessed, and `report` says so."""
    rows = message_rows(3)
    rows.append([rows[0][0], "Ưu đãi thứ hai cho hội viên Vàng", rows[0][2]])
    results, _, _ = killed_then_rerun(tmp_path, rows, 2, "--allow-repeats")
    written = read_results(results)
    assert [bool(r["delivery"]) for r in written] == [False, True, True, False]
    shown = run("report", str(results))
    assert shown.exit_code == 0, shown.output
    assert "summed over 4 delivery reports); 2 of them match no row of this file" in shown.output
    assert "no report yet" in shown.output


def accepted_through_124(journal: Journal, request_id: str, user_id: str, line: int) -> None:
    journal.sending(request_id, line)
    journal.rows.identify(request_id, user_id, user_id, request_id, "oa", False)
    journal.record(request_id, line, Outcome("accepted", "124"))


def report_for(user_id: str, smsid: str) -> Delivery:
    return Delivery("", smsid, "delivered", "", "2026-11-27T22:30:00+07:00", "300", user_id, "oa")


def test_a_report_after_the_124_finds_its_row_and_the_row_learns_its_smsid(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "r.csv.journal.sqlite")
    try:
        accepted_through_124(journal, "c-1", "u1", 2)
        assert journal.deliveries.record(report_for("u1", "sms-1")) == "c-1"
        assert journal.lookup(["c-1"])["c-1"].smsid == "sms-1"
        assert journal.deliveries.reported(["c-1"])["c-1"][0] == "delivered"
        assert journal.deliveries.unknown() == 0
    finally:
        journal.close()


def test_a_follower_with_two_rows_without_smsid_keeps_the_report_unmatched(
    tmp_path: Path,
) -> None:
    """Which of the two the report is for is unknown: it is kept, and said so."""
    results = write_csv(tmp_path / "r.csv", [])
    journal = Journal(journal_path(results))
    try:
        accepted_through_124(journal, "c-1", "u1", 2)
        accepted_through_124(journal, "c-2", "u1", 3)
        assert journal.deliveries.record(report_for("u1", "sms-1")) is None
        assert journal.deliveries.claim_by_follower() == 0
        assert journal.lookup(["c-1", "c-2"])["c-1"].smsid == ""
        assert journal.deliveries.unknown(priced=True) == 1
        journal.commit()
    finally:
        journal.close()


def test_a_report_heard_before_the_rows_first_request_is_another_messages(
    tmp_path: Path,
) -> None:
    """Another campaign's report through the same callback URL: it finds no row of this one."""
    now = [1000.0]
    journal = Journal(tmp_path / "r.csv.journal.sqlite", clock=lambda: now[0])
    try:
        now[0] = 900.0
        assert journal.deliveries.record(report_for("u1", "sms-other")) is None
        now[0] = 1000.0
        journal.sending("c-1", 2)  # killed: its answer never came
        journal.rows.identify("c-1", "u1", "u1", "c-1", "oa", False)
        now[0] = 5000.0
        journal.sending("c-1", 2)  # the rerun
        journal.record("c-1", 2, Outcome("accepted", "124"))
        assert journal.deliveries.claim_by_follower() == 0
        assert journal.lookup(["c-1"])["c-1"].smsid == ""
    finally:
        journal.close()


def test_a_report_heard_between_the_first_request_and_its_124_finds_its_row(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    journal = Journal(tmp_path / "r.csv.journal.sqlite", clock=lambda: now[0])
    try:
        journal.sending("c-1", 2)  # killed: its answer never came
        journal.rows.identify("c-1", "u1", "u1", "c-1", "oa", False)
        now[0] = 2000.0
        assert journal.deliveries.record(report_for("u1", "sms-1")) is None  # no 124 yet
        now[0] = 5000.0
        journal.sending("c-1", 2)  # the rerun
        journal.record("c-1", 2, Outcome("accepted", "124"))
        assert journal.deliveries.claim_by_follower() == 1
        assert journal.lookup(["c-1"])["c-1"].smsid == "sms-1"
    finally:
        journal.close()
