"""The marketer's office, sending side: --limit's one line, a plan line that tells the
truth, a report from one snapshot of the journal, --test-to, and gif banners."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import batch_sender
from batch_sender.cli import cli
from batch_sender.esms.delivery_report import Delivery
from batch_sender.journal.deliveries import DeliveryStore
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal
from batch_sender.results.paths import require_campaign

from .conftest import HEADER, RunningSimulator, exit_code, message_rows, read_results, write_csv


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def sheet(tmp_path: Path, valid: int = 6) -> Path:
    """`valid` good rows, then one invalid row (its id typed as a phone number)."""
    rows = [*message_rows(valid), ["0912 345 678", "Chào bạn", "https://cdn.example.vn/a.jpg"]]
    return write_csv(tmp_path / "c.csv", rows)


# --- --limit ------------------------------------------------------------------------


def test_limit_summarises_the_rows_it_left_unsent_in_one_line(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    result = run("send", str(sheet(tmp_path)), "-o", "r.csv", "--limit", "2", *esms.args)
    assert exit_code(result) == 1
    lines = result.stdout.splitlines()
    assert "4 rows left unsent by --limit 2: run again without --limit to send them" in lines
    assert not [line for line in lines if "unsent:" in line]
    assert any(line.startswith("  line 8: invalid: user_id") for line in lines)
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted"] * 2 + ["unsent"] * 4 + ["invalid"]
    assert {r["ErrorMessage"] for r in rows[2:6]} == {
        "not sent: --limit 2 reached; run again without --limit to send it"
    }


def test_limit_keeps_listing_rows_unsent_for_another_reason(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    esms.set_balance(0)  # the account check stops the run before the first row
    result = run("send", str(sheet(tmp_path)), "-o", "r.csv", "--limit", "2", *esms.args)
    assert exit_code(result) == 3
    assert "left unsent by --limit" not in result.stdout
    assert "  line 3: unsent: not sent: the run stopped" in result.stdout


# --- the plan line ------------------------------------------------------------------


def test_a_first_send_after_the_receiver_made_the_journal_is_not_resuming(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    require_campaign(Path("r.csv"), campaign_id="c", may_start=True)  # callbacks --campaign-id
    result = run("send", str(sheet(tmp_path)), "-o", "r.csv", *esms.args)
    assert exit_code(result) == 1
    assert "campaign 'c': 6 to send" in result.stderr.splitlines()
    assert "resuming" not in result.stderr


def test_the_plan_line_counts_what_limit_sent_and_what_this_run_sends(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = sheet(tmp_path)
    first = run("send", str(path), "-o", "r.csv", "--limit", "2", *esms.args)
    assert "campaign 'c': 6 to send, 2 of them now (--limit 2)" in first.stderr.splitlines()
    second = run("send", str(path), "-o", "r.csv", "--limit", "2", *esms.args)
    assert (
        "resuming campaign 'c': 2 done earlier, 4 to send, 2 of them now (--limit 2)"
        in second.stderr.splitlines()
    )
    last = run("send", str(path), "-o", "r.csv", *esms.args)
    assert "resuming campaign 'c': 4 done earlier, 2 to send" in last.stderr.splitlines()
    assert esms.stats()["accepted"] == 6


# --- report -------------------------------------------------------------------------


def _sent_with_reports(tmp_path: Path, esms: RunningSimulator, header: list[str]) -> Path:
    """A campaign of 4 rows sent, the first two reported (delivered, failed) at 300 VND each."""
    write_csv(tmp_path / "c.csv", message_rows(4), header=header)
    args = ["--user-id-column", header[0]] if header[0] != "user_id" else []
    assert exit_code(run("send", str(tmp_path / "c.csv"), "-o", "r.csv", *args, *esms.args)) == 0
    rows = read_results(Path("r.csv"))
    writer = Journal(journal_path(Path("r.csv")))
    try:
        for row, outcome in zip(rows[:2], ("delivered", "failed"), strict=True):
            error = "-114 User is inactive" if outcome == "failed" else ""
            writer.deliveries.record(Delivery("", row["SMSID"], outcome, error, "", "300"))
        writer.commit()
    finally:
        writer.close()
    return Path("r.csv")


def test_report_counts_and_cost_come_from_one_snapshot(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _sent_with_reports(tmp_path, esms, HEADER)
    third = read_results(results)[2]["SMSID"]
    prices = DeliveryStore.prices

    def a_report_arrives_first(store: DeliveryStore) -> list[str]:
        # A receiver records a report between the report's queries.
        writer = Journal(journal_path(results))
        try:
            writer.deliveries.record(Delivery("", third, "delivered", "", "", "300"))
            writer.commit()
        finally:
            writer.close()
        return prices(store)

    monkeypatch.setattr(DeliveryStore, "prices", a_report_arrives_first)
    result = run("report", str(results))
    assert exit_code(result) == 0
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["delivered", "1"] for line in lines), lines
    assert any(line.split()[:3] == ["delivery", "failed", "1"] for line in lines), lines
    assert "cost: 600 VND (TotalPrice summed over 2 delivery reports)" in lines
    monkeypatch.setattr(DeliveryStore, "prices", prices)
    again = run("report", str(results)).stdout.splitlines()
    assert any(line.split()[:2] == ["delivered", "2"] for line in again), again
    assert "cost: 900 VND (TotalPrice summed over 3 delivery reports)" in again


def test_failed_ids_use_the_campaigns_own_id_column(tmp_path: Path, esms: RunningSimulator) -> None:
    results = _sent_with_reports(tmp_path, esms, ["zalo_id", "text", "url"])
    failed = read_results(results)[1]["zalo_id"]
    result = run("report", str(results), "--html", "rep.html", "--failed-ids", "failed.txt")
    assert exit_code(result) == 0, result.stderr
    assert Path("failed.txt").read_text(encoding="utf-8") == f"{failed}\n"
    assert Path("rep.html").exists()
    from_python = batch_sender.report(results, failed_ids="again.txt")
    assert from_python.failed_count == 1
    assert Path("again.txt").read_text(encoding="utf-8") == f"{failed}\n"


def test_the_html_report_lists_failed_followers_and_rows_needing_attention(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    results = _sent_with_reports(tmp_path, esms, HEADER)
    rows = read_results(results)
    assert exit_code(run("report", str(results), "--html", "rep.html")) == 0
    page = Path("rep.html").read_text(encoding="utf-8")
    assert 'name="viewport"' in page
    assert "max-width: 60rem" not in page
    assert "Followers whose delivery failed" in page
    assert rows[1]["user_id"] in page and "inactive" in page
    assert "<svg" in page and "legend" in page


def test_the_html_report_lists_rows_that_need_attention_bounded(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    bad = [[f"{i}ab", "Chào", "https://cdn.example.vn/a.jpg"] for i in range(503)]
    write_csv(tmp_path / "c.csv", [*message_rows(2), *bad])
    assert exit_code(run("send", str(tmp_path / "c.csv"), "-o", "r.csv", *esms.args)) == 1
    assert exit_code(run("report", "r.csv", "--html", "rep.html")) == 0
    page = Path("rep.html").read_text(encoding="utf-8")
    assert "Rows that need attention" in page
    assert page.count("<tr class=attention>") == 500
    assert "and 3 more" in page
    assert "<td class=n>4</td><td class=id>0ab</td><td>invalid</td>" in page


# --- --test-to ----------------------------------------------------------------------

MINE = "7000000000000000001"


def test_test_to_sends_the_first_valid_rows_message_to_me_only(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = [["0912 345 678", "Chào", "https://cdn.example.vn/a.jpg"], *message_rows(3)]
    path = write_csv(tmp_path / "c.csv", rows, header=["user_id", "ten", "url"])
    template = ["--template", "Chào {ten}, ưu đãi tháng 12"]
    result = run("send", str(path), "-o", "r.csv", "--test-to", MINE, *template, *esms.args)
    assert exit_code(result) == 0, result.output
    sent = esms.stats()["messages"]
    assert [m["user_id"] for m in sent.values()] == [MINE]
    assert esms.simulator.accepted[next(iter(sent))].text == (f"Chào {rows[1][1]}, ưu đãi tháng 12")
    smsid = sent[next(iter(sent))]["SMSID"]
    assert f"test message to {MINE}: accepted, SMSID {smsid}, CodeResult 100" in result.stdout
    assert "line 3" in result.stdout  # whose message it was
    assert not Path("r.csv").exists()

    again = run("send", str(path), "-o", "r.csv", "--test-to", MINE, *template, *esms.args)
    assert exit_code(again) == 0
    assert len(esms.stats()["messages"]) == 2  # a second test message goes out too

    real = run("send", str(path), "-o", "r.csv", *template, *esms.args)
    assert exit_code(real) == 1  # the phone number row
    results = read_results(Path("r.csv"))
    assert [r["status"] for r in results] == ["invalid", "accepted", "accepted", "accepted"]
    assert "campaign 'c': 3 to send" in real.stderr.splitlines()
    test_ids = set(sent)
    assert not test_ids & {r["RequestId"] for r in results}
    assert exit_code(run("report", "r.csv")) == 0
    assert "sent earlier, no longer in the sheet" not in run("report", "r.csv").stdout


def test_test_to_works_with_simulate_and_from_python(tmp_path: Path) -> None:
    path = sheet(tmp_path)
    result = run("send", str(path), "-o", "r.csv", "--simulate", "--test-to", MINE)
    assert exit_code(result) == 0, result.output
    assert f"test message to {MINE}: accepted, SMSID " in result.stdout
    report = batch_sender.send(path, "r.csv", simulate=True, test_to=MINE)
    assert report.exit_code == 0
    assert report.test is not None and report.test.status == "accepted"
    assert report.as_dict()["test"]["user_id"] == MINE
    assert not Path("r.csv").exists()


def test_test_to_refuses_a_bad_id_and_a_sheet_with_no_valid_row(tmp_path: Path) -> None:
    path = sheet(tmp_path)
    bad = run("send", str(path), "-o", "r.csv", "--simulate", "--test-to", "0912 345 678")
    assert exit_code(bad) == 2
    assert "--test-to" in bad.stderr
    empty = write_csv(tmp_path / "e.csv", [["x", "", ""]])
    none = run("send", str(empty), "-o", "r.csv", "--simulate", "--test-to", MINE)
    assert exit_code(none) == 2
    assert "no valid row" in none.stderr


# --- gif ----------------------------------------------------------------------------


def test_a_gif_banner_is_valid_and_sent_as_gif(tmp_path: Path, esms: RunningSimulator) -> None:
    from batch_sender.esms import protocol
    from batch_sender.simulator.wire import payload_problem

    gif = "https://cdn.example.vn/banners/sale.GIF?v=2"
    path = write_csv(tmp_path / "c.csv", [[*message_rows(1)[0][:2], gif]])
    assert exit_code(run("validate", str(path))) == 0
    assert exit_code(run("send", str(path), "-o", "r.csv", *esms.args)) == 0
    message = protocol.Message(2, "rid", "1", "t", gif)
    creds = protocol.Credentials("k", "s", "o")
    body = protocol.send_body(creds, message, protocol.SendOptions())
    element = body["Payload"]["message"]["attachment"]["payload"]["elements"][0]
    assert element == {"media_type": "gif", "url": gif}
    still = protocol.send_body(
        creds, protocol.Message(2, "r", "1", "t", "https://a.vn/b.png"), protocol.SendOptions()
    )
    assert still["Payload"]["message"]["attachment"]["payload"]["elements"][0]["media_type"] == (
        "image"
    )
    payload = json.loads(json.dumps(body["Payload"]))
    assert payload_problem(payload) is None
    payload["message"]["attachment"]["payload"]["elements"][0]["media_type"] = "video"
    assert payload_problem(payload) is not None


def test_a_test_message_carries_no_callback_url(tmp_path: Path, esms: RunningSimulator) -> None:
    """Its report would reach the campaign's receiver as a message it does not know."""
    path = sheet(tmp_path)
    hook = ["--callback-url", "http://127.0.0.1:9/esms/callback/t0ken-for-tests"]
    test = run("send", str(path), "-o", "r.csv", "--test-to", MINE, *hook, *esms.args)
    assert exit_code(test) == 0, test.output
    assert esms.call(lambda: dict(esms.simulator.reporter.waiting)) == {}
    real = run("send", str(path), "-o", "r.csv", "--limit", "1", *hook, *esms.args)
    assert exit_code(real) == 1
    assert len(esms.call(lambda: dict(esms.simulator.reporter.waiting))) == 1  # the campaign's


