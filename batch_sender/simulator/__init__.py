"""The eSMS stand-in, written from eSMS's pages."""
