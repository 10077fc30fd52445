"""Validation: every rule, every problem of a row reported, duplicates across chunks."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest

from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import ROUNDED_HINT, Validator
from batch_sender.sheet.source import LONG_NUMBER_IDS

from .conftest import LONG_ID

FIELDS = {"user_id": 0, "text": 1, "url": 2}
URL = "https://cdn.example.vn/banner.jpg"


def check(rows: list[tuple[str, str, str]], first_line: int = 2) -> pd.DataFrame:
    chunk = pd.DataFrame(
        rows,
        columns=["user_id", "text", "url"],
        index=range(first_line, first_line + len(rows)),
    )
    return Validator(Campaign("c"), FIELDS).check(chunk)


def error_of(user_id: str = LONG_ID, text: str = "Xin chào", url: str = URL) -> str:
    return str(check([(user_id, text, url)]).iloc[0]["ErrorMessage"])


def test_a_good_row_is_valid_with_a_request_id() -> None:
    row = check([(f"  {LONG_ID} ", "Xin chào", URL)]).iloc[0]
    assert row["status"] == "valid"
    assert row["ErrorMessage"] == ""
    assert row["user_id"] == LONG_ID  # trimmed for sending
    assert row["RequestId"].startswith("c-") and len(row["RequestId"]) <= 50


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("", "user_id is empty"),
        ("   ", "user_id is empty"),
        ("12a4", "user_id must be digits only: '12a4'"),
        # Arabic-Indic digits are not ASCII digits
        ("١٢٣", "user_id must be digits only: '١٢٣'"),
        ("-123", "user_id must be digits only: '-123'"),
        (
            "0912 345 678",
            "user_id must be digits only: '0912 345 678' looks like a phone number, "
            "not a Zalo user_id",
        ),
        (
            "+84 912.345.678",
            "user_id must be digits only: '+84 912.345.678' looks like a phone number, "
            "not a Zalo user_id",
        ),
        (
            "'6593",
            "user_id must be digits only: \"'6593\" starts with a ' (Excel's mark for "
            "text, typed into the cell)",
        ),
        ("12\x1b" + "4" * 60, "user_id must be digits only: '12\\x1b" + "4" * 36 + "…'"),
        ("1" * 21, "user_id has 21 digits, at most 20 are allowed"),
        ("7.80038E+18", f"user_id 7.80038E+18 is a number of more than 15 digits: {ROUNDED_HINT}"),
        ("7,80038E+18", f"user_id 7,80038E+18 is a number of more than 15 digits: {ROUNDED_HINT}"),
    ],
)
def test_user_id_rules(user_id: str, message: str) -> None:
    assert error_of(user_id=user_id) == message


def test_twenty_digits_is_the_limit() -> None:
    assert error_of(user_id="1" * 20) == ""


def test_xlsx_number_cell_is_invalid_with_the_rounding_hint() -> None:
    chunk = pd.DataFrame([(LONG_ID, "t", URL)], columns=["user_id", "text", "url"], index=[2])
    chunk.attrs[LONG_NUMBER_IDS] = frozenset({2})
    row = Validator(Campaign("c"), FIELDS).check(chunk).iloc[0]
    assert row["status"] == "invalid"
    assert ROUNDED_HINT in row["ErrorMessage"]


def test_text_rules() -> None:
    assert error_of(text="") == "text is empty"
    assert error_of(text=" \n ") == "text is empty"
    assert error_of(text="a" * 2000) == ""
    assert error_of(text="a" * 2001) == "text has 2,001 characters, at most 2,000 are allowed"


def test_text_is_counted_after_nfc() -> None:
    # Typed on a Mac, "ệ" arrives as e + two combining marks: 3 code points, 1 after NFC.
    decomposed = unicodedata.normalize("NFD", "ệ") * 1000
    assert len(decomposed) == 3000
    row = check([(LONG_ID, decomposed, URL)]).iloc[0]
    assert row["status"] == "valid"
    assert row["text"] == "ệ" * 1000


def test_line_breaks_are_sent_as_crlf() -> None:
    row = check([(LONG_ID, "một\nhai\r\nba\rbốn", URL)]).iloc[0]
    assert row["text"] == "một\r\nhai\r\nba\r\nbốn"


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.vn/a.jpg",
        "http://cdn.example.vn/a/b/c.JPEG",
        "https://cdn.example.vn:8443/a.png?v=3&size=large",
        "HTTPS://CDN.EXAMPLE.VN/A.PNG",
    ],
)
def test_good_urls(url: str) -> None:
    assert error_of(url=url) == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "url is empty"),
        ("cdn.example.vn/a.jpg", "url must be an absolute http:// or https:// address"),
        ("ftp://cdn.example.vn/a.jpg", "url must be an absolute http:// or https:// address"),
        ("https:///a.jpg", "url must be an absolute http:// or https:// address"),
        (
            "https://cdn.example.vn/a.webp",
            "url must point to a .jpg, .jpeg, .png or .gif image (a query string is allowed)",
        ),
        (
            "https://cdn.example.vn/a.jpg.html",
            "url must point to a .jpg, .jpeg, .png or .gif image (a query string is allowed)",
        ),
        (
            "https://cdn.example.vn/my banner.jpg",
            "url must point to a .jpg, .jpeg, .png or .gif image (a query string is allowed)",
        ),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    assert error_of(url=url) == message


def test_every_problem_of_a_row_is_reported() -> None:
    assert error_of(user_id="abc", text="", url="x") == (
        "user_id must be digits only: 'abc'; text is empty; "
        "url must be an absolute http:// or https:// address"
    )


def test_duplicates_are_found_across_chunks_and_normalisation() -> None:
    validator = Validator(Campaign("c"), FIELDS)
    first = pd.DataFrame([(LONG_ID, "Chào", URL)], columns=["user_id", "text", "url"], index=[2])
    again = pd.DataFrame(
        [(f" {LONG_ID}", unicodedata.normalize("NFD", "Chào"), URL), ("1", "Chào", URL)],
        columns=["user_id", "text", "url"],
        index=[3, 4],
    )
    assert validator.check(first)["status"].tolist() == ["valid"]
    second = validator.check(again)
    assert second["status"].tolist() == ["duplicate", "valid"]
    assert second.loc[3, "ErrorMessage"] == (
        "same user_id as line 2; one message per follower per campaign "
        "(--allow-repeats sends repeats on purpose)"
    )


def test_request_id_is_stable_and_depends_on_campaign_and_content() -> None:
    a = Campaign("thang-12").request_id(LONG_ID, "t", URL)
    assert a == Campaign("thang-12").request_id(LONG_ID, "t", URL)
    assert a != Campaign("thang-11").request_id(LONG_ID, "t", URL)
    assert a != Campaign("thang-12").request_id(LONG_ID, "t2", URL)
    long_name = Campaign("Khuyến mãi tháng 12 cho khách hàng thân thiết 2026")
    rid = long_name.request_id(LONG_ID, "t", URL)
    assert len(rid) <= 50
    assert rid.startswith("Khuy-n-m-i-th-ng-")


@pytest.mark.parametrize("max_run", [1 << 18, 64])
def test_seen_rows_finds_the_first_line_of_every_key_across_merged_runs(max_run: int) -> None:
    import numpy as np

    from batch_sender.check.seen import SeenRows

    rng = np.random.default_rng(7)
    seen, first = SeenRows(), dict[int, int]()
    seen.MAX_RUN = max_run
    line = 2
    for size in rng.integers(1, 400, size=60):
        keys = rng.integers(0, 3_000, size=size).astype(np.uint64)
        lines = np.arange(line, line + size, dtype=np.int64)
        line += int(size)
        expected = []
        for key, at in zip(keys.tolist(), lines.tolist(), strict=True):
            expected.append(first.setdefault(key, at))
        assert seen.first_lines(keys, lines).tolist() == expected
    assert len(seen.runs) < (8 if max_run > 3_000 else 3_000 // max_run + 8)  # merged as it goes
    assert all(len(keys) <= max(max_run, 400) for keys, _ in seen.runs)
    assert all(np.all(np.diff(keys.astype(np.int64)) > 0) for keys, _ in seen.runs)
