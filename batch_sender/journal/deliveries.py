"""The delivery store: eSMS's delivery reports in the journal, and the queries on them.

Reports repeat (eSMS retries, GetCallback overlaps); a final outcome is never
replaced by `pending`, nor `delivered` by `failed` (see OUTCOME_RANK). Every
method runs in the journal's writer thread.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from batch_sender.esms.delivery_report import Delivery
from batch_sender.journal.errors import JournalError
from batch_sender.journal.writer import Writer, in_batches, in_writer

_FIELDS = frozenset(f.name for f in dataclasses.fields(Delivery))

OUTCOME_RANK = {"pending": 0, "failed": 1, "delivered": 2}
"""Which of two reports for one message stands: the higher, or the later of equals.

SendStatus 5 ("sent, SendSuccess/SendFailed say how") is final on eSMS's
pages. A message Zalo delivered to the phone cannot be undelivered: a
failure heard after it (a retried callback, GetCallback's older record) is
not news, and a delivery heard after a failure is proof it arrived after all.
"""


def _rank_sql(column: str) -> str:
    ranks = " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in OUTCOME_RANK.items())
    return f"CASE {column} {ranks} ELSE 0 END"


_RECORD = f"""
    INSERT INTO deliveries
        (key, request_id, smsid, delivery, error, at, received_at, price, user_id, oaid)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET
        request_id = CASE WHEN excluded.request_id != '' THEN excluded.request_id
                          ELSE deliveries.request_id END,
        delivery = excluded.delivery, error = excluded.error, at = excluded.at,
        received_at = excluded.received_at,
        price = CASE WHEN excluded.price != '' THEN excluded.price ELSE deliveries.price END
    WHERE {_rank_sql("excluded.delivery")} >= {_rank_sql("deliveries.delivery")}
"""

_MATCHES_NO_MESSAGE = """
    NOT EXISTS (SELECT 1 FROM messages m WHERE m.request_id = d.request_id)
    AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.smsid = d.smsid AND m.smsid != '')
