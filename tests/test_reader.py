"""Reading: every cell text, every row its true line number, every bad file one clear error."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from batch_sender.errors import InputError
from batch_sender.sheet.reader import open_table
from batch_sender.sheet.source import LONG_NUMBER_IDS, Columns, Source

from .conftest import LONG_ID, write_csv


def read_all(path: Path, **kwargs: object) -> pd.DataFrame:
    table = open_table(Source(path=path, **kwargs))  # type: ignore[arg-type]
    chunks = list(table.chunks())
    return pd.concat(chunks) if chunks else pd.DataFrame()


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [[LONG_ID, "a, b; c | d", "https://x.vn/a.jpg"]],
        delimiter=delimiter,
    )
    frame = read_all(path)
    assert list(frame.loc[2]) == [LONG_ID, "a, b; c | d", "https://x.vn/a.jpg"]


def test_utf8_with_bom_reads_the_header_cleanly(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv", [[LONG_ID, "Chào bạn", "https://x.vn/a.jpg"]], encoding="utf-8-sig"
    )
    frame = read_all(path)
    assert list(frame.columns) == ["user_id", "text", "url"]
    assert frame.loc[2, "text"] == "Chào bạn"


def test_quoted_line_breaks_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "user_id,text,url\n"
        '1,"first\nsecond",https://x.vn/a.jpg\n'
        "\n"
        "2,b,https://x.vn/b.jpg\n"
        ",,\n"
        "3,c,https://x.vn/c.jpg\n",
        encoding="utf-8",
    )
    frame = read_all(path)
    # Lines as Excel numbers them: a multi-line cell is one row, blank rows count.
    assert frame.index.tolist() == [2, 4, 6]
    assert frame["user_id"].tolist() == ["1", "2", "3"]
    assert frame.loc[2, "text"] == "first\nsecond"


def test_long_ids_stay_exact_text(tmp_path: Path) -> None:
    ids = [LONG_ID, "31215806834323092", "0012345", "99999999999999999999"]
    path = write_csv(tmp_path / "in.csv", [[i, "t", "https://x.vn/a.jpg"] for i in ids])
    assert read_all(path)["user_id"].tolist() == ids


def test_chunks_carry_on_line_numbers(tmp_path: Path) -> None:
    rows = [[str(i), "t", "https://x.vn/a.jpg"] for i in range(25)]
    path = write_csv(tmp_path / "in.csv", rows)
    table = open_table(Source(path=path, chunk_rows=10))
    chunks = list(table.chunks())
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert pd.concat(chunks).index.tolist() == list(range(2, 27))


def test_other_column_names_are_mapped(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv", [["1", "t", "https://x.vn/a.jpg"]], header=["zalo_id", "msg", "img"]
    )
    table = open_table(Source(path=path, columns=Columns("zalo_id", "msg", "img")))
    assert table.fields == {"user_id": 0, "text": 1, "url": 2}


def test_a_missing_column_is_named_as_a_python_caller_passes_it(tmp_path: Path) -> None:
    # The CLI's wording of the same error: test_cli.test_missing_column_exits_2_with_one_line.
    path = write_csv(tmp_path / "in.csv", [["1", "t", "x"]], header=["user_id", "text", "link"])
    with pytest.raises(InputError) as err:
        open_table(Source(path=path))
    assert (err.value.path, err.value.line, err.value.column) == (path, 1, None)
    assert str(err.value) == (
        f"{path}: line 1: missing column 'url' (url_column); "
        "columns found: 'user_id', 'text', 'link'"
    )


def test_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"user_id,text,url\n1,ok,https://x.vn/a.jpg\n"
        + "2,Chào,https://x.vn/b.jpg\n".encode("cp1258")
    )
    with pytest.raises(InputError) as err:
        list(open_table(Source(path=path)).chunks())
    assert str(err.value).startswith(f"{path}: line 3, column 5: not valid UTF-8")
    assert "--encoding cp1258" in err.value.cli_message
    assert "encoding cp1258" in str(err.value) and "--" not in str(err.value)


def test_encoding_option_reads_legacy_files(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [["1", "Chào", "https://x.vn/a.jpg"]], encoding="cp1258")
    assert read_all(path, encoding="cp1258").loc[2, "text"] == "Chào"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        open_table(Source(path=path))


def test_too_many_fields_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("user_id,text,url\n1,a,https://x.vn/a.jpg\n2,a,b,c\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        list(open_table(Source(path=path)).chunks())
    assert str(err.value) == (
        f"{path}: line 3: this row has 4 fields but the header has 3; "
        "quote cells that contain the delimiter"
    )


def test_every_row_with_an_extra_field_is_an_error_not_a_shift(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "user_id,text,url\n1,Chào, bạn,https://x.vn/a.jpg\n2,Hi, you,https://x.vn/b.jpg\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        list(open_table(Source(path=path)).chunks())
    assert str(err.value) == (
        f"{path}: line 2: this row has more fields than the header's 3; "
        "quote cells that contain the delimiter"
    )


def _xlsx(path: Path, rows: list[list[object]], title: str | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.title = title
    sheet.append(["user_id", "text", "url"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_text_ids_stay_exact_and_blank_rows_keep_numbers(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "in.xlsx",
        [[LONG_ID, "Chào", "https://x.vn/a.jpg"], [None, None, None], ["42", "b", "u"]],
    )
    frame = read_all(path)
    assert frame.index.tolist() == [2, 4]
    assert frame.loc[2, "user_id"] == LONG_ID
    assert frame.loc[4, "user_id"] == "42"


def test_xlsx_number_cells_over_15_digits_are_flagged(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "in.xlsx",
        [[int(LONG_ID), "a", "u"], [float(LONG_ID), "b", "u"], [31215806834323, "c", "u"]],
    )
    table = open_table(Source(path=path))
    (chunk,) = list(table.chunks())
    assert chunk.attrs[LONG_NUMBER_IDS] == frozenset({2, 3})
    # A rounded float is shown as Excel shows it, never as made-up digits.
    assert chunk.loc[3, "user_id"] == "7.80037850192386E+18"
    assert chunk.loc[4, "user_id"] == "31215806834323"


def test_xlsx_sheet_option(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "in.xlsx", [["1", "a", "u"]], title="Tháng 12")
    assert read_all(path, sheet="Tháng 12").loc[2, "user_id"] == "1"
    with pytest.raises(InputError, match=r"no sheet named 'Khác'; sheets: 'Tháng 12'"):
        open_table(Source(path=path, sheet="Khác"))


def test_xlsx_value_beyond_the_header_is_an_error(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "in.xlsx", [["1", "a", "u"], ["2", "b", "u", "note in D"]])
    with pytest.raises(InputError) as err:
        list(open_table(Source(path=path)).chunks())
    assert str(err.value) == (
        f"{path}: line 3: this row has a value beyond the header's 3 columns (column 4); "
        "give that column a header"
    )


def test_xlsx_with_a_wrong_dimension_tag_is_read_whole(tmp_path: Path) -> None:
    good = _xlsx(tmp_path / "good.xlsx", [[LONG_ID, "a", "https://x.vn/a.jpg"]])
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1"/>', data)
            dst.writestr(item, data)
    assert list(read_all(bad).loc[2]) == [LONG_ID, "a", "https://x.vn/a.jpg"]


def test_a_damaged_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    path.write_bytes(b"PK\x03\x04 the rest of the zip is lost")
    with pytest.raises(InputError, match="cannot open as an XLSX workbook"):
        open_table(Source(path=path))
