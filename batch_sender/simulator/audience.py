"""The simulator's Zalo OA audience: QueryListUID as eSMS's page shows it.

As eSMS's page on listing Zalo followers describes it: a POST
with ApiKey, SecretKey, OAID, Offset (at most 9,950), Count (at most 50),
FromDate and ToDate as dd/MM/yyyy, IsFollower ("1", "0" or empty) and
TagName; the answer is {"CodeResult": "100", "Data": {"Count": 50,
"Offset": 0, "Total": 4, "Users": ["7406454492343693107", ...]}} with the
numbers as numbers and the ids as strings, as in the page's sample; 101
"Authorize Failed", 161 "FromDate is invalid date format." (or ToDate), 162
"Offset is invalid." / "Count is invalid.".

The OA is synthetic and seeded: `size` users, each with a follower flag,
some tags, and the days they interacted with the OA in the `days` days that
end on `end`. The same seed and size always give the same OA.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass
from typing import Any

from batch_sender.esms import protocol as esms

TAGS = ("VIP", "Khách quen", "Đã mua hàng")
TAG_SHARES = (0.1, 0.3, 0.2)
FOLLOWER_SHARE = 0.7
DEFAULT_END = dt.date(2026, 11, 30)
"""A fixed window, so that the README's audience transcript reproduces on any day."""
_DATE = re.compile(r"\d{2}/\d{2}/\d{4}")


@dataclass(frozen=True)
class OaUser:
    user_id: str
    follower: bool
    tags: frozenset[str]
    days: tuple[int, ...]
    """Ordinals of the days the user interacted with the OA."""


class SyntheticOA:
    def __init__(
        self, size: int, *, seed: int = 0, end: dt.date = DEFAULT_END, days: int = 30
    ) -> None:
        rng = random.Random(f"oa-{seed}-{size}")
        last = end.toordinal()
        first = last - max(days, 1) + 1
        seen: set[str] = set()
        users: list[OaUser] = []
        while len(users) < size:
            # Mostly 19 digits, as Zalo's ids are; some 18, as in the page's sample.
            low = 10**17 if len(users) % 10 == 9 else 10**18
            user_id = str(rng.randrange(low, low * 10))
            if user_id in seen:
                continue
            seen.add(user_id)
            visits = 1 + min(int(rng.expovariate(0.7)), 9)
            users.append(
                OaUser(
                    user_id=user_id,
                    follower=rng.random() < FOLLOWER_SHARE,
                    tags=frozenset(
                        t for t, p in zip(TAGS, TAG_SHARES, strict=False) if rng.random() < p
                    ),
                    days=tuple(sorted({rng.randint(first, last) for _ in range(visits)})),
                )
            )
        self.users = users
        self._matches: dict[tuple[int, int, str, str], list[str]] = {}

    def matching(self, start: int, end: int, follower: str, tag: str) -> list[str]:
        """Ids of the users who interacted between the two day ordinals (inclusive)."""
        key = (start, end, follower, tag)
        found = self._matches.get(key)
        if found is None:
            found = [
                u.user_id
                for u in self.users
                if (not follower or u.follower == (follower == "1"))
                and (not tag or tag in u.tags)
                and any(start <= d <= end for d in u.days)
            ]
            if len(self._matches) > 256:
                self._matches.clear()
            self._matches[key] = found
        return found

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """QueryListUID's answer to an authorised request body."""
        start = _date(body.get("FromDate"))
        if start is None:
            return {"CodeResult": "161", "ErrorMessage": "FromDate is invalid date format."}
        end = _date(body.get("ToDate"))
        if end is None:
            return {"CodeResult": "161", "ErrorMessage": "ToDate is invalid date format."}
        offset = _number(body.get("Offset"))
        if offset is None or not 0 <= offset <= esms.QUERY_UID_MAX_OFFSET:
            return {"CodeResult": "162", "ErrorMessage": "Offset is invalid."}
        count = _number(body.get("Count"))
        if count is None or not 1 <= count <= esms.QUERY_UID_PAGE:
            return {"CodeResult": "162", "ErrorMessage": "Count is invalid."}
        follower = str(body.get("IsFollower") or "").strip()
        tag = str(body.get("TagName") or "").strip()
        if follower not in ("", "0", "1"):
            follower = ""  # the page lists only 1, 0 and empty; anything else: everyone
        found = self.matching(start, end, follower, tag)
        return {
            "CodeResult": "100",
            "Data": {
                "Count": count,
                "Offset": offset,
                "Total": len(found),
                "Users": found[offset : offset + count],
            },
        }


def _date(value: object) -> int | None:
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        return None
    try:
        return dt.datetime.strptime(value.strip(), esms.QUERY_UID_DATE).date().toordinal()
    except ValueError:
        return None


def _number(value: object) -> int | None:
    # The page's table says string, its sample sends numbers: take both.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
