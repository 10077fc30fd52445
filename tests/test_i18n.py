"""The interface in the reader's language: Vietnamese under a Vietnamese locale, English else.

What a person reads changes with the language; what a program reads (the
result file's columns and statuses, JSON keys, exit codes, exception fields)
does not.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import gettext
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

import batch_sender
from batch_sender.cli import cli
from batch_sender.i18n import LOCALE_DIR, language_from_env, shown, speaking

from .conftest import RunningSimulator, write_csv

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "campaign.csv"
CATALOGS = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
VIETNAMESE = {"LANG": "vi_VN.UTF-8"}
ENGLISH = {"LANG": "C.UTF-8"}

# Placeholders a translation must keep: {name}, {n:,}, {opt:rate}, {name!r}, %(prog)s, %s.
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\(\w+\)[sd]|%[sd]")
# Words an English sentence can hardly do without; none may be left in Vietnamese output.
ENGLISH_WORDS = re.compile(
    r"\b(the|rows?|line|would|not|and|of|is|are|sent|Error|Usage|Options|Show|"
    r"invalid|valid|duplicate|excluded|accepted|messages?|results?)\b"
)
# What a Vietnamese line keeps as it is: names of columns, options, statuses, codes, files.
KEPT = re.compile(
    r"--[\w-]+|-\w\b|\b[A-Z][A-Z_]+\b|\buser_id\b|\burl\b|\btext\b|\bstatus\b|\bcampaign[\w.-]*"
    r"|\S+\.(csv|html|xlsx|txt|sqlite)\b|\S*/\S*|'[^']*'|\"[^\"]*\"|`[^`]*`|\[[^\]]*\]"
    r"|valid/invalid/duplicate|\bjson\b|\btext\]"
)


def texts(value: object) -> tuple[str, ...]:
    """A catalog entry's msgid or msgstr as a tuple: one text, or the plural forms."""
    if isinstance(value, tuple | list):
        return tuple(str(v) for v in value)
    return (str(value or ""),)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text.replace("{{", "").replace("}}", "")))


def english_left(output: str) -> list[str]:
    """The lines of `output` that still hold English words outside kept names."""
    return [line for line in output.splitlines() if ENGLISH_WORDS.search(KEPT.sub(" ", line))]


def rows(name: str) -> list[dict[str, str]]:
    with Path(name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(cli, list(args), prog_name="batch-sender")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


# --- the catalogs ----------------------------------------------------------------


@pytest.mark.parametrize("po", CATALOGS, ids=[p.name for p in CATALOGS])
def test_every_message_has_a_translation_with_the_same_placeholders(po: Path) -> None:
    with po.open("rb") as f:
        catalog = read_po(f)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = texts(message.id)
        strings = texts(message.string)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        # Vietnamese has one plural form: it must take what the plural (n > 1) gives.
        for string in strings:
            if placeholders(string) != placeholders(ids[-1]):
                problems.append(f"{ids[-1]!r} -> {string!r}")
    assert problems == []


@pytest.mark.parametrize("po", CATALOGS, ids=[p.name for p in CATALOGS])
def test_the_shipped_compiled_catalog_is_up_to_date_with_its_po_file(po: Path) -> None:
    with po.open("rb") as f:
        catalog = read_po(f)
    with po.with_suffix(".mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for message in catalog:
        if not message.id:
            continue
        ids, strings = texts(message.id), texts(message.string)
        if len(ids) == 2:
            assert compiled.ngettext(ids[0], ids[1], 2) == strings[0], ids
        else:
            assert compiled.gettext(ids[0]) == strings[0], ids


def test_every_marked_text_and_command_help_is_in_the_catalog() -> None:
    with (LOCALE_DIR / "vi/LC_MESSAGES/batch_sender.po").open("rb") as f:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f)}
    missing = []
    for source in sorted((ROOT / "batch_sender").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "N_", "ngettext")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value not in known
            ):
                missing.append(f"{source.name}:{node.lineno} {node.args[0].value!r}")
    commands = [cli, *cli.commands.values()]
    helps = {c.name: c._help or "" for c in commands}  # type: ignore[attr-defined]
    missing += [n or "" for n, h in helps.items() if not {h, inspect.cleandoc(h)} & known]
    assert missing == [], "run `make messages` and translate what it adds"


