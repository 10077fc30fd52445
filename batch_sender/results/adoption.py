"""A result file and the journal beside it: never written over unless that journal wrote it.

The journal keeps a fingerprint of the last result file it wrote (send and
every rewrite of the delivery columns). At the start of a send:

* the file matches the fingerprint: an ordinary rerun;
* a journal that has sends but does not match (a rewrite whose fingerprint
  a kill or a full disk lost, a file re-saved, another one put in its
  place): the file is read back, and it is this journal's if every send it
  shows is one the journal holds; otherwise the run refuses;
* no journal (a folder copied without it, a clean-up that removed it): the
  file's sends are adopted into the new journal if the file is this
  campaign's result file for this sheet (same header, each row's user_id and
  a RequestId of its campaign at its line, at least one RequestId that this
  sheet's row gives); otherwise the run refuses, and leaves no journal.

Adopted sends are what a journal would hold: accepted and rejected rows are
not sent again; a failed row is retried, with its RequestId if its request
may have reached eSMS (held back if that was over 23 hours before the file
was written, as any row in doubt), under a derived one after a refusal.
A row the file shows under a derived RequestId is adopted with the refused
RequestIds before it, as its journal held them: its send stays its own (never
a duplicate of itself), and a retry goes out under the RequestId it shows.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.disposition import MAX_GENERATIONS
from batch_sender.check.request_ids import Campaign, send_scope
from batch_sender.check.rules import Checks
from batch_sender.errors import UsageError
from batch_sender.i18n import _, status_word
from batch_sender.journal.errors import JournalError
from batch_sender.journal.files import journal_path
from batch_sender.journal.records import ACCEPTED, FAILED, REJECTED, Record
from batch_sender.journal.row_sends import LEGACY_SCHEME, REQUEST_ID_SCHEME
from batch_sender.journal.store import Journal
from batch_sender.results.digest import fingerprint
from batch_sender.results.read_back import NotAdoptable, Sent, result_rows
from batch_sender.results.rows import (
    RESULT_COLUMNS,
    is_definitive,
    is_no_answer,
    is_stale,
)
from batch_sender.sheet.reader import Table

RESULT_FILE = "result_file"
"""Meta key: the fingerprint of the result file this journal wrote last."""

SENT = (ACCEPTED, REJECTED, FAILED)
"""Statuses of rows that went to eSMS (the others were never sent)."""


def remember_written(journal: Journal, written: Path | str) -> None:
    """This journal wrote the file (or one of this fingerprint) just now.

    Best effort: a fingerprint lost (a kill, a full disk) makes the next send
    read the file back and compare it with the journal, not refuse it.
    """
    with contextlib.suppress(OSError, JournalError):
        journal.set_meta(
            RESULT_FILE, fingerprint(written) if isinstance(written, Path) else written
        )
        journal.commit()


@dataclass
class Adoption:
    """What a run took over from a result file whose journal was missing."""

    path: Path
    counts: Counter[str] = dataclasses.field(default_factory=Counter)

    def plan_line(self) -> str:
        parts = ", ".join(
            _("{n:,} {status}", n=n, status=status_word(status))
            for status, n in sorted(self.counts.items())
        )
        return _(
            "adopted the sends of {path}, whose journal was missing: {parts} "
            "(kept in a new journal, {journal})",
            path=self.path,
            parts=parts or _("none"),
            journal=journal_path(self.path).name,
        )


def check_result_file(results: Path, journal: Journal, sheet_header: list[str], id_at: int) -> None:
    """Refuse (UsageError) before any request if `results` is not this journal's to rewrite."""
    if not results.exists() or journal.count() == 0:
        return  # nothing to write over, or nothing to compare (see adopt)
    known = journal.meta(RESULT_FILE)
    if known is None or known == fingerprint(results):
        return  # its own, or a journal made before journals knew their result file
    strangers = _not_in_journal(results, journal, sheet_header, id_at)
    if strangers is None:
        return
    raise UsageError(
        _(
            "{results}: was not written by its journal {journal} ({why}); "
            "nothing was sent. Move it aside to keep it and rerun: the journal holds every "
            "send of this campaign and writes {name} anew",
            results=results,
            journal=journal.path.name,
            why=strangers,
            name=results.name,
        )
    )


