"""After the send: the callback receiver, GetCallback status, the report."""
