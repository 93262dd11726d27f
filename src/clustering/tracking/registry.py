"""The MLflow model registry: one registered model per dataset, choosing a version, promotion.

A dataset's model is named after it (``segmentation-<data.name>``, overridable). A model is
chosen by one key everywhere (score, serve, the Python API): a version number, an alias
(``champion``), a run id or a full ``models:/`` / ``runs:/`` URI; nothing given means the
dataset's champion when one is set, else its latest version. The alias ``champion`` moves
only when a candidate beats the current champion on the chosen metric (:func:`promote`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow

from clustering.errors import ConfigError
from clustering.tracking.pyfunc import load_segmentation_model
from clustering.tracking.store import redact_uri
from clustering.tracking.trust import UntrustedModel

CHAMPION = "champion"


def _store() -> str:
    return redact_uri(mlflow.get_tracking_uri())


def model_name_for(configured: str | None, data_name: str) -> str:
    """The registered model of a dataset: the configured name, else ``segmentation-<data>``."""
    return configured or f"segmentation-{data_name}"


def resolve_model_uri(model: str) -> str:
    """``models:/name@alias``, ``models:/name/version``, ``runs:/...`` or a bare run id."""
    if model.startswith(("models:/", "runs:/")) or "://" in model or Path(model).exists():
        return model
    if len(model) == 32 and all(c in "0123456789abcdef" for c in model):
        return f"runs:/{model}/model"
    raise ValueError(f"model '{model}' is not a models:/name@alias, models:/name/version, "
                     "runs:/<run id>/model URI or a run id")


def model_identity(uri: str) -> tuple[str, str]:
    """(registered name, version) of a model URI; runs give ('run:<id>', '')."""
    client = mlflow.MlflowClient()
    if uri.startswith("models:/"):
        ref = uri.removeprefix("models:/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = ref.partition("/")
        if version.isdigit():
            return name, version
        return name, version or ""
    if uri.startswith("runs:/"):
        return f"run:{uri.split('/')[1]}", ""
    return uri, ""


def previous_version(name: str) -> str | None:
    """URI of the latest registered version of ``name`` whose run finished, if any (the model
    a retrain follows): a version left by a killed run is never followed."""
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except mlflow.exceptions.MlflowException:
        return None
    for v in sorted(versions, key=lambda v: -int(v.version)):
        if _run_finished(client, v.run_id):
            return f"models:/{name}/{v.version}"
    return None


def _run_finished(client, run_id: str | None) -> bool:
    if not run_id:
        return True  # registered from outside a run: nothing to check
    try:
        return client.get_run(run_id).info.status == "FINISHED"
    except mlflow.exceptions.MlflowException:
        return False


def local_model_notice(uri: str) -> str | None:
    """The line to print when ``uri`` is a local folder: loading a model runs its code (a
    pickle and the modules beside it), so a folder from someone else runs their code here."""
    if uri.startswith(("models:/", "runs:/")) or "://" in uri or not Path(uri).exists():
        return None
    return (f"note: model_uri={uri} is a local folder: loading it runs the code inside it; "
            "use only folders you trust (models from your MLflow store: models:/..., a version "
            "or an alias)")


def choose_model(ref: str | None, name: str) -> str:
    """The model URI that ``ref`` means for the registered model ``name`` (see the module
    docstring); a clear error naming what exists when it does not."""
    client = mlflow.MlflowClient()
    ref = None if ref is None else str(ref).strip()
    if ref and (ref.startswith(("models:/", "runs:/")) or "://" in ref or Path(ref).exists()):
        return ref
    if ref and len(ref) == 32 and all(c in "0123456789abcdef" for c in ref):
        try:
            client.get_run(ref)
        except mlflow.exceptions.MlflowException:
            raise ConfigError(f"model_uri={ref}: no run with this id in "
                              f"{_store()}") from None
        return f"runs:/{ref}/model"
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except mlflow.exceptions.MlflowException:
        versions = []
    if not versions:
        raise ConfigError(f"no registered model '{name}' in {_store()}: run "
                          "`make train` on this dataset first, or give model_uri=<URI or run id>")
    numbers = sorted(int(v.version) for v in versions)
    unfinished = {int(v.version) for v in versions if not _run_finished(client, v.run_id)}
    aliases = sorted(client.get_registered_model(name).aliases or {})
    if ref is None:
        champion = (client.get_model_version_by_alias(name, CHAMPION)
                    if CHAMPION in aliases else None)
        if champion is not None and int(champion.version) not in unfinished:
            return f"models:/{name}@{CHAMPION}"  # a champion left by a killed run is skipped
        usable = [n for n in numbers if n not in unfinished]
        if not usable:
            raise ConfigError(f"'{name}' has only versions whose training run did not finish "
                              f"(killed?): {', '.join(map(str, numbers))}; run `make train` again")
        return f"models:/{name}/{usable[-1]}"
    if ref.isdigit():
        if int(ref) not in numbers:
            raise ConfigError(f"model_uri={ref}: '{name}' has no version {ref} (versions: "
                              f"{', '.join(map(str, numbers))})")
        if int(ref) in unfinished:
            raise ConfigError(f"model_uri={ref}: the training run of version {ref} of '{name}' "
                              "did not finish (killed?); choose another version")
        return f"models:/{name}/{ref}"
    if ref in aliases:
        return f"models:/{name}@{ref}"
    raise ConfigError(f"model_uri={ref}: not a version, alias, run id or URI of '{name}' "
                      f"(versions: {', '.join(map(str, numbers))}; aliases: "
                      f"{', '.join(aliases) or 'none'})")


def promote(name: str, version: str, metric: str, lower_is_better: bool = False,
            say: Callable[[str], None] = print) -> bool:
    """Point ``champion`` at ``version`` of ``name`` when its run beats the current champion's
    on ``metric`` (or there is none); the comparison is recorded as tags on the version."""
    client = mlflow.MlflowClient()
    cand = client.get_model_version(name, version)
    score = client.get_run(cand.run_id).data.metrics.get(metric)
    if score is None:
        raise ConfigError(f"version {version} of '{name}' has no metric '{metric}' to compare")
    try:
        champ = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        champ = None
    best = None if champ is None else client.get_run(champ.run_id).data.metrics.get(metric)
    if champ is not None and champ.version == cand.version:
        say(f"version {version} is already the champion of '{name}'")
        return False
    if champ is not None:
        _same_data(client, name, cand, champ)
    wins = best is None or (score < best if lower_is_better else score > best)
    note = (f"{metric} {score:.4f} vs champion version {champ.version}: {best:.4f}"
            if best is not None else f"{metric} {score:.4f}; no champion before")
    client.set_model_version_tag(name, version, "promotion",
                                 ("promoted: " if wins else "not promoted: ") + note)
    if wins:
        client.set_registered_model_alias(name, CHAMPION, version)
        say(f"models:/{name}@{CHAMPION} -> version {version} ({note})")
    else:
        say(f"champion of '{name}' stays version {champ.version}: candidate version {version} "
            f"does not beat it ({note})")
    return wins


#: metrics where lower is better, for every comparison of versions (promote, train, sweep)
LOWER_IS_BETTER = {"davies_bouldin", "noise_share"}


def crown(name: str, version: str, metric: str, say: Callable[[str], None] = print) -> bool:
    """After `make train` registered ``version``: the dataset's first version becomes its
    ``champion`` (what score and serve use by default); a later one only when it wins the
    comparison `make promote` makes, on the same data. Says which way it went."""
    client = mlflow.MlflowClient()
    try:
        champ = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        champ = None
    if champ is None or not _run_finished(client, champ.run_id):  # none, or a killed run's
        why = ("the dataset's first version" if champ is None else
               f"version {champ.version}'s training run did not finish")
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promotion", f"promoted: {why}")
        say(f"models:/{name}@{CHAMPION} -> version {version} ({why})")
        return True
    try:
        return promote(name, version, metric, metric in LOWER_IS_BETTER, say)
    except ConfigError as exc:  # not comparable: the champion stays, and the user is told why
        say(f"champion of '{name}' unchanged: {exc}")
        return False


def _same_data(client, name: str, cand, champ) -> None:
    """Refuse to compare two versions' metrics measured on different data (a model of a
    60-customer extract beat the 200-customer champion on its own silhouette)."""
    digests = [client.get_run(v.run_id).data.tags.get("data.digest") for v in (cand, champ)]
    if None not in digests and digests[0] != digests[1]:
        raise ConfigError(
            f"version {cand.version} of '{name}' was trained on other data than the champion, "
            f"version {champ.version} (data.digest {digests[0][:12]} vs {digests[1][:12]}): "
            "their metrics are not comparable. Train the candidate on the champion's data, or "
            "move the alias yourself if the new data should win: "
            f"MlflowClient().set_registered_model_alias('{name}', 'champion', {cand.version})")


def previous_model(name: str | None, match_previous: bool, columns,
                   say: Callable[[str], None]):
    """(URI, model) of the latest finished registered version of the dataset's model
    ``name`` that a retrain keeps its segment ids against, or (URI or None, None) when there is
    none or it cannot be used."""

    if not (match_previous and name):
        return None, None
    uri = previous_version(name)
    if uri is None:
        return None, None
    try:
        prev = load_segmentation_model(uri)
    except UntrustedModel:  # another user's: registering beside it would be refused too
        raise
    except Exception as exc:  # an old or foreign model: train without matching, but say so
        say(f"previous model {uri} not usable for id matching: {exc}")
        return uri, None
    missing = [c for c in prev.feature_names_in_ if c not in columns]
    if missing:
        say(f"previous model {uri} needs features {missing}: ids not matched")
        return uri, None
    return uri, prev
