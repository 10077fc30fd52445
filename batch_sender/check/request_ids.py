"""The campaign's RequestIds: derived from the campaign id, the row's content and where it goes."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from batch_sender.journal.row_sends import LEGACY_SCHEME


@dataclass(frozen=True)
class Campaign:
    """The campaign id seeds every RequestId, so a rerun sends the same ids.

    `scope` is what else makes a send distinct (the OAID, sandbox or real): one
    account sending the same sheet to two OAs, or for real after a sandbox
    trial, never reuses a RequestId. A journal keeps the scheme it was made
    with, so a campaign already under way keeps the RequestIds it has.
    """

    id: str
    scope: str = ""
    scheme: str = LEGACY_SCHEME

    @classmethod
    def for_input(cls, path: Path) -> Campaign:
        return cls(path.stem)

    @functools.cached_property
    def slug(self) -> str:
        # 16 + "-" + 32 hex digits stays within eSMS's 50-character RequestId.
        return re.sub(r"[^A-Za-z0-9]+", "-", self.id).strip("-")[:16] or "campaign"

    def request_id(self, user_id: str, text: str, url: str) -> str:
        ids, _ = self.request_ids([user_id], [text], [url])
        return ids[0]

    def request_ids(
        self, user_ids: list[str], texts: list[str], urls: list[str]
    ) -> tuple[list[str], np.ndarray]:
        """RequestIds, and the first 64 bits of each digest as the rows' content keys."""
        head = f"{self.id}\x1f"
        if self.scheme != LEGACY_SCHEME:
            head += f"{self.scheme}\x1f{self.scope}\x1f"
        digests = [
            hashlib.blake2b(f"{head}{u}\x1f{t}\x1f{v}".encode(), digest_size=16).digest()
            for u, t, v in zip(user_ids, texts, urls, strict=True)
        ]
        prefix = f"{self.slug}-"
        ids = [prefix + d.hex() for d in digests]
        keys = np.frombuffer(b"".join(d[:8] for d in digests), dtype=np.uint64)
        return ids, keys

    def derived_id(self, request_id: str, generation: int) -> str:
        """The row's RequestId for its `generation`-th new try after definitive refusals.

        Deterministic, so a crash between the intent and the answer finds it
        again; the same length as the first one (49 characters at most).
        """
        if generation == 0:
            return request_id
        digest = hashlib.blake2b(f"{request_id}\x1f{generation}".encode(), digest_size=16)
        return f"{self.slug}-{digest.hexdigest()}"


def send_scope(oaid: str, sandbox: bool) -> str:
    """What makes a send distinct beyond its content: the OA, and sandbox or real."""
    return f"{'sandbox' if sandbox else 'real'}:{oaid}"
