"""Calls into the journal's writer thread: the one thread that owns its SQLite connection."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    from batch_sender.journal.store import Journal

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


class _Writes(Protocol):
    def _call(self, fn: Callable[[], _T]) -> _T: ...


_S = TypeVar("_S", bound=_Writes)


class _Rows:
    """A statement's rows, fetched in the journal's thread."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class _InWriter:
    """The connection as the journal's queries see it: each statement runs in its thread.

    The connection is the journal thread's alone, so a query never meets a
    batch half-committed, whichever thread asks.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def execute(self, sql: str, params: Sequence[object] = ()) -> _Rows:
        conn = self._journal._conn
        return self._journal._call(lambda: _Rows(conn.execute(sql, params).fetchall()))

    def executemany(self, sql: str, seq: Iterable[Sequence[object]]) -> None:
        conn, rows = self._journal._conn, list(seq)
        self._journal._call(lambda: conn.executemany(sql, rows))


def _in_writer(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """Run a method that touches SQLite in the journal's own thread, and wait for it."""

    def call(journal: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return journal._call(lambda: method(journal, *args, **kwargs))

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    return call
