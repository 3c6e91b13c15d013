"""Errors the harness reports to the user as one clear line (CLI exit status 2)."""


class BadInputError(Exception):
    """Bad user input: an unknown fuzzer, a missing or corrupt file, a malformed case or argument."""
