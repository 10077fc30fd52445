"""Never a false `accepted`, never a second message.

124 only for our own earlier attempt, sandbox runs that never count, edited
and deleted rows, outputs that never overwrite a campaign's state, and
commands that need an existing campaign. Each scenario is a test.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batch_sender.check.request_ids import Campaign, send_scope
from batch_sender.cli import cli
from batch_sender.journal.store import Journal
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import SimulatorConfig

from .conftest import RunningSimulator, message_rows, read_results, simulator_running, write_csv


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def sheet(tmp_path: Path, count: int = 20, name: str = "in.csv") -> Path:
    return write_csv(tmp_path / name, message_rows(count))


def delivered(esms: RunningSimulator) -> dict[str, dict[str, object]]:
    """What the simulator really accepted (not sandbox): RequestId -> SMSID, user_id."""
    messages: dict[str, dict[str, object]] = esms.stats()["messages"]
    return messages


def assert_every_row_really_sent(results: list[dict[str, str]], esms: RunningSimulator) -> None:
    real = delivered(esms)
    assert [r["status"] for r in results] == ["accepted"] * len(results)
    for row in results:
        assert real[row["RequestId"]]["user_id"] == row["user_id"]
        if row["CodeResult"] == "100":
            assert real[row["RequestId"]]["SMSID"] == row["SMSID"]


# --- 1 and 2: sandbox runs never count as sends ---------------------------------------


def test_a_real_run_after_a_sandbox_trial_to_the_same_output_sends_every_row(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = sheet(tmp_path)
    trial = run("send", str(path), "-o", "r.csv", "--sandbox", "--rate", "0", *esms.args)
    assert trial.exit_code == 0, trial.output
    assert esms.stats()["sandbox"] == 20 and delivered(esms) == {}

    real = run("send", str(path), "-o", "r.csv", "--rate", "0", *esms.args)
    assert real.exit_code == 0, real.output
    assert "20 rows went out in sandbox trials earlier" in real.stderr
    assert "resuming campaign 'in': 0 done earlier, 20 to send" in real.stderr
    results = read_results(Path("r.csv"))
    assert_every_row_really_sent(results, esms)
    assert len(delivered(esms)) == 20


def test_a_real_run_after_a_sandbox_trial_to_another_output_is_really_sent(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = sheet(tmp_path)
    trial = run("send", str(path), "-o", "trial.csv", "--sandbox", "--rate", "0", *esms.args)
    assert trial.exit_code == 0
    trial_ids = {r["RequestId"] for r in read_results(Path("trial.csv"))}

    # Whatever eSMS does with sandbox RequestIds (its page says it stores no sandbox
    # message), a stand-in that kept them must not turn the real run into 124s.
    def keep_sandbox_ids() -> None:
        from batch_sender.simulator.sends import Accepted

        for rid in trial_ids:
            esms.simulator.accepted[rid] = Accepted("sandbox", "0", "", "", sandbox=True)

    esms.call(keep_sandbox_ids)
    real = run("send", str(path), "-o", "real.csv", "--rate", "0", *esms.args)
    assert real.exit_code == 0, real.output
    results = read_results(Path("real.csv"))
    assert trial_ids.isdisjoint(r["RequestId"] for r in results)
    assert {r["CodeResult"] for r in results} == {"100"}
    assert_every_row_really_sent(results, esms)


def test_a_real_run_after_a_simulated_trial_to_the_same_output_sends_every_row(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    # The account's real keys are in the environment (.env) during the trial.
    path = sheet(tmp_path, 10)
    trial = run("send", str(path), "-o", "r.csv", "--simulate", "--rate", "0", *esms.args[2:])
    assert trial.exit_code == 0, trial.output
    assert esms.stats()["requests"] == 0

    real = run("send", str(path), "-o", "r.csv", "--rate", "0", *esms.args)
    assert real.exit_code == 0, real.output
    results = read_results(Path("r.csv"))
    assert_every_row_really_sent(results, esms)
    assert len(delivered(esms)) == 10


def test_request_ids_take_in_the_oaid_and_sandbox() -> None:
    def rid(oaid: str, sandbox: bool) -> str:
        return Campaign("c", send_scope(oaid, sandbox), "2").request_id("1", "t", "u")

    ids = {rid("oa-1", False), rid("oa-2", False), rid("oa-1", True), rid("oa-2", True)}
    assert len(ids) == 4 and all(len(i) <= 50 for i in ids)
    # A journal made before keeps the RequestIds its campaign already used.
    assert Campaign("c", send_scope("oa-1", False)).request_id("1", "t", "u") == Campaign(
        "c"
    ).request_id("1", "t", "u")


def test_an_old_journal_keeps_its_request_ids(tmp_path: Path, esms: RunningSimulator) -> None:
    """A journal as the tool made it before: no derivation scheme, no identity columns."""
    path = sheet(tmp_path, 3)
    legacy = [Campaign("in").request_id(*row) for row in message_rows(3)]
    with sqlite3.connect("r.csv.journal.sqlite") as db:
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE messages (
                request_id TEXT PRIMARY KEY, line INTEGER NOT NULL, status TEXT NOT NULL,
                code TEXT NOT NULL DEFAULT '', smsid TEXT NOT NULL DEFAULT '',
                message TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
                last_sent_at REAL, ambiguous_since REAL, updated_at REAL NOT NULL);
            INSERT INTO meta VALUES ('campaign_id', 'in'), ('schema', '1');
            """
        )
        db.executemany(
            "INSERT INTO messages (request_id, line, status, code, smsid, attempts, updated_at) "
            "VALUES (?, ?, 'accepted', '100', 'old', 1, 0)",
            [(rid, line) for line, rid in enumerate(legacy, start=2)],
        )
    db.close()
    again = run("send", str(path), "-o", "r.csv", *esms.args)
    assert again.exit_code == 0, again.output
    assert "3 done earlier, 0 to send" in again.stderr
    assert [r["RequestId"] for r in read_results(Path("r.csv"))] == legacy
    assert esms.stats()["requests"] == 0


