"""A name too long for the folder is refused before anything is sent or written.

A file name holds at most 255 bytes, and Vietnamese letters take two or
three bytes each in UTF-8: a 90-letter campaign name can be too long once
the journal's own suffixes are added. Every file a command will create is
checked first: one line naming it, exit 2, nothing sent, nothing left.
An output that is a pipe, a device or a link is written into, never replaced.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batch_sender.cli import cli
from batch_sender.simulator.config import SimulatorConfig

from .conftest import CREDENTIALS, message_rows, simulator_running, write_csv

LONGEST_SUFFIX = len(".journal.sqlite-intents-1")
"""The longest name send adds to its result file's (the journal's second log)."""


def vietnamese_name(size: int, suffix: str = ".csv") -> str:
    """A file name of exactly `size` bytes in UTF-8, in Vietnamese."""
    words = "Chiến dịch khuyến mãi tháng mười hai cho khách hàng thân thiết ở Hà Nội "
    name = ""
    for char in words * 10:
        if len((name + char + suffix).encode()) > size:
            break
        name += char
    name += "x" * (size - len((name + suffix).encode()))
    assert len((name + suffix).encode()) == size
    return name + suffix


def _refused(result: Result, name: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    assert name in result.stderr and "too long" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("size", [231, 240, 246, 250, 254])
def test_send_refuses_a_result_name_whose_files_would_not_fit(tmp_path: Path, size: int) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    name = vietnamese_name(size)
    with simulator_running(SimulatorConfig(seed=1)) as esms:
        command = ["send", str(source), "-o", name, "--rate", "0", *esms.args]
        result = CliRunner().invoke(cli, command)
        _refused(result, name)
        assert esms.stats()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]  # no journal left behind


def test_send_takes_the_longest_name_that_fits(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    name = vietnamese_name(255 - LONGEST_SUFFIX)
    with simulator_running(SimulatorConfig(seed=1)) as esms:
        result = CliRunner().invoke(
            cli, ["send", str(source), "-o", name, "--rate", "0", *esms.args]
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / name).exists()


@pytest.mark.parametrize("option", ["--summary-json"])
def test_send_refuses_a_side_file_name_too_long_before_sending(tmp_path: Path, option: str) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    name = vietnamese_name(250, ".json")
    with simulator_running(SimulatorConfig(seed=1)) as esms:
        command = ["send", str(source), "-o", "r.csv", option, name, *esms.args]
        _refused(CliRunner().invoke(cli, command), name)
        assert esms.stats()["requests"] == 0


def test_validate_refuses_a_report_name_too_long(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    name = vietnamese_name(246)  # its temporary file would be 260 bytes
    _refused(CliRunner().invoke(cli, ["validate", str(source), "-o", name]), name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]


def test_preview_and_audience_refuse_a_name_too_long(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    page = vietnamese_name(250, ".html")
    _refused(CliRunner().invoke(cli, ["preview", str(source), "-o", page]), page)
    audience = vietnamese_name(250)
    dates = ["--from", "2026-11-01", "--to", "2026-11-30", "--simulate"]
    _refused(CliRunner().invoke(cli, ["audience", "-o", audience, *dates]), audience)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]


def test_callbacks_refuse_a_campaign_whose_journal_files_would_not_fit(tmp_path: Path) -> None:
    """A journal name that fits, but not its -wal: SQLite would fail later, as a full disk."""
    name = vietnamese_name(238)
    result = CliRunner().invoke(cli, ["callbacks", name, "--port", "0", "--campaign-id", "c"])
    _refused(result, name)
    assert list(tmp_path.iterdir()) == []


def test_report_and_status_refuse_a_side_file_or_a_campaign_name_too_long(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    with simulator_running(SimulatorConfig(seed=1)) as esms:
        command = ["send", str(source), "-o", "r.csv", "--rate", "0", *esms.args]
        assert CliRunner().invoke(cli, command).exit_code == 0
        html = vietnamese_name(250, ".html")
        _refused(CliRunner().invoke(cli, ["report", "r.csv", "--html", html]), html)
        ids = vietnamese_name(254, ".txt")
        _refused(CliRunner().invoke(cli, ["report", "r.csv", "--failed-ids", ids]), ids)
        # A result file renamed to a long name: its journal's files would not fit.
        long = vietnamese_name(236)
        for old in tmp_path.glob("r.csv*"):
            if old.name in ("r.csv", "r.csv.journal.sqlite"):
                old.rename(tmp_path / (long + old.name.removeprefix("r.csv")))
            else:
                old.unlink()  # its empty logs, whose names would not fit any more
        status = ["status", long, "--status-base-url", esms.url, *CREDENTIALS]
        _refused(CliRunner().invoke(cli, status), long)
        _refused(CliRunner().invoke(cli, ["report", long]), long)


def test_send_test_to_refuses_a_name_its_test_journal_would_not_fit(tmp_path: Path) -> None:
    """The test messages' journal (RESULTS.test-sends.sqlite and its logs) is checked too."""
    source = write_csv(tmp_path / "c.csv", message_rows(3))
    name = vietnamese_name(255 - LONGEST_SUFFIX)  # the campaign's own files fit
    with simulator_running(SimulatorConfig(seed=1)) as esms:
        command = ["send", str(source), "-o", name, "--test-to", "7000000000000000001", *esms.args]
        _refused(CliRunner().invoke(cli, command), name)
        assert esms.stats()["requests"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]  # no journal left behind