# --- the language chosen -----------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({}, "en"),
        ({"LANG": "vi_VN.UTF-8"}, "vi"),
        ({"LANG": "vi"}, "vi"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "vi_VN.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),  # LC_ALL first, as POSIX ranks
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "vi_VN.UTF-8"}, "vi"),
        ({"LANG": "vi_VN.UTF-8", "BATCH_SENDER_LANG": "en"}, "en"),
        ({"LC_ALL": "C", "BATCH_SENDER_LANG": "vi"}, "vi"),
        ({"LANG": "vi_VN.UTF-8", "BATCH_SENDER_LANG": "klingon"}, "vi"),
    ],
)
def test_the_language_follows_batch_sender_lang_then_the_locale(
    environ: dict[str, str], lang: str
) -> None:
    assert language_from_env(environ) == lang


def test_numbers_and_dates_are_written_the_languages_way() -> None:
    with speaking("vi"):
        assert (shown(36600, ","), shown(2.5), shown(dt.date(2026, 11, 28))) == (
            "36.600",
            "2,5",
            "28/11/2026",
        )
        assert batch_sender.i18n._("{n:,} rows: {counts}", n=1234, counts="x") == "1.234 dòng: x"
    with speaking("en"):
        assert (shown(36600, ","), shown(2.5)) == ("36,600", "2.5")


def test_the_lang_option_and_the_variable_choose_over_the_locale() -> None:
    code, shown_vi = run("--lang", "vi", "validate", str(SAMPLE), env=ENGLISH)
    assert code == 1 and "dòng" in shown_vi
    code, shown_en = run("--lang", "en", "validate", str(SAMPLE), env=VIETNAMESE)
    assert code == 1 and "12 rows: 8 valid" in shown_en
    _, chosen = run("validate", str(SAMPLE), env={**ENGLISH, "BATCH_SENDER_LANG": "vi"})
    assert chosen == shown_vi


# --- what a person reads, in each language -------------------------------------------


def test_validate_in_vietnamese_finds_every_bad_row_in_vietnamese_and_the_report_is_unchanged(
    tmp_path: Path,
) -> None:
    code, output = run("validate", str(SAMPLE), "-o", "vi.csv", env=VIETNAMESE)
    assert code == 1
    assert output.startswith("campaign.csv: 12 dòng: 8 hợp lệ, 3 không hợp lệ, 1 trùng lặp\n")
    assert "  dòng 13: trùng lặp: trùng user_id với dòng 3; mỗi người quan tâm chỉ nhận" in output
    assert english_left(output) == []
    code_en, output_en = run("validate", str(SAMPLE), "-o", "en.csv", env=ENGLISH)
    assert (code_en, output_en.splitlines()[0]) == (
        1,
        "campaign.csv: 12 rows: 8 valid, 3 invalid, 1 duplicate",
    )
    vi, en = rows("vi.csv"), rows("en.csv")
    assert list(vi[0]) == list(en[0])  # the same columns
    assert [r["status"] for r in vi] == [r["status"] for r in en]  # the same statuses


