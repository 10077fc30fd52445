"""The simulator answers as eSMS documents it, so that tests against it mean something."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from batch_sender.esms.protocol import (
    BALANCE_PATH,
    LIST_OA_PATH,
    QUERY_UID_PATH,
    SEND_PATH,
    Credentials,
    Message,
    SendOptions,
    send_body,
)
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import Faults, SimulatorConfig
from batch_sender.simulator.server import Simulator

from .conftest import CREDENTIALS, LONG_ID, RunningSimulator, message_rows, write_csv

CREDS = Credentials(SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY, SIMULATOR_OAID)


def body(request_id: str = "c-1", user_id: str = LONG_ID, **options: Any) -> dict[str, Any]:
    message = Message(2, request_id, user_id, "Chào", "https://x.vn/a.jpg")
    return send_body(CREDS, message, SendOptions(**options))


async def client_for(simulator: Simulator) -> AsyncIterator[TestClient[Any, Any]]:
    client = TestClient(TestServer(simulator.app()))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, TestClient[Any, Any]]]:
    simulator = Simulator(SimulatorConfig(seed=3, balance=1000, price=300))
    async for client in client_for(simulator):
        yield simulator, client


async def post(client: TestClient[Any, Any], payload: Any, path: str = SEND_PATH) -> Any:
    response = await client.post(path, json=payload)
    assert response.status == 200
    return await response.json()


async def test_accepts_with_an_smsid_and_refuses_a_repeat_with_124(sim) -> None:
    simulator, client = sim
    first = await post(client, body())
    assert first["CodeResult"] == "100" and len(first["SMSID"]) == 35
    again = await post(client, body())
    assert again == {"CodeResult": "124", "CountRegenerate": 0, "ErrorMessage": "Request exist 1"}
    assert simulator.snapshot()["accepted"] == 1


async def test_wrong_keys_101_and_wrong_oaid_799(sim) -> None:
    _, client = sim
    assert (await post(client, {**body(), "SecretKey": "nope"}))["CodeResult"] == "101"
    assert (await post(client, {**body(), "OAID": "nope"}))["CodeResult"] == "799"


async def test_payload_problems(sim) -> None:
    _, client = sim
    assert (await post(client, body(user_id="1" * 21)))["CodeResult"] == "852"
    assert (await post(client, body(user_id="")))["CodeResult"] == "853"
    broken = body()
    broken["Payload"]["message"]["attachment"]["payload"]["elements"] = []
    assert (await post(client, broken))["CodeResult"] == "210"


async def test_text_plain_body_like_esms_own_samples(sim) -> None:
    _, client = sim
    response = await client.post(
        SEND_PATH, data=json.dumps(body()), headers={"Content-Type": "text/plain"}
    )
    assert (await response.json())["CodeResult"] == "100"


async def test_sandbox_is_answered_but_not_delivered_or_charged(sim) -> None:
    simulator, client = sim
    assert (await post(client, body(sandbox=True)))["CodeResult"] == "100"
    snapshot = simulator.snapshot()
    assert (snapshot["accepted"], snapshot["sandbox"], snapshot["balance"]) == (0, 1, 1000)


async def test_balance_runs_out_with_103_and_get_balance(sim) -> None:
    _, client = sim
    codes = [(await post(client, body(f"c-{i}")))["CodeResult"] for i in range(4)]
    assert codes == ["100", "100", "100", "103"]
    balance = await post(
        client, {"ApiKey": SIMULATOR_API_KEY, "SecretKey": SIMULATOR_SECRET_KEY}, BALANCE_PATH
    )
    assert balance == {"Balance": 100, "CodeResponse": "100", "UserID": 1}
    wrong = await post(client, {"ApiKey": "x", "SecretKey": "y"}, BALANCE_PATH)
    assert wrong["CodeResponse"] == "101"


async def test_faults_500_160_and_drop() -> None:
    simulator = Simulator(SimulatorConfig(seed=1, faults=Faults(http_500=1.0)))
    async for client in client_for(simulator):
        response = await client.post(SEND_PATH, json=body())
        assert response.status == 500
    simulator = Simulator(SimulatorConfig(seed=1, faults=Faults(code_160=1.0)))
    async for client in client_for(simulator):
        assert (await post(client, body()))["CodeResult"] == "160"
    simulator = Simulator(SimulatorConfig(seed=1, faults=Faults(drop=1.0)))
    async for client in client_for(simulator):
        with pytest.raises(aiohttp.ClientError):
            await client.post(SEND_PATH, json=body())
        # The drop came after acceptance: a repeat of the RequestId is refused.
        assert (await post(client, body()))["CodeResult"] == "124"
        assert simulator.snapshot()["dropped"] == 1


def test_a_real_send_and_audience_never_load_the_simulator(
    tmp_path: Path, esms: RunningSimulator
) -> None:
    """Only a caller who asks to simulate gets the simulator: keys are never filled from it."""
    import subprocess
    import sys

    sheet = write_csv(tmp_path / "c.csv", message_rows(2))
    account = dict(zip(["api_key", "secret_key", "oaid"], CREDENTIALS[1::2], strict=True))
    code = f"""
import sys
import batch_sender

loaded = lambda: sorted(m for m in sys.modules if m.startswith("batch_sender.simulator"))
report = batch_sender.send({str(sheet)!r}, "r.csv", base_url={esms.url!r}, rate=0, **{account!r})
print("SENT", report.exit_code, "LOADED", loaded())
from batch_sender.cli import main
sys.argv = ["batch-sender", "audience", "-o", "a.csv", "--from", "2026-11-30",
            "--to", "2026-11-30", "--rate", "0", *{esms.args!r}]
try:
    main()
except SystemExit as exit:
    print("AUDIENCE", exit.code, "LOADED", loaded())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "SENT 0 LOADED []" in out.stdout, out.stdout + out.stderr
    # The CLI's own help names the demo keys; nothing that runs a simulator is loaded.
    assert (
        "AUDIENCE 0 LOADED ['batch_sender.simulator', 'batch_sender.simulator.accounts']"
        in out.stdout
    ), out.stdout + out.stderr
    # The simulator takes every spelling; our client posts the documented one only.
    paths = esms.stats()["paths"]
    assert paths[SEND_PATH] == 2 and paths[QUERY_UID_PATH] >= 1
    assert set(paths) <= {SEND_PATH, BALANCE_PATH, LIST_OA_PATH, QUERY_UID_PATH}
