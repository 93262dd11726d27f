"""Whose model runs: loading a model unpickles it, and unpickling runs code its author chose.

On a team server (MLflow with basic auth) anyone signed in may read every model, so the model
``make train`` follows and ``make score`` loads could be one another user registered first.
A model from the server is loaded only when this user may write both its registered model and
the experiment that holds its files (the creator has MANAGE; the owner or the admin grants
EDIT to those they trust), or is the admin. Being able to write them means the files are as
much this user's as anyone's; READ alone means someone else's code. A local store (SQLite, a
folder) is this user's own; a server without sign-in cannot tell users apart, so it is trusted
with a note.
"""

from __future__ import annotations

import functools
import sys
from urllib.parse import urlparse

import mlflow

from clustering.errors import ConfigError
from clustering.tracking.store import redact_uri

WRITE = ("EDIT", "MANAGE")


class UntrustedModel(ConfigError):
    """The model was registered or written by someone this user does not trust."""


def check_trusted(model_uri: str) -> None:
    """Raise :class:`UntrustedModel` (one line, with what to do) when ``model_uri`` on the
    tracking server is not this user's to run; nothing for local stores and folders."""
    tracking = mlflow.get_tracking_uri()
    if not tracking.startswith(("http://", "https://")):
        return
    if not model_uri.startswith(("models:/", "runs:/")):
        return  # a local folder: the caller prints local_model_notice
    _check(tracking, model_uri)


@functools.lru_cache(maxsize=64)
def _check(tracking: str, model_uri: str) -> None:
    from mlflow.utils.credentials import get_default_host_creds

    creds = get_default_host_creds(tracking)
    me = _whoami(creds)
    if me is None:
        print(f"note: {redact_uri(tracking)} has no sign-in: anyone who reaches it can replace "
              f"the model {model_uri} that is loaded here (and its code runs here)",
              file=sys.stderr)
        return
    user, admin = me
    if admin:
        return
    for kind, key, what in _resources(model_uri):
        permission = _permission(creds, user, kind, key)
        if permission not in WRITE:
            raise UntrustedModel(
                f"model {model_uri}: {what} on {_host(tracking)} belongs to another user, and you "
                f"({user}) may only read it (permission {permission}); loading a model runs its "
                "code, so it is not loaded. Ask its owner or the admin to grant you EDIT on it if "
                "you trust them, or register your own: mlflow.registered_model_name=<a new "
                "name> (make train), model_uri=<your version> (make score).")


def _host(tracking: str) -> str:
    return urlparse(tracking).netloc.rsplit("@", 1)[-1]


def _get(creds, endpoint: str, params: dict | None = None):
    from mlflow.utils.rest_utils import http_request

    return http_request(creds, endpoint, "GET", params=params, max_retries=2, timeout=30,
                        raise_on_status=False)


def _whoami(creds) -> tuple[str, bool] | None:
    """(user name, is admin), or None when the server has no sign-in (no such endpoint)."""
    r = _get(creds, "/api/2.0/mlflow/users/current")
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise ConfigError(f"{_host(creds.host)} refused to say who is signed in (HTTP "
                          f"{r.status_code}): check MLFLOW_TRACKING_USERNAME and "
                          "MLFLOW_TRACKING_PASSWORD")
    user = r.json().get("user", {})
    return str(user.get("username")), bool(user.get("is_admin"))


def _permission(creds, user: str, kind: str, key: str) -> str:
    r = _get(creds, "/api/3.0/mlflow/users/permissions/get",
             {"username": user, "resource_type": kind, "resource_id": key})
    if r.status_code != 200:
        return f"unknown, HTTP {r.status_code}"
    return str(r.json().get("permission"))


def _resources(model_uri: str) -> list[tuple[str, str, str]]:
    """What must be this user's for ``model_uri`` to be: (resource type, id, words) of its
    registered model and of each experiment that holds its files (a version may point at a
    logged model in another experiment than its run's)."""
    client = mlflow.MlflowClient()
    out: list[tuple[str, str, str]] = []
    experiments: set[str] = set()
    ref = model_uri.removeprefix("models:/")
    if model_uri.startswith("runs:/"):
        experiments.add(client.get_run(model_uri.split("/")[1]).info.experiment_id)
    elif ref.startswith("m-"):
        experiments.add(client.get_logged_model(ref.split("/")[0]).experiment_id)
    else:
        name, alias = ref.split("@", 1) if "@" in ref else (ref.rsplit("/", 1)[0], None)
        mv = (client.get_model_version_by_alias(name, alias) if alias
              else client.get_model_version(name, ref.rsplit("/", 1)[1]))
        out.append(("registered_model", name, f"the registered model '{name}'"))
        if mv.run_id:
            experiments.add(client.get_run(mv.run_id).info.experiment_id)
        source = str(mv.source or "")
        model_id = getattr(mv, "model_id", None) or (
            source.removeprefix("models:/").split("/")[0] if source.startswith("models:/m-")
            else None)
        if model_id:
            experiments.add(client.get_logged_model(model_id).experiment_id)
        elif source.startswith("mlflow-artifacts:/"):
            experiments.add(source.removeprefix("mlflow-artifacts:/").split("/")[0])
        if not experiments:
            raise UntrustedModel(f"model {model_uri}: where its files come from cannot be "
                                 f"checked ({source}); it is not loaded")
    out += [("experiment", e, f"the experiment {e} that holds its files")
            for e in sorted(experiments)]
    return out