# --- an output that is a stream: written into, never replaced -----------------------------


def _fifo_read(path: Path) -> tuple[int, Callable[[], bytes]]:
    """A FIFO at `path` with its reader already open (so a writer never blocks on it)."""
    os.mkfifo(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def drained() -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    return fd, drained


def test_a_fifo_as_summary_or_report_is_written_into_not_replaced(tmp_path: Path) -> None:
    import json
    import stat

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    for args, name in (
        (["--summary-json"], "s.json"),
        (["-o"], "report.csv"),
    ):
        target = tmp_path / name
        fd, drained = _fifo_read(target)
        try:
            result = CliRunner().invoke(cli, ["validate", str(path), *args, str(target)])
            assert result.exit_code == 0, result.output
            assert stat.S_ISFIFO(target.stat().st_mode), f"{name} was replaced by a file"
            written = drained().decode("utf-8-sig")
        finally:
            os.close(fd)
        if name.endswith(".json"):
            assert json.loads(written)["exit_code"] == 0
        else:
            assert written.splitlines()[0].startswith("user_id,text,url,sent_text,row,status")
        assert list(tmp_path.glob(f".{name}*")) == []


def test_a_shell_process_substitution_takes_the_summary(tmp_path: Path) -> None:
    """`--summary-json >(jq .)`: the shell passes /dev/fd/N, a pipe."""
    import json

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    read, write = os.pipe()
    with os.fdopen(read, "rb") as pipe:
        try:
            args = ["validate", str(path), "--summary-json", f"/dev/fd/{write}"]
            result = CliRunner().invoke(cli, args)
        finally:
            os.close(write)
        assert result.exit_code == 0, result.output
        assert json.loads(pipe.read())["statuses"] == {"valid": 3}


def test_send_refuses_a_fifo_as_its_result_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    os.mkfifo(tmp_path / "r.csv")
    result = CliRunner().invoke(
        cli, ["send", str(path), "-o", str(tmp_path / "r.csv"), "--simulate"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "not a pipe or a device" in result.stderr


def _validate_into_descriptor(tmp_path: Path, args: list[str], target: str) -> Path:
    """validate in a process whose descriptor 5 is a file in tmp_path, `target` naming it."""
    import subprocess
    import sys

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    caught = tmp_path / "caught.out"
    command = [sys.executable, "-m", "batch_sender", "validate", str(path), *args, target]
    done = subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" 5> caught.out', "sh", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return caught


@pytest.mark.parametrize("args", [["--summary-json"], ["-o"]], ids=["summary", "report"])
def test_a_link_to_a_descriptor_that_is_a_file_is_written_through_never_replaced(
    tmp_path: Path, args: list[str]
) -> None:
    """`--summary-json /dev/stdout > out.json`, as root: /dev/stdout must stay a link.

    A link of our own to /proc/self/fd/5 stands for /dev/stdout (never touched
    here), descriptor 5 for the shell's redirection to a file.
    """
    import json

    link = tmp_path / "stdout.csv"
    link.symlink_to("/proc/self/fd/5")
    caught = _validate_into_descriptor(tmp_path, args, str(link))
    assert link.is_symlink() and link.readlink() == Path("/proc/self/fd/5")
    written = caught.read_text(encoding="utf-8-sig")
    if args == ["--summary-json"]:
        assert json.loads(written)["statuses"] == {"valid": 3}
    else:
        assert written.splitlines()[0].startswith("user_id,text,url,sent_text,row,status")
    assert list(tmp_path.glob(".stdout.csv*")) == []


def test_a_link_to_a_file_stays_a_link_and_the_file_gets_the_summary(tmp_path: Path) -> None:
    import json

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    (tmp_path / "kept").mkdir()
    real = tmp_path / "kept" / "s.json"
    real.write_text('{"exit_code": 0, "old": true}', encoding="utf-8")
    link = tmp_path / "s.json"
    link.symlink_to(real)
    result = CliRunner().invoke(cli, ["validate", str(path), "--summary-json", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == real
    assert json.loads(real.read_text(encoding="utf-8"))["statuses"] == {"valid": 3}


def test_send_refuses_a_link_to_its_own_descriptor_as_its_result_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    link = tmp_path / "r.csv"
    link.symlink_to("/proc/self/fd/1")
    result = CliRunner().invoke(cli, ["send", str(path), "-o", str(link), "--simulate"])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "not a pipe or a device" in result.stderr
    assert link.is_symlink()


def test_sigterm_stops_a_send_whose_summary_fifo_has_no_reader(tmp_path: Path) -> None:
    """The run is done, the summary waits for the FIFO's reader: SIGTERM ends the wait."""
    import signal
    import subprocess
    import sys
    import time

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    os.mkfifo(tmp_path / "g.json")
    command = [sys.executable, "-m", "batch_sender", "send", str(path), "-o", "r.csv"]
    send = subprocess.Popen(
        [*command, "--simulate", "-q", "--summary-json", "g.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (tmp_path / "r.csv").exists():  # written before the summary
        assert send.poll() is None and time.monotonic() < deadline, send.communicate()
        time.sleep(0.02)
    send.send_signal(signal.SIGTERM)
    try:
        # Past FIFO_WAIT: a send deaf to SIGTERM would end on its own by then, exit 0,
        # so a loaded machine's slowness is never taken for the bug.
        _out, err = send.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        send.kill()
        send.communicate()
        raise AssertionError("still waiting for a reader 30 s after SIGTERM") from None
    assert send.returncode == 130, err
    assert "warning: no reader on the FIFO g.json; summary not written" in err
    assert "Traceback" not in err


def test_a_summary_fifo_gets_the_summary_once_its_reader_comes(tmp_path: Path) -> None:
    import json
    import threading

    path = write_csv(tmp_path / "c.csv", message_rows(3))
    os.mkfifo(tmp_path / "g.json")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append((tmp_path / "g.json").read_bytes()))
    reader.start()  # opening blocks until the writer comes: the writer finds it waiting
    result = CliRunner().invoke(
        cli, ["send", str(path), "-o", "r.csv", "--simulate", "-q", "--summary-json", "g.json"]
    )
    reader.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert json.loads(got[0])["statuses"] == {"accepted": 3}


def test_a_summary_fifo_nobody_reads_is_given_up_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import batch_sender.results.files as files

    monkeypatch.setattr(files, "FIFO_WAIT", 0.2)
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    os.mkfifo(tmp_path / "g.json")
    result = CliRunner().invoke(
        cli, ["send", str(path), "-o", "r.csv", "--simulate", "-q", "--summary-json", "g.json"]
    )
    assert result.exit_code == 0, result.output  # the run's own code
    assert "warning: no reader on the FIFO g.json; summary not written" in result.stderr


def test_send_refuses_a_symbolic_link_as_its_result_file(tmp_path: Path) -> None:
    """A link to a campaign's result file would be a second campaign with its own journal."""
    path = write_csv(tmp_path / "c.csv", message_rows(3))
    first = CliRunner().invoke(cli, ["send", str(path), "-o", "r.csv", "--simulate", "-q"])
    assert first.exit_code == 0, first.output
    (tmp_path / "r2.csv").symlink_to("r.csv")
    result = CliRunner().invoke(cli, ["send", str(path), "-o", "r2.csv", "--simulate", "-q"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: r2.csv is a symbolic link to {tmp_path / 'r.csv'}: the result file must be "
        f"the campaign's own file, its journal beside it; pass -o {tmp_path / 'r.csv'}\n"
    )
    assert (tmp_path / "r2.csv").is_symlink()
    assert not (tmp_path / "r2.csv.journal.sqlite").exists()