def not_rewritable(results: Path, journal: Journal, header: list[str]) -> str | None:
    """Why `journal` may not refresh `results` (its result file, of this header) in place.

    A journal with no sends has nothing to fold in, and its fingerprint on the
    file would hide a missing journal from the next send (which adopts the
    file's sends or refuses). A file the journal did not write last is its own
    only if every send it shows is the journal's, as send itself decides.
    """
    if journal.count() == 0:
        return _(
            "its journal {name} holds no sends (the next send adopts the file's sends or refuses)",
            name=journal.path.name,
        )
    if journal.meta(RESULT_FILE) == fingerprint(results):
        return None
    # The receiver knows no sheet: the file's own input columns stand for it.
    strangers = _not_in_journal(results, journal, header[: -len(RESULT_COLUMNS)], 0)
    if strangers is None:
        return None
    return _(
        "it was not written by its journal {name} ({why})", name=journal.path.name, why=strangers
    )


def _not_in_journal(
    results: Path, journal: Journal, sheet_header: list[str], id_at: int
) -> str | None:
    """Why the file is not the journal's, or None if every send it shows is the journal's."""
    try:
        batch: list[Sent] = []
        for row in result_rows(results, sheet_header, id_at):
            if row.status in SENT and row.request_id:
                batch.append(row)
            if len(batch) >= 500:
                if (why := _unknown(batch, journal)) is not None:
                    return why
                batch = []
        return _unknown(batch, journal)
    except NotAdoptable as exc:
        return str(exc)


def _unknown(batch: list[Sent], journal: Journal) -> str | None:
    records = journal.lookup(row.request_id for row in batch)
    for row in batch:
        record = records.get(row.request_id)
        if record is None:
            return _("line {line} shows a send the journal never made", line=row.line)
        if row.status == ACCEPTED and row.smsid and record.smsid not in ("", row.smsid):
            return _("line {line} shows another SMSID than the journal's", line=row.line)
        if row.status == ACCEPTED and record.status != ACCEPTED:
            # The journal never writes a send accepted that it has not: the file knows
            # of a delivery (another run's, a journal restored from before it) that a
            # rewrite would lose.
            return _(
                "line {line} shows a send accepted that the journal has as {status}",
                line=row.line,
                status=status_word(record.status),
            )
    return None


def adopt(
    results: Path,
    journal: Journal,
    campaign: Campaign,
    *,
    table: Table,
    checks: Checks,
    oaid: str,
    sandbox: bool,
) -> Adoption | None:
    """Take the sends of a result file whose journal is missing into `journal` (new, empty).

    None when there is nothing to adopt; UsageError (nothing sent, the new
    journal to be removed by the caller) when the file is not this
    campaign's for this sheet.
    """
    if not results.exists() or journal.count() != 0 or journal.meta(RESULT_FILE) is not None:
        return None
    schemes = [journal.rows.request_id_scheme(), LEGACY_SCHEME]
    why = _("none of its RequestIds is one this sheet's rows give")
    for scheme in dict.fromkeys(schemes):
        scoped = dataclasses.replace(campaign, scope=send_scope(oaid, sandbox), scheme=scheme)
        try:
            records, texts, counts = _match(results, table, scoped, checks, oaid, sandbox)
        except NotAdoptable as exc:
            why = str(exc)
            break
        if records is None:
            continue
        if scheme != schemes[0]:
            journal.set_meta(REQUEST_ID_SCHEME, scheme)
        journal.rows.adopt(records, texts, RESULT_FILE, fingerprint(results))
        return Adoption(results, counts)
    raise UsageError(
        _(
            "{results}: its journal ({journal}) is missing and it is not a result file of "
            "campaign {campaign} for {sheet} ({why}); nothing was sent. Put its journal back "
            "beside it, or give the sheet and {opt:campaign_id} it was sent with; another "
            "{opt:output} starts over and may message its followers again",
            results=results,
            journal=journal_path(results).name,
            campaign=repr(campaign.id),
            sheet=table.source.display,
            why=why,
        )
    )


