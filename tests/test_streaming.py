"""Streaming: inputs larger than a chunk keep order, counts and line numbers; --help is light."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.sending.concurrency import Concurrency, Gate

from .conftest import RunningSimulator, message_rows, read_results


def test_send_across_many_chunks(tmp_path: Path, esms: RunningSimulator) -> None:
    # Chunks are sent and written as they are read: order, lines and duplicates hold across them.
    rows = message_rows(2_500)
    rows[1_700] = rows[300]  # a duplicate whose original is three chunks back
    rows[2_100][0] = "not-an-id"
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["user_id", "text", "url"])
        for i, row in enumerate(rows):
            if i % 1_000 == 999:
                f.write("\n")  # blank lines move every later row down one line
            writer.writerow(row)

    result = CliRunner().invoke(
        cli,
        ["send", str(path), "-o", "r.csv", "--chunk-rows", "400", "--rate", "0", *esms.args],
    )
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("big.csv: 2,500 rows: 2,498 accepted, 1 invalid, 1 duplicate")
    results = read_results(Path("r.csv"))
    expected_lines = [i + 2 + (i + 1) // 1_000 for i in range(2_500)]
    assert [int(r["row"]) for r in results] == expected_lines
    assert [r["user_id"] for r in results] == [row[0] for row in rows]
    assert results[1_700]["status"] == "duplicate"
    assert results[1_700]["ErrorMessage"] == (
        f"same user_id as line {expected_lines[300]}; one message per follower per campaign "
        "(--allow-repeats sends repeats on purpose)"
    )
    assert results[2_100]["status"] == "invalid"
    assert esms.stats()["accepted"] == 2_498


def _write_sheet(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["user_id", "text", "url"])
        writer.writerows(rows)


def test_a_test_batch_starts_before_the_sheet_is_read(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --limit 10 on a big sheet: the requests leave after the first chunk, not after all 30.
    from batch_sender.check.rules import Validator

    seen: list[int] = []
    check = Validator.check

    def counting_check(self: Validator, chunk: Any) -> Any:
        seen.append(esms.stats()["requests"])
        return check(self, chunk)

    monkeypatch.setattr(Validator, "check", counting_check)
    path = tmp_path / "big.csv"
    _write_sheet(path, message_rows(3_000))
    result = CliRunner().invoke(
        cli,
        ["send", str(path), "-o", "r.csv", "--chunk-rows", "100", "--limit", "10", *esms.args],
    )
    assert result.exit_code == 1, result.output  # unsent rows need attention
    assert len(seen) == 30
    assert seen[0] == 0 and seen[-1] == 10
    results = read_results(Path("r.csv"))
    assert len(results) == 3_000  # every row once, the unsent ones too
    assert [r["status"] for r in results].count("accepted") == 10
    assert "campaign 'big': 3,000 to send" in result.stderr


def test_a_bad_line_far_down_stops_the_send_and_a_rerun_finishes_it(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    rows = message_rows(1_000)
    path = tmp_path / "c.csv"
    _write_sheet(path, rows[:600])
    with path.open("a", encoding="utf-8") as f:
        f.write("1,two,three,four\n")  # line 602: a field more than the header
    with path.open("a", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows[600:])

    args = ["send", str(path), "-o", "r.csv", "--chunk-rows", "100", "--rate", "0", *esms.args]
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code == 2, bad.output
    # The plan line comes first (the sheet is sent as it is read); the error is one line.
    *plan, error = bad.stderr.strip().splitlines()
    assert [line.startswith("campaign 'c': sending while the sheet is read") for line in plan] == [
        True
    ]
    assert "Traceback" not in bad.stderr and error.startswith("Error: ")
    assert "line 602" in error and "rows before it were sent" in error
    assert not Path("r.csv").exists()  # never half a result file
    sent = esms.stats()["accepted"]
    assert 0 < sent <= 600

    _write_sheet(path, rows)
    fixed = CliRunner().invoke(cli, args)
    assert fixed.exit_code == 0, fixed.output
    assert f"{sent:,} done earlier, {1_000 - sent:,} to send" in fixed.stderr
    assert esms.stats()["accepted"] == 1_000  # each row accepted once
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 1_000


def test_a_row_that_hangs_holds_back_a_few_chunks_not_the_whole_sheet(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks are written in order: while line 2 waits for its answer, later chunks
    # wait too, and reading stops at MAX_PENDING of them instead of piling them up.
    import batch_sender.sending.sender as sender_module
    from batch_sender.api import chunks
    from batch_sender.esms import client

    send_message = client.send_message

    async def slow_first(session: Any, url: str, body: dict[str, Any], timeout: float) -> Any:
        if body["Payload"]["recipient"]["user_id"] == "7800378501923859642":
            await asyncio.sleep(1.0)
        return await send_message(session, url, body, timeout)

    held: list[int] = []
    next_chunk = chunks.SheetStream.next_chunk

    async def counting(self: Any) -> Any:
        held.append(len(self.pending))
        return await next_chunk(self)

    monkeypatch.setattr(sender_module, "send_message", slow_first)
    monkeypatch.setattr(chunks.SheetStream, "next_chunk", counting)
    path = tmp_path / "c.csv"
    _write_sheet(path, message_rows(300))
    result = CliRunner().invoke(
        cli, ["send", str(path), "-o", "r.csv", "--chunk-rows", "10", "--rate", "0", *esms.args]
    )
    assert result.exit_code == 0, result.output
    assert max(held) <= chunks.MAX_PENDING <= 8  # 30 chunks were read while line 2 waited
    assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 300
    assert esms.stats()["accepted"] == 300


def test_help_does_not_import_pandas_or_aiohttp() -> None:
    code = (
        "import sys\n"
        "from batch_sender.cli import main\n"
        "sys.argv = ['batch-sender', 'send', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pandas', 'aiohttp', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_validate_does_not_import_the_network_stack(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("user_id,text,url\n1,hi,https://a.vn/x.jpg\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from batch_sender.cli import main\n"
        f"sys.argv = ['batch-sender', 'validate', {str(path)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('aiohttp', 'asyncio', 'tenacity') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_auto_concurrency_follows_rate_and_latency() -> None:
    auto = Concurrency(rate=100)
    assert auto.limit() == 152  # before any answer: a second's worth, with headroom
    for _ in range(50):
        limit = auto.observe(0.2)
    assert limit == 32  # 100/s x 0.2 s x 1.5 + 2
    assert Concurrency(rate=10).observe(0.05) == 4  # never below 4
    assert Concurrency(rate=0).limit() == 16
    assert Concurrency(rate=100, fixed=7).observe(5.0) == 7


@pytest.mark.looptime
async def test_gate_is_fifo_and_follows_its_limit() -> None:
    gate = Gate(2)
    order: list[int] = []

    async def holder(n: int) -> None:
        await gate.acquire()
        order.append(n)
        await asyncio.sleep(1)
        gate.release()

    tasks = [asyncio.create_task(holder(n)) for n in range(6)]
    await asyncio.sleep(0.5)
    assert (gate.active, order) == (2, [0, 1])
    gate.set_limit(4)
    await asyncio.sleep(0)
    assert (gate.active, order) == (4, [0, 1, 2, 3])
    await asyncio.gather(*tasks)
    assert order == list(range(6)) and gate.active == 0


def _account(esms: RunningSimulator) -> dict[str, Any]:
    from batch_sender.options import Reading
    from batch_sender.simulator.accounts import (
        SIMULATOR_API_KEY,
        SIMULATOR_OAID,
        SIMULATOR_SECRET_KEY,
    )

    return {
        "api_key": SIMULATOR_API_KEY,
        "secret_key": SIMULATOR_SECRET_KEY,
        "oaid": SIMULATOR_OAID,
        "base_url": esms.url,
        "rate": 0,
        "reading": Reading(chunk_rows=5),
    }


def test_a_rerun_cancelled_while_it_reads_on_writes_every_row(
    tmp_path: Path, esms: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rerun reads past the rows done earlier before it sends; cancelled meanwhile (a
    # second signal, a scheduler's kill of the task), it keeps the chunk being read.
    import threading

    import batch_sender
    from batch_sender.api import chunks

    from .conftest import write_csv

    rows = message_rows(31)
    path = write_csv(tmp_path / "c.csv", rows[:30])
    output = tmp_path / "r.csv"
    assert batch_sender.send(path, output, **_account(esms)).exit_code == 0
    write_csv(path, rows)  # one row more, at the end
    real = chunks.SheetStream._read
    reads = 0

    async def rerun() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def read(sheet: chunks.SheetStream) -> Any:
            nonlocal reads
            reads += 1
            if reads == 3:  # cancelled while this chunk is being read
                cancelled = threading.Event()

                def cancel() -> None:
                    task.cancel()
                    cancelled.set()

                loop.call_soon_threadsafe(cancel)
                cancelled.wait(10)
            return real(sheet)

        monkeypatch.setattr(chunks.SheetStream, "_read", read)
        await batch_sender.send_async(path, output, **_account(esms))

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(rerun())
    results = read_results(output)
    assert [r["user_id"] for r in results] == [row[0] for row in rows]
    assert [r["status"] for r in results] == ["accepted"] * 30 + ["unsent"]
    assert "interrupted" in results[-1]["ErrorMessage"]
    assert esms.stats()["requests"] == 30


def test_a_callback_that_fails_while_a_rerun_reads_on_is_the_run_s_error(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    # Not taken for a failed result file: the file is written whole, the error told.
    import batch_sender

    from .conftest import write_csv

    path = write_csv(tmp_path / "c.csv", message_rows(30))
    output = tmp_path / "r.csv"
    assert batch_sender.send(path, output, **_account(esms)).exit_code == 0
    written = output.stat().st_mtime_ns

    def on_info(line: str) -> None:
        if "done earlier" in line:
            raise OSError(5, "Input/output error")

    report = batch_sender.send(path, output, on_info=on_info, **_account(esms))
    assert report.exit_code == 3
    assert report.stopped is not None and "OSError" in str(report.stopped)
    assert output.stat().st_mtime_ns != written
    assert [r["status"] for r in read_results(output)] == ["accepted"] * 30
