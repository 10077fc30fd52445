"""The report as one self-contained HTML page: the figures, a chart, the rows to look at."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter

from batch_sender.delivery.figures import (
    SHOWN_ROWS,
    CampaignFigures,
    not_in_sheet_lines,
    plain_zalo_error,
)
from batch_sender.esms.delivery_report import DELIVERED, FAILED, VIETNAM
from batch_sender.i18n import _, current, number, status_word

BUCKETS = (1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)


def _bucket(span: int) -> int:
    """The smallest bucket (seconds) that draws the span in at most 60 bars."""
    return next((b for b in BUCKETS if span / b <= 60), BUCKETS[-1])


def _per(seconds: int) -> str:
    return _("{s} s", s=seconds) if seconds < 60 else _("{m} min", m=seconds // 60)


def html_report(report: CampaignFigures) -> str:
    """One page, no external assets, as wide as the window: the numbers, the reasons, the
    cost, a chart over time, the failed followers and the rows that need attention."""
    e = html.escape
    title = (
        _("Campaign {campaign}", campaign=report.campaign_id)
        if report.campaign_id
        else _("Campaign")
    )
    summary = "".join(
        f"<tr><td>{e(label)}</td><td class=n>{number(n)}</td><td>{e(share)}</td></tr>"
        for label, n, share in report.summary()
    )
    glance = _("At a glance")
    cards = [
        f"<section><h2>{e(glance)}</h2><table class=summary>{summary}</table>"
        f"{_rate_bar(report)}<p class=cost>{e(report.cost_line())}</p>"
        + "".join(f"<p class=note>{e(note)}</p>" for note in report.notes())
        + "</section>"
    ]
    for heading, reasons in (
        (_("Why delivery failed"), report.failure_reasons()),
        (_("Why eSMS refused rows"), report.rejection_reasons()),
    ):
        if reasons:
            body = "".join(
                f"<tr><td class=n>{number(n)}</td><td>{e(words)}</td>"
                f"<td class=code title='{e(own)}'>{e(code)}</td></tr>"
                for n, words, code, own in reasons
            )
            cards.append(f"<section><h2>{e(heading)}</h2><table>{body}</table></section>")
    over_time = _("Sends and deliveries over time (Vietnam time)")
    th_line, why, zalo_code, th_status = (
        e(_("line")),
        e(_("why")),
        e(_("Zalo code")),
        e(_("status")),
    )
    sections = [
        f"<div class=cards>{''.join(cards)}</div>",
        f"<section class=wide><h2>{e(over_time)}</h2>{_chart(report)}</section>",
    ]
    if report.failed_ids:
        rows = "".join(
            f"<tr><td class=n>{n}</td><td class=id>{e(uid)}</td>"
            f"<td>{e(plain_zalo_error(error))}</td>"
            f"<td class=code>{e(error.partition(' ')[0] or '')}</td></tr>"
            for n, uid, error in report.failed
        )
        sections.append(
            _listing(
                _("Followers whose delivery failed ({n:,})", n=len(report.failed_ids)),
                f"<th>{th_line}</th><th>user_id</th><th>{why}</th><th>{zalo_code}</th>",
                rows,
                len(report.failed_ids) - len(report.failed),
                _("--failed-ids writes them all, a list for --exclude"),
            )
        )
    if report.attention_total:
        rows = "".join(
            f"<tr class=attention><td class=n>{n}</td><td class=id>{e(uid)}</td>"
            f"<td>{e(status_word(status))}</td>"
            f"<td>{e(message)}</td></tr>"
            for n, uid, status, message in report.attention
        )
        sections.append(
            _listing(
                _("Rows that need attention ({n:,})", n=report.attention_total),
                f"<th>{th_line}</th><th>user_id</th><th>{th_status}</th><th>{why}</th>",
                rows,
                report.attention_total - len(report.attention),
                _("the result file's status column has every row"),
            )
        )
    if report.not_in_sheet:
        sections.append(
            "<section class=wide><h2>"
            + e(not_in_sheet_lines(report.not_in_sheet)[0])
            + "</h2><ul>"
            + "".join(
                f"<li>{e(line.strip())}</li>"
                for line in not_in_sheet_lines(report.not_in_sheet)[1 : SHOWN_ROWS + 1]
            )
            + "</ul></section>"
        )
    body = "\n".join(sections)
    page_title = _("{title}: campaign report", title=title)
    sub = _("{name}: {n:,} rows", name=report.name, n=report.rows)
    return f"""<!doctype html>
