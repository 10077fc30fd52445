"""Rules: decide, chunk by chunk, which rows can be sent and why the others cannot.

Rules are vectorised pandas string operations; only rows that fail get a
Python-built message, so a million clean rows cost little. Every problem of a
row is reported, joined with "; ".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from batch_sender.check.request_ids import Campaign
from batch_sender.check.seen import SeenRows
from batch_sender.i18n import N_, _
from batch_sender.sheet.source import HIDDEN_LINES, LONG_NUMBER_IDS
from batch_sender.sheet.suppression import Suppression
from batch_sender.sheet.template import BoundTemplate

USER_ID_MAX = 20
TEXT_MAX = 2000

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
            result["row_key"] = pd.Series(
                self._row_keys(uids, chunk.index.to_numpy(dtype=np.int64)),
                index=result.index,
                dtype=object,  # not pandas' str dtype (results.rows.texts_column says why)
            )
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
