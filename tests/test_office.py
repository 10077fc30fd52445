"""Files as office suites write them: opt-out lists that went through a spreadsheet,
hidden sheets and filtered rows, every workbook format, whatever its name."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import batch_sender
from batch_sender.cli import cli
from batch_sender.sheet.hidden import hidden_rows

from .conftest import RunningSimulator, message_rows, read_results, write_csv

OFFICE = Path(__file__).parent / "fixtures" / "office"
WORKBOOKS = ("xlsx", "ods", "xls")
# The visible sheet's rows of hidden-first-sheet.* (line 3 filtered out, line 5 hidden by hand).
SHOWN_LINES = [2, 4, 6]
HIDDEN_LINES = [3, 5]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def fixture(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copy(OFFICE / name, tmp_path / name))


# --- an opt-out list that went through Excel --------------------------------------


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("user_id\n7800378501923859642\n7.80038E+18\n", 3),
        ("7800378501923859642\n\n7.800378501923859e+18\n", 3),
        ("# unsubscribed\n7,80038E+18\n", 2),
    ],
)
def test_a_rounded_id_in_an_opt_out_list_is_refused(
    tmp_path: Path, esms: RunningSimulator, content: str, line: int
) -> None:
    sheet = write_csv(tmp_path / "c.csv", message_rows(5))
    (tmp_path / "optout.txt").write_text(content, encoding="utf-8")
    for command in (["validate", str(sheet)], ["send", str(sheet), "-o", "r.csv", *esms.args]):
        result = run(*command, "--exclude", str(tmp_path / "optout.txt"))
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: {tmp_path / 'optout.txt'}: line {line}: ")
        assert "suppression list (--exclude)" in result.stderr
        assert "a number of more than 15 digits" in result.stderr
        assert "format the column as Text" in result.stderr
    assert esms.stats()["requests"] == 0


@pytest.mark.parametrize("kind", WORKBOOKS)
def test_an_opt_out_workbook_with_number_ids_is_refused(tmp_path: Path, kind: str) -> None:
    sheet = write_csv(tmp_path / "c.csv", message_rows(5))
    optout = fixture(f"optout-numbers.{kind}", tmp_path)
    result = run("validate", str(sheet), "--exclude", str(optout))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {optout}: line 2: suppression list (--exclude): ")
    assert "a number of more than 15 digits" in result.stderr


def test_an_id_that_is_not_an_id_in_an_opt_out_list_is_refused(tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "c.csv", message_rows(2))
    (tmp_path / "optout.txt").write_text("0912 345 678\n", encoding="utf-8")
    result = run("validate", str(sheet), "--exclude", "optout.txt")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: optout.txt: line 1: suppression list (--exclude): user_id must be digits "
        "only: '0912 345 678' looks like a phone number, not a Zalo user_id\n"
    )


def test_each_list_says_how_many_of_its_ids_matched(tmp_path: Path, esms: RunningSimulator) -> None:
    rows = message_rows(5)
    sheet = write_csv(tmp_path / "c.csv", rows)
    (tmp_path / "unsub.txt").write_text(f"{rows[1][0]}\n{rows[3][0]}\n1234\n", encoding="utf-8")
    write_csv(tmp_path / "other.csv", [["5555"], ["6666"]], header=["user_id"])
    lists = ["--exclude", "unsub.txt", "--exclude", "other.csv"]
    matched = "suppression list unsub.txt: 2 of its 3 ids matched a row"
    none = (
        "warning: suppression list other.csv: none of its 2 ids matched a row; "
        "is it the right list, with the same user_ids as the sheet?"
    )

    checked = run("validate", str(sheet), *lists, "--summary-json", "v.json")
    assert checked.exit_code == 0
    assert matched in checked.stdout.splitlines()
    assert none in checked.stdout.splitlines()
    summary = json.loads(Path("v.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == [none]
    assert summary["suppression_lists"] == [
        {"file": "unsub.txt", "ids": 3, "matched": 2, "hidden": 0},
        {"file": "other.csv", "ids": 2, "matched": 0, "hidden": 0},
    ]

    sent = run("send", str(sheet), "-o", "r.csv", *lists, "--summary-json", "s.json", *esms.args)
    assert sent.exit_code == 0
    assert matched in sent.stderr.splitlines()
    assert none in sent.stderr.splitlines()
    summary = json.loads(Path("s.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == [none]
    assert summary["suppression_lists"][1] == {
        "file": "other.csv",
        "ids": 2,
        "matched": 0,
        "hidden": 0,
    }
    assert esms.stats()["accepted"] == 3

    report = batch_sender.validate(sheet, exclude=["other.csv"])
    assert report.warnings == [none]


# --- hidden sheets and filtered rows -----------------------------------------------


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_hidden_or_filtered_rows_are_refused_by_default(
    tmp_path: Path, esms: RunningSimulator, kind: str
) -> None:
    path = fixture(f"hidden-first-sheet.{kind}", tmp_path)
    for command in (["validate", str(path)], ["send", str(path), "-o", "r.csv", *esms.args]):
        result = run(*command)
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            f"Error: {path}: line 3: sheet 'Tháng 12': 2 rows are hidden (by hand or by a "
            "filter), the first on line 3; show them in the spreadsheet, or pass "
            "--hidden-rows skip (not sent, listed as excluded) or --hidden-rows send\n"
        )
    assert esms.stats()["requests"] == 0
    assert not Path("r.csv").exists()


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_hidden_rows_skipped_are_excluded_and_counted(
    tmp_path: Path, esms: RunningSimulator, kind: str
) -> None:
    path = fixture(f"hidden-first-sheet.{kind}", tmp_path)
    checked = run("validate", str(path), "--hidden-rows", "skip")
    assert checked.exit_code == 0
    assert checked.stdout.startswith(f"{path.name}: 5 rows: 3 valid, 2 excluded")
    assert "2 hidden rows are not sent (excluded: --hidden-rows skip)" in checked.stdout

    sent = run("send", str(path), "-o", "r.csv", "--hidden-rows", "skip", *esms.args)
    assert sent.exit_code == 0, sent.output
    assert "2 hidden rows are not sent (excluded: --hidden-rows skip)" in sent.stderr
    rows = read_results(Path("r.csv"))
    assert [int(r["row"]) for r in rows] == [2, 3, 4, 5, 6]
    assert [r["status"] for r in rows] == [
        "accepted",
        "excluded",
        "accepted",
        "excluded",
        "accepted",
    ]
    assert rows[1]["ErrorMessage"] == "hidden row in Excel"
    # This month's sheet, never last month's hidden one.
    assert all("tháng 12" in r["text"] for r in rows)
    assert esms.stats()["accepted"] == 3


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_hidden_rows_of_an_opt_out_workbook_count_as_listed(
    tmp_path: Path, esms: RunningSimulator, kind: str
) -> None:
    # An opt-out is an opt-out: hiding its row in the list does not opt the follower back in.
    optout = fixture(f"hidden-first-sheet.{kind}", tmp_path)
    sheet = fixture("plain.xlsx", tmp_path)
    note = f"suppression list {optout.name}: 2 of its ids are on hidden rows, taken as listed"
    checked = run("validate", str(sheet), "--exclude", str(optout))
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith(f"{sheet.name}: 5 rows: 5 excluded")
    assert note in checked.stdout
    assert "--hidden-rows" not in checked.output
    sent = run("send", str(sheet), "-o", "r.csv", "--exclude", str(optout), "-q", *esms.args)
    assert sent.exit_code == 0, sent.output
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["excluded"] * 5
    assert esms.stats()["requests"] == 0
    summary = batch_sender.validate(sheet, exclude=[optout]).as_dict()
    assert summary["suppression_lists"] == [
        {"file": str(optout), "ids": 5, "matched": 5, "hidden": 2}
    ]


@pytest.mark.parametrize("kind", WORKBOOKS)
def test_the_first_visible_sheet_is_read(tmp_path: Path, kind: str) -> None:
    path = fixture(f"hidden-first-sheet.{kind}", tmp_path)
    result = run("validate", str(path), "--hidden-rows", "send", "-o", "v.csv")
    assert result.exit_code == 0, result.output
    rows = read_results(Path("v.csv"))
    assert len(rows) == 5
    assert all("tháng 12" in r["text"] for r in rows)
    # The hidden sheet is still there for whoever asks for it by name.
    old = run("validate", str(path), "--sheet", "Tháng 11", "-o", "old.csv")
    assert old.exit_code == 0, old.output
    assert all("tháng 11" in r["text"] for r in read_results(Path("old.csv")))


def test_hidden_rows_send_treats_them_as_any_row(tmp_path: Path, esms: RunningSimulator) -> None:
    path = fixture("hidden-first-sheet.xlsx", tmp_path)
    sent = run("send", str(path), "-o", "r.csv", "--hidden-rows", "send", *esms.args)
    assert sent.exit_code == 0, sent.output
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 5


# --- every format an office suite writes, whatever its name --------------------------


@pytest.mark.parametrize("kind", WORKBOOKS)
@pytest.mark.parametrize("name", ["campaign.{kind}", "campaign.csv", "campaign"])
def test_workbooks_are_read_by_their_content(tmp_path: Path, kind: str, name: str) -> None:
    path = Path(shutil.copy(OFFICE / f"plain.{kind}", tmp_path / name.format(kind=kind)))
    result = run("validate", str(path), "-o", "v.csv")
    assert result.exit_code == 0, result.output
    rows = read_results(Path("v.csv"))
    assert [r["user_id"] for r in rows] == [f"780037850192385964{i}" for i in range(2, 7)]
    assert rows[0]["text"] == "Chào chị Lan, ưu đãi tháng 12"


@pytest.mark.parametrize(
    ("kind", "named"), [(k, n) for k in WORKBOOKS for n in (*WORKBOOKS, "xlsm") if n != k]
)
def test_a_workbook_named_as_another_format_is_read_as_what_it_is(
    tmp_path: Path, kind: str, named: str
) -> None:
    # An .xls saved by LibreOffice and renamed .xlsx by hand, and the like.
    path = Path(shutil.copy(OFFICE / f"plain.{kind}", tmp_path / f"campaign.{named}"))
    result = run("validate", str(path), "-o", "v.csv")
    assert result.exit_code == 0, result.output
    assert [r["user_id"] for r in read_results(Path("v.csv"))][:2] == [
        "7800378501923859642",
        "7800378501923859643",
    ]
    exclude = Path(shutil.copy(OFFICE / f"plain.{kind}", tmp_path / f"optout.{named}"))
    listed = run("validate", str(path), "--exclude", str(exclude))
    assert listed.exit_code == 0 and "5 rows: 5 excluded" in listed.stdout, listed.output
    if kind != "xls":  # rows hidden in it are still found (.xls hides none it can tell)
        hidden = Path(shutil.copy(OFFICE / f"hidden-first-sheet.{kind}", path))
        refused = run("validate", str(hidden))
        assert refused.exit_code == 2 and "2 rows are hidden" in refused.stderr, refused.output


@pytest.mark.parametrize("kind", WORKBOOKS)
def test_number_formatted_ids_are_caught_in_every_format(tmp_path: Path, kind: str) -> None:
    path = fixture(f"number-ids.{kind}", tmp_path)
    result = run("validate", str(path), "-o", "v.csv")
    assert result.exit_code == 1
    rows = read_results(Path("v.csv"))
    assert [r["status"] for r in rows] == ["invalid", "invalid"]
    assert "is a number of more than 15 digits" in rows[0]["ErrorMessage"]


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            lambda p: _zip(p, {"[Content_Types].xml": b"", "xl/workbook.bin": b""}),
            "this file is an Excel binary workbook (.xlsb), which cannot be read; save it as "
            ".xlsx or .csv (File > Save As) and use that file",
        ),
        (
            lambda p: _zip(p, {"Index/Document.iwa": b"", "Metadata/Properties.plist": b""}),
            "this file is an Apple Numbers file; in Numbers, File > Export To > Excel (or CSV), "
            "and use that file",
        ),
        (
            lambda p: p.write_bytes(b"%PDF-1.7\n...") and p,
            "this file is a PDF document, not a spreadsheet; export the sheet from the program "
            "that made it as .xlsx or .csv",
        ),
    ],
)
def test_what_cannot_be_read_is_refused_saying_how_to_convert(
    tmp_path: Path, make: object, says: str
) -> None:
    path = tmp_path / "campaign.csv"
    make(path)  # type: ignore[operator]
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: {says}\n"


# --- text as Excel, a Mac and a pipe write it --------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_excel_unicode_text_is_read(tmp_path: Path, encoding: str) -> None:
    rows = message_rows(3)
    lines = ["user_id\ttext\turl", *("\t".join(row) for row in rows)]
    path = tmp_path / "unicode.txt"
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode(encoding))
    for extra in ([], ["--encoding", encoding]):
        result = run("validate", str(path), "-o", "v.csv", *extra)
        assert result.exit_code == 0, result.output
        assert [r["text"] for r in read_results(Path("v.csv"))] == [row[1] for row in rows]


@pytest.mark.parametrize("written", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("named", ["utf-16", "utf16", "UTF_16"])
def test_utf16_without_a_bom_is_read_when_named_plain_utf16(
    tmp_path: Path, written: str, named: str
) -> None:
    """No BOM says which byte order: the zero bytes do (little-endian if they cannot)."""
    rows = message_rows(3)
    lines = ["user_id\ttext\turl", *("\t".join(row) for row in rows)]
    path = tmp_path / "nobom.txt"
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode(written))
    result = run("validate", str(path), "-o", "v.csv", "--encoding", named)
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in read_results(Path("v.csv"))] == [row[1] for row in rows]


def test_mac_headers_match_options_and_placeholders_typed_elsewhere(tmp_path: Path) -> None:
    import unicodedata

    nfd = unicodedata.normalize("NFD", "tên khách")
    path = write_csv(
        tmp_path / "mac.csv",
        [["7800378501923859642", "chị Lan", "https://x.vn/a.jpg"]],
        header=["user_id", nfd, "url"],
    )
    by_column = run("validate", str(path), "--text-column", "tên khách")
    assert by_column.exit_code == 0, by_column.output
    templated = run("validate", str(path), "--template", "Chào {tên khách}", "-o", "v.csv")
    assert templated.exit_code == 0, templated.output
    (row,) = read_results(Path("v.csv"))
    assert row["sent_text"] == "Chào chị Lan"
    assert nfd in row  # the input's own header is kept as written


def test_result_csv_keeps_the_inputs_bom(tmp_path: Path, esms: RunningSimulator) -> None:
    with_bom = write_csv(tmp_path / "bom.csv", message_rows(2), encoding="utf-8-sig")
    without = write_csv(tmp_path / "plain.csv", message_rows(2, start=5))
    assert run("send", str(with_bom), "-o", "r1.csv", *esms.args).exit_code == 0
    assert run("send", str(without), "-o", "r2.csv", *esms.args).exit_code == 0
    assert run("validate", str(with_bom), "-o", "v1.csv").exit_code == 0
    again = write_csv(tmp_path / "again.csv", message_rows(2, start=10))
    assert run("send", str(again), "-o", "r3.csv", "--excel", *esms.args).exit_code == 0
    assert Path("r1.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert Path("v1.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not Path("r2.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert Path("r3.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def _csv_bytes(rows: list[list[str]]) -> bytes:
    import csv
    import io

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([["user_id", "text", "url"], *rows])
    return text.getvalue().encode()


def test_a_sheet_from_stdin_is_validated_and_sent_once(esms: RunningSimulator) -> None:
    data = _csv_bytes(message_rows(3))
    runner = CliRunner()
    checked = runner.invoke(cli, ["validate", "-", "-o", "v.csv"], input=data)
    assert checked.exit_code == 0, checked.output
    assert len(read_results(Path("v.csv"))) == 3

    refused = runner.invoke(cli, ["send", "-", "-o", "r.csv", *esms.args], input=data)
    assert refused.exit_code == 2
    assert "is a pipe: pass --campaign-id" in refused.stderr
    args = ["send", "-", "-o", "r.csv", "--campaign-id", "thang12", *esms.args]
    for _ in range(2):  # the rerun continues the campaign: nobody messaged twice
        sent = runner.invoke(cli, args, input=data)
        assert sent.exit_code == 0, sent.output
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 3
    assert esms.stats()["accepted"] == 3


def test_a_fifo_and_errors_name_the_input_as_given(tmp_path: Path) -> None:
    import gc
    import os
    import tempfile
    import threading

    copies = Path(tempfile.gettempdir()).glob
    before = set(copies("batch-sender-input-*"))
    fifo = tmp_path / "sheet.fifo"
    os.mkfifo(fifo)
    data = _csv_bytes([*message_rows(2), ["1", "2", "3", "4"]])
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    result = run("validate", str(fifo))
    writer.join(timeout=10)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {fifo}: line 4: this row has 4 fields but the header has 3; "
        "quote cells that contain the delimiter\n"
    )
    del result  # its traceback holds the table
    gc.collect()  # the copy lives as long as its table, and no longer
    assert set(copies("batch-sender-input-*")) <= before


def test_a_sheet_from_stdin_is_named_as_given_everywhere(
    esms: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Never the private copy's /tmp/batch-sender-input-... name the user never typed."""
    runner = CliRunner()
    empty = runner.invoke(cli, ["validate", "-"], input=b"user_id,text,url\n")
    assert empty.exit_code == 2
    assert empty.stderr == "Error: -: has a header but no rows\n"

    caplog.set_level("INFO", logger="batch_sender")
    args = ["send", "-", "-o", "r.csv", "--campaign-id", "thang12", "--summary-json", "s.json"]
    sent = runner.invoke(cli, [*args, *esms.args], input=_csv_bytes(message_rows(2)))
    assert sent.exit_code == 0, sent.output
    assert json.loads(Path("s.json").read_text(encoding="utf-8"))["input"] == "-"
    logged = [r.getMessage() for r in caplog.records]
    assert "-: 2 rows: 2 accepted" in logged, logged
    assert "batch-sender-input-" not in sent.output + "".join(logged)

    mine = "7000000000000000001"
    invalid = b"user_id,text,url\nx,,\n"
    test = runner.invoke(cli, [*args, "--test-to", mine, *esms.args], input=invalid)
    assert test.exit_code == 2
    assert test.stderr == "Error: -: no valid row to send as a test message\n"