def test_a_bad_file_is_one_vietnamese_line_with_the_same_exit_code(tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", [["1", "hi"]], header=["user_id", "text"])
    code, output = run("validate", str(bad), env=VIETNAMESE)
    assert code == 2
    columns = "các cột hiện có: 'user_id', 'text'"
    assert output == f"Lỗi: {bad}: dòng 1: thiếu cột 'url' (--url-column); {columns}\n"
    code, output = run("validate", str(bad), "--delimiter", "x", env=VIETNAMESE)
    assert code == 2 and "Lỗi: Giá trị không hợp lệ cho '--delimiter'" in output
    code, output = run("validate", str(bad), env=ENGLISH)
    assert (code, output.split(":")[0]) == (2, "Error")


def test_the_sample_in_a_legacy_encoding_and_hidden_rows_are_refused_in_vietnamese_only(
    tmp_path: Path,
) -> None:
    import openpyxl

    code, output = run("validate", str(ROOT / "samples" / "legacy.csv"), env=VIETNAMESE)
    assert code == 2 and "(có byte nối tiếp không hợp lệ)" in output
    assert english_left(output) == []
    code, output = run("validate", str(ROOT / "samples" / "legacy.csv"), env=ENGLISH)
    assert code == 2 and "(invalid continuation byte)" in output
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["user_id", "text", "url"])
    for n in range(3):
        sheet.append([str(7800 + n), "Chào bạn", "https://cdn.example.vn/a.jpg"])
    sheet.row_dimensions[3].hidden = sheet.row_dimensions[4].hidden = True
    book.save(tmp_path / "hidden.xlsx")
    code, output = run("validate", str(tmp_path / "hidden.xlsx"), env=VIETNAMESE)
    assert code == 2 and "2 dòng bị ẩn" in output
    assert english_left(output) == []


def test_every_commands_help_is_vietnamese_including_clicks_own_words() -> None:
    for command in ["", *cli.commands]:
        code, output = run(*filter(None, [command]), "--help", env=VIETNAMESE)
        assert code == 0, command
        assert output.startswith("Cách dùng: batch-sender"), command
        assert "Tùy chọn:" in output and "Hiện hướng dẫn này rồi thoát." in output, command
        if command != "simulator":  # the fault knobs are a developer's, shown as declared
            assert english_left(output) == [], command
    _, english = run("send", "--help", env=ENGLISH)
    assert english.startswith("Usage: batch-sender send") and "Show this message" in english


