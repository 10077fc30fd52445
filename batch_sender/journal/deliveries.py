"""The delivery store (mixed into Journal): eSMS's delivery reports, and the report's queries.

Reports repeat (eSMS retries, GetCallback overlaps); a final outcome is never
replaced by `pending`. Every method runs in the journal's writer thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from batch_sender.esms.delivery_report import Delivery
from batch_sender.journal.writer_calls import _in_writer

if TYPE_CHECKING:
    from batch_sender.journal.writer_calls import _InWriter

_R = TypeVar("_R")


class DeliveryStore:
    """What eSMS reported for each message, kept in the journal's `deliveries` table."""

    _db: _InWriter
    clock: Callable[[], float]

    def _call(self, fn: Callable[[], _R]) -> _R:  # pragma: no cover - Journal's
        raise NotImplementedError

    def _flush(self) -> None:  # pragma: no cover - Journal's
        raise NotImplementedError

    def _write(  # pragma: no cover - Journal's
        self, sql: str, params: tuple[object, ...], log: str | None = None
    ) -> None:
        raise NotImplementedError

    @_in_writer
    def record_delivery(self, delivery: Delivery, *, keep_unknown: bool = True) -> str | None:
        """Keep a delivery report; the RequestId it belongs to, or None if no send knows it.

        Reports repeat (eSMS retries, GetCallback overlaps): a final outcome is
        never replaced by `pending`, so recording one twice changes nothing.
        keep_unknown=False drops a report no send knows (the receiver keeps
        those only while the disk has room to spare: strangers could fill it).
        A report that came with its SMSID only is kept under that SMSID, whether
        or not a send has recorded it yet: an early one and a late one for the
        same message are then one row, joined to the message when read.
        """
        request_id = delivery.request_id
        if not request_id and delivery.smsid:
            self._flush()
            row = self._db.execute(
                # smsid != '': the partial index messages_smsid serves only a WHERE that implies it
                "SELECT request_id FROM messages WHERE smsid = ? AND smsid != ''",
                (delivery.smsid,),
            ).fetchone()
            request_id = row[0] if row else ""
        known = bool(request_id) and (
            self._db.execute(
                "SELECT 1 FROM messages WHERE request_id = ?", (request_id,)
            ).fetchone()
            is not None
        )
        if not known and not keep_unknown:
            return None
        self._write(
            """
            INSERT INTO deliveries
                (key, request_id, smsid, delivery, error, at, received_at, price)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET
                request_id = CASE WHEN excluded.request_id != '' THEN excluded.request_id
                                  ELSE deliveries.request_id END,
                delivery = excluded.delivery, error = excluded.error, at = excluded.at,
                received_at = excluded.received_at,
                price = CASE WHEN excluded.price != '' THEN excluded.price
                             ELSE deliveries.price END
            WHERE deliveries.delivery = 'pending' OR excluded.delivery != 'pending'
            """,
            (
                delivery.key,
                request_id,
                delivery.smsid,
                delivery.delivery,
                delivery.error,
                delivery.at,
                self.clock(),
                delivery.price,
            ),
        )
        # Kept even when unknown: the report can beat send's commit of the answer.
        return request_id if known else None

    @_in_writer
    def deliveries(self, request_ids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """RequestId -> (delivery, delivery_error, delivered_at) for those reported.

        A report is joined to its message by RequestId or by the message's
        SMSID, however early it came. When a message has several (kept under
        its RequestId and its SMSID), a final one wins over `pending`, then
        the one heard last.
        """
        self._flush()
        ids = [r for r in request_ids if r]
        best: dict[str, tuple[bool, float, tuple[str, str, str]]] = {}
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
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
                rank = (delivery != "pending", float(received), (delivery, error, at))
                held = best.get(rid)
                if held is None or rank[:2] >= held[:2]:
                    best[rid] = rank
        return {rid: found for rid, (_, _, found) in best.items()}

    @_in_writer
    def unknown_deliveries(self) -> int:
        """Reports kept that no send of this campaign knows (yet)."""
        self._flush()
        row = self._db.execute(
            """
            SELECT COUNT(*) FROM deliveries d
            WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.request_id = d.request_id)
              AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.smsid = d.smsid AND m.smsid != '')
            """
        ).fetchone()
        return int(row[0])

    @_in_writer
    def unreported(self) -> list[str]:
        """eSMS's SMSIDs of accepted messages with no final delivery report yet.

        A report may have been matched by RequestId or, when it came with
        RequestId empty (as eSMS sends them), only by SMSID.
        """
        self._flush()
        return [
            smsid
            for (smsid,) in self._db.execute(
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

    @_in_writer
    def accepted_without_smsid(self) -> int:
        """Accepted rows eSMS gave no SMSID (accepted through 124): no report can find them."""
        self._flush()
        row = self._db.execute(
            "SELECT COUNT(*) FROM messages WHERE status = 'accepted' AND smsid = ''"
        ).fetchone()
        return int(row[0])

    @_in_writer
    def accepted_times(self) -> list[float]:
        """When each accepted message's answer was recorded (for the report's chart)."""
        self._flush()
        rows = self._db.execute("SELECT updated_at FROM messages WHERE status = 'accepted'")
        return [t for (t,) in rows]

    @_in_writer
    def delivery_times(self) -> list[tuple[str, str, float]]:
        """(delivery, at, received_at) of every report."""
        self._flush()
        return list(self._db.execute("SELECT delivery, at, received_at FROM deliveries"))

    @_in_writer
    def prices(self) -> list[str]:
        """eSMS's TotalPrice of every delivery report that carried one."""
        self._flush()
        return [p for (p,) in self._db.execute("SELECT price FROM deliveries WHERE price != ''")]
