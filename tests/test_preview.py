"""`preview`: the first messages as a follower sees them, and the rows left out; sends nothing."""

from __future__ import annotations

import html
import re
from pathlib import Path

from click.testing import CliRunner

from batch_sender.cli import cli

from .conftest import message_rows, write_csv

IMAGE = "https://cdn.example.vn/thang12.jpg"


def cards(page: str) -> list[tuple[str, str, str]]:
    """(who, image src, text) of each message card, unescaped."""
    found = re.findall(
        r"<p class=who>(.*?)</p><div class=bubble><img class=photo src=\"(.*?)\".*?"
        r"<div class=text>(.*?)</div>",
        page,
        re.DOTALL,
    )
    return [(html.unescape(a), html.unescape(b), html.unescape(c)) for a, b, c in found]


def test_first_n_personalised_messages_with_their_image_and_the_invalid_rows() -> None:
    rows = [[str(7800378501923859642 + i), f"Khách {i}"] for i in range(30)]
    rows[3] = ["12ab", "Lan"]
    rows[5] = [str(7800378501923859642 + 5), ""]
    write_csv(Path("k.csv"), rows, header=["User_ID", "ten"])
    result = CliRunner().invoke(
        cli,
        [
            "preview",
            "k.csv",
            "-o",
            "p.html",
            "--rows",
            "4",
            "--template",
            "Chào {ten},\nưu đãi <b>20%</b> & quà",
            "--image-url",
            IMAGE,
        ],
    )
    assert result.exit_code == 1, result.output
    assert "k.csv: 30 rows: 28 would be sent, 2 would not" in result.output
    page = Path("p.html").read_text("utf-8")
    shown = cards(page)
    assert [who for who, _, _ in shown] == [
        "line 2 · user_id 7800378501923859642",
        "line 3 · user_id 7800378501923859643",
        "line 4 · user_id 7800378501923859644",
        "line 6 · user_id 7800378501923859646",
    ]
    assert {src for _, src, _ in shown} == {IMAGE}
    assert shown[0][2] == "Chào Khách 0,\nưu đãi <b>20%</b> & quà"  # line break kept, escaped
    assert "<b>20%</b>" not in page  # cell text never becomes markup
    # The image comes before the text in each card; the page fetches no asset of its own.
    assert page.index("<img class=photo") < page.index("<div class=text>")
    assert "<script" not in page and "<link" not in page
    assert "2 rows would not be sent" in page
    assert re.search(r"<td class=n>5</td><td class=id>12ab</td>.*?user_id must be digits", page)
    assert re.search(r"<td class=n>7</td>.*?template placeholder \{ten\} is empty", page)


def test_url_column_and_defaults_and_hostile_cells() -> None:
    rows = message_rows(25)
    rows[0][1] = '"><script>alert(1)</script>'
    rows[1][2] = 'https://x.vn/a.jpg?"onerror="alert(1)'
    write_csv(Path("c.csv"), rows)
    result = CliRunner().invoke(cli, ["preview", "c.csv", "-o", "p.html"])
    assert result.exit_code == 0, result.output
    page = Path("p.html").read_text("utf-8")
    shown = cards(page)
    assert len(shown) == 20  # the default
    assert shown[0][2] == rows[0][1] and shown[1][1] == rows[1][2]
    assert "<script>" not in page and '"onerror="' not in page


def test_preview_needs_an_html_output_and_never_overwrites_the_input() -> None:
    write_csv(Path("c.csv"), message_rows(2))
    runner = CliRunner()
    assert runner.invoke(cli, ["preview", "c.csv", "-o", "p.csv"]).exit_code == 2
    missing = runner.invoke(cli, ["preview", "nope.csv", "-o", "p.html"])
    assert missing.exit_code == 2 and "nope.csv" in missing.output
    assert not Path("p.html").exists()
