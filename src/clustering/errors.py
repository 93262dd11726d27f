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


class FaultError(ClusteringError):
    """The machine or the store refused: a full disk, a read-only or forbidden folder."""

    kind = "error"


#: errno values of a write the user can fix: no space, quota, read-only, not allowed
_FAULTS = {28: "the disk is full", 122: "the disk quota is used up",
           30: "the file system is read-only", 13: "permission denied", 1: "not allowed"}
#: how SQLite and the tracking server say the same about the MLflow store
_STORE_FAULTS = (("database or disk is full", "the disk of the MLflow store is full"),
                 ("readonly database", "the MLflow store is read-only"),
                 ("read-only database", "the MLflow store is read-only"),
                 ("PERMISSION_DENIED", "the tracking server refused this user (permission "
                                       "denied)"))


def fault_of(exc: BaseException) -> FaultError | None:
    """A fault the user can fix (disk full, read-only or forbidden folder, store or server)
    as one line saying what and where; None for anything else, which keeps its traceback."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _FAULTS:
            where = e.filename or "a file"
            fix = ("free some space there" if e.errno in (28, 122)
                   else "fix its permissions")
            verb = "cannot use" if e.errno in (1, 13) else "cannot write"  # reading, too
            return FaultError(f"{verb} {where}: {_FAULTS[e.errno]} ({e.strerror}). "
                              f"{fix.capitalize()}, or write elsewhere: paths.reports_dir=... "
                              "(reports), output=... (labels), mlflow.tracking_uri=... (the "
                              "MLflow store).")
        text = str(e)
        for marker, what in _STORE_FAULTS:
            if marker in text:
                return FaultError(f"{what}: {text.splitlines()[0][:200]}. Free space or fix the "
                                  "store's permissions (or set mlflow.tracking_uri to another "
                                  "store); the run is marked failed where the store allows.")
        e = e.__cause__ or e.__context__
    return None
