"""Baseline for `make bench`: bare pandas over the same file.

read_csv(dtype=str) + one vectorised check + to_csv, nothing else.
"""

from __future__ import annotations

import sys

import pandas as pd

frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
frame["valid"] = frame["user_id"].str.fullmatch(r"[0-9]{1,20}")
frame.to_csv(sys.argv[2], index=False)
