"""Rules: decide, chunk by chunk, which rows can be sent and why the others cannot.

Rules are vectorised pandas string operations; only rows that fail get a
Python-built message, so a million clean rows cost little. Every problem of a
row is reported, joined with "; ".
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from batch_sender.i18n import N_, _
from batch_sender.journal.row_sends import LEGACY_SCHEME
from batch_sender.sheet.reader import HIDDEN_LINES, LONG_NUMBER_IDS
from batch_sender.sheet.suppression import Suppression
from batch_sender.sheet.template import BoundTemplate

USER_ID_MAX = 20
TEXT_MAX = 2000
REQUEST_ID_MAX = 50

VALID = "valid"
INVALID = "invalid"
DUPLICATE = "duplicate"
EXCLUDED = "excluded"

_ID_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]*)?[eE][+-]?[0-9]+")
_URL_ABSOLUTE = re.compile(r"(?i:https?)://[^\s/?#]+.*", re.DOTALL)
_URL_IMAGE = re.compile(
    r"(?i:https?)://[^\s/?#]+/[^\s?#]*\.(?i:jpe?g|png|gif)(?:\?[^\s#]*)?(?:#\S*)?"
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

HIDDEN_ROW = N_("hidden row in Excel")

SAME_MESSAGE = N_("same user_id, text and url as line {line}; not sent twice")
SAME_FOLLOWER = N_(
    "same user_id as line {line}; one message per follower per campaign "
    "(--allow-repeats sends repeats on purpose)"
)

ROUNDED_HINT = N_(
    "the spreadsheet turned the id into a number and rounded it; "
    "format the column as Text and export again"
)


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


class SeenRows:
    """A 64-bit key per distinct row content seen so far, with the line it was first seen on.

    Sorted numpy runs, merged log-structured (a run is merged into the one
    before it once it is half its size): 12 bytes a distinct row (12 MB for a
    million) where a dict of RequestIds would take over 150, and no chunk pays
    for copying everything seen so far. A merge inserts the smaller run into
    the larger at its sorted places (no sort of both, no permutation array),
    and runs stop growing at MAX_RUN keys: a merge never needs more than a
    few MB on top, and a chunk's look-up searches a run per MAX_RUN rows.
    """

    MAX_RUN = 1 << 18

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def first_lines(self, keys: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """Per row, in order: the line of the first row with its key (its own if new)."""
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first_line = lines[first]
        known = np.zeros(len(unique), dtype=bool)
        for run_keys, run_lines in self.runs:
            at = np.minimum(np.searchsorted(run_keys, unique), len(run_keys) - 1)
            hit = ~known & (run_keys[at] == unique)
            first_line[hit] = run_lines[at[hit]]
            known |= hit
        if not known.all():
            self._add(unique[~known], first_line[~known])
        return np.asarray(first_line[inverse.reshape(-1)])

    def _add(self, keys: np.ndarray, lines: np.ndarray) -> None:
        # Line numbers fit 32 bits in any sheet a person makes; larger ones keep 64.
        small = len(lines) == 0 or int(lines.max()) < 2**32
        self.runs.append((keys, lines.astype(np.uint32) if small else lines))
        while len(self.runs) > 1 and self._merges(len(self.runs[-2][0]), len(self.runs[-1][0])):
            (k2, l2), (k1, l1) = self.runs.pop(), self.runs.pop()
            at = np.searchsorted(k1, k2)  # keys are distinct across runs: no ties
            wide = np.result_type(l1, l2)
            self.runs.append((np.insert(k1, at, k2), np.insert(l1.astype(wide), at, l2)))
            del k1, k2, l1, l2, at

    def _merges(self, before: int, last: int) -> bool:
        return last * 2 >= before and before + last <= self.MAX_RUN


@dataclass(frozen=True)
class Checks:
    """What a campaign adds to the fixed rules."""

    template: BoundTemplate | None = None
    """Fills each row's text (the text column is then not read)."""
    excluded: frozenset[str] = frozenset()
    """user_ids on the suppression lists: never sent."""
    suppression: Suppression = field(default_factory=Suppression)
    """The lists themselves; notes which of their ids matched a row."""
    hidden_skipped: set[int] = field(default_factory=set)
    """Lines of the hidden rows skipped so far (--hidden-rows skip)."""
    image_problems: Mapping[str, str] = field(default_factory=dict)
    """URL -> why its image cannot be sent (from --check-images)."""
    image_url: str | None = None
    """One image for every row (--image-url): the url column is then not read."""
    allow_repeats: bool = False
    """A user_id on several rows gets each of its distinct messages (--allow-repeats);
    by default one message per follower per campaign: its later rows are duplicates."""


