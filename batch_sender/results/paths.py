"""Where outputs may go: never over the input, another campaign or a folder that is not there."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from batch_sender.errors import UsageError
from batch_sender.i18n import _
from batch_sender.journal.files import JOURNAL_SUFFIX, journal_path, side_files
from batch_sender.journal.store import Journal
from batch_sender.results.files import is_stream, is_system_name, temp_name, written_in_place


def is_spreadsheet(path: Path, *, excel: bool) -> bool:
    """Will a spreadsheet open this file: an .xlsx, or a CSV written for Excel."""
    return excel or path.suffix.lower() == ".xlsx"


def check_output_path(output: Path, input_path: Path, *, resumes: bool = False) -> None:
    """Refuse, before anything is sent, an output that would fail or destroy the input.

    resumes: `send -o`, whose output is its own campaign's result file.
    """
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(_("{output}: the output must be a .csv or .xlsx file", output=output))
    if output.resolve() == input_path.resolve():
        raise UsageError(
            _(
                "{output}: {opt:output} is the input file; choose another name for the output",
                output=output,
            )
        )
    if resumes and (is_stream(output) or is_system_name(output)):
        raise UsageError(
            _(
                "{output}: the result file must be a file (reruns, callbacks and status read "
                "and rewrite it), not a pipe or a device; choose a file name",
                output=output,
            )
        )
    check_output(output, what="-o", own_results=output if resumes else None)


def check_output(
    path: Path, *, what: str, taken: Iterable[Path] = (), own_results: Path | None = None
) -> None:
    """The one check every command's output goes through before anything is written.

    No output may be a file the command reads (`taken`: its input...), a
    campaign's journal or one of its logs, or the result file of a campaign
    that has a journal (the only record of what went out), except `send -o`
    over its own (`own_results`). UsageError (exit 2) names what it would hit.
    """
    # First: a name too long fails every later look at the file (even exists()).
    names = [path.name, temp_name(path)]
    check_names(path, names + (campaign_names(path) if own_results is not None else []))
    resolved = path.resolve()
    for other in taken:
        if resolved == other.resolve():
            raise UsageError(
                _(
                    "{path}: {what} would overwrite {other}; choose another name",
                    path=path,
                    what=what,
                    other=other,
                )
            )
    for candidate in dict.fromkeys((path, resolved)):
        if JOURNAL_SUFFIX in candidate.name:
            raise UsageError(
                _(
                    "{path}: {what} would overwrite a campaign's journal (the record of what was "
                    "sent); choose another name",
                    path=path,
                    what=what,
                )
            )
        if journal_path(candidate).exists() and (
            own_results is None or own_results.resolve() != resolved
        ):
            raise UsageError(
                _(
                    "{path}: {what} would overwrite the result file of a campaign ({name} is "
                    "beside it); choose another name",
                    path=path,
                    what=what,
                    name=journal_path(candidate).name,
                )
            )
    if not written_in_place(path):  # written into, nothing made beside it
        _check_folder(path)


def campaign_names(results: Path) -> list[str]:
    """The names of the journal's files beside a result file."""
    return [f.name for f in (journal_path(results), *side_files(journal_path(results)))]


def check_names(path: Path, names: Iterable[str]) -> None:
    """Refuse `path` now if a file it brings along would have a name the folder cannot hold.

    A name holds at most NAME_MAX bytes (255 on Linux and macOS), and a
    Vietnamese letter is two or three bytes in UTF-8: found later, such a
    name fails as a crash or as a full disk, with advice that cannot work.
    """
    folder = path.parent
    name_max, path_max = _limit(folder, "PC_NAME_MAX", 255), _limit(folder, "PC_PATH_MAX", 4096)
    sizes = {name: len(os.fsencode(name)) for name in names}
    over = [name for name, size in sizes.items() if size > name_max]
    if over:
        name = path.name if path.name in over else max(over, key=sizes.__getitem__)
        which = (
            "" if name == path.name else _(" for the file that goes beside it, {name}", name=name)
        )
        cut = max(sizes[n] for n in over) - name_max  # enough for every file it brings
        raise UsageError(
            _(
                "{path}: the name is too long{which}: {size} bytes where the folder allows "
                "{name_max}; shorten it by at least {cut} bytes (a Vietnamese letter takes 2 or 3)",
                path=path,
                which=which,
                size=sizes[name],
                name_max=name_max,
                cut=cut,
            )
        )
    for name in sizes:
        full = len(os.fsencode(str((folder / name).absolute())))
        if full > path_max:
            raise UsageError(
                _(
                    "{path}: the path is too long: {full_path} would be {full} bytes, at most "
                    "{path_max}; choose a shorter folder or name",
                    path=path,
                    full_path=folder / name,
                    full=full,
                    path_max=path_max,
                )
            )


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return default


def _check_folder(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        what = _("is not a folder") if parent.exists() else _("does not exist")
        raise UsageError(
            _("{path}: the folder {parent} {what}", path=path, parent=parent, what=what)
        )
    if not os.access(parent, os.W_OK):
        raise UsageError(_("{path}: cannot write in the folder {parent}", path=path, parent=parent))


OUTPUT_SUFFIXES = (".csv", ".xlsx")


def check_side_file(path: Path, *, taken: list[Path], what: str) -> None:
    """A file written besides the result (--summary-json, --html): never over another one."""
    check_output(path, what=what, taken=taken)


def require_campaign(
    results: Path,
    *,
    campaign_id: str | None = None,
    may_start: bool = False,
    rewrites: bool = True,
) -> None:
    """callbacks, status and report work on a campaign that exists: its journal beside RESULTS.

    They never make a journal by themselves: one nobody sends into would take
    eSMS's reports (answered 200, so never sent again) where no result file
    reads them. With campaign_id (callbacks started before send), the
    campaign's journal is made now, or checked to be that campaign's;
    may_start: the command takes --campaign-id (the error says so);
    rewrites: the command writes RESULTS anew (callbacks, status; not report).
    """
    journal = journal_path(results)
    names = [results.name, *campaign_names(results)]
    check_names(results, [*names, temp_name(results)] if rewrites else names)
    if campaign_id is not None:
        if not journal.exists():
            _check_folder(journal)
        Journal.open(journal, campaign_id).close()
        return
    if journal.exists():
        return
    folder = results.parent
    others = sorted(
        str(results.with_name(found.name[: -len(JOURNAL_SUFFIX)]))
        for found in folder.glob(f"*{JOURNAL_SUFFIX}")
        if found.name != JOURNAL_SUFFIX
    )
    if others:
        hint = _("did you mean {names}?", names=_(" or ").join(others))
    else:
        command = f"`batch-sender send INPUT -o {results}`"
        hint = _("no campaign in {folder}; {command} starts one", folder=folder, command=command)
    if may_start:
        hint += _(" (to start before send, pass --campaign-id)")
    raise UsageError(
        _(
            "{results}: no campaign journal beside it ({name}); {hint}",
            results=results,
            name=journal.name,
            hint=hint,
        )
    )
