"""Reading: the input sheet as chunks of text cells, templates, suppression lists."""
