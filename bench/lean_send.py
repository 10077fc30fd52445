"""Baseline for `make bench`: the leanest aiohttp loop posting the same rows.

No validation, no journal, no rate limiter, no retries, no result file: read
the CSV, post each row's body with `concurrency` workers, read each answer.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from batch_sender.esms.protocol import SEND_PATH
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY


def bodies(path: str) -> Iterator[dict[str, object]]:
    with Path(path).open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            yield {
                "ApiKey": SIMULATOR_API_KEY,
                "SecretKey": SIMULATOR_SECRET_KEY,
                "OAID": SIMULATOR_OAID,
                "Payload": {
                    "recipient": {"user_id": row["user_id"]},
                    "message": {
                        "text": row["text"],
                        "attachment": {
                            "type": "template",
                            "payload": {
                                "template_type": "media",
                                "elements": [{"media_type": "image", "url": row["url"]}],
                            },
                        },
                    },
                },
                "RequestId": f"lean-{n}",
            }


async def main(base_url: str, path: str, concurrency: int) -> None:
    url = base_url + SEND_PATH
    rows = bodies(path)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body in rows:
                async with session.post(url, json=body) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
