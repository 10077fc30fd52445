"""Shared fixtures: input files, and the eSMS simulator on 127.0.0.1 in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import inspect
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from click.testing import Result

from batch_sender.i18n import set_language, speaking
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import Faults, SimulatorConfig
from batch_sender.simulator.server import Simulator, serve


def _aioresponses_compat() -> None:
    """aioresponses 0.7.9 builds ClientResponse without aiohttp 3.14's `stream_writer`.

    Known upstream (pnuckowski/aioresponses#289); aiohttp 3.14 is a security
    release, so the test double adapts instead of pinning aiohttp back.
    """
    import inspect
    from unittest.mock import Mock

    base = aiohttp.ClientResponse
    if "stream_writer" not in inspect.signature(base.__init__).parameters:
        return

    class CompatResponse(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", Mock(output_size=0))
            super().__init__(*args, **kwargs)

    setattr(aioresponses.core, "ClientResponse", CompatResponse)  # noqa: B010


_aioresponses_compat()

HEADER = ["user_id", "text", "url"]
LONG_ID = "7800378501923859642"
CREDENTIALS = [
    "--api-key",
    SIMULATOR_API_KEY,
    "--secret-key",
    SIMULATOR_SECRET_KEY,
    "--oaid",
    SIMULATOR_OAID,
]


def write_csv(
    path: Path,
    rows: Sequence[Sequence[str]],
    header: Sequence[str] = HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def message_rows(count: int, start: int = 0) -> list[list[str]]:
    """Distinct valid rows with 19-digit ids."""
    return [
        [
            str(7800378501923859642 + i),
            f"Xin chào bạn số {i}, Shop Hoa Sen gửi bạn ưu đãi tháng 12.",
            f"https://cdn.example.vn/banner-{i % 7}.jpg",
        ]
        for i in range(start, start + count)
    ]


def exit_code(result: Result) -> int:
    """The code a command exited with on purpose; a crash (an exception Click let through,
    which CliRunner reports as 1) fails the test whatever it expected."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"crashed: {result.exception!r}\n{result.output}"
    )
    return result.exit_code


def read_results(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)  # the hardening tests carry cells of megabytes
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@dataclass
class RunningSimulator:
    simulator: Simulator
    url: str
    loop: asyncio.AbstractEventLoop

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn in the simulator's loop thread (its state is not thread-safe)."""
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # pragma: no cover - surfaces in the test
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def stats(self) -> dict[str, Any]:
        return dict(self.call(self.simulator.snapshot))

    def set_balance(self, balance: int) -> None:
        def update() -> None:
            self.simulator.balance = balance

        self.call(update)

    @property
    def args(self) -> list[str]:
        return ["--base-url", self.url, *CREDENTIALS]


def start_simulator(config: SimulatorConfig) -> Iterator[RunningSimulator]:
    simulator = Simulator(config)
    ready: Future[RunningSimulator] = Future()
    stop: asyncio.Event | None = None
    loop = asyncio.new_event_loop()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        # The test has what it asserts by the time it stops the simulator: an answer
        # still held back (a slow fault, a long latency) is cut, not waited for.
        async with serve(simulator, shutdown_timeout=0.1) as url:
            ready.set_result(RunningSimulator(simulator, url, loop))
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    running = ready.result(timeout=10)
    try:
        yield running
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


simulator_running = contextlib.contextmanager(start_simulator)
"""`with simulator_running(config) as esms:` for a test's own configuration."""


@pytest.fixture
def esms() -> Iterator[RunningSimulator]:
    """A fault-free simulator."""
    yield from start_simulator(SimulatorConfig(seed=1))


@pytest.fixture
def faulty_esms() -> Iterator[RunningSimulator]:
    """5% HTTP 500, 5% CodeResult 160, 5% accepted-then-dropped."""
    faults = Faults(http_500=0.05, code_160=0.05, drop=0.05)
    yield from start_simulator(SimulatorConfig(seed=7, faults=faults))


@pytest.fixture
def simulator_process() -> Iterator[str]:
    """The URL of a simulator answering after 20 ms, for sends run in their own process.

    It runs in a thread here like the others: the send is the process under
    test, and an interpreter of its own for the simulator only cost a second
    of CPU per test (the `simulator` command is run by the docs' transcripts).
    """
    with simulator_running(SimulatorConfig(faults=Faults(latency=0.02))) as esms:
        yield esms.url


ESMS_VARIABLES = (
    "ESMS_API_KEY",
    "ESMS_SECRET_KEY",
    "ESMS_OAID",
    "ESMS_CALLBACK_URL",
    "ESMS_BASE_URL",
)


@pytest.fixture(autouse=True)
def no_stray_event_loop(request: pytest.FixtureRequest) -> None:
    """A sync test has no current event loop, so none is made and left unclosed.

    looptime's plugin asks the policy for the loop of every test; in a sync
    test that makes a new loop nobody closes (a ResourceWarning later).
    """
    if not inspect.iscoroutinefunction(request.function):
        asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Each test in its own folder (no stray .env) with no ESMS_* variables.

    setenv-then-delenv makes monkeypatch remember the variable as absent, so
    one that a test's .env loads is removed again afterwards.
    """
    for name in ESMS_VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    # English whatever the machine's locale, unless a test chooses a language.
    for name in ("BATCH_SENDER_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    set_language(None)  # what a CLI command run in this process chose is not the next test's
    try:
        with speaking(None):
            yield tmp_path
    finally:
        set_language(None)


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A real filesystem of `size` at `where` (a tmpfs: needs root, as CI runs)."""
    where.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("no mount command")
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        why = mounted.stderr.decode(errors="replace").strip()
        pytest.skip(f"cannot mount a small tmpfs (it needs root): {why}")
    try:
        yield where
    finally:
        subprocess.run([umount, "-l", str(where)], check=False)
