"""`validate` and `preview`: a campaign's sheet checked, or shown as followers would see it.

Neither sends anything, and neither needs an account. The sync forms run
in the calling thread, without an event loop (unless images are checked):
a dry run never loads the network stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from batch_sender.api.common import counts, options_of, problems, run_warnings, write_summary
from batch_sender.api.reports import PreviewReport, ValidateReport
from batch_sender.errors import UsageError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _
from batch_sender.offloop import run_to_end
from batch_sender.options import PathLike, Reading, ReadingKeywords, grouped, refuse_unknown

if TYPE_CHECKING:
    from batch_sender.check.inputs import Opened


async def validate_async(
    input: PathLike,
    output: PathLike | None = None,
    *,
    reading: Reading | None = None,
    excel: bool = False,
    summary_json: PathLike | None = None,
    **options: Unpack[ReadingKeywords],
) -> ValidateReport:
    """Check every row of `input` and send nothing; write the report to `output` if given.

    `output` gets the result file's columns, `status` one of valid, invalid,
    duplicate or excluded (a BOM for Excel with `excel`); `summary_json`
    gets `report.as_dict()`. How the input is read is `reading`; its fields
    may be given as keyword arguments instead (`user_id_column="zalo_id"`),
    which win over `reading`'s.

    Reading and checking run in worker threads: the loop is never held up.
    Raises InputError (file, line, column) or UsageError if the input or an
    option cannot be used.
    """
    from batch_sender.offloop import in_thread

    dry_run = _DryRun(input, output, summary_json, excel, _reading("validate", reading, options))
    await in_thread(_import_validate_path)
    opened = await in_thread(dry_run.open)
    if dry_run.reading.check_images:
        from batch_sender.check.inputs import with_image_checks

        opened = await with_image_checks(opened)
    return await in_thread(dry_run.finish, opened)


@options_of(validate_async)
def validate(
    input: PathLike,
    output: PathLike | None = None,
    *,
    reading: Reading | None = None,
    excel: bool = False,
    summary_json: PathLike | None = None,
    **options: Any,
) -> ValidateReport:
    """`validate_async`'s twin, run in the calling thread (Ctrl-C stops it at once)."""
    dry_run = _DryRun(input, output, summary_json, excel, _reading("validate", reading, options))
    opened = dry_run.open()
    if dry_run.reading.check_images:
        from batch_sender.check.inputs import with_image_checks

        opened = run_to_end(with_image_checks(opened))
    return dry_run.finish(opened)


def _reading(command: str, reading: Reading | None, options: Any) -> Reading:
    refuse_unknown(command, options, Reading)
    return grouped(Reading, reading, options)


class _DryRun:
    """validate's steps, shared by the sync and async forms."""

    def __init__(
        self,
        input: PathLike,
        output: PathLike | None,
        summary_json: PathLike | None,
        excel: bool,
        reading: Reading,
    ) -> None:
        self.input = Path(input)
        self.output = None if output is None else Path(output)
        self.summary = None if summary_json is None else Path(summary_json)
        self.excel = excel
        self.reading = reading

    def open(self) -> Opened:
        from batch_sender.check.inputs import open_input
        from batch_sender.results.paths import check_output_path, check_side_file
        from batch_sender.results.rows import refuse_our_names

        if self.output is not None:
            check_output_path(self.output, self.input)
        if self.summary is not None:
            taken = [self.input] + ([self.output] if self.output else [])
            check_side_file(self.summary, taken=taken, what="{opt:summary_json}")
        opened = open_input(self.input, self.reading)
        refuse_our_names(opened.table.source.display, opened.table.header)
        return opened

    def finish(self, opened: Opened) -> ValidateReport:
        from batch_sender.check.inputs import input_notes, input_summary
        from batch_sender.results.validation import validate_file

        # A result CSV keeps the input's BOM: Excel then reads its Vietnamese right.
        excel = self.excel or opened.table.source.has_bom
        tally = validate_file(
            opened.table, opened.campaign, self.output, checks=opened.checks, excel=excel
        )
        notes = input_notes(opened.checks)
        report = ValidateReport(
            input=self.input,
            output=self.output,
            campaign_id=opened.campaign.id,
            rows=tally.rows,
            counts=counts(tally.statuses),
            problems=problems(tally),
            exit_code=tally.exit_code(),
            tally=tally,
            notes=notes,
            warnings=run_warnings(notes, []),
            inputs=input_summary(opened.checks),
        )
        if self.summary is not None:
            write_summary(self.summary, report.as_dict())
        return report


def _import_validate_path() -> None:
    import batch_sender.check.inputs
    import batch_sender.results.validation  # noqa: F401


# --- preview -------------------------------------------------------------------


async def preview_async(
    input: PathLike,
    output: PathLike,
    *,
    rows: int = 20,
    reading: Reading | None = None,
    **options: Unpack[ReadingKeywords],
) -> PreviewReport:
    """Write `output`, one HTML page: the first `rows` messages as a follower sees them.

    Below them, every row that would not be sent, with why. Takes `send`'s
    reading options; sends nothing. Exit code 1 when some rows would not be
    sent. Raises InputError or UsageError (the page must be .html).
    """
    from batch_sender.offloop import in_thread

    reading = _reading("preview", reading, options)
    await in_thread(_import_validate_path)
    if not reading.check_images:
        return await in_thread(_preview, Path(input), Path(output), rows, reading)
    from batch_sender.check.inputs import open_input, with_image_checks

    await in_thread(_check_preview_paths, Path(input), Path(output))
    opened = await with_image_checks(await in_thread(open_input, Path(input), reading))
    return await in_thread(_preview_write, opened, Path(input), Path(output), rows)


@options_of(preview_async)
def preview(
    input: PathLike,
    output: PathLike,
    *,
    rows: int = 20,
    reading: Reading | None = None,
    **options: Any,
) -> PreviewReport:
    """`preview_async`'s twin, run in the calling thread."""
    return _preview(Path(input), Path(output), rows, _reading("preview", reading, options))


def _preview(input: Path, output: Path, rows: int, reading: Reading) -> PreviewReport:
    from batch_sender.check.inputs import open_checked

    _check_preview_paths(input, output)
    return _preview_write(open_checked(input, reading), input, output, rows)


def _check_preview_paths(input: Path, output: Path) -> None:
    from batch_sender.results.paths import check_side_file

    if output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(_("{output}: the preview must be an .html file", output=output))
    check_side_file(output, taken=[input], what="{opt:output}")


def _preview_write(opened: Opened, input: Path, output: Path, rows: int) -> PreviewReport:
    from batch_sender.check.preview import build_preview, html_preview
    from batch_sender.results.files import atomic_text_file

    page = build_preview(opened.table, opened.campaign, opened.checks, rows)
    with atomic_text_file(output) as f:
        f.write(html_preview(page))
    return PreviewReport(
        input=input,
        output=output,
        rows=page.rows,
        to_send=page.to_send,
        left_out=page.left_out_count,
        shown=len(page.messages),
        exit_code=ExitCode.NEEDS_ATTENTION if page.left_out_count else ExitCode.OK,
    )
