"""batch-sender: Zalo OA photo messages through eSMS.vn, from a spreadsheet.

The data flow, one module each: read (reader) -> validate (validate) ->
send (sender, client, retry, esms) -> record (journal) -> report (results,
summary). The CLI (cli) is a thin layer of Click commands over them.
"""

__version__ = "0.1.0"
