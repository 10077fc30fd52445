"""examples/airflow_dag.py: the function each task calls, against the simulator, no Airflow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY

from .conftest import RunningSimulator, message_rows, read_results, write_csv

EXAMPLE = Path(__file__).parent.parent / "examples" / "airflow_dag.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("airflow_dag", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_task_sends_its_campaign_and_a_rerun_resumes_it(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    dag = load_example()
    assert not dag.IN_AIRFLOW
    rows = [*message_rows(5), ["12ab", "hi", "https://x.vn/a.jpg"]]
    path = write_csv(tmp_path / "thang12.csv", rows)
    settings = {
        "api_key": SIMULATOR_API_KEY,
        "secret_key": SIMULATOR_SECRET_KEY,
        "oaid": SIMULATOR_OAID,
        "base_url": esms.url,
        "rate": 0,
    }

    first = dag.send_campaign_file(str(path), str(tmp_path), **settings)
    again = dag.send_campaign_file(str(path), str(tmp_path), **settings)  # a cleared task

    assert first["statuses"] == {"accepted": 5, "invalid": 1}
    assert (first["sent"], first["exit_code"]) == (5, 1)  # an invalid row does not fail it
    assert again["statuses"] == first["statuses"] and again["sent"] == 0
    summary = json.loads((tmp_path / "thang12-results.summary.json").read_text())
    assert summary == again
    results = read_results(tmp_path / "thang12-results.csv")
    assert [r["status"] for r in results] == ["accepted"] * 5 + ["invalid"]
    assert esms.stats()["accepted"] == 5  # each message once, over both runs


def test_a_task_fails_when_the_account_stops_the_run(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    dag = load_example()
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    with pytest.raises(dag.CampaignStopped, match="api_key and secret_key"):
        dag.send_campaign_file(
            path, tmp_path, api_key="wrong", secret_key="wrong", oaid="x", base_url=esms.url
        )
    assert [r["status"] for r in read_results(tmp_path / "c-results.csv")] == ["unsent"] * 2
    assert esms.stats()["requests"] == 0


def test_task_ids_are_what_airflow_accepts() -> None:
    assert load_example().task_id(Path("/d/Tháng 12 (VIP).csv")) == "send_Th_ng_12_VIP_"