"""
"""A report `d` that no message of the journal knows, by RequestId or SMSID."""

CLOCK_MARGIN = 60.0
"""Seconds a report may seem heard before its message went out (the two clocks differ)."""


class DeliveryStore:
    """What eSMS reported for each message, kept in the journal's `deliveries` table."""

    def __init__(self, writer: Writer, clock: Callable[[], float], held_path: Path) -> None:
        self.writer = writer
        self.clock = clock
        self.held_path = held_path
        """Reports the callback receiver took while SQLite was busy or failing."""

    @in_writer
    def record(self, delivery: Delivery, *, keep_unknown: bool = True) -> str | None:
        """Keep a delivery report; the RequestId it belongs to, or None if no send knows it.

        Reports repeat (eSMS retries, GetCallback overlaps): a report replaces
        the one kept only if it ranks as high (OUTCOME_RANK), so recording one
        twice changes nothing and an outcome never flips back.
        keep_unknown=False drops a report no send knows (the receiver keeps
        those only while the disk has room to spare: strangers could fill it).
        A report that came with its SMSID only is kept under that SMSID, whether
        or not a send has recorded it yet: an early one and a late one for the
        same message are then one row, joined to the message when read.
        """
        request_id = delivery.request_id
        if not request_id and delivery.smsid:
            self.writer.flush()
            row = self.writer.execute(
                # smsid != '': the partial index messages_smsid serves only a WHERE that implies it
                "SELECT request_id FROM messages WHERE smsid = ? AND smsid != ''",
                (delivery.smsid,),
            ).fetchone()
            request_id = row[0] if row else ""
        known = bool(request_id) and (
            self.writer.execute(
                "SELECT 1 FROM messages WHERE request_id = ?", (request_id,)
            ).fetchone()
            is not None
        )
        if not known and delivery.smsid and delivery.user_id:
            heard = self.clock()
            claimed = self._claim(delivery.user_id, delivery.oaid, delivery.smsid, heard)
            request_id, known = (claimed, True) if claimed else (request_id, known)
        if not known and not keep_unknown:
            return None
        self.writer.write(
            _RECORD,
            (
                delivery.key,
                request_id,
                delivery.smsid,
                delivery.delivery,
                delivery.error,
                delivery.at,
                self.clock(),
                delivery.price,
                delivery.user_id,
                delivery.oaid,
            ),
        )
        # Kept even when unknown: the report can beat send's commit of the answer.
        return request_id if known else None

    def _claim(self, user_id: str, oaid: str, smsid: str, heard: float) -> str | None:
        """The follower's one accepted message eSMS gave no SMSID, now known by `smsid`.

        A row accepted through 124 (its first request's answer lost to a kill)
        has no SMSID, and eSMS's reports carry no RequestId: the report's
        follower finds it, if that follower has exactly one such message and
        no other report that matches nothing (then which is whose is unknown).
        The SMSID learned is recorded: GetCallback can ask for it, and the
        result file shows it. A report `heard` before the message's first
        request went out is another message's (another campaign's, through
        the same callback URL): it finds no row.
        """
        self.writer.flush()
        rows = self.writer.execute(
            # The WHERE is messages_no_smsid's: only those rare rows are read.
            # ambiguous_since: the first request's time, kept when 124 accepted it.
            """
            SELECT request_id, oaid FROM messages
            WHERE user_id = ? AND status = 'accepted' AND smsid = '' AND sandbox = 0
              AND COALESCE(ambiguous_since, last_sent_at, 0) - ? <= ?
            """,
            (user_id, CLOCK_MARGIN, heard),
        ).fetchall()
        found = [str(rid) for rid, of in rows if not oaid or not of or of == oaid]
        if len(found) != 1:
            return None
        others = self.writer.execute(
            f"""
            SELECT 1 FROM deliveries d
            WHERE d.user_id = ? AND d.smsid != ? AND d.smsid != '' AND {_MATCHES_NO_MESSAGE}
            LIMIT 1
            """,
            (user_id, smsid),
        ).fetchone()
        if others is not None:
            return None
        request_id = found[0]
        self.writer.write(
            "UPDATE messages SET smsid = ? WHERE request_id = ? AND smsid = ''", (smsid, request_id)
        )
        self.writer.write(
            "UPDATE deliveries SET request_id = ? WHERE smsid = ? AND request_id = ''",
            (request_id, smsid),
        )
        return request_id

    @in_writer
    def claim_by_follower(self) -> int:
        """Match the reports kept unknown to the rows accepted without an SMSID; how many rows.

        A report may come before the rerun whose 124 accepts its row (the
        first request's answer lost to a kill): this joins them afterwards.
        """
        self.writer.flush()
        followers = self.writer.execute(
            """
            SELECT DISTINCT user_id FROM messages
            WHERE status = 'accepted' AND smsid = '' AND user_id != '' AND sandbox = 0
            """
        ).fetchall()
        claimed = 0
        for (user_id,) in followers:
            reports = self.writer.execute(
                f"""
                SELECT d.smsid, d.oaid, MIN(d.received_at) FROM deliveries d
                WHERE d.user_id = ? AND d.smsid != '' AND {_MATCHES_NO_MESSAGE}
                GROUP BY d.smsid, d.oaid
                """,
                (user_id,),
            ).fetchall()
            if len(reports) == 1:
                smsid, oaid, heard = reports[0]
                claim = self._claim(str(user_id), str(oaid), str(smsid), float(heard))
                claimed += claim is not None
        return claimed

    @in_writer
    def reported(self, request_ids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """RequestId -> (delivery, delivery_error, delivered_at) for those reported.

        A report is joined to its message by RequestId or by the message's
        SMSID, however early it came. When a message has several (kept under
        its RequestId and its SMSID), the highest in OUTCOME_RANK wins, then
        the one heard last.
        """
        self.writer.flush()
        best: dict[str, tuple[int, float, tuple[str, str, str]]] = {}
        if self.writer.execute("SELECT 1 FROM deliveries LIMIT 1").fetchone() is None:
            return {}  # none yet (the first send, a rerun before any report): no look-ups
        for batch, marks in in_batches(request_ids):
            rows = self.writer.execute(
                f"""
                SELECT d.request_id, d.delivery, d.error, d.at, d.received_at
                FROM deliveries d WHERE d.request_id IN ({marks})
                UNION ALL
                SELECT m.request_id, d.delivery, d.error, d.at, d.received_at
                FROM messages m JOIN deliveries d ON d.smsid = m.smsid
                WHERE m.request_id IN ({marks}) AND m.smsid != ''
                """,
                [*batch, *batch],
            )
            for rid, delivery, error, at, received in rows:
                rank = (OUTCOME_RANK.get(delivery, 0), float(received), (delivery, error, at))
                held = best.get(rid)
                if held is None or rank[:2] >= held[:2]:
                    best[rid] = rank
        return {rid: found for rid, (_, _, found) in best.items()}

    @in_writer
    def unknown(self, *, priced: bool = False) -> int:
        """Reports kept that no send of this campaign knows (yet); priced: those with a price."""
        self.writer.flush()
        row = self.writer.execute(
            f"""
            SELECT COUNT(*) FROM deliveries d
            WHERE {_MATCHES_NO_MESSAGE} {"AND d.price != ''" if priced else ""}
            """
        ).fetchone()
        return int(row[0])

    @in_writer
    def unreported(self) -> list[str]:
        """eSMS's SMSIDs of accepted messages with no final delivery report yet.

        A report may have been matched by RequestId or, when it came with
        RequestId empty (as eSMS sends them), only by SMSID.
        """
        self.writer.flush()
        return [
            smsid
            for (smsid,) in self.writer.execute(
                """
                SELECT smsid FROM messages
                -- eSMS stores no sandbox message: nothing to ask about those
                WHERE status = 'accepted' AND smsid != '' AND sandbox = 0
                    AND request_id NOT IN
                        (SELECT request_id FROM deliveries WHERE delivery != 'pending')
                    AND smsid NOT IN (SELECT smsid FROM deliveries WHERE delivery != 'pending')
                ORDER BY line
                """
            )
        ]

    @in_writer
    def accepted_without_smsid(self) -> int:
        """Accepted rows eSMS gave no SMSID (accepted through 124): no report can find them."""
        self.writer.flush()
        row = self.writer.execute(
            "SELECT COUNT(*) FROM messages WHERE status = 'accepted' AND smsid = ''"
        ).fetchone()
        return int(row[0])

    @in_writer
    def accepted_times(self) -> list[float]:
        """When each accepted message's answer was recorded (for the report's chart)."""
        self.writer.flush()
        rows = self.writer.execute("SELECT updated_at FROM messages WHERE status = 'accepted'")
        return [t for (t,) in rows]

    @in_writer
    def times(self) -> list[tuple[str, str, float]]:
        """(delivery, at, received_at) of every report."""
        self.writer.flush()
        return list(self.writer.execute("SELECT delivery, at, received_at FROM deliveries"))

    @in_writer
    def prices(self) -> list[str]:
        """eSMS's TotalPrice of every delivery report that carried one."""
        self.writer.flush()
        return [p for (p,) in self.writer.execute("SELECT price FROM deliveries WHERE price != ''")]

    def hold(self, delivery: Delivery) -> None:
        """Keep a report on disk while SQLite is busy or failing: fold_held moves it in.

        fsync'd before this returns: the receiver answers eSMS 200 only after,
        and eSMS never sends that report again.
        """
        line = json.dumps(dataclasses.asdict(delivery), ensure_ascii=True) + "\n"
        fd = os.open(self.held_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # not in the middle of another process's fold
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    @in_writer
    def fold_held(
        self, keep_unknown: Callable[[], bool] = lambda: True
    ) -> list[tuple[Delivery, str | None]]:
        """Record the reports `hold` kept, then empty its log; what was folded.

        Raises JournalError (the log stays as it was) when the journal is still busy.
        """
        try:
            fd = os.open(self.held_path, os.O_RDWR)
        except FileNotFoundError:
            return []
        folded: list[tuple[Delivery, str | None]] = []
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 1 << 20):
                raw += chunk
            if not raw:
                return []
            for entry in raw.decode("utf-8", errors="replace").splitlines():
                try:
                    fields = json.loads(entry)
                    delivery = Delivery(**{k: str(v) for k, v in fields.items() if k in _FIELDS})
                except (ValueError, TypeError, AttributeError):
                    continue  # a line cut short by a crash
                folded.append((delivery, self.record(delivery, keep_unknown=keep_unknown())))
            try:
                self.writer.commit()
            except JournalError:
                self.writer.abandon()
                raise
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        return folded
