"""Shared by the Hydra entry points: project root, config -> typed settings, error exits."""

from __future__ import annotations

import difflib
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from clustering.config import TrainConfig
from clustering.errors import ClusteringError, ConfigError, fault_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(PROJECT_ROOT / "conf")

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


def _keys_at(schema: Any, path: list[str]) -> list[str]:
    node = schema
    for p in path:
        node = getattr(node, p, None) if is_dataclass(node) else None
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def to_settings(cfg: DictConfig, schema: type = TrainConfig) -> tuple[Any, dict]:
    """Validate the composed config against the dataclass schema; return it and a plain dict.

    A misspelt key or a value of the wrong type becomes a one-line :class:`ConfigError`
    naming the key and the closest valid names.
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), cfg)
        resolved = OmegaConf.to_container(merged, resolve=True)
        return OmegaConf.to_object(merged), resolved
    except ConfigKeyError as exc:
        full = str(getattr(exc, "full_key", "") or "")
        parts = full.split(".") if full else []
        valid = _keys_at(schema(), parts[:-1])
        close = difflib.get_close_matches(parts[-1], valid, n=2) if parts else []
        hint = f" Did you mean {' or '.join(repr('.'.join(parts[:-1] + [c])) for c in close)}?" if close else ""
        raise ConfigError(f"unknown config key '{full}'.{hint} Valid keys here: {', '.join(valid)}") from None
    except OmegaConfBaseException as exc:
        msg = str(exc).splitlines()[0]
        key = getattr(exc, "full_key", "")
        raise ConfigError(f"invalid value for '{key}': {msg}") from None


def quote_overrides(argv: list[str]) -> list[str]:
    """Overrides whose value Hydra's grammar cannot read as written, quoted for it.

    ``make train ARGS="data.path='/data/Exporte März/Umsätze 2024.csv'"`` reaches Python
    without the quotes (the shell removes them), and Hydra's lexer rejects the umlauts and
    spaces; a plain value (no brackets, braces or commas) is then quoted as the user meant."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, out = OverridesParser.create(), []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and not arg.startswith("-") and value and not any(c in value for c in "[]{},'\""):
            try:
                parser.parse_override(arg)
            except Exception:  # noqa: BLE001 - antlr's lexer errors escape unwrapped
                arg = f"{key}='{value}'"
        out.append(arg)
    return out


def exit_on_user_error(exc: ClusteringError) -> None:
    """Print a user error as one line (no traceback) and exit with status 2."""
    print(f"{exc.kind}: {exc}", file=sys.stderr, flush=True)
    sys.exit(2)


def exit_on_fault(exc: Exception) -> None:
    """Exit as :func:`exit_on_user_error` when ``exc`` is a fault the user can fix (a full
    disk, a read-only folder or store, a refusing server); re-raise anything else (a bug)."""
    fault = fault_of(exc)
    if fault is None:
        raise exc
    exit_on_user_error(fault)


def prepared_argv(argv: list[str], config_name: str) -> list[str]:
    """The command line as Hydra should see it, or one line and exit 2 for an override it
    would refuse with a page (a misspelt key or group, with a guess of what was meant).

    ``data.path=...`` without a ``data=`` group means the user's own file: the ``csv`` group
    (the reader still follows the file's extension: CSV, Excel, Parquet, a folder), where it
    used to train on the bundled sample without a word."""
    argv = quote_overrides(argv)
    if config_name == "train":
        argv = ["verbose=true" if a in ("--verbose", "-v") else a for a in argv]
    keys = [a.split("=", 1)[0].lstrip("+~") for a in argv if "=" in a]
    if "data.path" in keys and "data" not in keys:
        argv = ["data=csv", *argv]
    if any(a in ("-m", "--multirun") or a.startswith("-") for a in argv):
        return argv  # Hydra's own flags (--help, --cfg, sweeps): Hydra answers
    overrides = [a for a in argv if "=" in a and not a.split("=", 1)[0].lstrip("+~").startswith(
        "hydra")]
    error = _override_error(overrides, config_name)
    if error is not None:
        exit_on_user_error(ConfigError(error))
    return argv


def _override_error(overrides: list[str], config_name: str) -> str | None:
    """What is wrong with ``overrides``, in one line; None when they compose."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    def composed(ovr: list[str]):
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            return compose(config_name, overrides=ovr)

    try:
        composed(overrides)
        return None
    except MissingConfigException as exc:
        return _missing_choice(str(exc), overrides)
    except ConfigCompositionException as exc:
        text = str(exc)
        bad = next((o for o in overrides if f"'{o.split('=', 1)[0].lstrip('+~')}'" in text), None)
        if bad is None or "Could not override" not in text:
            return f"cannot use the overrides: {text.splitlines()[0]}"
        key = bad.split("=", 1)[0].lstrip("+~")
        parent, _, leaf = key.rpartition(".")
        try:
            node = composed([o for o in overrides if o != bad])
            node = OmegaConf.select(node, parent) if parent else node
            valid = [str(k) for k in node.keys()] if isinstance(node, DictConfig) else []
        except Exception:  # noqa: BLE001 - the other overrides fail too: say what we know
            valid = []
        close = difflib.get_close_matches(leaf, valid, n=1, cutoff=0.5)
        guess = f" Did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""
        here = f" The settings of {parent or 'the run'}: {', '.join(valid)}." if valid else ""
        return f"{key} is not a setting.{guess}{here}"
    except Exception:  # noqa: BLE001 - anything else: Hydra says it in its own words
        return None


def _missing_choice(text: str, overrides: list[str]) -> str:
    """'model=kmean': the group's choices, the closest first."""
    import re

    m = re.search(r"Could not find '([^']+)/([^']+)'", text)
    if not m:
        return text.splitlines()[0]
    group, name = m.group(1), m.group(2)
    choices = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    guess = f" Did you mean {group}={close[0]}?" if close else ""
    return (f"{group}={name}: there is no such {group}.{guess} The choices: "
            f"{', '.join(choices)}.")