async def test_a_test_message_stops_at_the_first_stop(tmp_path: Path) -> None:
    """Ctrl-C (or `stop` set) during a test message's retries stops it at once, as for a run."""
    import asyncio
    import time

    from batch_sender.simulator.config import Faults, SimulatorConfig

    from .conftest import CREDENTIALS, simulator_running

    key, secret, oaid = CREDENTIALS[1::2]
    account = batch_sender.Account(api_key=key, secret_key=secret, oaid=oaid)
    stop = asyncio.Event()
    with simulator_running(SimulatorConfig(seed=1, faults=Faults(http_500=1.0))) as esms:

        async def stop_after_the_first_request() -> None:
            while esms.stats()["requests"] < 1:
                await asyncio.sleep(0.02)
            stop.set()

        watcher = asyncio.ensure_future(stop_after_the_first_request())
        started = time.monotonic()
        report = await batch_sender.send_async(
            sheet(tmp_path),
            tmp_path / "r.csv",
            base_url=esms.url,
            test_to=MINE,
            backoff=20.0,
            stop=stop,
            account=account,
        )
        await watcher
        took = time.monotonic() - started
        assert esms.stats()["requests"] == 1  # not retried after the stop
    assert (report.stopped, report.exit_code) == ("interrupted", 130)
    assert report.test is not None and report.test.status == "failed"
    assert took < 10  # a first retry would have waited 20 s


