"""Narrow exceptions: callers (CLI, pages) turn them into plain messages."""


class EtlError(Exception):
    """Base class for problems a user can act on."""


class SchemaError(EtlError):
    """The file as a whole cannot be read as the named source (wrong columns, empty, unreadable)."""


class UnknownSource(EtlError):
    """A source id that is not in data/reference/sources.csv."""


class RefreshError(EtlError):
    """The portal could not be read (after retries), or answered something that is not what was asked for."""


class SuspiciousChange(EtlError):
    """A refresh would change a year's incident count by more than the tolerance."""
