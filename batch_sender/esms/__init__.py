"""The wire: eSMS's requests and answers, one HTTP attempt, the retry policy, delivery reports."""