# --- 124 is proof only of our own earlier attempt ---------------------------------------


def test_124_without_our_own_earlier_attempt_needs_attention(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = sheet(tmp_path, 5)
    assert run("send", str(path), "-o", "a.csv", *esms.args).exit_code == 0
    # Another result file (a fresh journal), or the journal lost: eSMS answers 124.
    other = run("send", str(path), "-o", "b.csv", *esms.args)
    assert other.exit_code == 1, other.output
    rows = read_results(Path("b.csv"))
    assert {(r["status"], r["CodeResult"], r["SMSID"]) for r in rows} == {("rejected", "124", "")}
    assert "another run within 24 hours" in rows[0]["ErrorMessage"]
    assert "--campaign-id" in rows[0]["ErrorMessage"]
    assert len(delivered(esms)) == 5
    # Anew, under another campaign id: really sent.
    anew = run("send", str(path), "-o", "c.csv", "--campaign-id", "again", *esms.args)
    assert anew.exit_code == 0
    assert len(delivered(esms)) == 10


def test_124_after_our_own_dropped_request_is_accepted(tmp_path: Path) -> None:
    from batch_sender.simulator.config import Faults

    path = sheet(tmp_path, 40)
    with simulator_running(SimulatorConfig(seed=3, faults=Faults(drop=0.3))) as esms:
        result = run(
            *("send", str(path), "-o", "r.csv", "--rate", "0", "--backoff", "0"),
            *("--max-attempts", "10", *esms.args),
        )
        assert result.exit_code == 0, result.output
        rows = read_results(Path("r.csv"))
        assert sum(r["CodeResult"] == "124" for r in rows) == esms.stats()["dropped"] > 0
        assert_every_row_really_sent(rows, esms)


# --- 3: a RequestId eSMS rejected may stay reserved -------------------------------------


def test_a_row_refused_for_balance_goes_out_again_under_a_new_request_id(
    tmp_path: Path,
) -> None:
    path = sheet(tmp_path, 5)
    config = SimulatorConfig(seed=4, balance=600, price=300, reserve_rejected=True)
    with simulator_running(config) as esms:
        args = ("send", str(path), "-o", "r.csv", "--concurrency", "1", *esms.args)
        first = run(*args)
        assert first.exit_code == 3, first.output
        refused = [r for r in read_results(Path("r.csv")) if r["CodeResult"] == "103"]
        assert [r["row"] for r in refused] == ["4"]
        esms.set_balance(10**6)
        again = run(*args)
        assert again.exit_code == 0, again.output
        rows = read_results(Path("r.csv"))
        assert_every_row_really_sent(rows, esms)
        assert len(delivered(esms)) == 5
        assert rows[2]["RequestId"] != refused[0]["RequestId"]
        assert len(rows[2]["RequestId"]) <= 50
        assert rows[2]["CodeResult"] == "100"
        # The refused RequestId stays blocked at the simulator: it answers 124 to it.
        assert esms.call(esms.simulator._reserved, refused[0]["RequestId"])


def test_a_retry_after_a_refusal_that_esms_keeps_blocked_is_not_accepted(
    tmp_path: Path,
) -> None:
    from batch_sender.simulator.config import Faults

    path = sheet(tmp_path, 30)
    faults = Faults(code_160=0.3)
    config = SimulatorConfig(seed=6, faults=faults, reserve_rejected=True)
    with simulator_running(config) as esms:
        args = ("send", str(path), "-o", "r.csv", "--rate", "0", "--backoff", "0", *esms.args)
        first = run(*args)
        assert first.exit_code == 1, first.output
        blocked = [r for r in read_results(Path("r.csv")) if r["CodeResult"] == "124"]
        assert blocked and {r["status"] for r in blocked} == {"failed"}
        assert "a rerun sends it again under a new RequestId" in blocked[0]["ErrorMessage"]

        def no_more_faults() -> None:
            faults.code_160 = 0.0

        esms.call(no_more_faults)
        again = run(*args)
        assert again.exit_code == 0, again.output
        rows = read_results(Path("r.csv"))
        assert_every_row_really_sent(rows, esms)
        assert len(delivered(esms)) == 30


# --- 4: edited and deleted rows -------------------------------------------------------


def followers(tmp_path: Path) -> Path:
    rows = [[str(7800378501923859642 + i), f"Khách {i}", "https://cdn.vn/b.jpg"] for i in range(10)]
    return write_csv(tmp_path / "f.csv", rows, header=["user_id", "ten", "url"])


def test_a_typo_fixed_after_a_test_batch_sends_no_one_twice(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = followers(tmp_path)
    send = ("send", str(path), "-o", "r.csv", *esms.args)
    batch = run(*send, "--template", "Chao {ten}, uu dai thang 12", "--limit", "2")
    assert batch.exit_code == 1  # the other 8 rows are unsent
    full = run(*send, "--template", "Chào {ten}, ưu đãi tháng 12")
    assert full.exit_code == 0, full.output
    assert len(delivered(esms)) == 10  # 10 followers, 10 messages
    assert (
        "2 rows sent earlier with different content: the earlier send stands "
        "(--resend-changed sends the new version)" in full.stderr
    )
    rows = read_results(Path("r.csv"))
    assert len(rows) == 10
    assert_every_row_really_sent(rows, esms)
    assert rows[0]["ErrorMessage"] == (
        "sent earlier with different content, line 2; --resend-changed sends the new version"
    )
    assert rows[2]["ErrorMessage"] == ""

    resend = run(*send, "--template", "Chào {ten}, ưu đãi tháng 12", "--resend-changed")
    assert resend.exit_code == 0
    assert "2 rows sent earlier with different content: sending the new version" in resend.stderr
    assert "no longer in the sheet" not in resend.stderr
    assert len(delivered(esms)) == 12
    rows = read_results(Path("r.csv"))
    assert_every_row_really_sent(rows, esms)
    assert {r["ErrorMessage"] for r in rows} == {""}


def test_an_edited_row_goes_out_again_only_with_resend_changed(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = message_rows(3)
    path = write_csv(tmp_path / "in.csv", rows)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    rows[1][1] = "Nội dung đã sửa"
    write_csv(path, rows)
    kept = run("send", str(path), "-o", "r.csv", *esms.args)
    assert kept.exit_code == 0 and len(delivered(esms)) == 3
    assert read_results(Path("r.csv"))[1]["ErrorMessage"].startswith(
        "sent earlier with different content, line 3"
    )
    resent = run("send", str(path), "-o", "r.csv", "--resend-changed", *esms.args)
    assert resent.exit_code == 0 and len(delivered(esms)) == 4
    row = read_results(Path("r.csv"))[1]
    assert delivered(esms)[row["RequestId"]]["SMSID"] == row["SMSID"]


def test_a_sent_row_edited_into_an_invalid_one_keeps_its_send(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = message_rows(3)
    path = write_csv(tmp_path / "in.csv", rows)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    sent = read_results(Path("r.csv"))[1]
    rows[1][2] = "https://cdn.example.vn/banner.webp"
    write_csv(path, rows)
    again = run("send", str(path), "-o", "r.csv", *esms.args)
    assert again.exit_code == 0, again.output
    assert "no longer in the sheet" not in again.stderr
    row = read_results(Path("r.csv"))[1]
    assert (row["status"], row["SMSID"]) == ("accepted", sent["SMSID"])
    assert row["ErrorMessage"].startswith(
        "sent earlier with different content, line 3; now url must point to"
    )
    assert len(delivered(esms)) == 3


def test_a_second_message_added_for_a_user_is_new_not_an_edit(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = message_rows(2)
    path = write_csv(tmp_path / "in.csv", rows)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    second = [rows[0][0], "Một tin nữa cho bạn", rows[0][2]]
    write_csv(path, [second, *rows])  # now before the one sent
    # A second message on purpose: without --allow-repeats it is a duplicate (one
    # message per follower per campaign), see test_rerun_promises.
    again = run("send", str(path), "-o", "r.csv", "--allow-repeats", *esms.args)
    assert again.exit_code == 0
    assert "different content" not in again.stderr
    assert len(delivered(esms)) == 3


@pytest.mark.parametrize(("count", "sent_at", "chunk_rows"), [(30, 21, 10), (700, 600, 5_000)])
def test_a_message_added_for_a_user_whose_sent_row_is_in_a_later_chunk_is_sent(
    tmp_path: Path, esms: RunningSimulator, count: int, sent_at: int, chunk_rows: int
) -> None:
    import batch_sender

    rows = message_rows(count)
    rows[sent_at][0] = "777"
    path = write_csv(tmp_path / "in.csv", rows)

    def send(allow_repeats: bool = False) -> batch_sender.SendReport:
        return batch_sender.send(
            path,
            out,
            allow_repeats=allow_repeats,
            api_key=SIMULATOR_API_KEY,
            secret_key=SIMULATOR_SECRET_KEY,
            oaid=SIMULATOR_OAID,
            base_url=esms.url,
            allow_insecure_http=True,
            rate=0,
            chunk_rows=chunk_rows,
        )

    out = tmp_path / "r.csv"
    assert send().exit_code == 0
    # The default chunking reads a small first chunk: line 2 and the sent row differ.
    write_csv(path, [["777", "Một tin mới cho 777", rows[0][2]], *rows])
    again = send(allow_repeats=True)
    assert again.exit_code == 0
    assert not any("different content" in w for w in again.warnings)
    results = read_results(out)
    assert len(delivered(esms)) == count + 1
    assert_every_row_really_sent(results, esms)
    assert len({r["SMSID"] for r in results}) == count + 1


def test_sends_of_deleted_rows_stay_listed(tmp_path: Path, esms: RunningSimulator) -> None:
    rows = message_rows(5)
    path = write_csv(tmp_path / "in.csv", rows)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    gone = read_results(Path("r.csv"))[1]
    write_csv(path, [rows[0], *rows[2:]])
    again = run("send", str(path), "-o", "r.csv", "--quiet", *esms.args)  # still says it
    assert again.exit_code == 0
    assert "warning: 1 row sent earlier no longer in the sheet" in again.stderr
    assert "`batch-sender report r.csv` lists them" in again.stderr
    assert [r["user_id"] for r in read_results(Path("r.csv"))] == [
        r[0] for r in [rows[0], *rows[2:]]
    ]
    assert len(delivered(esms)) == 5

    report = run("report", "r.csv")
    assert report.exit_code == 0
    assert "sent earlier, no longer in the sheet: 1" in report.stdout
    assert f"  line 3 as sent: user_id {gone['user_id']}, SMSID {gone['SMSID']}" in report.stdout


# --- 5: no output over a campaign's state ------------------------------------------------


@pytest.fixture
def sent_campaign(tmp_path: Path, esms: RunningSimulator) -> Path:
    path = sheet(tmp_path, 3)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    return path


def test_no_command_writes_over_a_journal_or_a_campaigns_results(sent_campaign: Path) -> None:
    state = {p: p.read_bytes() for p in Path().glob("r.csv*")}
    assert Path("r.csv.journal.sqlite") in state
    attempts = [
        ("report", "r.csv", "--html", "r.csv.journal.sqlite"),
        ("report", "r.csv", "--html", "r.csv.journal.sqlite-intents"),
        ("validate", str(sent_campaign), "--summary-json", "r.csv.journal.sqlite"),
        ("validate", str(sent_campaign), "-o", "r.csv"),
        ("validate", str(sent_campaign), "--summary-json", "r.csv"),
        ("validate", str(sent_campaign), "-o", "x.csv", "--summary-json", str(sent_campaign)),
        ("send", str(sent_campaign), "-o", "n.csv", "--simulate", "--summary-json", "r.csv"),
        ("report", "r.csv", "--failed-ids", "r.csv.journal.sqlite"),
        ("audience", "-o", "r.csv", "--from", "2026-11-01", "--to", "2026-11-02", "--simulate"),
    ]
    for args in attempts:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("Error: "), result.stderr
    assert {p: p.read_bytes() for p in Path().glob("r.csv*")} == state
    assert not Path("x.csv").exists() and not Path("n.csv").exists()


# --- 6: callbacks, status and report need an existing campaign ------------------------------


def test_commands_on_results_with_no_journal_name_the_ones_that_have_one(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = sheet(tmp_path, 3)
    assert run("send", str(path), "-o", "result.csv", *esms.args).exit_code == 0
    for args in (
        ("callbacks", "results.csv", "--port", "0"),
        ("status", "results.csv", "--oaid", "x"),
        ("report", "results.csv"),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("Error: results.csv: no campaign journal beside it")
        assert "did you mean result.csv?" in result.stderr
        assert not Path("results.csv.journal.sqlite").exists()


def test_callbacks_started_before_send_needs_the_campaign_id(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = sheet(tmp_path, 3)
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "batch_sender", "callbacks", "cb.csv", "--port", "0"),
            *("--token", "t0ken-for-tests", "--campaign-id", "in"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("receiving eSMS callbacks at "), line
        url = line.rsplit(" ", 1)[-1].strip()
        assert Journal.open(Path("cb.csv.journal.sqlite"), "in").meta("campaign_id") == "in"
        refused = run("send", str(path), "-o", "cb.csv", "--campaign-id", "other", *esms.args)
        assert refused.exit_code == 2
        assert "belongs to campaign 'in'" in refused.stderr
        assert run("send", str(path), "-o", "cb.csv", "--rate", "0", *esms.args).exit_code == 0
        # A report for a message this campaign never sent (send writes elsewhere).
        query = "RequestId=elsewhere-1&SMSID=abc&SendStatus=5&SendSuccess=1"
        with urllib.request.urlopen(f"{url}?{query}", timeout=5) as answer:  # noqa: S310
            assert answer.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert "callbacks stopped: 1 reports" in out
    assert "is send writing to another result file" in err
