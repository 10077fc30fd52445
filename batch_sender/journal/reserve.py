"""Room allocated beside the journal while sending, for the answers in flight when the disk fills.

The run sends only while the reserve is whole. When the crash logs can grow
no more, the answers of the requests still in flight are written into the
reserve's own blocks (which no other program can take meanwhile) and no new
request goes out. Freeing the reserve for the logs instead would let another
program, or the result file, take the room first.
"""

from __future__ import annotations

import os
from pathlib import Path

RESERVE_BYTES = 256 * 1024


class Reserve:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._used = 0
        """Bytes of the reserve that hold entries."""

    def allocate(self) -> None:
        """Take the room now; OSError (the file removed) when the disk is too full."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            # Real blocks, not a sparse file: writing over them later needs no room.
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        self._fd, self._used = fd, 0

    def write(self, data: bytes) -> bool:
        """Write over the reserve's allocated blocks, which needs no new room; False if full."""
        if self._fd is None or self._used + len(data) > RESERVE_BYTES:
            return False
        try:
            written = os.pwrite(self._fd, data, self._used)
        except OSError:
            return False
        self._used += written
        return written == len(data)

    def close(self, *, committed: bool) -> None:
        """Give the room back, unless the reserve holds entries not committed yet."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if committed or self._used == 0:
            self.path.unlink(missing_ok=True)
