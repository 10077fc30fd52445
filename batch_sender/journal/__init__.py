"""Recording: the SQLite journal, its writer thread, crash logs and delivery reports."""
