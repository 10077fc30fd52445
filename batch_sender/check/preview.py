"""`preview`: the first messages as a follower would see them in Zalo, and the rows left out.

One self-contained HTML page (no script, no stylesheet or font fetched):
each message as a Zalo OA message looks, the image above the text, the
text's line breaks kept, every cell escaped. Below, each row that would not
be sent, with its line and why. Nothing is sent; the images themselves are
loaded from their URLs by the browser, as Zalo would.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import VALID, Checks
from batch_sender.i18n import _, current, ngettext, status_word
from batch_sender.sheet.reader import Table

SHOWN_PROBLEMS = 500
"""Rows left out listed at most (the count says how many there are in all)."""


@dataclass(frozen=True)
class Shown:
    line: int
    user_id: str
    text: str
    url: str


@dataclass
class Preview:
    name: str
    rows: int = 0
    messages: list[Shown] = field(default_factory=list)
    to_send: int = 0
    left_out: list[tuple[int, str, str, str]] = field(default_factory=list)
    """(line, user_id, status, why) of rows that would not be sent (the first SHOWN_PROBLEMS)."""
    left_out_count: int = 0


def build_preview(table: Table, campaign: Campaign, checks: Checks, rows: int) -> Preview:
    """Read every row (so that every left-out row is found), keep the first `rows` messages."""
    preview = Preview(table.source.display.name)
    for chunk, checked in checked_chunks(table, campaign, checks, request_ids=False):
        preview.rows += len(chunk)
        status = checked["status"].tolist()
        valid = [i for i, s in enumerate(status) if s == VALID]
        preview.to_send += len(valid)
        lines = chunk.index.tolist()
        uids, texts, urls = (checked[c].tolist() for c in ("user_id", "text", "url"))
        for i in valid[: max(rows - len(preview.messages), 0)]:
            preview.messages.append(Shown(int(lines[i]), uids[i], texts[i], urls[i]))
        errors = checked["ErrorMessage"].tolist()
        for i, s in enumerate(status):
            if s == VALID:
                continue
            preview.left_out_count += 1
            if len(preview.left_out) < SHOWN_PROBLEMS:
                preview.left_out.append((int(lines[i]), uids[i], s, errors[i]))
    return preview


def html_preview(preview: Preview) -> str:
    e = html.escape
    nobody = _("No row would be sent.")
    cards = "\n".join(_card(m) for m in preview.messages) or f"<p>{e(nobody)}</p>"
    left = ""
    empty = "<i>" + e(_("empty")) + "</i>"
    if preview.left_out_count:
        body = "".join(
            f"<tr><td class=n>{line}</td><td class=id>{e(uid) or empty}</td>"
            f"<td><span class='tag {e(status)}' title='{e(status)}'>{e(status_word(status))}"
            f"</span></td><td>{e(why)}</td></tr>"
            for line, uid, status, why in preview.left_out
        )
        more = preview.left_out_count - len(preview.left_out)
        tail = (
            "<p>"
            + _(
                "... and {n:,} more (run {validate} for all).",
                n=more,
                validate="<code>validate</code>",
            )
            + "</p>"
            if more
            else ""
        )
        heading = ngettext(
            "{n:,} row would not be sent", "{n:,} rows would not be sent", preview.left_out_count
        )
        left = (
            f"<h2>{e(heading)}</h2>"
            + "<table class=left><tr><th>"
            + e(_("line"))
            + "</th><th>user_id</th><th>status</th><th>"
            + e(_("why"))
            + f"</th></tr>{body}</table>{tail}"
        )
    shown = len(preview.messages)
    title = _(
        "{name}: the first {shown:,} of {n:,} messages",
        name=preview.name,
        shown=shown,
        n=preview.to_send,
    )
    summary = _(
        "{rows:,} rows; {to_send:,} would be sent, {left_out:,} would not. Nothing has been sent.",
        rows=preview.rows,
        to_send=preview.to_send,
        left_out=preview.left_out_count,
    )
    page_title = _("{name}: preview", name=preview.name)
    return f"""<!doctype html>
<html lang="{current()}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(page_title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0; background: #e9ecf1; color: #081c36; }}
header {{ background: #0068ff; color: #fff; padding: .9rem 1.4rem; }}
header h1 {{ font-size: 1.15rem; margin: 0; }} header p {{ margin: .2rem 0 0; opacity: .9; }}
main {{ max-width: 30rem; margin: 0 auto; padding: 1rem; }}
.msg {{ margin: 0 0 1.3rem; }}
.who {{ font-size: .8rem; color: #5b6673; margin: 0 0 .3rem .2rem; }}
.bubble {{ background: #fff; border-radius: .6rem; overflow: hidden;
  box-shadow: 0 1px 2px rgba(0,0,0,.12); }}
.photo {{ display: block; width: 100%; min-height: 6rem; background: #d5dbe3;
  color: #5b6673; font-size: .8rem; word-break: break-all; }}
.text {{ padding: .6rem .8rem .7rem; white-space: pre-wrap; overflow-wrap: anywhere; }}
section.left {{ max-width: 60rem; margin: 0 auto; padding: 0 1rem 2rem; }}
h2 {{ font-size: 1.05rem; }}
table.left {{ border-collapse: collapse; background: #fff; width: 100%; }}
table.left td, table.left th {{ border-bottom: 1px solid #dde3ea; padding: .3rem .6rem;
  text-align: left; vertical-align: top; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.id {{ font-family: ui-monospace, monospace; white-space: nowrap; }}
.tag {{ border-radius: .3rem; padding: 0 .35rem; font-size: .85em; background: #fde2e1;
  color: #a0201b; }}
.tag.duplicate, .tag.excluded {{ background: #fff1cc; color: #7a5200; }}
</style></head><body>
<header><h1>{e(title)}</h1>
<p>{e(summary)}</p></header>
<main>
{cards}
</main>
<section class=left>
{left}
</section>
</body></html>
"""


def _card(message: Shown) -> str:
    e = html.escape
    # Zalo shows \r\n as a line break: pre-wrap keeps it, escaping keeps any markup as text.
    text = message.text.replace("\r\n", "\n")
    return (
        "<div class=msg><p class=who>"
        + e(_("line {line}", line=message.line))
        + f" &middot; user_id {e(message.user_id)}</p>"
        f'<div class=bubble><img class=photo src="{e(message.url)}" alt="'
        + e(_("image: {url}", url=message.url))
        + '" loading=lazy>'
        f"<div class=text>{e(text)}</div></div></div>"
    )