def test_send_help_is_vietnamese_from_the_installed_command_under_lang_vi() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES")}
    done = subprocess.run(
        [sys.executable, "-m", "batch_sender", "send", "--help"],
        env={**env, "LANG": "vi_VN.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("Cách dùng: batch-sender send [OPTIONS] INPUT")
    assert "Gửi các dòng hợp lệ của INPUT" in done.stdout


def test_preview_page_and_line_in_vietnamese(tmp_path: Path) -> None:
    code, output = run("preview", str(SAMPLE), "-o", "xem.html", env=VIETNAMESE)
    assert code == 1
    assert output.splitlines() == [
        "campaign.csv: 12 dòng: 8 dòng sẽ được gửi, 4 dòng sẽ không",
        "xem trước: xem.html (8 tin nhắn đầu tiên)",
    ]
    page = Path("xem.html").read_text(encoding="utf-8")
    assert '<html lang="vi">' in page and "4 dòng sẽ không được gửi" in page
    assert "would" not in page and " the " not in page
    run("preview", str(SAMPLE), "-o", "en.html", env=ENGLISH)
    assert '<html lang="en">' in Path("en.html").read_text(encoding="utf-8")


def test_a_simulated_send_and_its_report_in_vietnamese_with_the_result_file_unchanged(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    code, output = run("send", str(SAMPLE), "-o", "vi.csv", "--simulate", "-q", env=VIETNAMESE)
    assert code == 1
    lines = output.splitlines()
    assert lines[0] == "campaign.csv: 12 dòng: 8 đã được nhận, 3 không hợp lệ, 1 trùng lặp"
    assert re.fullmatch(
        r"đã gửi 8 tin nhắn trong \d+,\d giây \([\d.]+,\d tin nhắn/giây\)", lines[-2]
    )
    assert lines[-1] == "tệp kết quả: vi.csv"
    assert english_left(output) == []
    code, report = run("report", "vi.csv", "--html", "bao-cao.html", env=VIETNAMESE)
    assert code == 0 and "eSMS đã nhận" in report and english_left(report) == []
    assert '<html lang="vi">' in Path("bao-cao.html").read_text(encoding="utf-8")

    code_en, output_en = run("send", str(SAMPLE), "-o", "en.csv", "--simulate", "-q", env=ENGLISH)
    assert (code_en, output_en.splitlines()[0]) == (
        1,
        "campaign.csv: 12 rows: 8 accepted, 3 invalid, 1 duplicate",
    )
    vi, en = rows("vi.csv"), rows("en.csv")
    assert list(vi[0]) == list(en[0])
    assert [r["status"] for r in vi] == [r["status"] for r in en]


def test_the_rows_worker_threads_word_follow_the_lang_option_over_the_locale(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """The result rows are made in a thread of their own: they speak --lang too."""
    from .conftest import message_rows

    first = message_rows(3)
    path = write_csv(tmp_path / "c.csv", first)
    args = ("send", str(path), "-o", "r.csv", "--rate", "0", *esms.args)
    assert run(*args, env=ENGLISH)[0] == 0
    # A row added above, for a follower sent to already: a duplicate, not sent.
    write_csv(path, [[first[1][0], "another text", first[1][2]], *first])
    code, output = run("--lang", "vi", *args, env=ENGLISH)
    assert code == 1 and english_left(output) == [], output
    vi = (
        "người quan tâm này đã nhận tin nhắn của một dòng khác trước đó trong chiến dịch này "
        "(lúc ấy là dòng 3); mỗi người quan tâm chỉ nhận một tin mỗi chiến dịch "
        "(--allow-repeats để cố ý gửi lặp)"
    )
    assert f"  dòng 2: trùng lặp: {vi}" in output.splitlines()
    assert rows("r.csv")[0]["ErrorMessage"] == vi
    code, output = run("--lang", "en", *args, env=VIETNAMESE)
    assert code == 1 and "dòng" not in output, output
    en = (
        "this follower got another row's message earlier in this campaign (line 3 then); "
        "one message per follower per campaign (--allow-repeats sends repeats on purpose)"
    )
    assert f"  line 2: duplicate: {en}" in output.splitlines()
    assert rows("r.csv")[0]["ErrorMessage"] == en
    assert esms.stats()["requests"] == 3


def test_the_library_speaks_english_under_a_vietnamese_locale_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Airflow worker's LANG must not change the exceptions, warnings and log lines."""
    bad = write_csv(tmp_path / "bad.csv", [["1", "hi"]], header=["user_id", "text"])
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    monkeypatch.setenv("LC_ALL", "vi_VN.UTF-8")
    with pytest.raises(batch_sender.InputError, match="line 1: missing column 'url'"):
        batch_sender.validate(bad)
    monkeypatch.setenv("BATCH_SENDER_LANG", "vi")
    with pytest.raises(batch_sender.InputError, match="dòng 1: thiếu cột 'url'"):
        batch_sender.validate(bad)


def _in_a_notebook(call: Callable[[], object]) -> BaseException:
    """What `call` raises from inside a running event loop (a notebook cell), in another
    thread than the one that chose the language (ipykernel may run cells so)."""
    import asyncio
    import threading

    raised: list[BaseException] = []

    async def cell() -> None:
        try:
            call()
        except BaseException as exc:  # handed back to the test
            raised.append(exc)

    thread = threading.Thread(target=asyncio.run, args=(cell(),))
    thread.start()
    thread.join()
    return raised[0]


def test_set_language_holds_for_the_whole_process_and_its_threads() -> None:
    try:
        batch_sender.set_language("vi")
        raised = _in_a_notebook(lambda: batch_sender.send("nosuch.csv", "r.csv", simulate=True))
    finally:
        batch_sender.set_language(None)
    assert str(raised) == "nosuch.csv: không có tệp này"
    assert isinstance(raised, batch_sender.InputError)


def test_a_language_chosen_for_a_block_reaches_the_threads_a_send_works_in(
    tmp_path: Path,
) -> None:
    """speaking() chooses for one context: the rows made in the send's threads speak it too."""
    import asyncio

    from .conftest import message_rows

    first = message_rows(2)
    path = write_csv(tmp_path / "c.csv", first)
    assert batch_sender.send(path, "r.csv", simulate=True, rate=0).exit_code == 0
    write_csv(path, [[first[1][0], "another text", first[1][2]], *first])

    async def cell() -> None:  # a notebook: send() runs its loop in a thread of its own
        with speaking("vi"):
            batch_sender.send(path, "r.csv", simulate=True, rate=0)

    asyncio.run(cell())
    assert rows("r.csv")[0]["ErrorMessage"].startswith("người quan tâm này đã nhận tin nhắn")
    with speaking("vi"), pytest.raises(batch_sender.InputError, match="không có tệp này"):
        asyncio.run(
            _raise_in_a_loop(lambda: batch_sender.send("nosuch.csv", "r.csv", simulate=True))
        )


async def _raise_in_a_loop(call: Callable[[], object]) -> None:
    call()


def test_the_python_api_raises_in_the_language_chosen_with_the_same_fields(tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", [["1", "hi"]], header=["user_id", "text"])
    try:
        batch_sender.set_language("vi")
        with pytest.raises(batch_sender.InputError) as vi:
            batch_sender.validate(bad)
    finally:
        batch_sender.set_language(None)
    with pytest.raises(batch_sender.InputError) as en:
        batch_sender.validate(bad)
    assert str(vi.value) == (
        f"{bad}: dòng 1: thiếu cột 'url' (url_column); các cột hiện có: 'user_id', 'text'"
    )
    assert str(en.value).startswith(f"{bad}: line 1: missing column 'url' (url_column)")
    fields = ("path", "line", "column", "exit_code")
    assert [getattr(vi.value, f) for f in fields] == [getattr(en.value, f) for f in fields]
    with pytest.raises(ValueError, match="language must be one of en, vi"):
        batch_sender.set_language("fr")


def test_a_rerun_without_its_journal_reads_a_vietnamese_result_file_as_an_english_one(
    tmp_path: Path,
) -> None:
    """A row eSMS refused says so in its ErrorMessage, in the language of the run that wrote it:
    a rerun that finds the result file without its journal must read that in either language,
    or it would resend the row under its blocked RequestId (124, never accepted)."""
    from batch_sender.simulator.config import Faults, SimulatorConfig

    from .conftest import message_rows, simulator_running

    path = write_csv(tmp_path / "c.csv", message_rows(30))
    faults = Faults(code_160=0.3)
    config = SimulatorConfig(seed=6, faults=faults, reserve_rejected=True)
    with simulator_running(config) as esms:
        args = ("send", str(path), "-o", "r.csv", "--rate", "0", "--backoff", "0", *esms.args)
        code, output = run(*args, env=VIETNAMESE)
        assert code == 1 and english_left(output) == []
        blocked = [r for r in rows("r.csv") if r["CodeResult"] == "124"]
        assert blocked and {r["status"] for r in blocked} == {"failed"}
        assert blocked[0]["ErrorMessage"].endswith("chạy lại sẽ gửi lại dòng này với RequestId mới")
        for side in Path().glob("r.csv.journal.sqlite*"):  # only the result file is left
            side.unlink()

        def no_more_faults() -> None:
            faults.code_160 = 0.0

        esms.call(no_more_faults)
        code, output = run(*args, env=ENGLISH)
        assert code == 0, output
        again = {r["row"]: r for r in rows("r.csv")}
        assert {r["status"] for r in again.values()} == {"accepted"}
        for row in blocked:
            assert again[row["row"]]["RequestId"] != row["RequestId"]
