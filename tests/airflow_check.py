"""The example DAG under real Apache Airflow (`make airflow-check`), against the simulator.

Run by the Python of an environment that has Airflow and batch-sender (the
make target builds it); not collected by pytest, which runs without Airflow.
Airflow runs standalone: a temporary AIRFLOW_HOME, its SQLite metadata
database, no webserver or scheduler (`airflow dags test` runs the tasks in
process). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from batch_sender.simulator.accounts import (
    SIMULATOR_API_KEY,
    SIMULATOR_OAID,
    SIMULATOR_SECRET_KEY,
)
from batch_sender.simulator.server import STATS_PATH

ROOT = Path(__file__).resolve().parent.parent
DAG_FILE = ROOT / "examples" / "airflow_dag.py"
BIN = Path(sys.executable).parent
FILES = {"thang12-vip.csv": 8, "thang12.csv": 200}
STEP_TIMEOUT = 300


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="airflow-check-") as tmp:
        work = Path(tmp)
        simulator, url = start_simulator(work)
        try:
            check(work, url)
        finally:
            simulator.terminate()
            simulator.wait(10)
    print(f"airflow-check: ok in {time.monotonic() - started:.0f} s")
    return 0


def check(work: Path, url: str) -> None:
    campaigns, results = work / "campaigns", work / "results"
    campaigns.mkdir()
    first_id = 7800378501923859642
    for name, count in FILES.items():
        write_campaign(campaigns / name, first_id, count)
        first_id += count
    rows = sum(FILES.values())
    env = airflow_env(work, campaigns, results)
    connection = {
        "conn_type": "generic",
        "login": SIMULATOR_API_KEY,
        "password": SIMULATOR_SECRET_KEY,
        "extra": {"oaid": SIMULATOR_OAID, "base_url": url},
    }
    with_connection = {**env, "AIRFLOW_CONN_ESMS_DEFAULT": json.dumps(connection)}
    migrate = run([str(BIN / "airflow"), "db", "migrate"], env)
    expect(migrate.returncode == 0, "airflow db migrate failed", migrate)

    night = "2026-12-01"
    first = dags_test(night, with_connection, work)
    expect(first.returncode == 0, "the first night's run failed", first)
    stats = simulator_stats(url)
    expect(stats["accepted"] == rows, f"{stats['accepted']} accepted, {rows} expected", first)
    for name, count in FILES.items():
        result = results / night / name.replace(".csv", "-results.csv")
        statuses = [r["status"] for r in read_csv(result)]
        expect(statuses == ["accepted"] * count, f"{result}: {statuses[:5]}...", first)
    ours = [line for line in first.stdout.splitlines() if "[batch_sender]" in line]
    progress = [line for line in ours if "progress: " in line and " sent (" in line]
    plan = [line for line in ours if "campaign 'thang12-2026-12-01': 200 to send" in line]
    expect(bool(plan), "no plan line from logger batch_sender in the task log", first)
    expect(bool(progress), "no progress line from logger batch_sender in the task log", first)
    expect(SIMULATOR_SECRET_KEY not in first.stdout, "the secret key is in the task log", first)
    print("  the task log has:", *(line.strip() for line in ours), sep="\n    ")

    again = dags_test(night, with_connection, work)
    expect(again.returncode == 0, "the rerun of the same night failed", again)
    after = simulator_stats(url)
    expect(after["accepted"] == rows, "the rerun sent someone twice", again)
    expect(after["requests"] == stats["requests"], "the rerun sent requests again", again)

    next_night = dags_test("2026-12-02", with_connection, work)
    expect(next_night.returncode == 0, "the next night's run failed", next_night)
    renewed = simulator_stats(url)["accepted"] == 2 * rows
    expect(renewed, "the next night did not send a new campaign", next_night)

    # The account from the environment this time, and an eSMS that is not there.
    unreachable = {
        **env,
        "ESMS_API_KEY": SIMULATOR_API_KEY,
        "ESMS_SECRET_KEY": SIMULATOR_SECRET_KEY,
        "ESMS_OAID": SIMULATOR_OAID,
        "ESMS_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    down = dags_test("2026-12-03", unreachable, work)
    expect(down.returncode != 0, "the task succeeded with eSMS unreachable", down)
    expect("CampaignStopped" in down.stdout + down.stderr, "no CampaignStopped in the log", down)
    expect(SIMULATOR_SECRET_KEY not in down.stdout + down.stderr, "the secret key is logged", down)


def dags_test(night: str, env: dict[str, str], work: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "airflow"), "dags", "test", "zalo_campaigns", night]
    done = run(command, env)
    (work / f"dags-test-{night}.log").write_text(done.stdout + done.stderr)
    print(f"airflow-check: airflow dags test zalo_campaigns {night}: exit {done.returncode}")
    return done


def airflow_env(work: Path, campaigns: Path, results: Path) -> dict[str, str]:
    home = work / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ESMS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "True",
            "NO_PROXY": "*",
            "no_proxy": "*",
            "ZALO_CAMPAIGNS_DIR": str(campaigns),
            "ZALO_RESULTS_DIR": str(results),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def start_simulator(work: Path) -> tuple[subprocess.Popen[str], str]:
    log = (work / "simulator.log").open("w")
    simulator = subprocess.Popen(
        [str(BIN / "batch-sender"), "simulator", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert simulator.stdout is not None
    line = simulator.stdout.readline()  # blocks until it listens, or it died
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if found is None:
        simulator.kill()
        sys.exit(f"airflow-check: the simulator did not start: {line!r}")
    # Whatever it says later is drained, so that a full pipe never stalls it.
    threading.Thread(target=simulator.stdout.read, daemon=True).start()
    return simulator, found.group(0)


def simulator_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + STATS_PATH, timeout=10) as answer:  # noqa: S310 - loopback
        stats: dict[str, Any] = json.load(answer)
    return stats


def write_campaign(path: Path, first_id: int, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "text", "url"])
        for i in range(count):
            writer.writerow([first_id + i, f"Chào bạn {i}", f"https://cdn.example.vn/b{i % 5}.jpg"])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
    )


def expect(ok: bool, what: str, done: subprocess.CompletedProcess[str]) -> None:
    if not ok:
        print(done.stdout[-6000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        sys.exit(f"airflow-check: FAILED: {what}")


if __name__ == "__main__":
    sys.exit(main())
