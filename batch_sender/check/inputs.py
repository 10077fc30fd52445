"""Open a campaign's input: the sheet, the text template, the suppression lists, the images."""

from __future__ import annotations

import codecs
import dataclasses
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import Checks, image_url_problem, user_id_problem
from batch_sender.errors import InputError, UsageError
from batch_sender.i18n import _, ngettext
from batch_sender.offloop import run_to_end
from batch_sender.options import Reading
from batch_sender.settings import DELIMITER_NAMES
from batch_sender.sheet.reader import Table, open_table
from batch_sender.sheet.source import HIDDEN_POLICIES, Columns, Source, is_special_file
from batch_sender.sheet.suppression import Suppression, load_lists
from batch_sender.sheet.template import Template


@dataclass(frozen=True)
class Opened:
    """An input ready to check or send: its table, campaign and the campaign's own rules."""

    table: Table
    campaign: Campaign
    checks: Checks


def open_input(input_path: Path, reading: Reading) -> Opened:
    """Open INPUT and gather what the campaign adds to the rules (UsageError/InputError)."""
    encoding, delimiter, template = reading.encoding, reading.delimiter, reading.template
    image_url, user_id_column = reading.image_url, reading.user_id_column
    template_file = None if reading.template_file is None else Path(reading.template_file)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(
                _("unknown {opt:encoding} {encoding}", encoding=repr(encoding))
            ) from None
    if template_file is not None:
        if template is not None:
            raise UsageError(_("give {opt:template} or {opt:template_file}, not both"))
        try:
            template = template_file.read_text(encoding="utf-8-sig").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                _(
                    "{opt:template_file} {template_file}: cannot read it ({exc})",
                    template_file=template_file,
                    exc=exc,
                )
            ) from None
    parsed = Template.parse(template) if template is not None else None
    if image_url is not None:
        image_url = image_url.strip()
        problem = image_url_problem(image_url)
        if problem is not None:
            raise UsageError(
                _(
                    "{opt:image_url} {image_url} {problem}",
                    image_url=repr(image_url),
                    problem=problem,
                )
            )
    if reading.hidden_rows not in HIDDEN_POLICIES:
        raise UsageError(
            _(
                "unknown {opt:hidden_rows} {hidden_rows}; use refuse, skip or send",
                hidden_rows=repr(reading.hidden_rows),
            )
        )
    if delimiter is not None and delimiter.lower() not in DELIMITER_NAMES:
        names = ", ".join(name for name in DELIMITER_NAMES if name.isalpha())
        raise UsageError(
            _(
                "unknown {opt:delimiter} {delimiter}; use one of {names}",
                delimiter=repr(delimiter),
                names=names,
            )
        )
    shown = None
    if is_stream(input_path):
        shown = str(input_path)
        input_path = spool(input_path)
    source = Source(
        path=input_path,
        shown=shown,
        columns=Columns(
            user_id_column,
            None if parsed else reading.text_column,
            None if image_url is not None else reading.url_column,
        ),
        encoding=encoding,
        sheet=reading.sheet,
        hidden_rows=reading.hidden_rows,
        delimiter=None if delimiter is None else DELIMITER_NAMES[delimiter.lower()],
        chunk_rows=reading.chunk_rows,
    )
    try:
        table = open_table(source)
    except BaseException:
        if shown is not None:
            input_path.unlink(missing_ok=True)
        raise
    if shown is not None:
        # The copy lives as long as the table that reads it.
        weakref.finalize(table, input_path.unlink, missing_ok=True)
    campaign = (
        Campaign(campaign_id)
        if (campaign_id := reading.campaign_id)
        else Campaign.for_input(input_path if shown is None else Path(shown))
    )
    suppression = load_suppression([Path(p) for p in reading.exclude], user_id_column)
    checks = Checks(
        template=parsed.bind(table.header) if parsed else None,
        excluded=suppression.ids,
        suppression=suppression,
        image_url=image_url,
        allow_repeats=reading.allow_repeats,
    )
    return Opened(table, campaign, checks)


STDIN = Path("-")


def is_stream(path: Path) -> bool:
    """`-` (stdin), a FIFO, `/dev/stdin` or `<(...)`: readable once, and not seekable."""
    return path == STDIN or is_special_file(path)


def spool(path: Path) -> Path:
    """A private copy of a stream, so it can be sniffed, read and read again.

    A pipe can be read only once, and reading a sheet takes more than one
    pass (its format, its header, its rows, a rerun's plan).
    """
    import shutil
    import sys
    import tempfile

    handle, name = tempfile.mkstemp(prefix="batch-sender-input-")
    copy = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            if path == STDIN:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
            else:
                with path.open("rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
    except OSError as exc:
        copy.unlink(missing_ok=True)
        raise InputError(path, _("cannot read it: {reason}", reason=exc.strerror or exc)) from None
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    return copy


def load_suppression(paths: Iterable[Path], user_id_column: str = "user_id") -> Suppression:
    """The --exclude lists, each id checked by the sheet's own user_id rule.

    A list that went through a spreadsheet may hold rounded ids (7.80038E+18):
    they match nobody, so the followers they stand for would be messaged.
    """
    suppression = load_lists(paths, user_id_column)
    for listed in suppression.lists:
        for entry in listed.entries:
            problem = user_id_problem(entry.value, number_cell=entry.number_cell)
            if problem is not None:
                raise InputError(
                    listed.path,
                    _("suppression list ({opt:exclude}): {problem}", problem=problem),
                    line=entry.line,
                )
    return suppression


def input_notes(checks: Checks) -> list[str]:
    """What the whole sheet's reading found about the lists and hidden rows, a line each."""
    lines = checks.suppression.lines()
    if skipped := len(checks.hidden_skipped):
        lines.append(
            ngettext(
                "{n:,} hidden row is not sent (excluded: --hidden-rows skip)",
                "{n:,} hidden rows are not sent (excluded: --hidden-rows skip)",
                skipped,
            )
        )
    return lines


def input_summary(checks: Checks) -> dict[str, Any]:
    """input_notes for the summary JSON."""
    return {
        "suppression_lists": checks.suppression.counts(),
        "hidden_rows_skipped": len(checks.hidden_skipped),
    }


async def with_image_checks(opened: Opened) -> Opened:
    """`opened` with why each bad image URL of its valid rows cannot be sent.

    Reading the input runs in a worker thread and the fetches in the running
    loop: this works inside any event loop, never blocking it for long.
    """
    import asyncio

    from batch_sender.check.images import image_problems, image_urls

    urls = await asyncio.to_thread(image_urls, opened.table, opened.campaign, opened.checks)
    problems = await image_problems(urls)
    checks = dataclasses.replace(opened.checks, image_problems=problems)
    return dataclasses.replace(opened, checks=checks)


def open_checked(input_path: Path, reading: Reading) -> Opened:
    """open_input, then the image checks if asked: for callers without a loop of their own."""
    opened = open_input(input_path, reading)
    if reading.check_images:
        opened = run_to_end(with_image_checks(opened))
    return opened
