"""Shared fixtures. Every test gets its own store and weights folder under tmp_path.

`tests/data/lfw/` holds 8 LFW identities x 6 images (deep-funneled LFW, University of Massachusetts Amherst,
copied from ../shared/datasets/lfw/images; research use).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "lfw"
SHARED = HERE.parent.parent / "shared"


@pytest.fixture(scope="session")
def _cache_dir(tmp_path_factory) -> Path:
    """One per-user cache folder for the whole run (derived files such as dlib's saved HOG detector), never the
    developer's own ~/.cache."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, _cache_dir):
    monkeypatch.setenv("FACEVAULT_CACHE", str(_cache_dir))
    monkeypatch.setenv("FACEVAULT_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("FACEVAULT_DB", raising=False)
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface_home"))
    monkeypatch.setenv("FACEVAULT_WORKERS", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg_data"))  # the per-user data folder


@pytest.fixture
def lfw_small() -> Path:
    return DATA


@pytest.fixture
def dataset_copy(tmp_path) -> Path:
    """A writable copy of the fixture faces."""
    dst = tmp_path / "faces"
    shutil.copytree(DATA, dst)
    return dst


@pytest.fixture
def shared() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.skip(f"shared datasets not found at {SHARED} (present on the development machines only)")
    return SHARED


def run_cli(*args: str, expect: int = 0):
    import json

    from click.testing import CliRunner

    from facevault.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, f"exit {result.exit_code}: {result.output}"
    if "--json" in args and expect == 0:
        return json.loads(result.stdout)
    return result


def ingest_store(root: Path, data: Path = DATA) -> Path:
    """`data` ingested with the default model into `root/store`, for module-scoped fixtures (the autouse fixture
    above does not cover them): workers, weights and DeepFace home point under `root` while it runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVAULT_WORKERS", "1")
        mp.setenv("FACEVAULT_WEIGHTS", str(root / "weights"))
        mp.setenv("DEEPFACE_HOME", str(root / "deepface_home"))
        mp.delenv("FACEVAULT_DB", raising=False)
        run_cli("ingest", str(data), "--store", str(root / "store"), "--json")
    return root / "store"


_databases = itertools.count()


@pytest.fixture(scope="module")
def pg():
    """A throwaway PostgreSQL server per test module (tests/pgserver.py); the module skips without initdb."""
    from pgserver import PgServer

    with PgServer() as server:
        yield server


@pytest.fixture
def pg_url(pg) -> str:
    """A fresh, empty database on the module's server."""
    return pg.createdb(f"fv{next(_databases)}")
