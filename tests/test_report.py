"""`report` for the marketer: rates, reasons in plain words, cost, failed followers to exclude."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.esms.delivery_report import from_report
from batch_sender.journal.store import Journal
from batch_sender.results.rows import RESULT_COLUMNS
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import CREDENTIALS, message_rows, read_results, simulator_running, write_csv


def sent_and_looked_up(rows: int, **config: object) -> dict[str, Any]:
    """Send `rows` messages with a CallbackUrl nobody hears, then `status` fetches the reports."""
    write_csv(Path("c.csv"), message_rows(rows))
    with simulator_running(SimulatorConfig(**config)) as esms:  # type: ignore[arg-type]
        sent = CliRunner().invoke(
            cli,
            [
                "send",
                "c.csv",
                "-o",
                "r.csv",
                "--rate",
                "0",
                "--backoff",
                "0.01",
                "--callback-url",
                "http://127.0.0.1:9/cb",
                *esms.args,
            ],
        )
        assert sent.exit_code == 0, sent.output
        deadline = time.monotonic() + 20
        while esms.call(lambda: len(esms.simulator.tasks)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        looked = CliRunner().invoke(
            cli, ["status", "r.csv", "--status-base-url", esms.url, *CREDENTIALS]
        )
        assert looked.exit_code == 0, looked.output
        return dict(esms.call(lambda: dict(esms.simulator.reports)))


def test_report_gives_rates_reasons_cost_and_the_failed_followers() -> None:
    reports = sent_and_looked_up(80, seed=4, zalo_fail=0.25, price=350)
    failed = {r.user_id for r in reports.values() if r.failed}
    assert 5 < len(failed) < 40
    result = CliRunner().invoke(
        cli, ["report", "r.csv", "--failed-ids", "failed.txt", "--html", "report.html"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("campaign c (r.csv): 80 rows\nsent ")
    out = " ".join(result.output.split())
    delivered = 80 - len(failed)
    assert "accepted by eSMS 80 100.0% of the rows" in out
    assert f"delivered {delivered} {100 * delivered / 80:.1f}% of accepted" in out
    assert f"delivery failed {len(failed)} {100 * len(failed) / 80:.1f}% of accepted" in out
    assert (
        f"why delivery failed: {len(failed)} the follower's Zalo is inactive, refused the "
        "message or is too old (Zalo -114)"
    ) in out
    # The pages' failed samples cost 0.0000: only delivered messages are charged.
    assert f"cost: {delivered * 350:,} VND (TotalPrice summed over 80 delivery reports)" in out
    ids = Path("failed.txt").read_text("utf-8").splitlines()
    assert sorted(ids) == sorted(failed)  # exactly the failed followers, one a line
    assert f"failed ids: {len(failed)} in failed.txt" in out
    page = Path("report.html").read_text("utf-8")
    assert "<h1>Campaign c</h1>" in page and ">Zalo -114<" in page
    assert f"{delivered * 350:,} VND" in page and "% of accepted" in page
    # The list keeps them out of the next campaign as it is.
    again = CliRunner().invoke(cli, ["validate", "c.csv", "--exclude", "failed.txt"])
    assert f"{len(failed)} excluded" in again.output


def test_rows_accepted_through_124_without_smsid_are_counted() -> None:
    # Dropped answers: the retry gets 124 for our own RequestId, accepted but no SMSID.
    write_csv(Path("c.csv"), message_rows(60))
    config = SimulatorConfig(seed=9, faults=Faults(drop=0.2))
    with simulator_running(config) as esms:
        CliRunner().invoke(
            cli, ["send", "c.csv", "-o", "r.csv", "--rate", "0", "--backoff", "0.01", *esms.args]
        )
    rows = read_results(Path("r.csv"))
    via_124 = sum(r["CodeResult"] == "124" and not r["SMSID"] for r in rows)
    assert via_124 > 3
    out = " ".join(CliRunner().invoke(cli, ["report", "r.csv"]).output.split())
    assert (
        f"note: {via_124} accepted rows have no delivery status because eSMS accepted them " in out
    )
    assert "no report yet 60 100.0% of accepted" in out
    assert "cost: unknown" in out


def test_rows_not_accepted_are_counted_by_status_and_refusals_explained() -> None:
    header = ["user_id", "text", "url", *RESULT_COLUMNS]
    rows = [
        ["1", "a", "u", "2", "accepted", "r1", "s1", "100", "", "1", "delivered", "", ""],
        ["2", "a", "u", "3", "rejected", "r2", "", "210", "Payload is invalid", "1", "", "", ""],
        ["3", "a", "u", "4", "rejected", "r3", "", "777", "Something new", "1", "", "", ""],
        ["x", "a", "u", "5", "invalid", "", "", "", "user_id must be digits", "0", "", "", ""],
    ]
    write_csv(Path("r.csv"), rows, header=header)
    Journal.open(Path("r.csv.journal.sqlite"), "c").close()  # report needs a campaign
    out = " ".join(CliRunner().invoke(cli, ["report", "r.csv"]).output.split())
    assert "accepted by eSMS 1 25.0% of the rows" in out
    assert "delivered 1 100.0% of accepted" in out
    assert "not accepted 3 rejected 2, invalid 1" in out
    assert "why eSMS refused rows: 1 eSMS refused the message's form (payload) (eSMS 210)" in out
    assert "1 Something new (eSMS 777)" in out


def test_total_price_is_kept_in_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        for smsid, price in (("a", "2104.0000"), ("b", 0.0), ("c", "x"), ("a", "")):
            params = {"SMSID": smsid, "SendStatus": "5", "SendSuccess": "1", "TotalPrice": price}
            journal.deliveries.record(from_report(params))
        journal.commit()
        # GetCallback's numbers as numbers; a repeat without a price keeps the earlier one.
        assert sorted(journal.deliveries.prices()) == ["0.0", "2104.0000"]
    finally:
        journal.close()


def test_a_seeded_simulator_fails_the_same_followers_on_every_run() -> None:
    failed: list[set[str]] = []
    for _ in range(2):
        with simulator_running(SimulatorConfig(seed=11, zalo_fail=0.3)) as esms:
            write_csv(Path("c.csv"), message_rows(40))
            for p in Path().glob("r.csv*"):
                p.unlink()
            CliRunner().invoke(
                cli,
                [
                    "send",
                    "c.csv",
                    "-o",
                    "r.csv",
                    "--rate",
                    "0",
                    "--concurrency",
                    "16",
                    "--callback-url",
                    "http://127.0.0.1:9/cb",
                    *esms.args,
                ],
            )
            deadline = time.monotonic() + 20
            while esms.call(lambda: len(esms.simulator.tasks)):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            reports = esms.call(lambda: list(esms.simulator.reports.values()))
            failed.append({r.user_id for r in reports if r.failed})
    assert failed[0] == failed[1] and 3 < len(failed[0]) < 25


def test_failed_ids_need_the_user_id_column() -> None:
    header = ["zalo_id", "text", "url", *RESULT_COLUMNS]
    rows = [["11", "a", "u", "2", "accepted", "r1", "s1", "100", "", "1", "failed", "-114 x", ""]]
    write_csv(Path("r.csv"), rows, header=header)
    Journal.open(Path("r.csv.journal.sqlite"), "c").close()  # report needs a campaign
    missing = CliRunner().invoke(cli, ["report", "r.csv", "--failed-ids", "f.txt"])
    assert missing.exit_code == 2 and "pass --user-id-column" in missing.output
    assert not Path("f.txt").exists()
    named = ["report", "r.csv", "--failed-ids", "f.txt", "--user-id-column", "zalo_id"]
    assert CliRunner().invoke(cli, named).exit_code == 0
    assert Path("f.txt").read_text("utf-8") == "11\n"


def test_a_100_without_smsid_is_counted_apart_from_124() -> None:
    header = ["user_id", "text", "url", *RESULT_COLUMNS]
    rows = [
        ["1", "a", "u", "2", "accepted", "r1", "", "100", "", "1", "", "", ""],
        ["2", "a", "u", "3", "accepted", "r2", "", "124", "", "2", "", "", ""],
        ["3", "a", "u", "4", "accepted", "r3", "", "124", "", "2", "", "", ""],
        ["4", "a", "u", "5", "accepted", "r4", "s4", "100", "", "1", "", "", ""],
    ]
    write_csv(Path("r.csv"), rows, header=header)
    Journal.open(Path("r.csv.journal.sqlite"), "c").close()
    out = " ".join(CliRunner().invoke(cli, ["report", "r.csv"]).output.split())
    assert "note: 2 accepted rows have no delivery status because eSMS accepted them" in out
    assert "note: 1 accepted row has no delivery status because eSMS's answer (100)" in out


def test_a_journal_check_that_fails_beside_the_reading_stops_the_report_before_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check runs while the report reads (journal/checks.py): damage its reading
    # never met is still told, in one line, before a page or a list is written.
    from batch_sender.delivery import report
    from batch_sender.journal import checks
    from batch_sender.journal.errors import JournalDamaged
    from batch_sender.journal.files import journal_path

    path = write_csv(tmp_path / "c.csv", message_rows(20))
    runner = CliRunner()
    assert runner.invoke(cli, ["send", str(path), "-o", "r.csv", "--simulate"]).exit_code == 0
    assert runner.invoke(cli, ["report", "r.csv"]).exit_code == 0

    def damaged(_conn: object, where: Path) -> None:
        raise JournalDamaged(where, "Page 7: btreeInitPage() returns error code 11")

    monkeypatch.setattr(checks, "check", damaged)
    journal = journal_path(Path("r.csv"))
    for reading in ("reads well", "reads a value of the wrong type"):
        if reading != "reads well":
            # A damaged page that reads as a NULL where a price is: not SQLite's error.
            def wrong_type(*_: object) -> None:
                raise TypeError("int() argument must be a string, not 'NoneType'")

            monkeypatch.setattr(report, "_add_journal", wrong_type)
        args = ["report", "r.csv", "--html", "r.html", "--failed-ids", "f.txt"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, reading
        assert result.stderr.startswith(f"Error: {journal}: the journal is damaged (Page 7")
        assert result.stderr.count("\n") == 1
        assert not Path("r.html").exists() and not Path("f.txt").exists()
