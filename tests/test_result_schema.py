"""The result file's schema: the same columns on every run, none of them twice."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from batch_sender import read_results as typed_results
from batch_sender.cli import cli
from batch_sender.results.rows import RESULT_COLUMNS

from .conftest import RunningSimulator, exit_code, message_rows, write_csv

OURS = ["sent_text", *RESULT_COLUMNS]


def _header(path: Path) -> list[str]:
    return path.read_text("utf-8-sig").splitlines()[0].split(",")


def test_an_input_column_named_like_a_result_column_is_refused_naming_it(
    esms: RunningSimulator,
) -> None:
    write_csv(
        Path("crm.csv"),
        [[*row, "VIP", "x"] for row in message_rows(2)],
        header=["user_id", "text", "url", "Status", "SMSID"],
    )
    for command in (["validate", "crm.csv"], ["send", "crm.csv", "-o", "r.csv", *esms.args]):
        result = CliRunner().invoke(cli, command)
        assert exit_code(result) == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error: crm.csv: line 1: ")
        assert "'Status' (column 4)" in lines[0] and "'SMSID' (column 5)" in lines[0]
        assert "rename" in lines[0] and "'input_status'" in lines[0]
    assert esms.stats()["accepted"] == 0
    assert not Path("r.csv").exists()


def test_a_result_file_fed_back_as_input_is_refused_saying_what_it_is(
    esms: RunningSimulator,
) -> None:
    write_csv(Path("c.csv"), message_rows(2))
    first = CliRunner().invoke(cli, ["send", "c.csv", "-o", "r.csv", *esms.args])
    assert exit_code(first) == 0, first.output
    again = CliRunner().invoke(cli, ["send", "r.csv", "-o", "r2.csv", *esms.args])
    assert exit_code(again) == 2, again.output
    line = again.output.strip()
    assert "\n" not in line
    assert line.startswith("Error: r.csv: line 1: this is a batch-sender result file")
    # How to continue that campaign, and how to start a new one from these rows.
    assert "send its own sheet with -o r.csv" in line
    assert "delete its last 11 columns" in line
    assert esms.stats()["accepted"] == 2
    assert not Path("r2.csv").exists()


def test_the_result_layout_is_the_same_on_every_run(esms: RunningSimulator) -> None:
    write_csv(Path("a.csv"), message_rows(3), header=["user_id", "text", "url"])
    write_csv(Path("b.csv"), message_rows(3, start=10), header=["user_id", "ten", "url"])
    runner = CliRunner()
    plain = runner.invoke(cli, ["send", "a.csv", "-o", "a-r.csv", "--limit", "2", *esms.args])
    assert exit_code(plain) == 1, plain.output
    templated = runner.invoke(
        cli, ["send", "b.csv", "-o", "b-r.csv", "--template", "Chào {ten}", *esms.args]
    )
    assert exit_code(templated) == 0, templated.output
    checked = runner.invoke(cli, ["validate", "a.csv", "-o", "a-v.csv"])
    assert exit_code(checked) == 0, checked.output
    assert _header(Path("a-r.csv")) == ["user_id", "text", "url", *OURS]
    assert _header(Path("b-r.csv")) == ["user_id", "ten", "url", *OURS]
    assert _header(Path("a-v.csv")) == ["user_id", "text", "url", *OURS]
    # A row changed after it was sent is kept from earlier: the layout stays.
    rows = message_rows(3)
    rows[0][1] = "Một nội dung khác"
    write_csv(Path("a.csv"), rows, header=["user_id", "text", "url"])
    rerun = runner.invoke(cli, ["send", "a.csv", "-o", "a-r.csv", *esms.args])
    assert exit_code(rerun) == 0, rerun.output
    assert _header(Path("a-r.csv")) == ["user_id", "text", "url", *OURS]
    results = typed_results("a-r.csv")
    assert list(results["sent_text"]) == [r[1] for r in message_rows(3)]
    assert list(results["status"]) == ["accepted"] * 3  # one column, not two
