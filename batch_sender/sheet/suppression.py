"""Suppression lists (--exclude): followers who must never be messaged.

A file is either a sheet with a user_id column (CSV with any delimiter the
input may use, or a workbook) or plain text with one id per line (blank lines
and # comments skipped). Each id keeps its line, and whether the spreadsheet
held it as a long number, so that the caller can check it like the sheet's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from batch_sender.errors import InputError
from batch_sender.i18n import _, warning
from batch_sender.sheet.reader import open_table
from batch_sender.sheet.source import DELIMITERS, LONG_NUMBER_IDS, Columns, Source, sniff_format

_NUMBER_LIKE = re.compile(r"[0-9][0-9.,eE+-]*")


@dataclass(frozen=True)
class Listed:
    """One id of a list as written, with where it is."""

    line: int
    value: str
    number_cell: bool = False
    """The spreadsheet held it as a number of over 15 digits: it has been rounded."""


@dataclass(frozen=True)
class SuppressionList:
    path: Path
    entries: tuple[Listed, ...]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(entry.value for entry in self.entries)


@dataclass(frozen=True)
class Suppression:
    """The lists of a run, and which of their ids have matched a row so far."""

    lists: tuple[SuppressionList, ...] = ()
    matched: set[str] = field(default_factory=set)
    """Filled while the sheet is read (a set: a second reading adds nothing)."""

    @property
    def ids(self) -> frozenset[str]:
        return frozenset().union(*(listed.ids for listed in self.lists))

    def counts(self) -> list[dict[str, object]]:
        """Per list: its file, how many distinct ids it has and how many matched a row."""
        return [
            {
                "file": str(listed.path),
                "ids": len(ids := listed.ids),
                "matched": len(ids & self.matched),
            }
            for listed in self.lists
        ]

    def lines(self) -> list[str]:
        """A line per list; one whose ids match no row is a warning (a wrong or spoilt list)."""
        out = []
        for count in self.counts():
            name, ids, matched = Path(str(count["file"])).name, count["ids"], count["matched"]
            if matched:
                out.append(
                    _(
                        "suppression list {name}: {matched:,} of its {ids:,} ids matched a row",
                        name=name,
                        matched=matched,
                        ids=ids,
                    )
                )
            elif ids:
                out.append(
                    warning(
                        _(
                            "suppression list {name}: none of its {ids:,} ids matched a row; "
                            "is it the right list, with the same user_ids as the sheet?",
                            name=name,
                            ids=ids,
                        )
                    )
                )
            else:
                out.append(
                    warning(_("suppression list {name} has no ids: it excludes nobody", name=name))
                )
        return out


def load_lists(paths: Iterable[Path], user_id_column: str = "user_id") -> Suppression:
    return Suppression(
        tuple(SuppressionList(path, tuple(_load(path, user_id_column))) for path in paths)
    )


def _load(path: Path, user_id_column: str) -> list[Listed]:
    if not path.is_file():
        raise InputError(path, _("no such suppression list ({opt:exclude})"))
    if sniff_format(path) != "text":
        return _from_sheet(path, user_id_column)
    try:
        with path.open(encoding="utf-8-sig") as f:
            first = next((s for line in f if (s := line.strip()) and not s.startswith("#")), "")
    except UnicodeDecodeError:
        raise InputError(path, _("the suppression list is not UTF-8 text")) from None
    header = {cell.strip().casefold() for cell in re.split(r"[,;\t|]", first)}
    wanted = user_id_column.strip().casefold()
    # "7,80038E+18" has a comma, yet is one (rounded) id: a plain list's line.
    one_id = _NUMBER_LIKE.fullmatch(first) is not None
    if header & {wanted, "user_id"} or (not one_id and any(d in first for d in DELIMITERS)):
        # The reader matches the name exactly, else in any case (User_ID).
        return _from_sheet(path, user_id_column if wanted in header else "user_id")
    with path.open(encoding="utf-8-sig") as f:
        return [
            Listed(number, s)
            for number, line in enumerate(f, start=1)
            if (s := line.strip()) and not s.startswith("#")
        ]


def _from_sheet(path: Path, name: str) -> list[Listed]:
    source = Source(path=path, columns=Columns(user_id=name, text=None, url=None))
    table = open_table(source)
    position = table.fields["user_id"]
    entries = []
    for chunk in table.chunks():
        long_numbers = chunk.attrs.get(LONG_NUMBER_IDS, frozenset())
        for line, value in zip(chunk.index.tolist(), chunk.iloc[:, position].tolist(), strict=True):
            if value := value.strip():
                entries.append(Listed(line, value, line in long_numbers))
    return entries
