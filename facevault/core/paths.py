"""Where facevault writes outside a store: the per-user data and cache folders (platformdirs), never
site-packages."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "facevault"


def user_weights_dir() -> Path:
    """The per-user folder for weights and registered models (e.g. ~/.local/share/facevault/weights; honours
    XDG_DATA_HOME)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "weights"


def user_cache_dir() -> Path:
    """The per-user folder for derived files that can always be made again (e.g. ~/.cache/facevault; honours
    XDG_CACHE_HOME, and $FACEVAULT_CACHE when set)."""
    env = os.environ.get("FACEVAULT_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def writable_weights_dir() -> Path:
    """Where facevault writes weights (`fetch`, `add`, `user-models.json`): $FACEVAULT_WEIGHTS, else the
    per-user folder."""
    env = os.environ.get("FACEVAULT_WEIGHTS")
    return Path(env).expanduser() if env else user_weights_dir()
