"""The one public door: every command a typed, documented function with an async twin.

What a Python caller (a notebook, a scheduler's task) relies on: the names
`batch_sender` exports, the option groups and their defaults, each command's
report, and the CLI going through that same face.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime as dt
import inspect
import json
import time
from pathlib import Path

import pytest

import batch_sender
from batch_sender import (
    Account,
    AccountError,
    ExitCode,
    InputError,
    Listening,
    Reading,
    SendingPolicy,
    UsageError,
)
from batch_sender.cli import cli
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import SimulatorConfig

from .conftest import RunningSimulator, message_rows, read_results, simulator_running, write_csv

COMMANDS = (
    "validate",
    "send",
    "preview",
    "report",
    "status",
    "audience",
    "balance",
    "serve_callbacks",
)
PUBLIC = [
    "Account",
    "AccountError",
    "AudienceReport",
    "BalanceReport",
    "BatchSenderError",
    "CallbacksReport",
    "CampaignReport",
    "ExitCode",
    "InputError",
    "Listening",
    "PreviewReport",
    "Problem",
    "Progress",
    "Reading",
    "RowResult",
    "SendReport",
    "SendingPolicy",
    "StatusReport",
    "UsageError",
    "ValidateReport",
    "__version__",
    "audience",
    "audience_async",
    "balance",
    "balance_async",
    "preview",
    "preview_async",
    "read_results",
    "report",
    "report_async",
    "send",
    "send_async",
    "serve_callbacks",
    "serve_callbacks_async",
    "set_language",
    "status",
    "status_async",
    "user_error",
    "validate",
    "validate_async",
]
SIMULATOR_ACCOUNT = Account(
    api_key=SIMULATOR_API_KEY, secret_key=SIMULATOR_SECRET_KEY, oaid=SIMULATOR_OAID
)


# --- the names -----------------------------------------------------------------


def test_the_exported_names_are_exactly_these() -> None:
    assert batch_sender.__all__ == PUBLIC
    for name in PUBLIC:
        assert hasattr(batch_sender, name), name


@pytest.mark.parametrize("name", [n for n in PUBLIC if n != "__version__"])
def test_each_exported_name_is_documented(name: str) -> None:
    obj = getattr(batch_sender, name)
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    # A dataclass without a docstring gets its signature as one: that documents nothing.
    assert doc and not doc.startswith(f"{name}("), f"{name} has no docstring of its own"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_an_async_twin_with_the_same_keywords(command: str) -> None:
    blocking = getattr(batch_sender, command)
    twin = getattr(batch_sender, f"{command}_async")
    assert inspect.iscoroutinefunction(twin) and not inspect.iscoroutinefunction(blocking)
    assert list(inspect.signature(blocking).parameters) == list(inspect.signature(twin).parameters)
    assert inspect.signature(twin).return_annotation.endswith("Report")


def test_the_cli_reaches_the_library_only_through_its_public_names() -> None:
    cli_folder = Path(batch_sender.__file__).parent / "cli"
    # i18n: the wording layer both sides share (the CLI's help and lines, the library's errors).
    allowed = ("batch_sender.cli", "batch_sender.simulator", "batch_sender.i18n")
    reached: list[str] = []
    for source in sorted(cli_folder.glob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
                if node.module == "batch_sender":
                    reached += [
                        f"{source.name}: batch_sender.{a.name}"
                        for a in node.names
                        if a.name not in batch_sender.__all__
                    ]
                    continue
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            reached += [
                f"{source.name}: {m}"
                for m in modules
                if m.startswith("batch_sender.") and not m.startswith(allowed)
            ]
    assert reached == []


# --- the option groups ---------------------------------------------------------


def test_the_cli_defaults_are_the_groups_defaults() -> None:
    groups: list[Account | Reading | SendingPolicy | Listening]
    groups = [Account(), Reading(), SendingPolicy(), Listening()]
    defaults = {
        f.name: getattr(group, f.name) for group in groups for f in dataclasses.fields(group)
    }
    checked = 0
    for name, command in cli.commands.items():
        if name == "simulator":  # its --host and --port are the stand-in eSMS's, not a group's
            continue
        # What the command is given when no option is on the command line.
        given = command.make_context(name, [], resilient_parsing=True).params
        for param in command.params:
            if param.name in defaults and not getattr(param, "multiple", False):
                assert given[param.name] == defaults[param.name], (name, param.name)
                checked += 1
    assert checked >= 25  # rate, timeout, columns, ... of every command that has them


def test_the_internal_configurations_take_their_defaults_from_the_groups() -> None:
    from batch_sender.esms.protocol import Credentials
    from batch_sender.followers.query import AudienceConfig
    from batch_sender.sending.config import SendConfig

    policy = SendingPolicy()
    send = SendConfig(base_url="https://x", credentials=Credentials("k", "s", "o"))
    assert (send.rate, send.timeout, send.concurrency) == (10.0, 30.0, None)
    assert (send.max_attempts, send.backoff) == (policy.max_attempts, policy.backoff)
    listing = AudienceConfig(base_url="https://x", credentials=Credentials("k", "s", "o"))
    assert (listing.rate, listing.timeout) == (policy.rate, policy.timeout)


def test_account_from_env_reads_the_environment_then_dotenv_then_overrides(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text(
        "ESMS_API_KEY=from-file-key\nESMS_SECRET_KEY=from-file-secret\nESMS_OAID=file-oa\n",
        encoding="utf-8",
    )
    account = Account.from_env(environ={"ESMS_OAID": "env-oa", "ESMS_BASE_URL": "https://e.vn"})
    assert (account.api_key, account.secret_key) == ("from-file-key", "from-file-secret")
    assert (account.oaid, account.base_url) == ("env-oa", "https://e.vn")
    assert Account.from_env(environ={}, oaid="given").oaid == "given"
    assert Account.from_env(environ={}, dotenv=None) == Account()
    assert "from-file" not in repr(account)  # the keys never show


def test_groups_are_frozen_and_flat_keywords_win_over_them(tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "c.csv", message_rows(3), header=["zalo_id", "text", "url"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        Reading().sheet = "x"  # type: ignore[misc]
    grouped = batch_sender.validate(sheet, reading=Reading(user_id_column="zalo_id"))
    flat = batch_sender.validate(sheet, user_id_column="zalo_id")
    wins = batch_sender.validate(
        sheet, reading=Reading(user_id_column="user_id"), user_id_column="zalo_id"
    )
    assert grouped.counts == flat.counts == wins.counts == {"valid": 3}
    with pytest.raises(InputError):
        batch_sender.validate(sheet, reading=Reading(user_id_column="user_id"))
    with pytest.raises(TypeError, match="unexpected keyword argument 'rate'"):
        batch_sender.validate(sheet, rate=3)  # type: ignore[call-arg]


# --- each command from Python --------------------------------------------------


def test_preview_from_python_writes_the_page_and_counts_the_rows_left_out(
    tmp_path: Path,
) -> None:
    rows = [*message_rows(4), ["12x", "hi", "https://cdn.example.vn/a.jpg"]]
    sheet = write_csv(tmp_path / "c.csv", rows)
    page = batch_sender.preview(sheet, tmp_path / "p.html", rows=2)
    assert (page.rows, page.counts, page.shown) == (5, {"to_send": 4, "left_out": 1}, 2)
    assert page.exit_code == ExitCode.NEEDS_ATTENTION and page.warnings == []
    assert page.as_dict()["preview"] == str(tmp_path / "p.html")
    assert "Xin chào bạn số 1" in (tmp_path / "p.html").read_text(encoding="utf-8")
    with pytest.raises(UsageError, match=r"must be an \.html file"):
        batch_sender.preview(sheet, tmp_path / "p.txt")


def test_balance_from_python_and_its_errors(esms: RunningSimulator) -> None:
    account = dataclasses.replace(SIMULATOR_ACCOUNT, base_url=esms.url)
    found = batch_sender.balance(account=account)
    assert found.exit_code == ExitCode.OK and int(found.balance) > 0
    assert found.as_dict() == {"command": "balance", "balance": found.balance, "exit_code": 0}
    with pytest.raises(AccountError):
        batch_sender.balance(account=account, api_key="wrong-key")
    with pytest.raises(UsageError, match="missing credentials: api_key, secret_key"):
        batch_sender.balance(base_url=esms.url)


def test_send_then_status_then_report_from_python(tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "c.csv", message_rows(20))
    results = tmp_path / "r.csv"
    with simulator_running(SimulatorConfig(seed=3, zalo_fail=0.2)) as esms:
        account = dataclasses.replace(
            SIMULATOR_ACCOUNT,
            base_url=esms.url,
            status_base_url=esms.url,
            callback_url="http://127.0.0.1:9/nobody-listens",
        )
        sent = batch_sender.send(sheet, results, account=account, policy=SendingPolicy(rate=0))
        assert sent.counts == {"accepted": 20} and sent.exit_code == ExitCode.OK
        deadline = time.monotonic() + 10
        while len(esms.call(lambda: dict(esms.simulator.reports))) < 20:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        heard: list[str] = []
        looked = batch_sender.status(results, account=account, on_info=heard.append)
    assert (looked.asked, looked.known) == (20, 20)
    assert sum(looked.counts.values()) == 20 and set(looked.counts) <= {"delivered", "failed"}
    assert heard[0] == "asking eSMS about 20 accepted messages with no final report"
    glance = batch_sender.report(results, failed_ids=tmp_path / "failed.txt")
    assert glance.counts == {"accepted": 20} and glance.deliveries == looked.counts
    failed = looked.counts.get("failed", 0)
    assert glance.failed_count == failed
    ids = (tmp_path / "failed.txt").read_text().split()
    assert len(ids) == failed
    assert glance.lines and json.loads(json.dumps(glance.as_dict()))["rows"] == 20


def test_audience_from_python_against_the_simulator(tmp_path: Path) -> None:
    heard: list[str] = []
    listed = batch_sender.audience(
        tmp_path / "a.csv",
        start=dt.date(2026, 11, 1),
        end=dt.date(2026, 11, 3),
        simulate=True,
        rate=0,
        on_info=heard.append,
    )
    ids = [r["user_id"] for r in read_results(tmp_path / "a.csv")]
    assert listed.users == len(ids) == len(set(ids)) > 0
    assert listed.exit_code == ExitCode.OK and listed.warnings == []
    assert listed.counts["user_ids"] == listed.users
    assert heard and heard[0].startswith("simulating eSMS at http://127.0.0.1:")
    with pytest.raises(UsageError, match="followers_only or non_followers"):
        batch_sender.audience(
            tmp_path / "b.csv",
            start=dt.date(2026, 11, 1),
            end=dt.date(2026, 11, 3),
            followers_only=True,
            non_followers=True,
            simulate=True,
        )


async def test_serve_callbacks_async_takes_the_reports_of_a_send_async(tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "c.csv", message_rows(8))
    results = tmp_path / "r.csv"
    heard: list[str] = []
    listening = asyncio.Event()

    def on_info(line: str) -> None:
        heard.append(line)
        if line.startswith("receiving eSMS callbacks at "):
            listening.set()

    stop = asyncio.Event()
    receiver = asyncio.create_task(
        batch_sender.serve_callbacks_async(
            results,
            listening=Listening(port=0, token="t0ken-for-the-test", every=0.5),
            campaign_id="c",
            on_info=on_info,
            stop=stop,
        )
    )
    await asyncio.wait_for(listening.wait(), 10)
    url = heard[0].removeprefix("receiving eSMS callbacks at ")
    with simulator_running(SimulatorConfig(seed=4, callback_delay=0.01)) as esms:
        account = dataclasses.replace(SIMULATOR_ACCOUNT, base_url=esms.url, callback_url=url)
        sent = await batch_sender.send_async(sheet, results, account=account, rate=0)
        assert sent.exit_code == ExitCode.OK
        deadline = time.monotonic() + 10
        while esms.call(lambda: len(esms.simulator.tasks)) or (
            len(esms.call(lambda: dict(esms.simulator.reports))) < 8
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    stop.set()
    got = await asyncio.wait_for(receiver, 20)
    assert (got.received, got.unmatched, got.unanswered, got.rejected) == (8, 0, 0, 0)
    assert sum(got.counts.values()) == 8 and got.warnings == []
    assert {r["delivery"] for r in read_results(results)} <= {"delivered", "failed"}
    assert all(r["delivery"] for r in read_results(results))
    assert got.as_dict()["received"] == 8 and got.exit_code == ExitCode.OK


def test_one_exclude_list_given_as_a_string_or_a_path_is_one_list(tmp_path: Path) -> None:
    from batch_sender.options import Reading

    rows = message_rows(3)
    path = write_csv(tmp_path / "c.csv", rows)
    (tmp_path / "opt-out.txt").write_text(f"{rows[1][0]}\n", encoding="utf-8")
    listed = str(tmp_path / "opt-out.txt")
    for given in (listed, Path(listed)):
        report = batch_sender.validate(path, exclude=given)
        assert report.counts == {"valid": 2, "excluded": 1}
        grouped = batch_sender.validate(path, reading=Reading(exclude=given))  # type: ignore[arg-type]
        assert grouped.counts == {"valid": 2, "excluded": 1}
