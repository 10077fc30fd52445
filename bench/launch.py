"""Run a command and report its own resource use: `launch.py OUT -- COMMAND...`.

The kernel's peak RSS of a child (wait4) starts from the memory of the
process that forked it: a child of the bench, which has grown by then, would
inherit the bench's size. This launcher is a fresh, small interpreter, so
the peak it reads is the command's own. It writes one JSON object to OUT
and exits with the command's exit status.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    out, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        raise SystemExit("usage: launch.py OUT -- COMMAND...")
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)  # noqa: S606 (a command line, no shell)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with Path(out).open("w", encoding="utf-8") as f:
        json.dump(
            {
                "seconds": seconds,
                "peak_mb": usage.ru_maxrss / 1024,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            },
            f,
        )
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
