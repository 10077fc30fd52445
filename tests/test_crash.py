"""A bug is exit 70 with one line naming a file of details: never exit 1, never a traceback.

What was recorded stays recorded and the rerun is safe; the details file
holds the traceback but never the keys; the Python API raises instead.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import batch_sender
from batch_sender.cli import cli
from batch_sender.exit_codes import ExitCode
from batch_sender.journal.files import journal_path
from batch_sender.simulator.accounts import SIMULATOR_OAID
from batch_sender.simulator.config import SimulatorConfig

from .conftest import (
    CREDENTIALS,
    RunningSimulator,
    message_rows,
    read_results,
    simulator_running,
    write_csv,
)


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
        patch.setattr("batch_sender.api.chunks.output_rows", broken)
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 70, result.output
    [details] = crash_files(tmp_path)  # beside the result file and its journal
    assert secret not in result.output and secret not in details.read_text()
    assert esms.stats()["accepted"] == 5

    rerun = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert rerun.exit_code == 0, rerun.output
    assert [r["status"] for r in read_results(tmp_path / "r.csv")] == ["accepted"] * 5
    assert esms.stats()["accepted"] == 5  # nobody messaged twice


API_KEY = "AK-7f3c9e1b2d4a6f80"
SECRET_KEY = "SK-0b1c2d3e4f5a6b7c"
ROWS = 120
CRASH_AT = 40


class Bug(RuntimeError):
    """What a bug raises; its message carries the keys, as a careless one would."""


@contextlib.contextmanager
def _esms() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(seed=6, api_key=API_KEY, secret_key=SECRET_KEY)
    with simulator_running(config) as esms:
        yield esms


def _account(esms: RunningSimulator) -> list[str]:
    return ["--base-url", esms.url, "--api-key", API_KEY, "--secret-key", SECRET_KEY,
            "--oaid", SIMULATOR_OAID]  # fmt: skip


def _crash_on_row(monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    """The `at`-th message's request body cannot be built: a bug, in the middle of a send."""
    import batch_sender.esms.protocol as protocol

    real = protocol.send_body
    calls = 0

    def send_body(credentials: Any, message: Any, options: Any) -> dict[str, object]:
        nonlocal calls
        calls += 1
        if calls == at:
            raise Bug(f"cannot encode {credentials.api_key}/{credentials.secret_key}")
        return real(credentials, message, options)

    monkeypatch.setattr(protocol, "send_body", send_body)


def _assert_crash(result: Result, folder: Path) -> str:
    """Exit 70, one line on stderr naming the details file in `folder`: a traceback, no key."""
    assert result.exit_code == ExitCode.INTERNAL, result.output
    assert int(ExitCode.INTERNAL) == 70
    assert result.stderr.count("Error:") == 1, result.stderr
    last = result.stderr.splitlines()[-1]  # plan lines may come before it
    assert last.startswith("Error: internal error"), result.stderr
    [details] = crash_files(folder)
    assert details.name in last
    assert "Traceback" not in result.output
    text = details.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "Bug" in text
    for secret in (API_KEY, SECRET_KEY):
        assert secret not in text and secret not in result.output
    return text


def test_a_send_that_crashes_mid_run_exits_70_and_its_rerun_completes(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(ROWS))
    with _esms() as esms:
        command = ["send", str(source), "-o", "r.csv", "--rate", "0", "--concurrency", "4"]
        with pytest.MonkeyPatch.context() as bug:
            _crash_on_row(bug, CRASH_AT)
            crashed = CliRunner().invoke(cli, [*command, *_account(esms)])
        _assert_crash(crashed, tmp_path)  # beside the result file and its journal
        journal = journal_path(Path("r.csv"))
        first = esms.call(lambda: {r: a.smsid for r, a in esms.simulator.accepted.items()})
        assert 0 < len(first) < ROWS
        with contextlib.closing(sqlite3.connect(journal)) as db:
            kept = dict(db.execute("SELECT request_id, smsid FROM messages WHERE smsid != ''"))
        assert kept == first  # every SMSID so far recorded

        again = CliRunner().invoke(cli, [*command, *_account(esms)])
        assert again.exit_code == 0, again.output
        accepted = esms.call(lambda: {r: a.smsid for r, a in esms.simulator.accepted.items()})
        assert len(accepted) == ROWS  # each follower messaged once
        assert {r: s for r, s in accepted.items() if r in first} == first
        results = read_results(Path("r.csv"))
        assert {r["RequestId"]: r["SMSID"] for r in results} == accepted


def test_a_crash_in_callbacks_exits_70_with_details_beside_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import batch_sender.delivery.server as receiver

    async def serve_callbacks(*_args: Any, **_kwargs: Any) -> Any:
        raise Bug("a bug in the receiver")

    monkeypatch.setattr(receiver, "serve_callbacks", serve_callbacks)
    command = ["callbacks", "r.csv", "--port", "0", "--campaign-id", "c"]
    result = CliRunner().invoke(cli, command, env={"ESMS_SECRET_KEY": SECRET_KEY})
    _assert_crash(result, tmp_path)


def test_the_python_api_raises_the_crash_and_keeps_what_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(ROWS))
    with _esms() as esms:
        _crash_on_row(monkeypatch, CRASH_AT)
        with pytest.raises(Bug):
            batch_sender.send(
                source, "r.csv", base_url=esms.url, api_key=API_KEY, secret_key=SECRET_KEY,
                oaid=SIMULATOR_OAID, rate=0, concurrency=4,
            )  # fmt: skip
        accepted = esms.call(lambda: {r: a.smsid for r, a in esms.simulator.accepted.items()})
        results = {r["RequestId"]: r["SMSID"] for r in read_results(Path("r.csv"))}
        assert {r: results[r] for r in accepted} == accepted
        assert crash_files(tmp_path) == []  # the library writes no crash file


def test_exit_70_is_documented_in_help() -> None:
    assert "70 internal error" in CliRunner().invoke(cli, ["send", "--help"]).output


def test_the_details_never_hold_a_key_even_one_the_command_was_not_given() -> None:
    from batch_sender.cli.crash import redacted

    body = (
        "{'ApiKey': 'LEAKED-1', \"SecretKey\": \"LEAKED-2\", 'Phone': '0901'} secret_key=LEAKED-3"
    )
    text = redacted(f"Bug: {body} and {API_KEY}", [API_KEY])
    assert "LEAKED" not in text and API_KEY not in text
    assert "'Phone': '0901'" in text  # the rest stays readable
