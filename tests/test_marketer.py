"""A marketer's campaign: one image for all, what was sent, column names as exported, help."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli

from .conftest import RunningSimulator, read_results, write_csv

IMAGE = "https://cdn.example.vn/thang12.jpg"


def test_image_url_gives_every_row_the_same_photo(esms: RunningSimulator) -> None:
    write_csv(
        Path("a.csv"),
        [["7800378501923859642", "Chào"], ["7800378501923859643", "Hi"]],
        header=["user_id", "text"],
    )
    result = CliRunner().invoke(
        cli, ["send", "a.csv", "-o", "r.csv", "--image-url", IMAGE, *esms.args]
    )
    assert result.exit_code == 0, result.output
    assert {m.url for m in esms.simulator.accepted.values()} == {IMAGE}
    assert len(esms.simulator.accepted) == 2


def test_image_url_wins_over_a_url_column_and_is_checked_once() -> None:
    write_csv(Path("a.csv"), [["7800378501923859642", "Chào", "not a url"]])
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", "a.csv", "--image-url", IMAGE])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli, ["validate", "a.csv", "--image-url", "https://x.vn/a.webp"])
    assert bad.exit_code == 2
    assert bad.output.startswith("Error: --image-url 'https://x.vn/a.webp' must point to a .jpg")


def test_sent_text_is_exactly_what_was_sent(esms: RunningSimulator) -> None:
    # Decomposed Vietnamese (as typed on a Mac) and a bare \n: sent as NFC with \r\n.
    name = "Nguye\u0302\u0303n"
    write_csv(
        Path("a.csv"),
        [["7800378501923859642", name, IMAGE], ["7800378501923859643", "", IMAGE]],
        header=["user_id", "ten", "url"],
    )
    result = CliRunner().invoke(
        cli, ["send", "a.csv", "-o", "r.csv", "--template", "Chào {ten},\nƯu đãi", *esms.args]
    )
    assert result.exit_code == 1, result.output
    rows = read_results(Path("r.csv"))
    sent = {m.user_id: m.text for m in esms.simulator.accepted.values()}
    assert rows[0]["sent_text"] == sent["7800378501923859642"] == "Chào Nguyễn,\r\nƯu đãi"
    assert rows[1]["status"] == "invalid" and rows[1]["sent_text"] == ""
    header = Path("r.csv").read_text("utf-8").splitlines()[0].split(",")
    assert header[:4] == ["user_id", "ten", "url", "sent_text"] and header[4] == "row"


def test_no_sent_text_without_a_template(esms: RunningSimulator) -> None:
    write_csv(Path("a.csv"), [["7800378501923859642", "Chào", IMAGE]])
    CliRunner().invoke(cli, ["send", "a.csv", "-o", "r.csv", *esms.args])
    assert "sent_text" not in read_results(Path("r.csv"))[0]


def test_column_names_match_whatever_their_case(esms: RunningSimulator) -> None:
    write_csv(
        Path("a.csv"), [["7800378501923859642", "Chào", IMAGE]], header=["User_ID", "Text", "URL"]
    )
    result = CliRunner().invoke(cli, ["send", "a.csv", "-o", "r.csv", *esms.args])
    assert result.exit_code == 0, result.output
    assert read_results(Path("r.csv"))[0]["User_ID"] == "7800378501923859642"


def test_two_columns_matching_but_for_case_is_exit_2_naming_both() -> None:
    write_csv(
        Path("a.csv"),
        [["7800378501923859642", "7800378501923859643", "Chào", IMAGE]],
        header=["User_ID", "USER_ID", "text", "url"],
    )
    result = CliRunner().invoke(cli, ["validate", "a.csv"])
    assert result.exit_code == 2
    assert "'User_ID' (column 1) and 'USER_ID' (column 2)" in result.output
    assert "line 1" in result.output and len(result.output.strip().splitlines()) == 1


def test_an_exact_name_wins_over_a_case_match() -> None:
    write_csv(
        Path("a.csv"),
        [["x", "7800378501923859643", "Chào", IMAGE]],
        header=["User_ID", "user_id", "text", "url"],
    )
    assert CliRunner().invoke(cli, ["validate", "a.csv"]).exit_code == 0


@pytest.mark.parametrize("name", ["tab", "TAB", "semicolon", "pipe", "comma", ";", "|", ","])
def test_delimiter_by_name(name: str) -> None:
    char = {"tab": "\t", "TAB": "\t", "semicolon": ";", "pipe": "|", "comma": ","}.get(name, name)
    write_csv(Path("a.csv"), [["7800378501923859642", "Chào", IMAGE]], delimiter=char)
    result = CliRunner().invoke(cli, ["validate", "a.csv", "--delimiter", name])
    assert result.exit_code == 0, result.output


def test_help_texts() -> None:
    runner = CliRunner()
    send = runner.invoke(cli, ["send", "--help"]).output
    assert "OUTPUT" not in send and "-o, --output RESULTS.csv" in send
    assert "\t" not in send and "[,|;|" not in send
    assert "comma, semicolon, tab or pipe" in send
    assert "Port to listen on" in runner.invoke(cli, ["callbacks", "--help"]).output
    status = " ".join(runner.invoke(cli, ["status", "--help"]).output.split())
    assert "Seconds to wait for each answer. [default: 30.0" in status


def test_validate_help_says_what_it_finds_and_check_images_what_it_takes() -> None:
    """A gif banner is sent; a duplicate is a follower's later row, not only an exact repeat."""
    validate = " ".join(CliRunner().invoke(cli, ["validate", "--help"]).output.split())
    assert "exact repeats" not in validate
    assert "a user_id already on an earlier row (duplicate" in validate
    assert "--exclude list (excluded)" in validate
    assert "status valid/invalid/duplicate/excluded" in validate
    assert "image/jpeg, image/png or image/gif, at most 1 MB" in validate


def test_the_shipped_thang12_sample_is_200_valid_rows() -> None:
    sample = Path(__file__).parent.parent / "samples" / "thang12.csv"
    result = CliRunner().invoke(cli, ["validate", str(sample)])
    assert result.exit_code == 0 and "thang12.csv: 200 rows: 200 valid" in result.output


def test_a_suppression_list_headed_in_another_case_is_read_as_a_table() -> None:
    write_csv(Path("a.csv"), [["7800378501923859642", "Chào", IMAGE], ["123", "Chào", IMAGE]])
    Path("ex.csv").write_text("User_ID\n7800378501923859642\n", "utf-8")
    result = CliRunner().invoke(cli, ["validate", "a.csv", "--exclude", "ex.csv", "-o", "v.csv"])
    rows = read_results(Path("v.csv"))
    assert [r["status"] for r in rows] == ["excluded", "valid"], result.output


def test_the_shipped_bad_samples_fail_as_the_readme_shows() -> None:
    samples = Path(__file__).parent.parent / "samples"
    runner = CliRunner()
    export = runner.invoke(cli, ["validate", str(samples / "export.csv")])
    assert export.exit_code == 2 and "missing column 'url' (--url-column)" in export.output
    legacy = runner.invoke(cli, ["validate", str(samples / "legacy.csv")])
    assert legacy.exit_code == 2 and "line 3, column 8: not valid UTF-8" in legacy.output
    fixed = runner.invoke(cli, ["validate", str(samples / "legacy.csv"), "--encoding", "cp1258"])
    assert fixed.exit_code == 0
