"""Every console transcript in README.md and docs/ is run, and must print what it shows.

A transcript is a ```console block: lines starting with `$ ` are commands,
the lines under one are what it prints (stdout and stderr together, as in a
terminal). Each block runs in a fresh folder holding a copy of `samples/`
and the page's named Python examples (a ```python block whose first line is
`# name.py`), with `batch-sender` on PATH and the ESMS_* variables pointing
at a seeded simulator of its own on 127.0.0.1 (a page's
`$ batch-sender simulator ...` block sets the options for the blocks after
it; the port it names is mapped to the real one). What changes from run to
run is masked on both sides before comparing: see MASKS.

What a block can hold beyond plain commands:
- `export A=B ...` sets variables for the rest of the block;
- a command ending in ` &` runs in the background (a server, a send to
  interrupt): the lines shown under it are read from it as it prints them;
  `kill -INT %N` (or -TERM, -9) signals background job N, and `wait %N`
  shows what it printed after those lines, and its exit status;
- before each command the simulator makes the delivery reports it owes (a
  person reading the page would wait that second too);
- a line `...` stands for any number of lines;
- `<!-- docs-test: skip REASON -->` just before the block: not run (the
  real eSMS, say). Rare on purpose.

`.venv/bin/python -m tests.test_docs PAGE.md` prints each block of PAGE as
it runs now, to regenerate a transcript after a deliberate change.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.cli.simulator import simulator as simulator_command
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import RunningSimulator, simulator_running

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BIN = Path(sys.executable).parent
DEFAULT_SIMULATOR = ["--seed", "1"]
BASH = shutil.which("bash") or "/bin/bash"
WAIT = 60.0  # seconds a background server may take to print a line

# What differs from one run to the next, and nothing else. The same
# substitutions are made on what a page shows and on what the commands print.
MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:PORT"),
    (re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}"), "DATE TIME"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?"), "ISOTIME"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "TIME"),
    (re.compile(r"\b\d[\d,]*(\.\d+)? s\b"), "N s"),
    (re.compile(r"\b\d[\d,]*(\.\d+)? messages/s\b"), "N messages/s"),
    # The same in Vietnamese (a page named *.vi.md runs under LANG=vi_VN.UTF-8).
    (re.compile(r"\b\d[\d.]*(,\d+)? giây\b"), "N giây"),
    (re.compile(r"\b\d[\d.]*(,\d+)? tin nhắn/giây"), "N tin nhắn/giây"),
    (re.compile(r"""(["']?(?:seconds|messages_per_second|time)["']?: )[\d.]+"""), r"\1N"),
    # Which message gets which SMSID depends on the order requests arrive in.
    (re.compile(r"\b[0-9a-f]{32}\d{3}\b"), "SMSID"),
]


def mask(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


@dataclass
class Command:
    line: str
    shown: list[str] = field(default_factory=list)


@dataclass
class Block:
    page: Path
    lineno: int
    commands: list[Command]
    simulator: list[str]
    files: dict[str, str]
    skip: str | None = None
    end: int = 0
    indent: str = ""

    @property
    def id(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.lineno}"


FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(.+?)\s*-->")


def parse_commands(lines: list[str]) -> list[Command]:
    commands: list[Command] = []
    pending = ""
    for line in lines:
        if pending:
            pending += "\n" + line
        elif line.startswith("$ "):
            pending = line[2:]
        elif commands:
            commands[-1].shown.append(line)
            continue
        else:
            raise ValueError(f"output before the first command: {line!r}")
        if pending.endswith("\\"):
            continue
        commands.append(Command(pending))
        pending = ""
    return commands


def parse_page(page: Path) -> list[Block]:
    blocks: list[Block] = []
    files: dict[str, str] = {}
    simulator = DEFAULT_SIMULATOR
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, language = fence.groups()
        start = i
        body: list[str] = []
        i += 1
        while not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if language == "python" and body and re.fullmatch(r"# [\w.-]+\.py", body[0]):
            files[body[0][2:]] = "\n".join(body[1:]) + "\n"
        if language != "console":
            continue
        skip = SKIP.search(lines[start - 1]) if start else None
        commands = parse_commands(body)
        if len(commands) == 1 and commands[0].line.startswith("batch-sender simulator"):
            simulator = shlex.split(commands[0].line)[2:]
        reason = skip.group(1) if skip else None
        blocks.append(Block(page, start + 1, commands, simulator, files, reason, i - 1, indent))
    # A page's examples are known before its transcripts run, wherever they stand.
    for block in blocks:
        block.files = files
    return blocks


# A plain `batch-sender ...` line: no pipe, redirection, variable or second command.
IN_PROCESS = re.compile(r"batch-sender [^|&;<>$`]*")
SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "9": signal.SIGKILL}
BLOCKS = [block for page in PAGES for block in parse_page(page)]


def simulator_config(args: list[str]) -> SimulatorConfig:
    """The configuration `batch-sender simulator ARGS` runs with (its options, parsed by it)."""
    context = simulator_command.make_context("simulator", list(args))
    p = context.params
    fault_names = {f for f in Faults.__dataclass_fields__ if f in p}
    return SimulatorConfig(
        api_key=p["api_key"] or SIMULATOR_API_KEY,
        secret_key=p["secret_key"] or SIMULATOR_SECRET_KEY,
        oaid=p["oaid"] or SIMULATOR_OAID,
        balance=p["balance"],
        price=p["price"],
        faults=Faults(**{name: p[name] for name in fault_names}),
        seed=p["seed"],
        callback_delay=p["callback_delay"],
        zalo_fail=p["zalo_fail"],
        callback_styles=p["callback_styles"] or ("follower",),
        audience_size=p["audience_size"],
        audience_days=p["audience_days"],
        audience_end=p["audience_end"].date(),
        reserve_rejected=p["reserve_rejected"],
    )


def shown_port(args: list[str]) -> str:
    return str(simulator_command.make_context("simulator", list(args)).params["port"])


class Reader:
    """A background process's output, line by line, without blocking the test forever."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.done = threading.Event()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)
        self.done.set()

    def read(self, count: int) -> list[str]:
        got: list[str] = []
        while len(got) < count:
            line = self.lines.get(timeout=WAIT)
            if line is None:
                break
            got.append(line)
        return got

    def rest(self) -> list[str]:
        got: list[str] = []
        while (line := self.lines.get(timeout=WAIT)) is not None:
            got.append(line)
        return got


class Shell:
    """Runs a block's commands one by one, as a person at a terminal would."""

    def __init__(self, folder: Path, esms: RunningSimulator, port: str, locale: str) -> None:
        self.folder = folder
        self.esms = esms
        self.port = port
        self.rc = 0
        self.ports: dict[str, str] = {}
        self.jobs: list[tuple[subprocess.Popen[str], Reader]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ESMS_")}
        self.env.pop("BATCH_SENDER_LANG", None)
        self.env.update(
            PATH=f"{BIN}{os.pathsep}{self.env.get('PATH', '')}",
            PYTHONUNBUFFERED="1",  # stdout and stderr interleave as in a terminal
            LANG=locale,
            LC_ALL=locale,
            COLUMNS="200",
            ESMS_BASE_URL=esms.url,
            ESMS_STATUS_BASE_URL=esms.url,
            ESMS_API_KEY=SIMULATOR_API_KEY,
            ESMS_SECRET_KEY=SIMULATOR_SECRET_KEY,
            ESMS_OAID=SIMULATOR_OAID,
        )

    def local(self, line: str) -> str:
        """The page's ports as this run's: its simulator's, and free ones for the rest."""

        def port(shown: str) -> str:
            if shown == self.port:
                return self.esms.url.rsplit(":", 1)[1]
            if shown not in self.ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    self.ports[shown] = str(probe.getsockname()[1])
            return self.ports[shown]

        line = re.sub(r"(127\.0\.0\.1:)(\d+)", lambda m: m[1] + port(m[2]), line)
        return re.sub(r"(--port )(\d+)", lambda m: m[1] + port(m[2]), line)

    def run(self, command: Command) -> list[str]:
        line = self.local(command.line)
        if line.startswith("export "):
            for assignment in shlex.split(line)[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return []
        self.settle()
        if job := re.fullmatch(r"kill -(INT|TERM|9) %(\d+)", line):
            return self.signal(int(job[2]), SIGNALS[job[1]])
        if job := re.fullmatch(r"wait %(\d+)", line):
            return self.wait(int(job[1]))
        if line.endswith(" &"):
            return self.background(line[:-2], len(command.shown))
        if IN_PROCESS.fullmatch(line):
            return self.in_process(shlex.split(line)[1:])
        done = subprocess.run(
            [BASH, "-c", f"(exit {self.rc}); {line}"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        self.rc = done.returncode
        return done.stdout.splitlines()

    def in_process(self, args: list[str]) -> list[str]:
        """`batch-sender ARGS` through the same Click entry point, without a new interpreter.

        Starting Python and importing pandas for every command would make this
        file take minutes; the process boundary is what the background
        commands and the shell lines keep testing.
        """
        result = CliRunner(env=self.env).invoke(cli, args, prog_name="batch-sender")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        self.rc = result.exit_code
        return result.output.splitlines()

    def background(self, line: str, shown: int) -> list[str]:
        process = subprocess.Popen(
            [BASH, "-c", f"exec {line}"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        reader = Reader(process.stdout)
        self.jobs.append((process, reader))
        return reader.read(shown)

    def settle(self) -> None:
        """Wait until the simulator has made the delivery reports it owes, as a person would."""
        deadline = time.monotonic() + WAIT
        while self.esms.call(lambda: len(self.esms.simulator.tasks)):
            assert time.monotonic() < deadline, "the simulator's reports never went out"
            time.sleep(0.05)

    def signal(self, job: int, number: signal.Signals) -> list[str]:
        self.jobs[job - 1][0].send_signal(number)
        self.rc = 0
        return []

    def wait(self, job: int) -> list[str]:
        process, reader = self.jobs[job - 1]
        self.rc = process.wait(timeout=WAIT)
        if self.rc < 0:  # as bash reports a job a signal ended
            self.rc = 128 - self.rc
        return reader.rest()

    def close(self) -> None:
        for process, reader in self.jobs:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.done.wait(timeout=WAIT)
            assert process.stdout is not None
            process.stdout.close()


def matches(shown: list[str], printed: list[str]) -> bool:
    """Whether printed is what shown shows, a `...` line standing for any lines."""
    if not shown:
        return not printed
    if shown[0].strip() == "...":
        return any(matches(shown[1:], printed[k:]) for k in range(len(printed) + 1))
    return bool(printed) and shown[0] == printed[0] and matches(shown[1:], printed[1:])


def start_simulator_command(block: Block, folder: Path) -> list[str]:
    """A simulator block: the real command, on a free port, prints its first line."""
    args = [a if a != shown_port(block.simulator) else "0" for a in block.simulator]
    if "--port" not in args:
        args += ["--port", "0"]
    process = subprocess.Popen(
        [str(BIN / "batch-sender"), "simulator", *args],
        cwd=folder,
        env={**os.environ, "LANG": page_locale(block.page), "LC_ALL": page_locale(block.page)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        return Reader(process.stdout).read(max(1, len(block.commands[0].shown)))
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


@contextlib.contextmanager
def prepared(block: Block, folder: Path) -> Iterator[None]:
    shutil.copytree(ROOT / "samples", folder / "samples")
    for name, text in block.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    yield


def page_locale(page: Path) -> str:
    """The locale a page's reader has: a Vietnamese page (NAME.vi.md) is read under vi_VN."""
    return "vi_VN.UTF-8" if page.name.endswith(".vi.md") else "C.UTF-8"


def transcript(block: Block, folder: Path) -> list[tuple[Command, list[str]]]:
    """Each command of the block with what it printed now."""
    with prepared(block, folder):
        if block.commands[0].line.startswith("batch-sender simulator"):
            return [(block.commands[0], start_simulator_command(block, folder))]
        with simulator_running(simulator_config(block.simulator)) as esms:
            shell = Shell(folder, esms, shown_port(block.simulator), page_locale(block.page))
            try:
                return [(command, shell.run(command)) for command in block.commands]
            finally:
                shell.close()


def test_every_page_has_a_transcript_and_the_readme_stays_short() -> None:
    assert len(PAGES) >= 5
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
    skipped = [b.id for b in BLOCKS if b.skip]
    assert len(skipped) <= 3, f"skipping is for the rare block that cannot run: {skipped}"


def test_masks_hide_only_what_changes_from_run_to_run() -> None:
    shown = "sent 8 messages in 0.7 s (11.0 messages/s) at 12:02:39, 28/11/2026 12:02:26"
    assert mask(shown) == mask(
        "sent 8 messages in 12.5 s (1,442.3 messages/s) at 01:00:00, 01/01/2027 00:00:00"
    )
    assert mask(shown) != mask(shown.replace("8 messages", "9 messages"))
    assert mask("1 invalid, 30/11/2026") == "1 invalid, 30/11/2026"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_console_transcript_prints_what_the_page_shows(block: Block, tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(block.skip)
    for command, printed in transcript(block, tmp_path):
        shown = [mask(line) for line in command.shown]
        # The periodic `progress:` line is what send writes when stderr is not a
        # terminal, as here; a reader at a terminal sees the bar instead.
        got = [mask(line) for line in printed if not line.startswith("progress: ")]
        assert matches(shown, got), f"{block.id}: `$ {command.line}` printed:\n" + "\n".join(
            printed
        )


def main(argv: list[str]) -> None:
    """Print each console block of the given pages as it runs now; --write puts it in the page.

    A command whose shown lines hold `...` and still match keeps them.
    """
    import tempfile

    write = "--write" in argv
    for name in (a for a in argv if a != "--write"):
        page = Path(name).resolve()
        lines = page.read_text(encoding="utf-8").splitlines()
        for block in reversed(parse_page(page)):
            if block.skip:
                continue
            with tempfile.TemporaryDirectory(prefix="docs-") as folder:
                ran = transcript(block, Path(folder))
            body: list[str] = []
            for command, printed in ran:
                body.append("$ " + command.line)
                keep = any(line.strip() == "..." for line in command.shown) and matches(
                    [mask(x) for x in command.shown], [mask(x) for x in printed]
                )
                if keep:
                    body.extend(command.shown)
                    continue
                # A line that differs only where runs differ keeps the page's wording.
                shown = command.shown
                body.extend(
                    shown[k] if k < len(shown) and mask(shown[k]) == mask(line) else line
                    for k, line in enumerate(printed)
                )
            if not write:
                print(f"--- {block.id}", *body, sep="\n")
                continue
            lines[block.lineno : block.end] = [
                block.indent + line if line else line for line in "\n".join(body).split("\n")
            ]
        if write:
            page.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
