"""The OA's followers (QueryListUID) as a sheet to send to."""
