"""Personalisation: one text for every row, with {column} placeholders filled from the row.

`{{` and `}}` are literal braces. A placeholder names any input column,
spaces and all (`{Tên khách hàng}`); it takes no format spec or conversion.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import pandas as pd

from batch_sender.errors import UsageError
from batch_sender.i18n import _


@dataclass(frozen=True)
class Template:
    parts: tuple[tuple[str, str | None], ...]
    """(literal text, the placeholder after it or None), in order."""

    @classmethod
    def parse(cls, text: str) -> Template:
        if not text.strip():
            raise UsageError(_("{opt:template} is empty: give the message text"))
        parts: list[tuple[str, str | None]] = []
        try:
            for literal, name, spec, conversion in string.Formatter().parse(text):
                if spec or conversion:
                    raise UsageError(
                        _(
                            "{opt:template}: placeholders take no format ('{{name}:{spec}}'); "
                            "write {column} only",
                            name=name,
                            spec=spec,
                        )
                    )
                if name == "":
                    raise UsageError(_("{opt:template}: '{}' names no column; write {column}"))
                parts.append((literal, name))
        except ValueError as exc:
            raise UsageError(
                _("{opt:template}: {exc}; write {{ and }} for literal braces", exc=exc)
            ) from None
        return cls(tuple(parts))

    @property
    def placeholders(self) -> list[str]:
        return [name for _, name in self.parts if name is not None]

    def bind(self, header: list[str]) -> BoundTemplate:
        """Check every placeholder against the input's columns (exit 2 if one is unknown)."""
        from batch_sender.sheet.cells import nfc

        # A Mac writes names decomposed (NFD): a name typed elsewhere must still match.
        header = [nfc(name) for name in header]
        unknown = [name for name in self.placeholders if nfc(name) not in header]
        if unknown:
            names = ", ".join(repr(h) for h in header)
            listed = ", ".join("{" + name + "}" for name in dict.fromkeys(unknown))
            raise UsageError(
                _(
                    "{opt:template}: unknown placeholder {listed}; columns: {names}",
                    listed=listed,
                    names=names,
                )
            )
        positions = tuple(
            (literal, None if name is None else header.index(nfc(name)))
            for literal, name in self.parts
        )
        return BoundTemplate(self, positions)


@dataclass(frozen=True)
class BoundTemplate:
    template: Template
    positions: tuple[tuple[str, int | None], ...]

    def fill(self, chunk: pd.DataFrame) -> tuple[list[str], list[str | None]]:
        """Per row: the filled text, and the first placeholder whose cell is empty (or None)."""
        n = len(chunk)
        pieces: list[list[str]] = []
        empty: list[str | None] = [None] * n
        names = self.template.placeholders
        index = 0
        for literal, position in self.positions:
            pieces.append([literal] * n)
            if position is None:
                continue
            values = chunk.iloc[:, position].tolist()
            for row, value in enumerate(values):
                if empty[row] is None and not value.strip():
                    empty[row] = names[index]
            pieces.append(values)
            index += 1
        return ["".join(row) for row in zip(*pieces, strict=True)], empty