<html lang="{current()}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(page_title)}</title>
<style>
* {{ box-sizing: border-box; }}
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 1.5rem clamp(.8rem, 3vw, 3rem);
  color: #1d2530; background: #f4f6f9; }}
h1 {{ font-size: 1.6rem; margin: 0 0 .2rem; }}
h2 {{ font-size: 1.1rem; margin: 0 0 .6rem; }}
.sub {{ color: #5b6673; margin: 0 0 1.2rem; }}
section {{ background: #fff; border-radius: .6rem; padding: 1rem 1.2rem; margin-bottom: 1.2rem;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); min-width: 0; }}
.cards {{ display: grid; gap: 1.2rem; margin-bottom: 1.2rem;
  grid-template-columns: repeat(auto-fit, minmax(min(20rem, 100%), 1fr)); }}
.cards section {{ margin-bottom: 0; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #dde3ea; padding: .35rem .6rem; text-align: left;
  vertical-align: top; }}
th {{ font-size: .85rem; color: #5b6673; font-weight: 600; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.code {{ color: #5b6673; font-size: .9em; white-space: nowrap; }}
td.id {{ white-space: nowrap; font-variant-numeric: tabular-nums; }}
table.summary td:first-child {{ font-weight: 600; }}
.cost {{ font-weight: 600; margin: .8rem 0 0; }} .note {{ color: #8a5a00; }}
.more {{ color: #5b6673; margin: .6rem 0 0; }}
.bar {{ display: flex; height: 1.2rem; margin: .9rem 0 .2rem;
  border-radius: .3rem; overflow: hidden; background: #dde3ea; }}
.bar .ok {{ background: #2e9e5b; }} .bar .bad {{ background: #d64541; }}
.bar .wait {{ background: #b8c2cc; }}
.legend {{ margin: 0 0 .4rem; }}
.legend span {{ display: inline-block; width: .9rem; height: .9rem; margin: 0 .35rem 0 1rem;
  vertical-align: -.1rem; border-radius: .15rem; }}
.legend span:first-child {{ margin-left: 0; }}
svg.chart {{ width: 100%; height: auto; display: block; max-height: 28rem; }}
svg.chart text {{ font: 14px system-ui, sans-serif; fill: #3d4752; }}
@media (max-width: 40rem) {{
  body {{ font-size: 15px; }}
  svg.chart {{ min-width: 36rem; }}
  svg.chart text {{ font-size: 24px; }}
  /* A phone reads each listed row as a short paragraph, not a table too wide for it. */
  table.list thead {{ display: none; }}
  table.list tr {{ display: block; padding: .45rem 0; border-bottom: 1px solid #dde3ea; }}
  table.list td {{ display: inline; border: 0; padding: 0 .4rem 0 0; }}
  table.list td.n::before {{ content: "{th_line} "; color: #5b6673; }}
}}
</style></head><body>
<h1>{e(title)}</h1>
<p class=sub>{e(sub)}; {e(report.span())}</p>
{body}
</body></html>
"""


def _listing(heading: str, head: str, rows: str, more: int, where: str) -> str:
    """A bounded table: its first rows, and how many more there are (and where)."""
    tail = (
        "<p class=more>"
        + html.escape(_("... and {n:,} more ({where})", n=more, where=where))
        + "</p>"
        if more > 0
        else ""
    )
    return (
        f"<section class=wide><h2>{html.escape(heading)}</h2><div class=scroll><table class=list>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{tail}</section>"
    )


def _rate_bar(report: CampaignFigures) -> str:
    """Delivered, failed and still unknown, as shares of one bar the width of the page."""
    accepted = report.accepted
    if not accepted:
        return ""
    parts = (
        ("ok", report.deliveries.get(DELIVERED, 0), _("delivered")),
        ("bad", report.deliveries.get(FAILED, 0), _("delivery failed")),
        (
            "wait",
            accepted - report.deliveries.get(DELIVERED, 0) - report.deliveries.get(FAILED, 0),
            _("no final report yet"),
        ),
    )
    spans = "".join(
        f"<span class={kind} style='width:{100 * n / accepted:.2f}%' "
        f"title='{html.escape(number(n))} {html.escape(label)}'></span>"
        for kind, n, label in parts
        if n > 0
    )
    legend = "".join(
        f"<span style='background:{BAR_COLORS[kind]}'></span>{html.escape(number(n))} "
        f"{html.escape(label)}"
        for kind, n, label in parts
        if n > 0
    )
    label = html.escape(_("delivery of the accepted messages"))
    return f"<div class=bar role=img aria-label='{label}'>{spans}</div><p class=legend>{legend}</p>"


BAR_COLORS = {"ok": "#2e9e5b", "bad": "#d64541", "wait": "#b8c2cc"}

SENT_COLOR, REPORTED_COLOR = "#3b7dd8", "#2e9e5b"


def _chart(report: CampaignFigures) -> str:
    """Bars per time bucket, accepted beside delivery reports, with both axes labelled."""
    seconds = set(report.sends) | set(report.delivered)
    if not seconds:
        return "<p>" + html.escape(_("No sends recorded in the journal.")) + "</p>"
    size = _bucket(max(seconds) - min(seconds) + 1)
    sends: Counter[int] = Counter()
    delivered: Counter[int] = Counter()
    for source, target in ((report.sends, sends), (report.delivered, delivered)):
        for second, n in source.items():
            target[second // size] += n
    first, last = min(sends | delivered), max(sends | delivered)
    span = last - first + 1
    width, height = 1000, 360
    left, right, top_pad, bottom = 70, 20, 20, 60
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max(max(sends.values(), default=0), max(delivered.values(), default=0), 1)
    step = plot_w / span
    bar = max(min(step * 0.4, 40), 1.5)

    def y(n: float) -> float:
        return top_pad + plot_h - plot_h * n / top

    parts = []
    for tick in _ticks(top):
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            f'stroke="#e3e8ee"/><text x="{left - 8}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{number(tick)}</text>'
        )
    for bucket in range(first, last + 1):
        x = left + (bucket - first) * step + (step - 2 * bar) / 2
        for offset, counts, color in ((0.0, sends, SENT_COLOR), (bar, delivered, REPORTED_COLOR)):
            n = counts.get(bucket, 0)
            if n:
                parts.append(
                    f'<rect x="{x + offset:.1f}" y="{y(n):.1f}" width="{bar:.1f}" '
                    f'height="{top_pad + plot_h - y(n):.1f}" fill="{color}">'
                    f"<title>{number(n)}</title></rect>"
                )
    for i in range(5 if span > 1 else 1):
        bucket = first + round(i * (span - 1) / 4) if span > 1 else first
        x = left + (bucket - first + 0.5) * step
        when = dt.datetime.fromtimestamp(bucket * size, VIETNAM).strftime("%d/%m %H:%M:%S")
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 20}" text-anchor="middle">{when}</text>'
        )
    e = html.escape
    x_axis = _("time (Vietnam), one bar pair per {per}", per=_per(size))
    y_axis = _("messages per {per}", per=_per(size))
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
        f"{e(x_axis)}</text>"
        f'<text transform="translate(16 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{e(y_axis)}</text>'
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" '
        f'y2="{top_pad + plot_h}" stroke="#888"/>'
    )
    accepted, reports = _("accepted by eSMS"), _("delivery reports (delivered or failed)")
    aria = _("sends and deliveries over time")
    return (
        f'<p class=legend><span style="background:{SENT_COLOR}"></span>{e(accepted)}'
        f'<span style="background:{REPORTED_COLOR}"></span>'
        f"{e(reports)}</p>"
        f'<div class=scroll><svg class=chart xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(aria)}">' + "".join(parts) + "</svg></div>"
    )


def _ticks(top: int) -> list[int]:
    """Round values from 0 to `top` for the y axis, at most 6 of them."""
    step = 1
    while top / step > 5:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 5:
                step *= factor
                break
        else:
            step *= 10
    return list(range(0, top + 1, step))
