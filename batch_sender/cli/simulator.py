"""`simulator`: a local eSMS stand-in, for trials, tests and benchmarks."""

from __future__ import annotations

import sys
from typing import Any

import click

from batch_sender import UsageError
from batch_sender.cli.base import cli, handle_errors
from batch_sender.cli.spoken import option
from batch_sender.i18n import N_, _
from batch_sender.simulator.accounts import DEMO, with_demo_keys

HELP = N_("""Run a local eSMS stand-in that speaks the documented API.

It answers the Zalo send, GetBalance_json, ZNS/GetListZOA, GetCallback and
QueryListUID endpoints in the shapes of eSMS's own samples (QueryListUID
over a synthetic OA of --audience-size users, seeded by --seed), calls
each message's CallbackUrl as eSMS does, and can inject faults. It takes
each path as the pages spell it: MainService.svc or mainservice.svc, with
or without the trailing slash. GET /_simulator/stats shows what it accepted.

\b
Examples:
  batch-sender simulator --port 8900
  batch-sender simulator --port 8900 --http-500 0.05 --code-160 0.05 --drop 0.05
  batch-sender send campaign.csv -o results.csv --base-url http://127.0.0.1:8900 \\
      --api-key {api_key} --secret-key {secret_key} --oaid {oaid}
""")
DEMO_KEYS = {"api_key": DEMO.api_key, "secret_key": DEMO.secret_key, "oaid": DEMO.oaid}


