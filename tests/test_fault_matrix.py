"""The fault matrix: each fault alone at 20% and all together, then at most one rerun.

Whatever the network does, every row ends accepted and the simulator (which,
like eSMS, refuses a repeated RequestId) counts each message exactly once.
Run with -s to see the table the README's Reliability section quotes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import exit_code, message_rows, read_results, start_simulator, write_csv

ROWS = 200
SCENARIOS: dict[str, Faults] = {
    "HTTP 500": Faults(http_500=0.2),
    "HTML 502": Faults(html_502=0.2),
    "CodeResult 160": Faults(code_160=0.2),
    "429 + Retry-After": Faults(code_429=0.2, retry_after=0.2),
    "accepted, then dropped": Faults(drop=0.2),
    "slower than --timeout": Faults(slow=0.2, slow_seconds=2.0),
    "truncated JSON": Faults(truncated=0.2),
    "outages (refused, cut)": Faults(outage_every=0.3, outage_for=0.1, latency=0.05),
    "all together": Faults(
        http_500=0.03,
        html_502=0.03,
        code_160=0.03,
        code_429=0.03,
        retry_after=0.2,
        drop=0.03,
        slow=0.03,
        slow_seconds=2.0,
        truncated=0.03,
        outage_every=0.3,
        outage_for=0.1,
        latency=0.05,
    ),
}
ARGS = ["--rate", "0", "--concurrency", "16", "--timeout", "0.5", "--backoff", "0.05"]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_matrix(tmp_path: Path, name: str) -> None:
    rows = message_rows(ROWS)
    path = write_csv(tmp_path / "c.csv", rows)
    config = SimulatorConfig(seed=11, faults=SCENARIOS[name])
    for esms in start_simulator(config):
        started = time.monotonic()
        command = ["send", str(path), "-o", "r.csv", *ARGS, *esms.args]
        first = CliRunner().invoke(cli, command)
        if SCENARIOS[name].outage_every:
            assert esms.stats()["outages"] > 0  # the server really went away mid-run
        first_accepted = sum(r["status"] == "accepted" for r in read_results(Path("r.csv")))
        runs = 1
        if exit_code(first) != 0:
            # Rows left failed, never a crash (which the rerun would then paper over).
            assert first.exit_code == 1, first.output
            assert "failed" in {r["status"] for r in read_results(Path("r.csv"))}
            runs = 2
            second = CliRunner().invoke(cli, command)
            assert second.exit_code == 0, second.output
        results = read_results(Path("r.csv"))
        stats = esms.stats()
        assert [r["status"] for r in results] == ["accepted"] * ROWS
        assert [r["user_id"] for r in results] == [row[0] for row in rows]
        assert stats["accepted"] == ROWS  # each message delivered exactly once
        assert set(stats["messages"]) == {r["RequestId"] for r in results}
        injected = (
            stats["http_errors"]
            + stats["codes"].get("160", 0)
            + stats["codes"].get("HTTP 429", 0)
            + stats["dropped"]
            + stats["slowed"]
            + stats["truncated"]
            + stats["cut"]
        )
        print(
            f"| {name} | {stats['requests']} | {injected} | {stats['outages']} "
            f"| {first_accepted} | {runs} "
            f"| {stats['accepted']} | 0 | {time.monotonic() - started:.1f} s |"
        )
