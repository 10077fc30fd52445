"""Duplicates: rows already seen in this sheet, by user_id or by the whole message."""

from __future__ import annotations

import numpy as np


class SeenRows:
    """A 64-bit key per distinct row content seen so far, with the line it was first seen on.

    Sorted numpy runs, merged log-structured (a run is merged into the one
    before it once it is half its size): 12 bytes a distinct row (12 MB for a
    million) where a dict of RequestIds would take over 150, and no chunk pays
    for copying everything seen so far. A merge inserts the smaller run into
    the larger at its sorted places (no sort of both, no permutation array),
    and runs stop growing at MAX_RUN keys: a merge never needs more than a
    few MB on top, and a chunk's look-up searches a run per MAX_RUN rows.
    """

    MAX_RUN = 1 << 18

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def first_lines(self, keys: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """Per row, in order: the line of the first row with its key (its own if new)."""
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first_line = lines[first]
        known = np.zeros(len(unique), dtype=bool)
        for run_keys, run_lines in self.runs:
            at = np.minimum(np.searchsorted(run_keys, unique), len(run_keys) - 1)
            hit = ~known & (run_keys[at] == unique)
            first_line[hit] = run_lines[at[hit]]
            known |= hit
        if not known.all():
            self._add(unique[~known], first_line[~known])
        return np.asarray(first_line[inverse.reshape(-1)])

    def _add(self, keys: np.ndarray, lines: np.ndarray) -> None:
        # Line numbers fit 32 bits in any sheet a person makes; larger ones keep 64.
        small = len(lines) == 0 or int(lines.max()) < 2**32
        self.runs.append((keys, lines.astype(np.uint32) if small else lines))
        while len(self.runs) > 1 and self._merges(len(self.runs[-2][0]), len(self.runs[-1][0])):
            (k2, l2), (k1, l1) = self.runs.pop(), self.runs.pop()
            at = np.searchsorted(k1, k2)  # keys are distinct across runs: no ties
            wide = np.result_type(l1, l2)
            self.runs.append((np.insert(k1, at, k2), np.insert(l1.astype(wide), at, l2)))
            del k1, k2, l1, l2, at

    def _merges(self, before: int, last: int) -> bool:
        return last * 2 >= before and before + last <= self.MAX_RUN
