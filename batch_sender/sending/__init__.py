"""Sending: one task per row, the rate and in-flight limits, the account check, the schedule."""
