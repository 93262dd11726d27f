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
