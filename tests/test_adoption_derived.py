"""A result file without its journal, whose rows went out under derived RequestIds.

A row refused definitively (103 out of balance, 160 after the retries) is
sent by the rerun under a RequestId derived from its own. Adopting that file
(its journal lost, once or again) must take that send for the row's own: the
row keeps its status, RequestId and SMSID, and its follower gets no second
message, whatever eSMS no longer remembers.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batch_sender.cli import cli
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import message_rows, read_results, simulator_running, write_csv
from .test_rerun_promises import forget_journal, receiver_round

ROWS = 10
PRICE = 300


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def send_on(config: SimulatorConfig, folder: Path, *options: str) -> tuple[Result, Counter[str]]:
    """One send of the folder's campaign, on an eSMS of its own (one that remembers no
    RequestId: as if more than 24 hours had passed); the followers it messaged."""
    with simulator_running(config) as esms:
        result = run(
            "send",
            str(folder / "a.csv"),
            "-o",
            str(folder / "r.csv"),
            "--rate",
            "0",
            *options,
            *esms.args,
        )
        messages = esms.stats()["messages"].values()
    return result, Counter(str(m["user_id"]) for m in messages)


def sends(folder: Path) -> list[tuple[str, str, str, str]]:
    return [
        (r["status"], r["RequestId"], r["SMSID"], r["CodeResult"])
        for r in read_results(folder / "r.csv")
    ]


def copy_without_journal(source: Path, target: Path) -> Path:
    """The sheet and its result file, copied to another folder without the journal."""
    target.mkdir()
    for name in ("a.csv", "r.csv"):
        shutil.copy2(source / name, target / name)
    return target


REFUSALS = {
    # Out of balance after five messages: the sixth is refused 103 and the run stops.
    "103": (SimulatorConfig(seed=1, balance=5 * PRICE, price=PRICE), ()),
    # Half the requests answered 160, and no retry: each such row is refused.
    "160": (SimulatorConfig(seed=3, faults=Faults(code_160=0.5)), ("--max-attempts", "1")),
}


@pytest.mark.parametrize("receiver", [False, True], ids=["alone", "receiver-first"])
@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_rows_sent_under_derived_request_ids_are_adopted_as_their_own_sends(
    tmp_path: Path, refusal: str, receiver: bool
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    write_csv(first / "a.csv", message_rows(ROWS))
    refusing, options = REFUSALS[refusal]
    messaged: Counter[str] = Counter()

    refused, got = send_on(refusing, first, *options)
    messaged += got
    assert refused.exit_code in (1, 3), refused.output
    before = read_results(first / "r.csv")
    failed = [i for i, r in enumerate(before) if r["status"] == "failed"]
    assert failed and all(before[i]["CodeResult"] == refusal for i in failed)

    rerun, got = send_on(SimulatorConfig(seed=2), first, *options)
    messaged += got
    assert rerun.exit_code == 0, rerun.output
    sent = sends(first)
    assert [s[0] for s in sent] == ["accepted"] * ROWS
    for i in failed:  # each refused row went out under a RequestId of its own, derived
        assert sent[i][1] != before[i]["RequestId"]

    folder = first
    for copy in ("c1", "c2"):  # the journal lost once, then again
        folder = copy_without_journal(folder, tmp_path / copy)
        if receiver:
            receiver_round(folder / "r.csv")
        adopted, got = send_on(SimulatorConfig(seed=4), folder, *options)
        messaged += got
        assert adopted.exit_code == 0, adopted.output
        assert "adopted the sends of" in adopted.stderr
        assert "duplicate" not in adopted.stderr
        assert "no longer in the sheet" not in adopted.stderr
        assert sends(folder) == sent  # status, RequestId and SMSID all kept
        assert not got, got  # nobody messaged by the rerun

    assert len(messaged) == ROWS and set(messaged.values()) == {1}, messaged


def test_an_in_doubt_row_under_a_derived_request_id_is_retried_with_that_id(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "first"
    folder.mkdir()
    write_csv(folder / "a.csv", message_rows(3))
    low = SimulatorConfig(seed=1, balance=PRICE, price=PRICE)
    assert send_on(low, folder)[0].exit_code == 3  # line 3 refused 103, line 4 unsent
    # The answer to the derived RequestId's request is lost: the row is in doubt.
    dropping = SimulatorConfig(seed=2, faults=Faults(drop=1.0))
    with simulator_running(dropping) as esms:
        results = str(folder / "r.csv")
        send = ("send", str(folder / "a.csv"), "-o", results, "--rate", "0", *esms.args)
        assert run(*send, "--max-attempts", "1").exit_code == 1
        rows = read_results(folder / "r.csv")
        assert [r["status"] for r in rows] == ["accepted", "failed", "failed"]
        derived = rows[1]["RequestId"]
        forget_journal(folder / "r.csv")
        again = run(*send)
        assert again.exit_code == 0, again.output
        after = read_results(folder / "r.csv")
        assert [r["status"] for r in after] == ["accepted"] * 3
        assert after[1]["RequestId"] == derived  # the same request, answered 124 by eSMS
        messages = esms.stats()["messages"]
    assert derived in messages
    assert Counter(m["user_id"] for m in messages.values()) == Counter(
        r["user_id"] for r in after[1:]
    )


def test_a_stale_in_doubt_row_under_a_derived_request_id_is_held_back(tmp_path: Path) -> None:
    folder = tmp_path / "first"
    folder.mkdir()
    write_csv(folder / "a.csv", message_rows(2))
    low = SimulatorConfig(seed=1, balance=PRICE, price=PRICE)
    assert send_on(low, folder)[0].exit_code == 3
    dropping = SimulatorConfig(seed=2, faults=Faults(drop=1.0))
    assert send_on(dropping, folder, "--max-attempts", "1")[0].exit_code == 1
    derived = read_results(folder / "r.csv")[1]["RequestId"]
    forget_journal(folder / "r.csv")
    day_ago = time.time() - 25 * 3600  # the file, and so the request, over a day old
    os.utime(folder / "r.csv", (day_ago, day_ago))
    held, got = send_on(SimulatorConfig(seed=4), folder)
    assert held.exit_code == 1, held.output
    assert not got  # not sent again: eSMS no longer refuses a repeat
    row = read_results(folder / "r.csv")[1]
    assert (row["status"], row["RequestId"]) == ("failed", derived)


def test_a_journal_that_lost_a_row_s_refusals_still_knows_the_row_s_derived_send(
    tmp_path: Path,
) -> None:
    """As an earlier release adopted such a file: the derived send without the refused
    RequestIds before it. The row is done, never a duplicate of itself."""
    folder = tmp_path / "first"
    folder.mkdir()
    write_csv(folder / "a.csv", message_rows(3))
    low = SimulatorConfig(seed=1, balance=PRICE, price=PRICE)
    assert send_on(low, folder)[0].exit_code == 3
    refused = {r["RequestId"] for r in read_results(folder / "r.csv") if r["status"] == "failed"}
    assert send_on(SimulatorConfig(seed=2), folder)[0].exit_code == 0
    sent = sends(folder)
    with sqlite3.connect(folder / "r.csv.journal.sqlite") as db:
        marks = ",".join("?" * len(refused))
        db.execute(f"DELETE FROM messages WHERE request_id IN ({marks})", sorted(refused))
    again, got = send_on(SimulatorConfig(seed=4), folder)
    assert again.exit_code == 0, again.output
    assert not got
    assert sends(folder) == sent
