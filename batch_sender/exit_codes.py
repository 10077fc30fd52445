"""Exit codes: the contract with schedulers and shell scripts, which act on them."""

from enum import IntEnum


class ExitCode(IntEnum):
    """A command's exit status: the CLI exits with it, every report carries it."""

    OK = 0
    """Every row accepted or excluded (validate: valid or excluded)."""
    NEEDS_ATTENTION = 1
    """Finished; some rows are invalid, duplicate, rejected, failed or unsent."""
    USAGE = 2
    """Bad option, missing column, unreadable file, missing credentials: nothing sent."""
    STOPPED = 3
    """Stopped by something outside the rows (account, eSMS unreachable, full disk); rerun
    after fixing it."""
    INTERNAL = 70
    """An internal error (a bug): one line names the file with the details; what was
    recorded stays recorded, and rerunning the same command is safe."""
    INTERRUPTED = 130
    """Ctrl-C or SIGTERM; in-flight rows were recorded; rerun to continue."""
