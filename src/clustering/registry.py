"""Build an estimator from a registry by name, with one clear error for a bad name or option."""

from __future__ import annotations

from typing import Any

from clustering.errors import ConfigError


def build(registry: dict[str, type], name: str, params: dict[str, Any], what: str):
    """``registry[name](**params)``; an unknown name or a misspelt option is a ConfigError."""
    if name not in registry:
        raise ConfigError(f"unknown {what} '{name}'; choose one of {sorted(registry)}")
    try:
        return registry[name](**params)
    except TypeError as exc:
        raise ConfigError(f"{what} '{name}': {exc}") from None
