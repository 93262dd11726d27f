"""Opening an MLflow store safely: a new SQLite store created by one job at a time, a tracking
server that is down reported within seconds in one line (not after minutes of retries)."""

from __future__ import annotations

import fcntl
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import mlflow

from clustering.errors import ClusteringError

_ready: set[str] = set()

#: a tracking server that stops answering mid-run: a few retries, not MLflow's default minutes
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def resolve_tracking_uri(configured: str | None, root: str | Path) -> str:
    """Configured URI, else ``MLFLOW_TRACKING_URI``, else SQLite in the project folder."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def redact_uri(uri: str | None) -> str | None:
    """A URI with the password of ``user:password@host`` replaced by ``***``."""
    return None if uri is None else re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", str(uri))


class StoreError(ClusteringError):
    """The MLflow store cannot be reached or opened."""

    kind = "tracking error"


def open_store(uri: str, timeout: float = 5.0) -> str:
    """Point MLflow at ``uri`` once it is usable: a SQLite store's tables exist (created under a
    file lock, so parallel jobs on a new store do not race to create them); a server answers."""
    mlflow.set_tracking_uri(uri)
    if uri in _ready:
        return uri
    if uri.startswith("sqlite:///"):
        _create_sqlite_store(uri)
    elif uri.startswith(("http://", "https://")):
        for key, value in HTTP_SETTINGS.items():
            os.environ.setdefault(key, value)
        _check_server(uri, timeout)
    _ready.add(uri)
    return uri


def _create_sqlite_store(uri: str) -> None:
    db = Path(uri.removeprefix("sqlite:///"))
    if not db.parent.exists():
        raise StoreError(f"the folder of the MLflow store {db} does not exist")
    with open(f"{db}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = mlflow.MlflowClient(uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
            _write_ahead_log(db)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_ahead_log(db: Path) -> None:
    """SQLite's write-ahead log: readers never block the writer, so parallel jobs (sweeps) do
    not hit "database is locked" when one reads while another commits. Kept in the file."""
    import sqlite3  # noqa: PLC0415

    try:
        with sqlite3.connect(db, timeout=30) as con:
            if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:
        pass  # busy or a file system without shared memory: the default journal still works


def _check_server(uri: str, timeout: float) -> None:
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        pass  # it answers (a proxy may guard /health): the sign-in below tells
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"the MLflow tracking server {redact_uri(uri)} does not answer "
                         f"({reason}): start it (make server) or fix MLFLOW_TRACKING_URI") from None
    _check_sign_in(uri, timeout)


def _check_sign_in(uri: str, timeout: float) -> None:
    """One line when the server refuses this user: a wrong or missing password made `make
    score` say the model does not exist and `make train` end in a 40-line traceback."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri)
    try:
        r = http_request(creds, "/api/2.0/mlflow/experiments/search", "GET",
                         params={"max_results": 1}, max_retries=0, timeout=timeout,
                         raise_on_status=False)
    except Exception:  # noqa: BLE001 - unreachable was checked: let the real requests tell
        return
    if r.status_code in (401, 403):
        user = creds.username or os.environ.get("MLFLOW_TRACKING_USERNAME")
        who = (f"refused the sign-in of user '{user}'" if user
               else "needs a sign-in, and none is given")
        raise StoreError(f"the MLflow tracking server {redact_uri(uri)} {who} (HTTP "
                         f"{r.status_code}): set MLFLOW_TRACKING_USERNAME and "
                         "MLFLOW_TRACKING_PASSWORD to your user and its password (ask the "
                         "server's admin for one)")