def _match(
    results: Path,
    table: Table,
    campaign: Campaign,
    checks: Checks,
    oaid: str,
    sandbox: bool,
) -> tuple[list[Record] | None, dict[str, str], Counter[str]]:
    """The records to adopt, if the file's rows are this sheet's rows in this campaign."""
    sent_at = results.stat().st_mtime
    rows = result_rows(results, table.header, table.fields["user_id"])
    pending = next(rows, None)
    prefix = f"{campaign.slug}-"
    exact = 0
    records: list[Record] = []
    texts: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for _chunk, checked in checked_chunks(table, campaign, checks):
        lines = checked.index.tolist()
        sheet = dict(
            zip(
                lines,
                zip(
                    checked["user_id"].tolist(),
                    checked["RequestId"].tolist(),
                    checked["row_key"].tolist(),
                    checked["text"].tolist(),
                    strict=True,
                ),
                strict=True,
            )
        )
        last = int(lines[-1]) if lines else 0
        while pending is not None and pending.line <= last:
            row, pending = pending, next(rows, None)
            if not row.request_id:
                continue
            found = sheet.get(row.line)
            if found is None or found[0] != row.user_id:
                raise NotAdoptable(
                    _("line {line} is another follower's in the sheet", line=row.line)
                )
            if not row.request_id.startswith(prefix):
                raise NotAdoptable(_("line {line} has another campaign's RequestId", line=row.line))
            user_id, base, row_key, text = found
            generation = _generation(campaign, row.request_id, base)
            same = generation is not None
            exact += same
            content_id = base if same else row.request_id
            adopted = _record(row, user_id, content_id, row_key, sent_at, oaid, sandbox)
            if generation:
                # The RequestIds before it were refused definitively, as its journal
                # held: the rerun takes up the row's chain where the file shows it.
                records.extend(
                    _refused(adopted, campaign.derived_id(base, g)) for g in range(generation)
                )
            if row.status not in SENT:
                continue
            counts[row.status] += 1
            records.append(adopted)
            sent_text = text if same else row.sent_text
            if sent_text:
                texts[row.request_id] = sent_text
    if pending is not None and any(r.request_id for r in (pending, *rows)):
        raise NotAdoptable(_("line {line} is beyond the sheet's last row", line=pending.line))
    if not exact:
        return None, {}, counts
    return records, texts, counts


def _generation(campaign: Campaign, request_id: str, base: str) -> int | None:
    """Which try of this content the RequestId is (0: its own, n: derived after n refusals).

    None: it is not this content's (the row changed since it was sent).
    """
    if not base:
        return None
    if request_id == base:
        return 0
    for generation in range(1, MAX_GENERATIONS):
        if campaign.derived_id(base, generation) == request_id:
            return generation
    return None


def _refused(adopted: Record, request_id: str) -> Record:
    """An earlier try of the adopted row that eSMS refused definitively (its answer lost)."""
    return adopted._replace(
        request_id=request_id,
        status=FAILED,
        code="",
        smsid="",
        message="",
        attempts=1,
        ambiguous_since=None,
    )


def _record(
    row: Sent,
    user_id: str,
    content_id: str,
    row_key: str,
    sent_at: float,
    oaid: str,
    sandbox: bool,
) -> Record:
    """What the journal would hold of the row's last request, as its result row tells."""
    ambiguous = None
    if row.status == FAILED and not is_definitive(row.message):
        # No definitive answer: it may have reached eSMS, at the latest when the file
        # was written; a row held back as stale stays stale.
        ambiguous = 0.0 if is_stale(row.message) else sent_at
    status = row.status
    if is_no_answer(row.message):
        status = "sending"
    return Record(
        request_id=row.request_id,
        line=row.line,
        status=status,
        code=row.code,
        smsid=row.smsid if row.status == ACCEPTED else "",
        message="" if row.status == FAILED else row.message,
        attempts=max(row.attempts, 1),
        last_sent_at=sent_at,
        ambiguous_since=ambiguous,
        row_key=row_key,
        user_id=user_id,
        content_id=content_id,
        oaid=oaid,
        sandbox=int(sandbox),
    )
