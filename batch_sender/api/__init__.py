"""The public door: every command as a function, used by the CLI and by Python callers."""
