"""The journal's writes of a message's fate: each one a crash log can hold and replay."""

from __future__ import annotations

import hashlib

SENDING = """
INSERT INTO messages (request_id, line, status, attempts, last_sent_at, updated_at)
VALUES (?, ?, 'sending', 1, ?, ?)
ON CONFLICT (request_id) DO UPDATE SET
    line = excluded.line, status = 'sending', attempts = attempts + 1,
    -- still 'sending': a crash cut the last request short, its fate unknown
    ambiguous_since = CASE WHEN status = 'sending'
                           THEN COALESCE(ambiguous_since, last_sent_at)
                           ELSE ambiguous_since END,
    last_sent_at = excluded.last_sent_at, updated_at = excluded.updated_at
"""

RECORD = """
INSERT INTO messages (request_id, line, status, code, smsid, message, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (request_id) DO UPDATE SET
    status = excluded.status, code = excluded.code, smsid = excluded.smsid,
    message = excluded.message, updated_at = excluded.updated_at,
    -- kept through a 124: when the first request went out, which its report follows
    ambiguous_since = CASE WHEN excluded.status = 'accepted' AND excluded.code != '124'
                           THEN NULL ELSE ambiguous_since END
"""


AMBIGUOUS = """
UPDATE messages SET ambiguous_since = COALESCE(ambiguous_since, last_sent_at)
WHERE request_id = ?
"""

FOLD_INTENT = """
INSERT INTO messages (request_id, line, status, attempts, last_sent_at, updated_at)
VALUES (?, ?, 'sending', 1, ?, ?)
ON CONFLICT (request_id) DO UPDATE SET
    ambiguous_since = CASE
        WHEN status IN ('accepted', 'rejected') THEN ambiguous_since
        ELSE MIN(COALESCE(ambiguous_since, excluded.last_sent_at), excluded.last_sent_at)
    END,
    status = CASE WHEN status IN ('accepted', 'rejected') THEN status ELSE 'sending' END
"""
"""A request announced in the intent log: its fate is unknown unless it is already final."""


def text_id(text: str) -> int:
    """A text's key in sent_texts: 64 bits of its digest (SQLite's signed integer)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


ADD_TEXT = "INSERT OR IGNORE INTO sent_texts (id, text) VALUES (?, ?)"

SENT_WITH = "UPDATE messages SET text_id = ? WHERE request_id = ?"


ANSWERED = "UPDATE messages SET status = 'failed' WHERE request_id = ? AND status = 'sending'"

IDENTIFY = """
UPDATE messages SET row_key = ?, user_id = ?, content_id = ?, oaid = ?, sandbox = ?
WHERE request_id = ?
"""


IDENTIFY_TEXT = """
UPDATE messages SET row_key = ?, user_id = ?, content_id = ?, oaid = ?, sandbox = ?, text_id = ?
WHERE request_id = ?
"""
