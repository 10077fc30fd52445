"""Open a campaign's input: the sheet, the text template, the suppression lists, the images."""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_sender.check.rules import Campaign, Checks, image_url_problem
from batch_sender.errors import UsageError
from batch_sender.offloop import run_to_end
from batch_sender.settings import DELIMITER_NAMES
from batch_sender.sheet.reader import Columns, Source, Table, open_table
from batch_sender.sheet.suppression import load_exclusions
from batch_sender.sheet.template import Template


@dataclass(frozen=True)
class Opened:
    """An input ready to check or send: its table, campaign and the campaign's own rules."""

    table: Table
    campaign: Campaign
    checks: Checks


def open_input(
    input_path: Path,
    *,
    user_id_column: str = "user_id",
    text_column: str = "text",
    url_column: str = "url",
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    campaign_id: str | None = None,
    chunk_rows: int = 5_000,
    template: str | None = None,
    template_file: Path | None = None,
    exclude: Iterable[Path] = (),
    image_url: str | None = None,
    allow_repeats: bool = False,
) -> Opened:
    """Open INPUT and gather what the campaign adds to the rules (UsageError/InputError)."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(f"unknown {{opt:encoding}} {encoding!r}") from None
    if template_file is not None:
        if template is not None:
            raise UsageError("give {opt:template} or {opt:template_file}, not both")
        try:
            template = template_file.read_text(encoding="utf-8-sig").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{{opt:template_file}} {template_file}: cannot read it ({exc})"
            ) from None
    parsed = Template.parse(template) if template is not None else None
    if image_url is not None:
        image_url = image_url.strip()
        problem = image_url_problem(image_url)
        if problem is not None:
            raise UsageError(f"{{opt:image_url}} {image_url!r} {problem}")
    if delimiter is not None and delimiter.lower() not in DELIMITER_NAMES:
        names = ", ".join(name for name in DELIMITER_NAMES if name.isalpha())
        raise UsageError(f"unknown {{opt:delimiter}} {delimiter!r}; use one of {names}")
    source = Source(
        path=input_path,
        columns=Columns(
            user_id_column,
            None if parsed else text_column,
            None if image_url is not None else url_column,
        ),
        encoding=encoding,
        sheet=sheet,
        delimiter=None if delimiter is None else DELIMITER_NAMES[delimiter.lower()],
        chunk_rows=chunk_rows,
    )
    table = open_table(source)
    campaign = Campaign(campaign_id) if campaign_id else Campaign.for_input(input_path)
    checks = Checks(
        template=parsed.bind(table.header) if parsed else None,
        excluded=load_exclusions([Path(p) for p in exclude], user_id_column),
        image_url=image_url,
        allow_repeats=allow_repeats,
    )
    return Opened(table, campaign, checks)


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


def open_checked(input_path: Path, *, check_images: bool = False, **options: Any) -> Opened:
    """open_input, then the image checks if asked: for callers without a loop of their own."""
    opened = open_input(input_path, **options)
    if check_images:
        opened = run_to_end(with_image_checks(opened))
    return opened
