"""Errors a user can act on: each message names the file, the column, the count and the fix."""


class ClusteringError(Exception):
    """Base class for problems the user can fix (bad data, bad configuration)."""

    kind = "error"


class DataError(ClusteringError):
    """The input data cannot be used as it is."""

    kind = "data error"


class ConfigError(ClusteringError):
    """The configuration is invalid."""

    kind = "config error"
