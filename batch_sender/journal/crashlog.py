"""The crash logs: every mark and answer on disk before SQLite has it.

A `sending` mark is made crash-proof before its request goes out, and an
answer the moment it arrives: each is appended to a log beside the journal
(a write() the kernel keeps even if the process is killed; a commit of SQLite
for every request would cost a quarter of the throughput). There are two
logs: while the writer commits one log's batch, new entries go to the other,
and a log is emptied only once its batch is committed. `Journal.open` folds
what a killed run left in them.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batch_sender.journal.reserve import Reserve
from batch_sender.journal.statements import (
    ADD_TEXT,
    AMBIGUOUS,
    ANSWERED,
    FOLD_INTENT,
    IDENTIFY,
    IDENTIFY_TEXT,
    RECORD,
    SENDING,
)

_quote = json.encoder.encode_basestring_ascii
"""A JSON string literal, in C: a log entry costs a microsecond or two, not json.dumps' six."""

_write_fd = os.write
"""How log entries reach the disk (tests replace it to fill the disk)."""

Write = tuple[str, tuple[object, ...]]
"""One write of the journal: its SQL and its parameters."""


class CrashLog:
    """The two logs of marks and answers, and the reserve; open only in the process that sends."""

    def __init__(self, intents_path: Path, reserve_path: Path) -> None:
        self.paths = [intents_path, intents_path.with_name(intents_path.name + "-1")]
        self.reserve = Reserve(reserve_path)
        self._fds: list[int] = []
        self._active = 0

    @property
    def is_open(self) -> bool:
        return bool(self._fds)

    def open(self) -> None:
        """The logs, and the reserve: without it no request may go out (OSError)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self._fds = [os.open(p, flags, 0o644) for p in self.paths]
        self.reserve.allocate()

    def append(self, data: bytes) -> None:
        """One entry in the active log; OSError (ENOSPC for a short write) if not all of it."""
        written = _write_fd(self._fds[self._active], data)
        if written != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def swap(self) -> int:
        """Send new entries to the other log; the one that holds the entries so far."""
        used = self._active
        if self._fds:
            self._active = 1 - used
        return used

    def empty(self, used: int) -> None:
        """The log's entries are committed: it starts over."""
        if self._fds:
            os.ftruncate(self._fds[used], 0)

    def close(self, *, committed: bool) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        self.reserve.close(committed=committed)

    def entry(self, kind: str, *fields: str | int) -> str | None:
        """A log entry for a write a rerun needs, when sending (replayed by `_logged`)."""
        if not self._fds:
            return None
        texts = ",".join(_quote(f) if isinstance(f, str) else str(f) for f in fields)
        return f'["{kind}",{time.time_ns()},{texts}]'

    def leftovers(self) -> list[Write]:
        """What a killed run logged, in the order it was made: a mark, then its answer."""
        entries: list[tuple[int, int, tuple[Write, ...]]] = []
        for path in (*self.paths, self.reserve.path):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            # The reserve's unused blocks read as NULs.
            for entry in raw.rstrip(b"\0").decode("utf-8", errors="replace").splitlines():
                logged = _logged(entry)
                if logged is not None:
                    entries.append((logged[0], len(entries), logged[1]))
        entries.sort()
        return [write for _, _, writes in entries for write in writes]

    def forget_leftovers(self) -> None:
        """The leftovers are committed: the files start over."""
        for path in (*self.paths, self.reserve.path):
            if path.exists():
                os.truncate(path, 0)


def intent_entry(request_id: str, line: int, at: float) -> str:
    return f'["i",{time.time_ns()},{_quote(request_id)},{int(line)},{float(at)!r}]'


Identity = tuple[tuple[str, str, str, str, int], int | None]
"""A request's row key, user_id, content id, OAID and sandbox-or-not; its text's id."""


def identity_write(request_id: str, params: tuple[object, ...], key: int | None) -> Write:
    if key is None:
        return IDENTIFY, (*params, request_id)
    return IDENTIFY_TEXT, (*params, key, request_id)


def intent(
    request_id: str, line: int, at: float, identity: Identity | None
) -> tuple[tuple[Write, ...], str]:
    """A request's mark (with a first attempt's identity) as writes, and their one entry.

    One entry, one write() per request: a first attempt's mark and its row
    are on disk together or not at all (a line cut short replays nothing).
    """
    sending: Write = (SENDING, (request_id, line, at, at))
    if identity is None:
        return (sending,), intent_entry(request_id, line, at)
    (row_key, user_id, content_id, oaid, sandbox), key = identity
    texts = ",".join(_quote(t) for t in (row_key, user_id, content_id, oaid))
    text_key = "null" if key is None else str(int(key))
    entry = (
        f'["s",{time.time_ns()},{_quote(request_id)},{int(line)},{float(at)!r},{texts},'
        f"{int(sandbox)},{text_key}]"
    )
    return (sending, identity_write(request_id, identity[0], key)), entry


def answer_entry(
    request_id: str, line: int, status: str, code: str, smsid: str, message: str, at: float
) -> str:
    texts = ",".join(_quote(t) for t in (status, code, smsid))
    return (
        f'["a",{time.time_ns()},{_quote(request_id)},{int(line)},{texts},'
        f"{_quote(message)},{float(at)!r}]"
    )


def _logged(entry: str) -> tuple[int, tuple[Write, ...]] | None:
    """A log entry as (when, writes), or None for a line cut short by a crash or a full disk."""
    if not entry.strip():
        return None
    try:
        if entry.startswith("["):
            fields = json.loads(entry)
            kind, ns = fields[0], int(fields[1])
            if kind == "i":
                request_id, line, at = str(fields[2]), int(fields[3]), float(fields[4])
                return ns, ((FOLD_INTENT, (request_id, line, at, at)),)
            if kind == "s" and len(fields) == 11:
                request_id, line, at = str(fields[2]), int(fields[3]), float(fields[4])
                identity = (*(str(f) for f in fields[5:9]), int(fields[9]))
                key = None if fields[10] is None else int(fields[10])
                write = identity_write(request_id, identity, key)
                return ns, ((FOLD_INTENT, (request_id, line, at, at)), write)
            if kind == "a" and len(fields) == 9:
                request_id, line = str(fields[2]), int(fields[3])
                status, code, smsid, message = (str(f) for f in fields[4:8])
                params = (request_id, line, status, code, smsid, message, float(fields[8]))
                return ns, ((RECORD, params),)
            if kind in _REPLAYED:
                sql, types = _REPLAYED[kind]
                values = fields[2:]
                if len(values) != len(types):
                    return None
                return ns, ((sql, tuple(t(v) for t, v in zip(types, values, strict=True))),)
            return None
        # The first format: "request_id<TAB>line<TAB>time", intents only.
        request_id, line_text, at_text = entry.split("\t")
        at = float(at_text)
        return 0, ((FOLD_INTENT, (request_id, int(line_text), at, at)),)
    except (ValueError, TypeError, IndexError):
        return None


_REPLAYED: dict[str, tuple[str, tuple[Callable[[Any], object], ...]]] = {
    "m": (AMBIGUOUS, (str,)),
    "n": (ANSWERED, (str,)),
    "d": (IDENTIFY, (str, str, str, str, int, str)),
    "e": (IDENTIFY_TEXT, (str, str, str, str, int, int, str)),
    "x": (ADD_TEXT, (int, str)),
}
"""Log entries replayed as the write they stand for: kind -> (SQL, its parameters' types)."""
