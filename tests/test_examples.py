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

    first = dag.send_campaign_file(str(path), str(tmp_path), settings=settings)
    again = dag.send_campaign_file(str(path), str(tmp_path), settings=settings)  # a cleared task

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
            path,
            tmp_path,
            settings={"api_key": "wrong", "secret_key": "wrong", "oaid": "x", "base_url": esms.url},
        )
    assert [r["status"] for r in read_results(tmp_path / "c-results.csv")] == ["unsent"] * 2
    assert esms.stats()["requests"] == 0


def test_each_night_is_its_own_campaign_and_a_rerun_of_one_night_resumes_it(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    dag = load_example()
    path = write_csv(tmp_path / "thang12.csv", message_rows(3))
    account = dag.account(environ=_env(esms.url))

    def night(date: str) -> dict[str, object]:
        result: dict[str, object] = dag.send_campaign_file(
            path,
            tmp_path / date,
            campaign_id=dag.nightly_campaign_id(path, date),
            account=account,
            settings={"rate": 0},
        )
        return result

    first, rerun, next_night = night("2026-12-01"), night("2026-12-01"), night("2026-12-02")

    assert (first["sent"], rerun["sent"], next_night["sent"]) == (3, 0, 3)
    assert next_night["campaign_id"] == "thang12-2026-12-02"
    assert esms.stats()["accepted"] == 6  # three a night, once each


def test_the_account_comes_from_the_connection_else_the_environment() -> None:
    dag = load_example()
    env = _env("https://rest.example.vn")
    from_env = dag.account(environ=env)
    from_conn = dag.account(
        "conn-key", "conn-secret", {"oaid": "conn-oa", "base_url": "https://b.vn"}, environ=env
    )

    assert (from_env.api_key, from_env.secret_key, from_env.oaid, from_env.base_url) == (
        SIMULATOR_API_KEY,
        SIMULATOR_SECRET_KEY,
        SIMULATOR_OAID,
        "https://rest.example.vn",
    )
    assert (from_conn.api_key, from_conn.secret_key, from_conn.oaid, from_conn.base_url) == (
        "conn-key",
        "conn-secret",
        "conn-oa",
        "https://b.vn",
    )
    assert dag.account(environ={}).base_url == "https://rest.esms.vn"  # eSMS itself
    assert "conn-secret" not in repr(from_conn)


def test_the_campaign_files_are_the_folders_csv_and_xlsx(tmp_path: Path) -> None:
    for name in ("b.csv", "a.XLSX", "notes.txt", "c.csv.journal.sqlite"):
        (tmp_path / name).write_text("")
    assert [Path(p).name for p in load_example().campaign_files(tmp_path)] == ["a.XLSX", "b.csv"]


def _env(base_url: str) -> dict[str, str]:
    return {
        "ESMS_API_KEY": SIMULATOR_API_KEY,
        "ESMS_SECRET_KEY": SIMULATOR_SECRET_KEY,
        "ESMS_OAID": SIMULATOR_OAID,
        "ESMS_BASE_URL": base_url,
    }


def test_two_campaign_files_of_one_name_are_refused_naming_both(tmp_path: Path) -> None:
    """thang12.csv and thang12.xlsx would share one result file, journal and campaign id."""
    for name in ("thang12.csv", "Thang12.xlsx", "thang11.csv"):
        (tmp_path / name).write_text("")
    with pytest.raises(ValueError, match=r"Thang12\.xlsx and thang12\.csv") as refused:
        load_example().campaign_files(tmp_path)
    assert "rename one" in str(refused.value)
