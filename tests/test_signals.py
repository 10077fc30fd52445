"""Signals end a send the way Ctrl-C does: in-flight rows recorded, result file whole, exit 130."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CREDENTIALS, message_rows, read_results, write_csv
from .test_integration import send_process, stats_of, wait_until


@pytest.mark.slow
def test_sighup_mid_send_records_every_accepted_row_and_exits_130(
    tmp_path: Path, simulator_process: str
) -> None:
    rows = message_rows(300)
    path = write_csv(tmp_path / "c.csv", rows)
    process = send_process(path, simulator_process)
    wait_until(lambda: stats_of(simulator_process)["requests"] >= 40)
    process.send_signal(signal.SIGHUP)  # the SSH session closed
    _, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert "Interrupted: rerun the same command to continue." in err
    results = read_results(Path("r.csv"))
    stats = stats_of(simulator_process)
    accepted = [r for r in results if r["status"] == "accepted"]
    assert {r["status"] for r in results} == {"accepted", "unsent"}
    assert len(accepted) == stats["accepted"]
    for row in accepted:  # every answer that came back was recorded, SMSID included
        assert row["SMSID"] == stats["messages"][row["RequestId"]]["SMSID"] != ""


# The send, with the result-file writer slowed down and announcing itself, so that a
# signal lands while the file is being written (a large input would do the same, slowly).
# Chunks are written as their rows are done: the last one (line 31), once every row is.
SLOW_WRITE = """
import sys, time
from pathlib import Path
import batch_sender.results.files as files
write = files.CsvWriter.write
def slow_write(self, rows):
    write(self, rows)
    if int(rows["row"].iloc[-1]) == 31 and not Path("writing").exists():
        Path("writing").touch()
        time.sleep(1.0)
files.CsvWriter.write = slow_write
from batch_sender.cli import main
sys.argv = ["batch-sender", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_the_result_file_is_written_lets_it_finish_then_exits_130(
    tmp_path: Path, simulator_process: str, sig: signal.Signals
) -> None:
    rows = message_rows(30)
    path = write_csv(tmp_path / "c.csv", rows)
    args = ["send", str(path), "-o", "r.csv", "--base-url", simulator_process, *CREDENTIALS]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITE, *args, "--rate", "0", "--chunk-rows", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: Path("writing").exists())
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert "Interrupted: rerun the same command to continue." in err
    assert "results: r.csv" in out
    results = read_results(Path("r.csv"))
    assert [r["user_id"] for r in results] == [row[0] for row in rows]
    assert {r["status"] for r in results} == {"accepted"}
    assert not list(Path().glob(".r.csv.*.tmp"))
