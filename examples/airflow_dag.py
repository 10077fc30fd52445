"""An Airflow DAG that sends every campaign file a pipeline drops in a folder, one task each.

Put this file in Airflow's dags folder, with batch-sender installed in the
workers' environment. Each `*.csv` (or `.xlsx`) in CAMPAIGNS becomes one task;
its result file and journal go to RESULTS. The keys come from Airflow
Variables (esms_api_key, esms_secret_key, esms_oaid), which Airflow masks in
its logs and UI.

Airflow's own retries are off: batch-sender already retries each request, and
rerunning a task (clearing it in the UI) continues its campaign where it
stopped, with no message sent twice. A task fails when eSMS refused the
account or could not be reached (fix it, then clear the task), or when the
file cannot be used; rows that need attention (invalid, rejected) do not fail
it: the returned summary (XCom) counts them and the result file lists them.

`send_campaign_file` is plain Python and imports nothing from Airflow, so it
can be tested (and run by hand) without Airflow.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import batch_sender

CAMPAIGNS = Path("/data/zalo/campaigns")
RESULTS = Path("/data/zalo/results")


class CampaignStopped(RuntimeError):
    """The run stopped before the end (account, eSMS unreachable, interrupted): clear to rerun."""


def send_campaign_file(
    path: str | Path, results_dir: str | Path, **settings: Any
) -> dict[str, Any]:
    """Send one campaign file; its summary (what --summary-json writes) for XCom.

    settings: send's options as keyword arguments (api_key, secret_key, oaid,
    rate, base_url, ...). Calling it again with the same file continues the
    campaign: rows already accepted are not sent again.
    """
    source = Path(path)
    results = Path(results_dir) / f"{source.stem}-results.csv"
    summary = results.with_suffix(".summary.json")
    report = batch_sender.send(source, results, summary_json=summary, **settings)
    if report.stopped is not None:
        raise CampaignStopped(f"{source.name}: stopped: {report.stopped}; results: {results}")
    return report.as_dict()


def task_id(path: Path) -> str:
    """An Airflow task id from a file name (letters, digits, -, _ and . only)."""
    return "send_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)


try:
    import pendulum
    from airflow import DAG
    from airflow.operators.python import PythonOperator
except ImportError:  # not inside Airflow: the function above is still usable
    IN_AIRFLOW = False
else:
    IN_AIRFLOW = True

if IN_AIRFLOW:
    with DAG(
        dag_id="zalo_campaigns",
        schedule="@daily",
        start_date=pendulum.datetime(2026, 12, 1, tz="Asia/Ho_Chi_Minh"),
        catchup=False,
        max_active_runs=1,  # one send per campaign at a time (the journal would refuse another)
        default_args={"retries": 0},  # rerunning resumes the campaign; no blind retries
    ) as dag:
        for campaign in sorted(p for p in CAMPAIGNS.glob("*") if p.suffix in (".csv", ".xlsx")):
            PythonOperator(
                task_id=task_id(campaign),
                python_callable=send_campaign_file,
                op_kwargs={
                    "path": str(campaign),
                    "results_dir": str(RESULTS),
                    "api_key": "{{ var.value.esms_api_key }}",
                    "secret_key": "{{ var.value.esms_secret_key }}",
                    "oaid": "{{ var.value.esms_oaid }}",
                    "rate": 20,
                },
            )