def _workbook_with_row_3(path: Path, row_3: bytes, default_height: bytes = b"15") -> None:
    """openpyxl's workbook of four messages, line 3's <row> tag and the default height as given.

    openpyxl cannot write every row a generator writes: `height = 0` comes out
    as customHeight="1" with no ht at all.
    """
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["user_id", "text", "url"])
    for row in message_rows(4):
        sheet.append(row)
    sheet.row_dimensions[3].height = 0
    written = path.with_suffix(".openpyxl.xlsx")
    book.save(written)
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(path, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<row r="3" customHeight="1">' in data  # what openpyxl writes
                data = data.replace(b'<row r="3" customHeight="1">', row_3)
                data = data.replace(
                    b'defaultRowHeight="15"', b'defaultRowHeight="' + default_height + b'"'
                )
            out.writestr(item.filename, data)


@pytest.mark.parametrize(
    ("row_3", "default_height", "hidden"),
    [
        (b'<row r="3" ht="0" customHeight="1">', b"15", True),
        (b'<row r="3" ht="0">', b"15", True),
        (b'<row r="3" customHeight="1">', b"15", False),  # openpyxl's height = 0
        (b'<row r="3" customHeight="1">', b"0", True),
        (b'<row r="3" ht="20" customHeight="1">', b"0", False),
        (b'<row r="3">', b"0", False),
    ],
)
def test_a_row_without_a_height_has_the_sheets_default_height(
    tmp_path: Path, row_3: bytes, default_height: bytes, hidden: bool
) -> None:
    """Under ECMA-376 a row's height is its ht, else the sheet's default (as Excel shows it)."""
    path = tmp_path / "c.xlsx"
    _workbook_with_row_3(path, row_3, default_height)
    assert hidden_rows(path, "xlsx", "Sheet") == (frozenset({3}) if hidden else frozenset())


def test_a_visible_row_marked_custom_height_is_sent(tmp_path: Path, esms: RunningSimulator) -> None:
    """A generator marking every row customHeight with no ht: no row is refused as hidden."""
    _workbook_with_row_3(tmp_path / "c.xlsx", b'<row r="3" customHeight="1">')
    sent = run("send", "c.xlsx", "-o", "r.csv", *esms.args)
    assert sent.exit_code == 0, sent.output
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 4


def test_a_row_of_height_zero_is_a_hidden_row(tmp_path: Path, esms: RunningSimulator) -> None:
    """Excel shows nothing of a row 0 points high: it is not sent without a word."""
    _workbook_with_row_3(tmp_path / "c.xlsx", b'<row r="3" ht="0" customHeight="1">')
    refused = run("send", "c.xlsx", "-o", "r.csv", *esms.args)
    assert refused.exit_code == 2, refused.output
    assert "1 row is hidden" in refused.stderr or "rows are hidden" in refused.stderr
    assert "the first on line 3" in refused.stderr
    assert esms.stats()["requests"] == 0
    skipped = run("send", "c.xlsx", "-o", "r.csv", "--hidden-rows", "skip", *esms.args)
    assert skipped.exit_code == 0, skipped.output
    rows = read_results(Path("r.csv"))
    assert [r["status"] for r in rows] == ["accepted", "excluded", "accepted", "accepted"]