@cli.command(help=HELP, help_values=DEMO_KEYS)
@option("--host", default="127.0.0.1", show_default=True, help=N_("Address to listen on."))
@option(
    "--port", type=click.IntRange(0, 65535), default=8900, show_default=True, help=N_("0 = any.")
)
@option("--http-500", type=click.FloatRange(0, 1), default=0.0, help=N_("Share of HTTP 500s."))
@option("--code-160", type=click.FloatRange(0, 1), default=0.0, help=N_("Share of CodeResult 160."))
@option(
    "--drop",
    type=click.FloatRange(0, 1),
    default=0.0,
    help=N_("Share of accepted requests whose connection is dropped before the answer."),
)
@option("--html-502", type=click.FloatRange(0, 1), default=0.0, help=N_("Share of HTML 502 pages."))
@option(
    "--code-429",
    type=click.FloatRange(0, 1),
    default=0.0,
    help=N_("Share of HTTP 429 with Retry-After (see --retry-after)."),
)
@option(
    "--retry-after",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help=N_("Seconds."),
)
@option(
    "--slow",
    type=click.FloatRange(0, 1),
    default=0.0,
    help=N_("Share of accepted requests answered only after --slow-seconds."),
)
@option(
    "--slow-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help=N_("Seconds."),
)
@option(
    "--truncated",
    type=click.FloatRange(0, 1),
    default=0.0,
    help=N_("Share of accepted requests answered with JSON cut short."),
)
@option(
    "--outage-every",
    type=click.FloatRange(min=0),
    default=0.0,
    help=N_("Go away every this many seconds (refuse connections, cut open ones)."),
)
@option(
    "--outage-for", type=click.FloatRange(min=0), default=0.0, help=N_("Seconds each outage lasts.")
)
@option(
    "--latency", type=click.FloatRange(min=0), default=0.0, help=N_("Seconds before each answer.")
)
@option(
    "--balance", type=click.IntRange(min=0), default=10**12, help=N_("Starting account balance.")
)
@option(
    "--price", type=click.IntRange(min=0), default=300, show_default=True, help=N_("Per message.")
)
@option("--seed", type=int, default=None, help=N_("Seed the fault dice (repeatable runs)."))
@option(
    "--callback-delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help=N_("Seconds before the delivery report goes to a message's CallbackUrl."),
)
@option(
    "--zalo-fail",
    type=click.FloatRange(0, 1),
    default=0.0,
    help=N_("Share of accepted messages Zalo then fails to deliver (-114)."),
)
@option(
    "--callback-style",
    "callback_styles",
    type=click.Choice(["follower", "zns", "uid"]),
    multiple=True,
    help=N_(
        "How reports' error_info is encoded, as in eSMS's samples: follower (twice, "
        "with its time; the default), zns (a JSON string literal), uid (once). "
        "Repeat to take them in turn."
    ),
)
@option(
    "--reserve-rejected",
    is_flag=True,
    help=N_(
        "Answer 124 for 24 hours to a RequestId it rejected (103, 210...): eSMS does not "
        "say whether it does."
    ),
)
@option(
    "--api-key",
    default=None,
    help=N_("ApiKey it accepts (default {api_key})."),
    help_values=DEMO_KEYS,
)
@option(
    "--secret-key",
    default=None,
    help=N_("SecretKey it accepts (default {secret_key})."),
    help_values=DEMO_KEYS,
)
@option("--oaid", default=None, help=N_("OAID it accepts (default {oaid})."), help_values=DEMO_KEYS)
@option(
    "--audience-size",
    type=click.IntRange(min=0),
    default=2000,
    show_default=True,
    help=N_("Users of the synthetic OA that QueryListUID lists."),
)
@option(
    "--audience-days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help=N_("Days over which the OA's users interacted, ending on --audience-end."),
)
@option(
    "--audience-end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-11-30",
    show_default=True,
    help=N_("The last day the OA's users interacted."),
)
@handle_errors
def simulator(
    host: str,
    port: int,
    http_500: float,
    code_160: float,
    drop: float,
    html_502: float,
    code_429: float,
    retry_after: float,
    slow: float,
    slow_seconds: float,
    truncated: float,
    outage_every: float,
    outage_for: float,
    latency: float,
    balance: int,
    price: int,
    seed: int | None,
    callback_delay: float,
    zalo_fail: float,
    callback_styles: tuple[str, ...],
    reserve_rejected: bool,
    api_key: str | None,
    secret_key: str | None,
    oaid: str | None,
    audience_size: int,
    audience_days: int,
    audience_end: Any,
) -> None:
    """The simulator command; its help is HELP, written with the demo keys."""
    import asyncio

    from batch_sender.simulator import config as sim
    from batch_sender.simulator.server import Simulator, serve

    keys = with_demo_keys(api_key, secret_key, oaid)
    config = sim.SimulatorConfig(
        api_key=keys.api_key,
        secret_key=keys.secret_key,
        oaid=keys.oaid,
        balance=balance,
        price=price,
        faults=sim.Faults(
            http_500=http_500,
            html_502=html_502,
            code_160=code_160,
            code_429=code_429,
            drop=drop,
            slow=slow,
            truncated=truncated,
            latency=latency,
            retry_after=retry_after,
            slow_seconds=slow_seconds,
            outage_every=outage_every,
            outage_for=outage_for,
        ),
        seed=seed,
        callback_delay=callback_delay,
        zalo_fail=zalo_fail,
        callback_styles=callback_styles or ("follower",),
        audience_size=audience_size,
        audience_days=audience_days,
        audience_end=audience_end.date(),
        reserve_rejected=reserve_rejected,
    )
    instance = Simulator(config)

    async def run() -> None:
        try:
            async with serve(instance, host, port) as url:
                click.echo(_("eSMS simulator listening on {url}", url=url), err=False)
                sys.stdout.flush()
                await asyncio.Event().wait()
        except OSError as exc:
            raise UsageError(
                _(
                    "cannot listen on {host}:{port}: {reason}",
                    host=host,
                    port=str(port),
                    reason=exc.strerror,
                )
            ) from None

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        stats = instance.snapshot()
        click.echo(
            _(
                "simulator stopped: {requests:,} requests, {accepted:,} accepted",
                requests=stats["requests"],
                accepted=stats["accepted"],
            )
        )
