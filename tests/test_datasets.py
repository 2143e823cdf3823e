"""Several named datasets in one store: ingest by name, --move-root, reads per dataset, and migration 0004
from a one-dataset store of revision 0003."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

import facevault
from facevault.core.errors import DatasetRootMismatch, UnknownDataset
from tests.conftest import DATA, run_cli


def _subset(dst: Path, identities: list[str], n: int = 3) -> Path:
    for name in identities:
        (dst / name).mkdir(parents=True)
        for f in sorted((DATA / name).iterdir())[:n]:
            shutil.copy(f, dst / name / f.name)
    return dst


@pytest.fixture
def two_folders(tmp_path) -> tuple[Path, Path]:
    a = _subset(tmp_path / "a" / "first", ["Colin_Powell", "George_W_Bush"])
    b = _subset(tmp_path / "b" / "second", ["Colin_Powell", "Laura_Bush"])  # Colin_Powell: same files, same name
    return a, b


def test_second_folder_is_second_dataset(two_folders, tmp_path):
    a, b = two_folders
    with facevault.open() as vault:
        vault.ingest(a)
        s2 = vault.ingest(b)
        assert s2.dataset == "second" and s2.new == 6
        assert s2.processed == 3  # Colin_Powell's contents were embedded with the first dataset: once per space
        ds = {d["name"]: d for d in vault.datasets()}
        assert set(ds) == {"first", "second"}
        assert ds["first"]["root"] == str(a) and ds["second"]["root"] == str(b)
        assert ds["first"]["identities"] == 2 and ds["second"]["identities"] == 2
        both = vault.vectors()
        assert len(both) == 12 and len(set(both.paths)) == 12  # paths read "dataset/..." across datasets
        assert {"first/Colin_Powell", "second/Colin_Powell"} <= set(both.identities)  # two identities
        one = vault.vectors(dataset="second")
        assert len(one) == 6 and sorted(set(one.identities)) == ["Colin_Powell", "Laura_Bush"]
        assert all(not p.startswith("second/") for p in one.paths)
        row = {p: i for i, p in enumerate(both.paths)}
        k = one.paths.index(next(p for p in one.paths if p.startswith("Colin_Powell/")))
        np.testing.assert_array_equal(one.matrix[k], both.matrix[row["second/" + one.paths[k]]])
        with pytest.raises(UnknownDataset, match="first, second"):
            vault.vectors(dataset="third")


def test_root_mismatch_and_move_root(two_folders, tmp_path):
    a, _ = two_folders
    with facevault.open() as vault:
        vault.ingest(a)
        moved = tmp_path / "moved" / "first"
        shutil.copytree(a, moved)
        with pytest.raises(DatasetRootMismatch, match="--move-root"):
            vault.ingest(moved)  # same folder name: the existing dataset, rooted elsewhere
        again = vault.ingest(moved, move_root=True)
        assert again.processed == 0 and again.unchanged == 6
        assert vault.datasets() == [{"name": "first", "root": str(moved), "images": 6, "identities": 2}]
    out = run_cli("ingest", str(moved), "--dataset", "other", "--json")
    assert out["dataset"] == "other" and out["processed"] == 0
    status = run_cli("status", "--json")
    assert [d["name"] for d in status["datasets"]] == ["first", "other"]


def test_read_commands_take_dataset(two_folders):
    a, b = two_folders
    with facevault.open() as vault:
        vault.ingest(a)
        vault.ingest(b)
    sim = run_cli("similarity", "--dataset", "first", "--json")
    assert sorted(sim["identities"]) == ["Colin_Powell", "George_W_Bush"]
    sim2 = run_cli("similarity", "--json")
    assert len(sim2["identities"]) == 4
    h = run_cli("health", "--dataset", "second", "--json")
    assert h["faces"] == 6 and h["identities"] == 2
    look = run_cli("search", "--identity", "Colin_Powell", "--dataset", "first", "--json")
    assert look["identity"] == "Colin_Powell"
    hits = run_cli("search", str(next((b / "Laura_Bush").iterdir())), "--dataset", "second", "--json")
    assert hits[0]["matches"][0]["identity"] == "Laura_Bush"
    res = run_cli("evaluate", "--sample", "6", "--dataset", "first", "--no-calibrate", "--json")
    assert res["pairs"] > 0
    run_cli("evaluate", "--sample", "6", "--dataset", "nope", expect=1)


# ---------------------------------------------------------------- migration 0004
def _store_at_0003(store: Path, root: str) -> None:
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    store.mkdir(parents=True)
    url = f"sqlite:///{store / 'catalog.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facevault.migrations")))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0003")
    vec = np.arange(4, dtype="<f4") / np.linalg.norm(np.arange(4, dtype="<f4"))
    with create_engine(url).begin() as c:
        c.execute(text("INSERT INTO meta (key, value) VALUES ('dataset_root', :r)"), {"r": root})
        c.execute(text("INSERT INTO identities (id, name) VALUES (1, 'alice'), (2, 'bob')"))
        for i, (ident, sha) in enumerate([(1, "a1"), (1, "a2"), (2, "b1")], 1):
            c.execute(text("INSERT INTO images (id, identity_id, path, sha256, bytes, status, updated_at) VALUES "
                           "(:i, :ident, :p, :sha, 10, 'ok', '2026-01-01')"),
                      {"i": i, "ident": ident, "p": f"{'alice' if ident == 1 else 'bob'}/{sha}.jpg", "sha": sha})
        c.execute(text("INSERT INTO spaces (id, model, detector, aligner, dim, metric, revision, created_at) VALUES "
                       "(1, 'dlib', 'dlib-hog', 'dlib-chip', 4, 'cosine', 1, '2026-01-01')"))
        for i, sha in enumerate(["a1", "a2", "b1"], 1):
            c.execute(text("INSERT INTO faces (id, sha256, detector, idx, x, y, w, h, score, is_subject) VALUES "
                           "(:i, :sha, 'dlib-hog', 0, 0, 0, 10, 10, 1.0, 1)"), {"i": i, "sha": sha})
            c.execute(text("INSERT INTO scans (sha256, space_id, status, faces, created_at) VALUES (:sha, 1, 'ok', 1, "
                           "'2026-01-01')"),
                      {"sha": sha})
            c.execute(text("INSERT INTO vectors (face_id, space_id, vector, norm) VALUES (:i, 1, :v, 1.0)"),
                      {"i": i, "v": vec.tobytes()})


def test_migration_0004_keeps_every_vector(tmp_path):
    store = tmp_path / "old"
    _store_at_0003(store, "/data/faces/celebs")
    with facevault.open(store) as vault:
        assert vault.catalog.schema_revision() == "0004"
        assert vault.datasets() == [{"name": "celebs", "root": "/data/faces/celebs", "images": 3, "identities": 2}]
        vecs = vault.vectors()
        assert vecs.paths == ["alice/a1.jpg", "alice/a2.jpg", "bob/b1.jpg"]
        assert vecs.identities == ["alice", "alice", "bob"]
        assert len(vault.vectors(dataset="celebs")) == 3
        # a second dataset may now hold the same path and identity name
        cat = vault.catalog
        ds = cat.ensure_dataset("other", "/data/other")
        counts = cat.sync_images([("alice/a1.jpg", "alice", "a1", 10)], dataset_id=ds)
        assert counts["new"] == 1
        both = vault.vectors()
        assert "other/alice/a1.jpg" in both.paths and "celebs/alice" in both.identities
        assert {"other/alice", "celebs/alice"} <= set(both.identities)
        assert len(cat.image_paths(["celebs"])) == 3  # the first dataset is untouched by the second's sync


def test_migration_of_an_empty_store(tmp_path):
    store = tmp_path / "empty"
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    store.mkdir()
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facevault.migrations")))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{store / 'catalog.db'}")
    command.upgrade(cfg, "0003")
    with facevault.open(store) as vault:
        assert vault.datasets() == []
