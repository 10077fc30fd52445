"""Validate: decide, chunk by chunk, which rows can be sent and why the others cannot.

Rules are vectorised pandas string operations; only rows that fail get a
Python-built message, so a million clean rows cost little. Every problem of a
row is reported, joined with "; ".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from batch_sender.reader import LONG_NUMBER_IDS

USER_ID_MAX = 20
TEXT_MAX = 2000
REQUEST_ID_MAX = 50

VALID = "valid"
INVALID = "invalid"
DUPLICATE = "duplicate"

# [0-9], not \d: \d also matches Arabic-Indic and other Unicode digits.
_ID_DIGITS = r"[0-9]+"
_ID_SCIENTIFIC = r"[0-9]+(?:[.,][0-9]*)?[eE][+-]?[0-9]+"
_URL_ABSOLUTE = r"(?i:https?)://[^\s/?#]+.*"
_URL_IMAGE = r"(?i:https?)://[^\s/?#]+/[^\s?#]*\.(?i:jpe?g|png)(?:\?[^\s#]*)?(?:#\S*)?"
_LINE_BREAK = r"\r\n|\r|\n"

ROUNDED_HINT = (
    "the spreadsheet turned the id into a number and rounded it; "
    "format the column as Text and export again"
)


@dataclass(frozen=True)
class Campaign:
    """The campaign id seeds every RequestId, so a rerun sends the same ids."""

    id: str

    @classmethod
    def for_input(cls, path: Path) -> Campaign:
        return cls(path.stem)

    @property
    def slug(self) -> str:
        # 16 + "-" + 32 hex digits stays within eSMS's 50-character RequestId.
        return re.sub(r"[^A-Za-z0-9]+", "-", self.id).strip("-")[:16] or "campaign"

    def request_id(self, user_id: str, text: str, url: str) -> str:
        key = "\x1f".join((self.id, user_id, text, url)).encode()
        return f"{self.slug}-{hashlib.blake2b(key, digest_size=16).hexdigest()}"


class SeenRows:
    """A 64-bit key per distinct row content seen so far, with the line it was first seen on.

    Two sorted numpy arrays: 16 bytes a distinct row (16 MB for a million),
    where a dict of RequestIds would take over 150 bytes a row.
    """

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.lines = np.empty(0, dtype=np.int64)

    def first_lines(self, keys: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """Per row, in order: the line of the first row with its key (its own if new)."""
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first_in_chunk = lines[first]
        at = np.searchsorted(self.keys, unique)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == unique[known]
        first_line = first_in_chunk.copy()
        first_line[known] = self.lines[at[known]]
        new = ~known
        self.keys = np.insert(self.keys, at[new], unique[new])
        self.lines = np.insert(self.lines, at[new], first_in_chunk[new])
        return np.asarray(first_line[inverse.reshape(-1)])


def content_keys(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per row of (user_id, text, url), computed in vectorised code."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)


@dataclass
class Validator:
    """Validates chunks in input order; remembers earlier rows to find duplicates."""

    campaign: Campaign
    fields: dict[str, str]
    seen: SeenRows = field(default_factory=SeenRows)

    def check(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Per row: status, RequestId, ErrorMessage and the values to send."""
        uid = chunk[self.fields["user_id"]].astype(str).str.strip()
        text = (
            chunk[self.fields["text"]]
            .astype(str)
            .str.normalize("NFC")
            .str.replace(_LINE_BREAK, "\r\n", regex=True)
        )
        url = chunk[self.fields["url"]].astype(str).str.strip()

        long_numbers = chunk.attrs.get(LONG_NUMBER_IDS, frozenset())
        problems = {
            "id_empty": uid == "",
            "id_scientific": uid.str.fullmatch(_ID_SCIENTIFIC),
            "id_number_cell": chunk.index.isin(list(long_numbers)),
            "id_not_digits": ~uid.str.fullmatch(_ID_DIGITS),
            "id_too_long": uid.str.len() > USER_ID_MAX,
            "text_blank": text.str.strip() == "",
            "text_too_long": text.str.len() > TEXT_MAX,
            "url_empty": url == "",
            "url_not_absolute": ~url.str.fullmatch(_URL_ABSOLUTE),
            "url_not_image": ~url.str.fullmatch(_URL_IMAGE),
        }
        masks = pd.DataFrame({k: pd.Series(v, index=chunk.index) for k, v in problems.items()})
        masks = masks.fillna(False).astype(bool)
        invalid = masks.any(axis=1)

        result = pd.DataFrame(
            {
                "status": VALID,
                "RequestId": "",
                "ErrorMessage": "",
                "user_id": uid,
                "text": text,
                "url": url,
            },
            index=chunk.index,
        )
        if invalid.any():
            bad = masks[invalid]
            result.loc[invalid, "status"] = INVALID
            result.loc[invalid, "ErrorMessage"] = [
                _message(flags, u, t)
                for flags, u, t in zip(
                    bad.itertuples(index=False),
                    uid[invalid],
                    text[invalid],
                    strict=True,
                )
            ]
        self._mark_duplicates(result, ~invalid)
        return result

    def _mark_duplicates(self, result: pd.DataFrame, valid: pd.Series) -> None:
        rows = result.loc[valid, ["user_id", "text", "url"]]
        if rows.empty:
            return
        lines = rows.index.to_numpy(dtype=np.int64)
        first = self.seen.first_lines(content_keys(rows), lines)
        repeat = first != lines
        result.loc[valid, "RequestId"] = [
            self.campaign.request_id(u, t, v)
            for u, t, v in zip(rows["user_id"], rows["text"], rows["url"], strict=True)
        ]
        if repeat.any():
            duplicates = rows.index[repeat]
            result.loc[duplicates, "status"] = DUPLICATE
            result.loc[duplicates, "ErrorMessage"] = [
                f"same user_id, text and url as line {line}; not sent twice"
                for line in first[repeat]
            ]


def _message(flags: tuple[bool, ...], uid: str, text: str) -> str:
    (
        id_empty,
        id_scientific,
        id_number_cell,
        id_not_digits,
        id_too_long,
        text_blank,
        text_too_long,
        url_empty,
        url_not_absolute,
        url_not_image,
    ) = flags
    parts: list[str] = []
    if id_empty:
        parts.append("user_id is empty")
    elif id_scientific or id_number_cell:
        parts.append(f"user_id {uid} is a number of more than 15 digits: {ROUNDED_HINT}")
    elif id_not_digits:
        parts.append("user_id must be digits only")
    elif id_too_long:
        parts.append(f"user_id has {len(uid)} digits, at most {USER_ID_MAX} are allowed")
    if text_blank:
        parts.append("text is empty")
    elif text_too_long:
        parts.append(f"text has {len(text):,} characters, at most {TEXT_MAX:,} are allowed")
    if url_empty:
        parts.append("url is empty")
    elif url_not_absolute:
        parts.append("url must be an absolute http:// or https:// address")
    elif url_not_image:
        parts.append("url must point to a .jpg, .jpeg or .png image (a query string is allowed)")
    return "; ".join(parts)
