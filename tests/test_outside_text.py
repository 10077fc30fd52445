"""Text from outside (eSMS's answers, callbacks) is stored and shown safely.

A lone surrogate (valid JSON: "\\ud800") that UTF-8 refuses, and the account's
keys echoed back by a server that reflects the request.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.esms.client import post_json

from .conftest import RunningSimulator, message_rows, read_results, write_csv
from .test_bad_day import _read_any
from .test_delivery import hostile_client


def _answering(esms: RunningSimulator, answer: Any) -> None:
    def install() -> None:
        esms.simulator._accept = answer  # type: ignore[method-assign]

    esms.call(install)


def test_a_lone_surrogate_in_error_message_is_stored_replaced(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    _answering(esms, lambda _body: {"CodeResult": "146", "ErrorMessage": "bad \ud800 thing"})
    args = ["send", str(path), "-o", "r.csv", "--rate", "0", "--max-attempts", "1", *esms.args]
    for _run in range(2):  # the rerun replays the answer log
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        rows = read_results(Path("r.csv"))
        assert [r["ErrorMessage"] for r in rows] == ["bad \ufffd thing"] * 3
        assert "Traceback" not in result.output


def test_keys_a_server_echoes_back_are_never_stored_or_shown(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    _answering(esms, lambda body: {"CodeResult": "99", "ErrorMessage": f"bad request: {body}"})
    args = ["send", str(path), "-o", "r.csv", "--rate", "0", "--max-attempts", "1", *esms.args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    keys = [esms.args[i + 1] for i, a in enumerate(esms.args) if a in ("--api-key", "--secret-key")]
    assert len(keys) == 2
    text = Path("r.csv").read_text() + result.output
    assert "bad request: {'ApiKey': '***', 'SecretKey': '***'" in text
    assert not any(key in text for key in keys)


async def test_a_callback_with_a_lone_surrogate_poisons_no_later_report(tmp_path: Path) -> None:
    client, receiver = await hostile_client(tmp_path)
    url = "/esms/callback/s3cret-token"
    base = {"SendStatus": "5", "SendSuccess": "0", "SendFailed": "1", "TypeId": "25"}
    try:
        bad = {**base, "RequestId": "r1", "SMSID": "s1", "error_info": '"\\ud800"'}
        assert (await client.get(url, params=bad)).status == 200
        good = {**base, "RequestId": "r2", "SMSID": "s2", "error_info": "ok"}
        assert (await client.get(url, params=good)).status == 200
        stored = receiver.journal.deliveries.reported(["r1", "r2"])
        assert stored["r1"][:2] == ("failed", "\ufffd")
        assert stored["r2"][:2] == ("failed", "ok")
    finally:
        await client.close()
        receiver.journal.close()  # commits: nothing unstorable was queued


def test_control_characters_from_esms_and_the_sheet_fit_an_xlsx_result_file(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = message_rows(2)
    rows[0][1] = "Hi\x1b[31m there \x07bell \x1f"
    path = write_csv(tmp_path / "c.csv", rows)
    _answering(esms, lambda _body: {"CodeResult": "-1", "ErrorMessage": "+1-2\x1b[31m\ttab"})
    args = ["send", str(path), "-o", "r.xlsx", "--rate", "0", "--max-attempts", "1", *esms.args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    got = _read_any(Path("r.xlsx"))
    # a leading "+" is made inert (a spreadsheet runs it as a formula); control characters stay
    assert [r["ErrorMessage"] for r in got] == ["'+1-2\x1b[31m\ttab"] * 2
    assert got[0]["text"] == rows[0][1]  # the user's text, as they wrote it

    validated = CliRunner().invoke(cli, ["validate", str(path), "-o", "v.xlsx"])
    assert validated.exit_code == 0, validated.output
    assert _read_any(Path("v.xlsx"))[0]["text"] == rows[0][1]


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "c.csv", "-o", "v.csv"],
        ["validate", "c.csv", "-o", "v.xlsx"],
        ["validate", "c.csv", "--summary-json", "v.json"],
        ["preview", "c.csv", "-o", "v.html"],
    ],
)
def test_a_full_disk_is_one_line_naming_the_file_and_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    write_csv(tmp_path / "c.csv", message_rows(3))
    target = command[-1]

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)  # the last step of every atomic write
    monkeypatch.setattr(Path, "replace", full)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 3, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot write {target}: No space left on device; free space and rerun"
    )
    assert "Traceback" not in result.output
    assert sorted(p.name for p in Path().iterdir()) == ["c.csv"]


@pytest.mark.parametrize("closed", [2, 1])
def test_a_closed_stderr_or_stdout_changes_neither_exit_status_nor_files(
    tmp_path: Path, closed: int
) -> None:
    write_csv(tmp_path / "c.csv", message_rows(3))
    command = ["send", "c.csv", "-o", "r.csv", "--simulate", "--rate", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "batch_sender", *command, "--summary-json", "s.json"],
        preexec_fn=lambda: os.close(closed),  # as `2>&-` does
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 3
    assert Path("s.json").exists()


async def test_keys_echoed_by_any_endpoint_never_reach_the_caller() -> None:
    """Balance, GetListZOA, GetCallback, QueryListUID: one place strips the keys."""
    url = "http://127.0.0.1:9/MainService.svc/json/GetBalance_json"
    body = {"ApiKey": "AK-123456", "SecretKey": "SK-654321"}
    echoed = {"CodeResponse": "99", "ErrorMessage": f"bad request: {body}"}
    with aioresponses() as mocked:
        mocked.post(url, payload=echoed)
        async with aiohttp.ClientSession() as session:
            data = await post_json(session, url, body, 5.0)
    assert data["ErrorMessage"] == "bad request: {'ApiKey': '***', 'SecretKey': '***'}"
