"""Checking: the row rules, duplicates, images, what each row's fate is against the journal."""
