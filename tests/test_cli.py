"""The CLI through CliRunner: each exit code with its exact message, settings, reruns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
from click.testing import CliRunner, Result

from batch_sender.cli import cli

from .conftest import (
    CREDENTIALS,
    HEADER,
    LONG_ID,
    RunningSimulator,
    message_rows,
    read_results,
    write_csv,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def campaign(tmp_path: Path, rows: list[list[str]] | None = None) -> Path:
    return write_csv(tmp_path / "thang12.csv", rows if rows is not None else message_rows(3))


# --- validate --------------------------------------------------------------------


def test_validate_all_valid_exits_0(tmp_path: Path) -> None:
    result = run("validate", str(campaign(tmp_path)))
    assert result.exit_code == 0
    assert result.stdout == "thang12.csv: 3 rows: 3 valid\n"


def test_one_row_is_counted_in_the_singular(tmp_path: Path) -> None:
    result = run("validate", str(campaign(tmp_path, message_rows(1))))
    assert result.exit_code == 0
    assert result.stdout == "thang12.csv: 1 row: 1 valid\n"


def test_validate_reports_bad_rows_with_lines_and_exits_1(tmp_path: Path) -> None:
    rows = [*message_rows(2), ["7.80038E+18", "hi", "https://x.vn/a.jpg"], message_rows(1)[0]]
    path = campaign(tmp_path, rows)
    result = run("validate", str(path), "-o", str(tmp_path / "report.csv"))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "thang12.csv: 4 rows: 2 valid, 1 invalid, 1 duplicate",
        "  line 4: invalid: user_id 7.80038E+18 is a number of more than 15 digits: the "
        "spreadsheet turned the id into a number and rounded it; format the column as Text "
        "and export again",
        "  line 5: duplicate: same user_id as line 2; one message per follower per campaign "
        "(--allow-repeats sends repeats on purpose)",
        f"report: {tmp_path / 'report.csv'}",
    ]
    report = read_results(tmp_path / "report.csv")
    assert [r["status"] for r in report] == ["valid", "valid", "invalid", "duplicate"]
    assert [r["row"] for r in report] == ["2", "3", "4", "5"]
    assert report[0]["user_id"] == LONG_ID
    assert report[0]["RequestId"] == ""  # nothing is sent, no idempotency key used


def test_missing_column_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [["1", "a", "b"]], header=["user_id", "text", "link"])
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}: line 1: missing column 'url' (--url-column); "
        "columns found: 'user_id', 'text', 'link'\n"
    )


def test_no_such_file_exits_2(tmp_path: Path) -> None:
    result = run("validate", "nope.csv")
    assert result.exit_code == 2
    assert result.stderr == "Error: nope.csv: no such file\n"


def test_header_only_exits_2(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [])
    result = run("validate", str(path), "-o", "report.csv")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: has a header but no rows\n"
    assert not Path("report.csv").exists()  # never a half-written report
    assert list(tmp_path.glob(".report.csv*")) == []


def test_unknown_encoding_exits_2(tmp_path: Path) -> None:
    result = run("validate", str(campaign(tmp_path)), "--encoding", "klingon")
    assert result.exit_code == 2
    assert result.stderr == "Error: unknown --encoding 'klingon'\n"


def test_bad_option_exits_2(tmp_path: Path) -> None:
    result = run("send", str(campaign(tmp_path)), "-o", "r.csv", "--rate", "-1", "--simulate")
    assert result.exit_code == 2
    assert "Invalid value for '--rate'" in result.stderr


# --- send ------------------------------------------------------------------------


def test_missing_credentials_exit_2_and_nothing_is_sent(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    result = run("send", str(campaign(tmp_path)), "-o", "r.csv", "--base-url", esms.url)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: missing credentials: ESMS_API_KEY (--api-key), ESMS_SECRET_KEY (--secret-key), "
        "ESMS_OAID (--oaid); set them in the environment or .env, or pass --simulate to try "
        "against the simulator\n"
    )
    assert esms.stats()["requests"] == 0
    assert not Path("r.csv").exists()


def test_send_everything_accepted_exits_0(tmp_path: Path, esms: RunningSimulator) -> None:
    result = run("send", str(campaign(tmp_path)), "-o", "r.csv", "--rate", "0", *esms.args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "thang12.csv: 3 rows: 3 accepted"
    assert lines[1] == "CodeResult: 100 x3"
    assert lines[-1] == "results: r.csv"
    rows = read_results(Path("r.csv"))
    stats = esms.stats()
    assert stats["accepted"] == 3
    for row in rows:
        assert row["status"] == "accepted"
        assert row["SMSID"] == stats["messages"][row["RequestId"]]["SMSID"]
        assert stats["messages"][row["RequestId"]]["user_id"] == row["user_id"]


def test_wrong_keys_exit_3_before_any_message(tmp_path: Path, esms: RunningSimulator) -> None:
    args = [
        "--base-url",
        esms.url,
        "--api-key",
        "wrong-key-123",
        "--secret-key",
        "wrong-secret-456",
    ]
    result = run("send", str(campaign(tmp_path)), "-o", "r.csv", *args, "--oaid", "x")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "Error: stopped: eSMS refused the ApiKey/SecretKey (101): "
        "check ESMS_API_KEY and ESMS_SECRET_KEY"
    )
    assert esms.stats()["requests"] == 0  # the balance check stopped it
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["unsent"] * 3
    assert "wrong-key-123" not in result.output and "wrong-secret-456" not in result.output


def test_balance_out_exits_3_then_a_rerun_completes(tmp_path: Path, esms: RunningSimulator) -> None:
    esms.set_balance(300 * 4)  # four messages' worth
    path = campaign(tmp_path, message_rows(10))
    first = run("send", str(path), "-o", "r.csv", "--rate", "0", "--concurrency", "1", *esms.args)
    assert first.exit_code == 3
    assert (
        "Error: stopped: the account balance is too low (103): top up the account, then rerun"
        in (first.stderr)
    )
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted"] * 4 + ["failed"] + ["unsent"] * 5
    assert rows[4]["CodeResult"] == "103"
    assert rows[5]["ErrorMessage"].startswith("not sent: the run stopped: the account balance")

    esms.set_balance(10**9)
    second = run("send", str(path), "-o", "r.csv", "--rate", "0", *esms.args)
    assert second.exit_code == 0, second.output
    assert "resuming campaign 'thang12': 4 done earlier, 6 to send" in second.stderr
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 10
    assert esms.stats()["accepted"] == 10


def test_rerun_sends_nothing_twice(tmp_path: Path, esms: RunningSimulator) -> None:
    path = campaign(tmp_path)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    before = read_results(Path("r.csv"))
    again = run("send", str(path), "-o", "r.csv", *esms.args)
    assert again.exit_code == 0
    assert "resuming campaign 'thang12': 3 done earlier, 0 to send" in again.stderr
    assert esms.stats()["requests"] == 3
    assert read_results(Path("r.csv")) == before


def test_edited_row_keeps_its_earlier_send(tmp_path: Path, esms: RunningSimulator) -> None:
    path = campaign(tmp_path)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    rows = message_rows(3)
    rows[1][1] = "Nội dung đã sửa"
    write_csv(path, [*rows, *message_rows(1, start=10)])
    again = run("send", str(path), "-o", "r.csv", *esms.args)
    assert again.exit_code == 0
    # The edited row's earlier send stands: it is one of those done earlier.
    assert "resuming campaign 'thang12': 3 done earlier, 1 to send" in again.stderr
    assert (
        "1 row sent earlier with different content: the earlier send stands "
        "(--resend-changed sends the new version)" in again.stderr
    )
    assert esms.stats()["accepted"] == 4


def test_credentials_from_dotenv(tmp_path: Path, esms: RunningSimulator) -> None:
    keys = dict(zip(CREDENTIALS[::2], CREDENTIALS[1::2], strict=True))
    Path(".env").write_text(
        f"ESMS_API_KEY={keys['--api-key']}\nESMS_SECRET_KEY={keys['--secret-key']}\n"
        f"ESMS_OAID={keys['--oaid']}\nESMS_BASE_URL={esms.url}\n",
        encoding="utf-8",
    )
    result = run("send", str(campaign(tmp_path)), "-o", "r.csv")
    assert result.exit_code == 0, result.output
    assert esms.stats()["accepted"] == 3


def test_output_must_not_be_the_input(tmp_path: Path) -> None:
    path = campaign(tmp_path)
    original = path.read_bytes()
    result = run("send", str(path), "-o", str(path), "--simulate")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}: -o is the input file; choose another name for the output\n"
    )
    assert path.read_bytes() == original


def test_long_ids_survive_xlsx_to_request_to_result(tmp_path: Path, esms: RunningSimulator) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["user_id", "text", "url"])
    sheet.append([LONG_ID, "Chào", "https://x.vn/a.png"])
    sheet.append([int(LONG_ID) + 1, "Chào", "https://x.vn/a.png"])  # a number cell
    book.save(tmp_path / "c.xlsx")
    result = run("send", str(tmp_path / "c.xlsx"), "-o", "r.csv", *esms.args)
    assert result.exit_code == 1
    rows = read_results(Path("r.csv"))
    assert rows[0]["user_id"] == LONG_ID and rows[0]["status"] == "accepted"
    assert esms.stats()["messages"][rows[0]["RequestId"]]["user_id"] == LONG_ID
    assert rows[1]["status"] == "invalid"
    assert "format the column as Text" in rows[1]["ErrorMessage"]


def test_report_is_an_ordinary_readable_file(tmp_path: Path) -> None:
    run("validate", str(campaign(tmp_path)), "-o", "report.csv")
    assert Path("report.csv").stat().st_mode & 0o044 == 0o044  # not mkstemp's private 0600


def test_header_cells_are_kept_exactly(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        f"user_id,text,url,note,note,\n{LONG_ID},hi,https://x.vn/a.jpg,a,b,c\n",
        encoding="utf-8",
    )
    assert run("validate", str(path), "-o", "report.csv").exit_code == 0
    header = Path("report.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("user_id,text,url,note,note,,sent_text,row,status")


def test_a_field_column_twice_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [["1", "a", "u", "2"]], header=[*HEADER, "user_id"])
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}: line 1: column 'user_id' appears more than once (columns 1 and 4)\n"
    )


def test_excel_flag_writes_a_bom(tmp_path: Path) -> None:
    run("validate", str(campaign(tmp_path)), "-o", "report.csv", "--excel")
    assert Path("report.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_simulate_needs_no_credentials(tmp_path: Path) -> None:
    result = run("send", str(campaign(tmp_path)), "-o", "r.csv", "--simulate", "--rate", "0")
    assert result.exit_code == 0, result.output
    assert "simulating eSMS at http://127.0.0.1:" in result.stderr


def test_help_shows_examples() -> None:
    result = run("send", "--help")
    assert result.exit_code == 0
    assert "batch-sender send campaign.csv -o results.csv --simulate" in result.stdout


def _with_stdout_closed(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """The real CLI writing into a pipe whose reader is gone (`| head -1` once it has read)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "batch_sender", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            cwd=cwd,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)


def test_a_reader_that_stops_reading_is_no_error(tmp_path: Path) -> None:
    rows = [*message_rows(3), ["123", "", "https://x.vn/a.jpg"]]
    path = campaign(tmp_path, rows)
    sent = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", "--simulate"])
    assert sent.exit_code == 1, sent.output  # the invalid row needs attention
    done = _with_stdout_closed("report", "r.csv", cwd=Path.cwd())
    assert done.stderr == b""
    assert done.returncode == 0
