"""Writing: result rows, files written whole or not at all, where outputs may go, the counts."""
