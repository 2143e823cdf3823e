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


def read_cached(path: Path) -> bytes | None:
    """The bytes of a derived file in the cache when its sha256 sidecar (`path.sha256`) matches, else None."""
    import hashlib

    try:
        data = path.read_bytes()
        want = path.with_name(path.name + ".sha256").read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return data if hashlib.sha256(data).hexdigest() == want else None


def write_cached(path: Path, write) -> None:
    """Make a derived file: `write(tmp_path)` writes it under a temporary name beside `path`, its sha256 goes
    to `path.sha256`, and both are moved into place (a reader sees nothing, or a whole file; one whose sidecar
    does not match yet is only made again). OSError when the cache cannot be written."""
    import hashlib
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_digest = tmp + ".sha256"
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            Path(tmp_digest).write_text(hashlib.sha256(fh.read()).hexdigest() + "\n", encoding="ascii")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        os.replace(tmp_digest, path.with_name(path.name + ".sha256"))
    finally:
        for leftover in (tmp, tmp_digest):
            if os.path.exists(leftover):
                os.unlink(leftover)
