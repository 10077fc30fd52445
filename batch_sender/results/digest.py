"""What a journal knows its result file by: the size and digest of its bytes.

Taken as the file is written (`Hashing`), so a rerun does not read a
100 MB result file back just to learn what it wrote; or read from a file on
disk (`fingerprint`). Both give the same text for the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


def _digest() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=16)


def _text(size: int, digest: hashlib.blake2b) -> str:
    return f"{size}:{digest.hexdigest()}"


def fingerprint(path: Path) -> str:
    """Size and digest of a file's bytes."""
    digest = _digest()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return _text(size, digest)


class Hashing(io.RawIOBase):
    """A file opened for writing whose bytes are digested as they go out."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.size = 0
        self._digest = _digest()

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int | None:
        written = self.raw.write(data)
        if written:
            # Only what reached the file: a short write sends the rest again.
            self._digest.update(memoryview(data).cast("B")[:written])
            self.size += written
        return written

    def fileno(self) -> int:
        return self.raw.fileno()

    def flush(self) -> None:
        if not self.raw.closed:
            self.raw.flush()

    def close(self) -> None:
        if not self.closed:
            super().close()  # flushes first, as every file does
            self.raw.close()

    def fingerprint(self) -> str:
        """What `fingerprint` says of the bytes written so far."""
        return _text(self.size, self._digest)


def hashed_text(path: Path, encoding: str) -> tuple[IO[str], Hashing]:
    """`path` opened for text as `open(path, "w", newline="")` would, digested as it is written."""
    digest = Hashing(path.open("wb", buffering=0))
    buffered = io.BufferedWriter(digest, 1 << 20)
    return io.TextIOWrapper(buffered, encoding=encoding, newline="", write_through=True), digest
