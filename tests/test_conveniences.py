"""Campaign conveniences: templates, image checks, suppression lists, test batches,
scheduled sends, the balance command, Excel and Parquet files, JSON summaries and logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from batch_sender.cli import cli
from batch_sender.errors import UsageError
from batch_sender.sending.schedule import send_date
from batch_sender.sheet.template import Template

from .conftest import CREDENTIALS, LONG_ID, RunningSimulator, message_rows, read_results, write_csv

PEOPLE = ["user_id", "ten", "url"]
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)  # 19:00 in Vietnam


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def people(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "khach.csv",
        [
            [LONG_ID, "chị Lan", "https://x.vn/a.jpg"],
            ["31215806834323092", "anh Minh", "https://x.vn/b.png"],
            ["5519320849166843071", "", "https://x.vn/c.jpg"],
        ],
        header=PEOPLE,
    )


# --- --template ---------------------------------------------------------------------


def test_template_fills_each_row(tmp_path: Path, esms: RunningSimulator) -> None:
    template = "Chào {ten}, Shop tặng {{VOUCHER}} cho {ten}!"
    result = run("send", str(people(tmp_path)), "-o", "r.csv", "--template", template, *esms.args)
    assert result.exit_code == 1  # the row with no name is invalid
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted", "accepted", "invalid"]
    assert rows[2]["ErrorMessage"] == "template placeholder {ten} is empty"
    sent = esms.call(lambda: esms.simulator.accepted[rows[0]["RequestId"]].text)
    assert sent == "Chào chị Lan, Shop tặng {VOUCHER} cho chị Lan!"


def test_template_file_and_the_limit_after_filling(tmp_path: Path) -> None:
    Path("t.txt").write_text("Chào {ten}" + "x" * 1990 + "\n", encoding="utf-8")
    result = run("validate", str(people(tmp_path)), "--template-file", "t.txt")
    assert result.exit_code == 1
    # "Chào chị Lan" + 1990 x = 2002 characters; "Chào anh Minh" + 1990 = 2003.
    assert "line 2: invalid: text has 2,002 characters, at most 2,000 are allowed" in result.stdout


def test_unknown_placeholder_exits_2_listing_the_columns(tmp_path: Path) -> None:
    result = run("validate", str(people(tmp_path)), "--template", "Chào {ten_khach_hang}")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --template: unknown placeholder {ten_khach_hang}; "
        "columns: 'user_id', 'ten', 'url'\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Chào {ten:>10}", "placeholders take no format"),
        ("Chào {", "write {{ and }} for literal braces"),
        ("Chào {}", "names no column"),
    ],
)
def test_bad_templates(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Template.parse(text)


# --- --check-images -----------------------------------------------------------------


@pytest.fixture
async def images() -> AsyncIterator[str]:
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 2000 + b"\xff\xd9"
    big_png = b"\x89PNG\r\n\x1a\n" + b"\0" * 1_500_000

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()  # no Content-Length: counted while reading
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"\0" * 65536)
        return response

    def serving(body: bytes, content_type: str) -> Any:
        async def handler(_request: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type)

        return handler

    app = web.Application()
    app.router.add_get("/small.jpg", serving(jpeg, "image/jpeg"))
    app.router.add_get("/big.png", serving(big_png, "image/png"))
    app.router.add_get("/page.jpg", serving(b"<html/>", "text/html"))
    app.router.add_get("/streamed.png", streamed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_check_images(tmp_path: Path, images: str) -> None:
    names = ["small.jpg", "big.png", "page.jpg", "missing.jpg", "streamed.png", "small.jpg"]
    rows = [[str(100 + i), f"hi {i}", f"{images}/{name}"] for i, name in enumerate(names)]
    path = write_csv(tmp_path / "c.csv", rows)
    result = await asyncio.to_thread(run, "validate", str(path), "--check-images", "-o", "rep.csv")
    assert result.exit_code == 1
    report = read_results(Path("rep.csv"))
    assert [(r["status"], r["ErrorMessage"]) for r in report] == [
        ("valid", ""),
        ("invalid", "image is 1.4 MB, the limit is 1 MB"),
        ("invalid", "not an image: text/html"),
        ("invalid", "image: HTTP 404"),
        ("invalid", "image is over 1 MB, the limit is 1 MB"),
        ("valid", ""),
    ]


# --- --exclude ----------------------------------------------------------------------


def test_suppression_lists_exclude_rows(tmp_path: Path, esms: RunningSimulator) -> None:
    rows = message_rows(5)
    path = write_csv(tmp_path / "c.csv", rows)
    write_csv(tmp_path / "unsub.csv", [[rows[1][0], "2026-11-01"]], header=["user_id", "ngay"])
    (tmp_path / "staff.txt").write_text(f"# staff\n\n {rows[3][0]} \n", encoding="utf-8")
    args = ["--exclude", str(tmp_path / "unsub.csv"), "--exclude", str(tmp_path / "staff.txt")]

    checked = run("validate", str(path), *args)
    assert checked.exit_code == 0  # excluded needs no attention
    assert checked.stdout.startswith("c.csv: 5 rows: 3 valid, 2 excluded")

    sent = run("send", str(path), "-o", "r.csv", *args, *esms.args)
    assert sent.exit_code == 0
    assert "2 rows are excluded by the suppression lists" in sent.stderr
    statuses = [r["status"] for r in read_results(Path("r.csv"))]
    assert statuses == ["accepted", "excluded", "accepted", "excluded", "accepted"]
    assert esms.stats()["accepted"] == 3


def test_a_row_sent_earlier_stays_accepted_when_excluded_later(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = message_rows(3)
    path = write_csv(tmp_path / "c.csv", rows)
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 0
    before = read_results(Path("r.csv"))
    (tmp_path / "late.txt").write_text(f"{rows[1][0]}\n", encoding="utf-8")
    again = run(
        "send", str(path), "-o", "r.csv", "--exclude", str(tmp_path / "late.txt"), *esms.args
    )
    assert again.exit_code == 0
    # It went out in the first run: the result file keeps saying so.
    assert read_results(Path("r.csv"))[1] == before[1]
    assert esms.stats()["requests"] == 3


def test_duplicates_are_not_reported_as_accepted(tmp_path: Path, esms: RunningSimulator) -> None:
    rows = message_rows(2)
    path = write_csv(tmp_path / "c.csv", [*rows, rows[0]])
    assert run("send", str(path), "-o", "r.csv", *esms.args).exit_code == 1
    results = read_results(Path("r.csv"))
    assert [(r["status"], r["RequestId"] != "") for r in results] == [
        ("accepted", True),
        ("accepted", True),
        ("duplicate", False),
    ]


def test_missing_suppression_list_exits_2(tmp_path: Path) -> None:
    result = run("validate", str(write_csv(tmp_path / "c.csv", message_rows(1))), "--exclude", "x")
    assert result.exit_code == 2
    assert result.stderr == "Error: x: no such suppression list (--exclude)\n"


# --- --limit, --send-at, balance ----------------------------------------------------


def test_limit_sends_a_test_batch_then_the_rest(tmp_path: Path, esms: RunningSimulator) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(6))
    first = run("send", str(path), "-o", "r.csv", "--limit", "2", *esms.args)
    assert first.exit_code == 1
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted"] * 2 + ["unsent"] * 4
    assert rows[2]["ErrorMessage"] == (
        "not sent: --limit 2 reached; run again without --limit to send it"
    )
    rest = run("send", str(path), "-o", "r.csv", *esms.args)
    assert rest.exit_code == 0
    assert "resuming campaign 'c': 2 done earlier, 4 to send" in rest.stderr
    assert esms.stats()["accepted"] == 6


def test_send_at_is_vietnam_time_and_never_past() -> None:
    assert send_date("2026-12-01 09:00", NOW) == "2026-12-01 09:00:00"
    assert send_date("2026-12-01T02:00:00+00:00", NOW) == "2026-12-01 09:00:00"
    with pytest.raises(UsageError, match="is in the past; it is now 2026-11-27 19:00:00 there"):
        send_date("2026-11-27 18:59", NOW)
    with pytest.raises(UsageError, match="is not a date and time"):
        send_date("mai 9 giờ", NOW)


def test_send_at_reaches_esms(tmp_path: Path, esms: RunningSimulator) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(1))
    result = run("send", str(path), "-o", "r.csv", "--send-at", "2099-12-01 09:00", *esms.args)
    assert result.exit_code == 0
    assert esms.call(lambda: esms.simulator.send_dates) == ["2099-12-01 09:00:00"]
    past = run("send", str(path), "-o", "p.csv", "--send-at", "2020-01-01 09:00", *esms.args)
    assert past.exit_code == 2


def test_balance_command(esms: RunningSimulator) -> None:
    good = run("balance", "--base-url", esms.url, *CREDENTIALS)
    assert (good.exit_code, good.stdout) == (0, "balance: 1,000,000,000,000 (the keys work)\n")
    bad = run("balance", "--base-url", esms.url, "--api-key", "x", "--secret-key", "y")
    assert bad.exit_code == 3
    assert bad.stderr == (
        "Error: eSMS refused the ApiKey/SecretKey (101): check ESMS_API_KEY and ESMS_SECRET_KEY\n"
    )
    missing = run("balance", "--base-url", esms.url)
    assert missing.exit_code == 2


# --- files for Excel users and data teams -------------------------------------------


def test_summary_json_never_overwrites_the_input_or_results(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(1))
    result = run("send", str(path), "-o", "r.csv", "--simulate", "--summary-json", "r.csv")
    assert result.exit_code == 2
    assert (
        result.stderr == "Error: r.csv: --summary-json would overwrite r.csv; choose another name\n"
    )
    checked = run("validate", str(path), "--summary-json", "nowhere/s.json")
    assert checked.exit_code == 2
    assert "the folder nowhere does not exist" in checked.stderr


def test_empty_template_and_control_characters_in_xlsx(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [[LONG_ID, "a\x0bb", "https://x.vn/a.jpg"]])
    empty = run("validate", str(path), "--template", "")
    assert (empty.exit_code, empty.stderr) == (
        2,
        "Error: --template is empty: give the message text\n",
    )
    result = run("validate", str(path), "-o", "rep.xlsx")
    assert result.exit_code == 0, result.output
    from openpyxl.utils.escape import unescape

    # Stored as Excel's own escape (_x000b_), which Excel shows as the character.
    assert unescape(openpyxl.load_workbook("rep.xlsx").active["B2"].value) == "a\x0bb"


def test_xlsx_results_keep_ids_as_text_and_never_formulas(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = [[LONG_ID, '=HYPERLINK("http://evil")', "https://x.vn/a.jpg"]]
    path = write_csv(tmp_path / "c.csv", rows)
    result = run("send", str(path), "-o", "r.xlsx", *esms.args)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook("r.xlsx").active
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["user_id", "text", "url", "row", "status"]
    id_cell, text_cell = sheet["A2"], sheet["B2"]
    assert (id_cell.value, id_cell.data_type) == (LONG_ID, "s")
    assert (text_cell.value, text_cell.data_type) == ('=HYPERLINK("http://evil")', "s")
    assert sheet["E2"].value == "accepted"


def test_parquet_input(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "user_id": pa.array([int(LONG_ID), 31215806834323092], pa.int64()),
            "text": ["Chào", "Hi"],
            "url": ["https://x.vn/a.jpg", "https://x.vn/b.jpg"],
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    result = run("validate", str(tmp_path / "c.parquet"), "-o", "rep.csv")
    assert result.exit_code == 0, result.output
    assert [r["user_id"] for r in read_results(Path("rep.csv"))] == [LONG_ID, "31215806834323092"]


def test_summary_json_and_json_log(tmp_path: Path, esms: RunningSimulator) -> None:
    path = write_csv(tmp_path / "c.csv", [*message_rows(2), ["x", "", ""]])
    result = run(
        "send",
        str(path),
        "-o",
        "r.csv",
        "--summary-json",
        "s.json",
        "--log-format",
        "json",
        *esms.args,
    )
    assert result.exit_code == 1
    summary = json.loads(Path("s.json").read_text(encoding="utf-8"))
    assert summary["statuses"] == {"accepted": 2, "invalid": 1}
    assert (summary["sent"], summary["exit_code"], summary["rows"]) == (2, 1, 3)
    events = [json.loads(line) for line in result.stderr.splitlines()]
    rows = sorted((e for e in events if e["event"] == "row"), key=lambda e: e["row"])
    results = read_results(Path("r.csv"))
    assert [(e["row"], e["RequestId"], e["status"]) for e in rows] == [
        (2, results[0]["RequestId"], "accepted"),
        (3, results[1]["RequestId"], "accepted"),
        (4, "", "invalid"),  # every row's outcome, sent or not
    ]
    assert any(e["event"] == "info" and "to send" in e["message"] for e in events)