@dataclass
class Validator:
    """Validates chunks in input order; remembers earlier rows to find duplicates."""

    campaign: Campaign
    fields: dict[str, int]
    """Logical field -> the column's position in each chunk."""
    request_ids: bool = True
    """False for the dry run: nothing is sent, so a cheaper key finds duplicates."""
    checks: Checks = field(default_factory=Checks)
    seen: SeenRows = field(default_factory=SeenRows)
    followers: SeenRows = field(default_factory=SeenRows)
    """The user_id of each row to send so far (one message per follower)."""
    users: SeenRows = field(default_factory=SeenRows)
    """Each user_id seen so far (its row identity needs to know the earlier ones)."""
    repeats: dict[str, int] = field(default_factory=dict)
    """user_id -> rows seen with it, for the few user_ids on more than one row."""

    def check(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Per row: status, RequestId, ErrorMessage and the values to send.

        Plain Python passes over lists with compiled regexes: for string cells
        this beats pandas' .str methods (themselves Python loops) by avoiding
        their per-call overhead and the second pass each extra method costs.
        """
        n = len(chunk)
        checks = self.checks
        uids = list(map(str.strip, chunk.iloc[:, self.fields["user_id"]].tolist()))
        empty_placeholder: list[str | None] = []
        if checks.template is not None:
            raw_texts, empty_placeholder = checks.template.fill(chunk)
        else:
            raw_texts = chunk.iloc[:, self.fields["text"]].tolist()
        texts = _prepare_texts(raw_texts)
        if checks.image_url is not None:
            urls = [checks.image_url] * n
        else:
            urls = list(map(str.strip, chunk.iloc[:, self.fields["url"]].tolist()))

        id_length = np.fromiter(map(len, uids), np.int64, n)
        id_digits = _ascii_digits(uids, id_length)
        url_image = _matches(_URL_IMAGE, urls, n)
        text_length = np.fromiter(map(len, texts), np.int64, n)
        long_numbers = chunk.attrs.get(LONG_NUMBER_IDS, frozenset())
        masks = np.column_stack(
            [
                id_length == 0,
                _matches_where(_ID_SCIENTIFIC, uids, ~id_digits),
                chunk.index.isin(list(long_numbers)) if long_numbers else np.zeros(n, bool),
                ~id_digits,
                id_length > USER_ID_MAX,
                (text_length == 0) | np.fromiter(map(str.isspace, texts), bool, n),
                text_length > TEXT_MAX,
                np.fromiter(map(len, urls), np.int64, n) == 0,
                ~_matches_where(_URL_ABSOLUTE, urls, ~url_image, default=True),
                ~url_image,
            ]
        )
        invalid: np.ndarray = np.asarray(masks.any(axis=1))
        extra: dict[int, list[str]] = {}
        for i, name in enumerate(empty_placeholder):
            if name is not None:
                extra.setdefault(i, []).append(
                    _("template placeholder {placeholder} is empty", placeholder="{" + name + "}")
                )
        if checks.image_problems:
            for i, url in enumerate(urls):
                if (problem := checks.image_problems.get(url)) is not None:
                    extra.setdefault(i, []).append(problem)
        if extra:
            invalid[list(extra)] = True
        excluded = np.zeros(n, dtype=bool)
        if checks.excluded:
            listed = np.fromiter(map(checks.excluded.__contains__, uids), bool, n)
            excluded = ~invalid & listed
            checks.suppression.matched.update(uids[i] for i in np.flatnonzero(listed).tolist())

        result = pd.DataFrame(
            {
                "status": np.where(invalid, INVALID, np.where(excluded, EXCLUDED, VALID)),
                "RequestId": "",
                "ErrorMessage": "",
                "user_id": uids,
                "text": texts,
                "url": urls,
            },
            index=chunk.index,
            # object, not pandas' str dtype: no per-cell check on the way in or out.
            dtype=object,
        )
        if invalid.any():
            messages: list[str] = []
            for i in np.flatnonzero(invalid).tolist():
                parts = [_message(tuple(masks[i]), uids[i], texts[i]), *extra.get(i, [])]
                messages.append("; ".join(part for part in parts if part))
            result.loc[invalid.astype(bool), "ErrorMessage"] = messages
        if excluded.any():
            result.loc[excluded, "ErrorMessage"] = _("user_id is on a suppression list (--exclude)")
        if hidden_lines := chunk.attrs.get(HIDDEN_LINES):
            hidden = ~invalid & chunk.index.isin(list(hidden_lines))
            excluded |= hidden
            result.loc[hidden, "status"] = EXCLUDED
            result.loc[hidden, "ErrorMessage"] = _(HIDDEN_ROW)
            checks.hidden_skipped.update(chunk.index[hidden].tolist())
        keys = None
        if self.request_ids:
            # Rows held back only by this run's extra checks keep their RequestId,
            # so that a message an earlier run sent is still reported as sent.
            identifiable = ~np.asarray(masks.any(axis=1))
            keys = np.zeros(n, dtype=np.uint64)
            if identifiable.any():
                ids, found = self.campaign.request_ids(
                    *(result.loc[identifiable, c].tolist() for c in ("user_id", "text", "url"))
                )
                result.loc[identifiable, "RequestId"] = ids
                keys[identifiable] = found
        self._mark_duplicates(result, ~invalid & ~excluded, keys)
        if self.request_ids:
            result["row_key"] = self._row_keys(uids, chunk.index.to_numpy(dtype=np.int64))
        return result

    def _row_keys(self, uids: list[str], lines: np.ndarray) -> list[str]:
        """Each row's identity across edits of the sheet: its user_id, and which of its rows.

        The k-th row of a user_id stays the same row when its text, url or
        template changes, so an edited row is recognised as sent before.
        """
        hashes = np.fromiter(map(hash, uids), np.int64, len(uids)).view(np.uint64)
        first = self.users.first_lines(hashes, lines)
        keys = list(uids)
        for i in np.flatnonzero(first != lines).tolist():
            uid = uids[i]
            count = self.repeats.get(uid, 1) + 1
            self.repeats[uid] = count
            keys[i] = f"{uid}#{count}"
        return keys

    def _mark_duplicates(
        self, result: pd.DataFrame, valid: np.ndarray, all_keys: np.ndarray | None
    ) -> None:
        """Later rows of a follower (or, with allow_repeats, of the same message): duplicate.

        An exact repeat of an earlier row's message loses its RequestId: it is
        that row's, whose send is that row's alone. A follower's other message
        keeps its own, so that a campaign which sent it before repeats were
        refused still finds and reports that send.
        """
        rows = result if valid.all() else result[valid]
        if rows.empty:
            return
        if all_keys is not None:
            keys = all_keys[valid]
        else:
            columns = rows["user_id"].tolist(), rows["text"].tolist(), rows["url"].tolist()
            # Python's own 64-bit string hash: only compared within this run.
            hashes = map(hash, zip(*columns, strict=True))
            keys = np.fromiter(hashes, np.int64, len(rows)).view(np.uint64)
        lines = rows.index.to_numpy(dtype=np.int64)
        first = self.seen.first_lines(keys, lines)
        same_message = first != lines
        if same_message.any():
            result.loc[rows.index[same_message], "RequestId"] = ""
        if self.checks.allow_repeats:
            repeat, why = same_message, SAME_MESSAGE
        else:
            users = rows["user_id"].tolist()
            user_keys = np.fromiter(map(hash, users), np.int64, len(users)).view(np.uint64)
            first = self.followers.first_lines(user_keys, lines)
            repeat = first != lines
            why = SAME_FOLLOWER
        if repeat.any():
            duplicates = rows.index[repeat]
            result.loc[duplicates, "status"] = DUPLICATE
            result.loc[duplicates, "ErrorMessage"] = [
                _(why, line=int(line)) for line in first[repeat]
            ]


_PHONE = re.compile(r"(?:\+?84|0)[1-9][0-9]{8}")
_PHONE_SEPARATORS = re.compile(r"[\s.()-]")
SHOWN_MAX = 40


def shown(value: str) -> str:
    """A cell's value for an error line: quoted and escaped, shortened if long."""
    if len(value) > SHOWN_MAX:
        value = value[: SHOWN_MAX - 1] + "…"
    return repr(value)


def user_id_problem(uid: str, *, number_cell: bool = False) -> str | None:
    """Why `uid` (stripped) is not a Zalo user_id, or None: the sheet's and the lists' rule.

    `number_cell`: the spreadsheet held it as a number of over 15 digits (rounded).
    """
    if not uid:
        return _("user_id is empty")
    digits = uid.isascii() and uid.isdigit()
    if number_cell or (not digits and _ID_SCIENTIFIC.fullmatch(uid)):
        return _(
            "user_id {user_id} is a number of more than 15 digits: {hint}",
            user_id=uid,
            hint=_(ROUNDED_HINT),
        )
    if not digits:
        value = shown(uid)
        if _PHONE.fullmatch(_PHONE_SEPARATORS.sub("", uid)):
            return _(
                "user_id must be digits only: {value} looks like a phone number, "
                "not a Zalo user_id",
                value=value,
            )
        if uid.startswith("'"):
            return _(
                "user_id must be digits only: {value} starts with a ' "
                "(Excel's mark for text, typed into the cell)",
                value=value,
            )
        return _("user_id must be digits only: {value}", value=value)
    if len(uid) > USER_ID_MAX:
        return _("user_id has {n} digits, at most {most} are allowed", n=len(uid), most=USER_ID_MAX)
    return None


def image_url_problem(url: str) -> str | None:
    """Why a URL given once for every row (--image-url) cannot be sent, or None."""
    if not _URL_ABSOLUTE.fullmatch(url):
        return _("must be an absolute http:// or https:// address")
    if not _URL_IMAGE.fullmatch(url):
        return _("must point to a .jpg, .jpeg, .png or .gif image (a query string is allowed)")
    return None


def _prepare_texts(texts: list[str]) -> list[str]:
    """_prepare_text for a chunk; one C-speed look at the whole chunk usually suffices."""
    joined = "\x00".join(texts)
    if unicodedata.is_normalized("NFC", joined) and "\n" not in joined and "\r" not in joined:
        return texts
    return [_prepare_text(t) for t in texts]


def _ascii_digits(values: list[str], lengths: np.ndarray) -> np.ndarray:
    """Per value: ASCII digits only (isdigit alone takes Arabic-Indic and other digits)."""
    joined = "".join(values)
    if joined.isascii() and joined.isdigit():
        return np.asarray(lengths > 0)
    return np.fromiter((v.isascii() and v.isdigit() for v in values), bool, len(values))


def _prepare_text(text: str) -> str:
    """NFC (Vietnamese typed on a Mac arrives decomposed), line breaks as \\r\\n."""
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "\n" in text or "\r" in text:
        text = _LINE_BREAK.sub("\r\n", text)
    return text


def _matches(pattern: re.Pattern[str], values: list[str], n: int) -> np.ndarray:
    # A campaign uses a handful of banners: match each distinct value once.
    verdict = {v: pattern.fullmatch(v) is not None for v in dict.fromkeys(values)}
    return np.fromiter(map(verdict.__getitem__, values), bool, n)


def _matches_where(
    pattern: re.Pattern[str], values: list[str], where: np.ndarray, *, default: bool = False
) -> np.ndarray:
    """fullmatch only on the rows that need it (most rows are fine)."""
    out = np.full(len(values), default)
    for i in np.flatnonzero(where):
        out[i] = pattern.fullmatch(values[i]) is not None
    return out


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
    if id_empty or id_scientific or id_number_cell or id_not_digits or id_too_long:
        parts.append(user_id_problem(uid, number_cell=id_number_cell) or "")
    if text_blank:
        parts.append(_("text is empty"))
    elif text_too_long:
        parts.append(
            _(
                "text has {n:,} characters, at most {most:,} are allowed",
                n=len(text),
                most=TEXT_MAX,
            )
        )
    if url_empty:
        parts.append(_("url is empty"))
    elif url_not_absolute:
        parts.append(_("url must be an absolute http:// or https:// address"))
    elif url_not_image:
        parts.append(
            _("url must point to a .jpg, .jpeg, .png or .gif image (a query string is allowed)")
        )
    return "; ".join(parts)