def test_a_test_message_logs_no_campaign_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="batch_sender")
    report = batch_sender.send(sheet(tmp_path), "r.csv", simulate=True, test_to=MINE)
    assert report.exit_code == 0
    logged = [r.getMessage() for r in caplog.records]
    assert not [line for line in logged if "0 rows" in line], logged


def test_a_bad_line_late_in_a_sheet_sent_to_a_workbook_is_one_line_and_no_workbook(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    # The workbook being written is thrown away: its rows' stream is closed with it,
    # not when collected after its file (a traceback besides the one-line error).
    import subprocess
    import sys

    path = write_csv(tmp_path / "c.csv", message_rows(10))
    with path.open("a", encoding="utf-8") as f:
        f.write("7800378501923859999,two,three,four\n")
    command = ["send", str(path), "-o", "r.xlsx", "--rate", "0", "--chunk-rows", "3"]
    sent = subprocess.run(
        [sys.executable, "-m", "batch_sender", *command, *esms.args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    lines = sent.stderr.strip().splitlines()
    assert sent.returncode == 2, sent.stderr
    assert lines[-1].startswith(f"Error: {path}: line 12: this row has 4 fields"), lines
    assert not any("Traceback" in line or "Exception ignored" in line for line in lines)
    assert not Path("r.xlsx").exists()
