"""The one error a command reports: a user's mistake or an unavailable resource, in one line, exit 2."""


class CliError(Exception):
    """A user mistake or an unavailable resource, reported in one line."""
