"""An Airflow DAG that sends, each night, every campaign file a pipeline drops in a folder.

Put this file in Airflow's dags folder, with batch-sender installed in the
workers' environment (Airflow 3). Each night:

- `find_campaigns` lists the `*.csv` / `*.xlsx` files in ZALO_CAMPAIGNS_DIR
  (and fails, sending nothing, if two share a name: `thang12.csv` and
  `thang12.xlsx` would share one result file and campaign);
  `send_campaign` is mapped over them (dynamic task mapping): one task per
  file, running side by side, each with its own result file and journal. A
  team with several OAs drops one file per OA (or maps over OAs) the same way.
- The campaign id is the file's name and the run's logical date
  (`thang12-2026-12-01`), and the result file goes to
  ZALO_RESULTS_DIR/<date>/: clearing or retrying a task of the same night
  continues that night's campaign (no message sent twice), the next night is
  a new campaign with new RequestIds.
- The account comes from the Airflow connection `esms_default` (login = API
  key, password = secret key, extra `{"oaid": "...", "base_url": "..."}`),
  or else from the environment the CLI reads (ESMS_API_KEY, ESMS_SECRET_KEY,
  ESMS_OAID, ESMS_BASE_URL, ESMS_CALLBACK_URL). Both keys are masked in the
  task logs, whichever the source.

Airflow's own retries are off: batch-sender already retries each request
(with the same RequestId), and what is left when a task fails is not what a
blind retry minutes later fixes: eSMS refused the account (keys, balance),
could not be reached, or the file cannot be used. Fix it, then clear the
task: it continues the campaign where it stopped. Rows that need attention
(invalid, rejected) do not fail the task: the returned summary (XCom) counts
them and the result file lists them.

The task log shows batch-sender's own lines (logger `batch_sender`): the
plan, a progress line about every 10 seconds, warnings and the summary.

The functions above the DAG are plain Python and import nothing from Airflow,
so they can be tested (and run by hand) without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import batch_sender

CAMPAIGNS = Path(os.environ.get("ZALO_CAMPAIGNS_DIR", "/data/zalo/campaigns"))
RESULTS = Path(os.environ.get("ZALO_RESULTS_DIR", "/data/zalo/results"))
CONNECTION_ID = "esms_default"
TIMEZONE = "Asia/Ho_Chi_Minh"
"""The nights are counted in this time zone (the schedule's)."""
SEND_OPTIONS: dict[str, Any] = {"rate": 20}
"""send's other options for every file (rate, template, exclude, ...)."""


class CampaignStopped(RuntimeError):
    """The run stopped before the end (account, eSMS unreachable, interrupted): clear to rerun."""


def campaign_files(folder: str | Path) -> list[str]:
    """The campaign files in `folder`, in name order (an empty folder: no task).

    ValueError for two files of one name (`thang12.csv` and `thang12.xlsx`):
    they would share one result file, journal and campaign id.
    """
    found = [p for p in Path(folder).iterdir() if p.suffix.lower() in (".csv", ".xlsx")]
    files = [p for p in sorted(found) if p.is_file()]
    seen: dict[str, Path] = {}
    for path in files:
        # Case folded: on a case-insensitive disk their result files would be one file.
        other = seen.setdefault(path.stem.casefold(), path)
        if other != path:
            raise ValueError(
                f"{other.name} and {path.name} in {folder} would share one result file and "
                "campaign: rename one"
            )
    return [str(p) for p in files]


def nightly_campaign_id(path: str | Path, night: str) -> str:
    """The campaign of one file on one night: `thang12-2026-12-01`."""
    return f"{Path(path).stem}-{night}"


def account(
    login: str | None = None,
    password: str | None = None,
    extra: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> batch_sender.Account:
    """The account from a connection's fields, each one missing taken from the environment."""
    extra = extra or {}
    return batch_sender.Account.from_env(
        environ=environ,
        dotenv=None,  # a worker's working directory is nobody's .env
        api_key=login or None,
        secret_key=password or None,
        oaid=extra.get("oaid") or None,
        base_url=extra.get("base_url") or None,
        callback_url=extra.get("callback_url") or None,
    )


def send_campaign_file(
    path: str | Path,
    results_dir: str | Path,
    *,
    campaign_id: str | None = None,
    account: batch_sender.Account | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one campaign file; its summary (what --summary-json writes) for XCom.

    settings: send's other options as a mapping (rate, template, ...).
    Calling it again with the same file and results_dir continues the
    campaign: rows already accepted are not sent again.
    """
    source = Path(path)
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / f"{source.stem}-results.csv"
    summary = results.with_suffix(".summary.json")
    report = batch_sender.send(
        source,
        results,
        account=account,
        summary_json=summary,
        campaign_id=campaign_id,
        **dict(settings or {}),
    )
    if report.stopped is not None:
        raise CampaignStopped(f"{source.name}: stopped: {report.stopped}; results: {results}")
    return report.as_dict()


try:
    import pendulum
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # not inside Airflow: the functions above are still usable
    IN_AIRFLOW = False
else:
    IN_AIRFLOW = True


def _account() -> batch_sender.Account:
    """The account from the connection if it is defined, else the environment; keys masked."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    try:
        conn = BaseHook.get_connection(CONNECTION_ID)
    except AirflowNotFoundException:
        found = account()
    else:
        found = account(conn.login, conn.password, conn.extra_dejson)
    for key in (found.api_key, found.secret_key):
        if key:
            mask_secret(key)
    return found


if IN_AIRFLOW:

    @dag(
        dag_id="zalo_campaigns",
        schedule="@daily",
        start_date=pendulum.datetime(2026, 12, 1, tz=TIMEZONE),
        catchup=False,
        # One night at a time: a file's journal refuses a second send of it meanwhile.
        max_active_runs=1,
        # No blind retries: batch-sender retries each request itself; a task
        # that still fails needs a person (keys, balance, eSMS down, a bad
        # file), and clearing it afterwards resumes the campaign safely.
        default_args={"retries": 0},
        tags=["zalo", "esms"],
    )
    def zalo_campaigns() -> None:
        @task
        def find_campaigns() -> list[str]:
            return campaign_files(CAMPAIGNS)

        @task(map_index_template="{{ campaign_file }}")
        def send_campaign(path: str) -> dict[str, Any]:
            context = get_current_context()
            context["campaign_file"] = Path(path).name
            dag_run = context["dag_run"]
            # A manual run may have no logical date: it is then the night it runs after.
            when = pendulum.instance(context.get("logical_date") or dag_run.run_after)
            night = when.in_timezone(TIMEZONE).to_date_string()
            return send_campaign_file(
                path,
                RESULTS / night,
                campaign_id=nightly_campaign_id(path, night),
                account=_account(),
                settings=SEND_OPTIONS,
            )

        send_campaign.expand(path=find_campaigns())

    zalo_campaigns()
