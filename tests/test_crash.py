"""A bug is exit 70 with one line naming a file of details: never exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.exit_codes import ExitCode

from .conftest import CREDENTIALS, RunningSimulator, message_rows, read_results, write_csv


def crash_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("batch-sender-crash-*.txt"))


def test_a_bug_in_validate_is_exit_70_with_the_details_in_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sheet = write_csv(tmp_path / "thang12.csv", message_rows(3))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("batch_sender.validate", broken)
    result = CliRunner().invoke(cli, ["validate", str(sheet)], catch_exceptions=False)

    assert result.exit_code == 70
    assert ExitCode.INTERNAL.value == 70
    [details] = crash_files(tmp_path)
    lines = result.output.strip().splitlines()
    assert lines == [
        "Error: internal error (a bug in batch-sender): ZeroDivisionError: division by zero; "
        f"details in {details}. What was recorded stays recorded: the same command is safe "
        "to rerun."
    ]
    assert "Traceback" not in result.output
    text = details.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text


def test_a_bug_after_the_messages_went_keeps_them_recorded_and_the_rerun_sends_nobody_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, esms: RunningSimulator
) -> None:
    monkeypatch.chdir(tmp_path)
    sheet = write_csv(tmp_path / "thang12.csv", message_rows(5))
    args = ["send", str(sheet), "-o", "r.csv", "--base-url", esms.url, *CREDENTIALS]
    secret = CREDENTIALS[CREDENTIALS.index("--secret-key") + 1]

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError(f"a bug that mentions the key {secret}")

    with monkeypatch.context() as patch:
        patch.setattr("batch_sender.api.campaign.output_rows", broken)
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 70, result.output
    [details] = crash_files(tmp_path)  # beside the result file and its journal
    assert secret not in result.output and secret not in details.read_text()
    assert esms.stats()["accepted"] == 5

    rerun = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert rerun.exit_code == 0, rerun.output
    assert [r["status"] for r in read_results(tmp_path / "r.csv")] == ["accepted"] * 5
    assert esms.stats()["accepted"] == 5  # nobody messaged twice
