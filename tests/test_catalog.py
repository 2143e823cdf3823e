"""Catalog schema and migrations, the FAISS index sidecar, and storage plumbing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli
from sqlalchemy import create_engine, inspect


def test_migrations_from_an_empty_database_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from facevault.core import settings as config
    from facevault.store import Catalog
    from facevault.store.models import Base

    settings = config.resolve(tmp_path / "s")
    with Catalog(settings, create=True) as cat:
        with cat.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0004"
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == [], diff
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    # opening again applies nothing and keeps the data
    with Catalog(settings) as cat:
        cat.set_meta("k", "v")
    with Catalog(settings) as cat:
        assert cat.get_meta("k") == "v"
    tables = set(inspect(create_engine(settings.db_url)).get_table_names())
    assert {"identities", "images", "faces", "spaces", "vectors", "scans", "alembic_version"} <= tables


def test_any_sqlalchemy_url(tmp_path, dataset_copy):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    s = run_cli("ingest", str(dataset_copy), "--db", url, "--json")
    assert s["embedded"] == 48
    assert (tmp_path / "elsewhere.db").stat().st_size > 0
    assert run_cli("status", "--db", url, "--json")["spaces"][0]["vectors"] == 48


def test_vectors_are_little_endian_float32_and_unit_norm(dataset_copy):
    from sqlalchemy import select

    from facevault.core import settings as config
    from facevault.store import Catalog
    from facevault.store.models import Vector

    run_cli("ingest", str(dataset_copy), "--json")
    with Catalog(config.resolve()) as cat:
        with cat.session() as s:
            blobs = list(s.scalars(select(Vector.vector)))
    assert len(blobs) == 48 and all(len(b) == 128 * 4 for b in blobs)
    v = np.frombuffer(blobs[0], "<f4")
    assert abs(np.linalg.norm(v) - 1.0) < 1e-5


def test_index_is_rebuilt_when_the_catalog_moves_on(dataset_copy, tmp_path):
    import json
    import shutil

    from facevault.core import settings as config
    from facevault.store import Catalog, index

    keep = tmp_path / "later"
    shutil.move(str(dataset_copy / "Laura_Bush"), keep)
    run_cli("ingest", str(dataset_copy), "--json")
    with Catalog(config.resolve()) as cat:
        sp = cat.spaces()[0]
        first = index.load_or_build(cat, sp)
        assert first.rebuilt and first.index.ntotal == 42
        again = index.load_or_build(cat, sp)
        assert not again.rebuilt
    sidecar = json.loads((config.resolve().index_dir / f"space-{sp.id}.json").read_text())
    assert sidecar["count"] == 42 and sidecar["dim"] == 128 and sidecar["kind"] == "flat"
    shutil.move(str(keep), dataset_copy / "Laura_Bush")
    run_cli("ingest", str(dataset_copy), "--json")
    with Catalog(config.resolve()) as cat:
        sp = cat.spaces()[0]
        third = index.load_or_build(cat, sp)
        assert third.rebuilt and third.index.ntotal == 48


def test_similarity_matrix_equals_brute_force():
    from facevault.core.types import StoredVectors, unit
    from facevault.services.similarity import compute

    rng = np.random.default_rng(1)
    idents = ["a"] * 3 + ["b"] * 4 + ["c"] * 1
    m = unit(rng.normal(size=(8, 16)))[0]
    sv = StoredVectors(1, np.arange(8), [f"{i}/{k}" for k, i in enumerate(idents)], idents, m)
    sim = compute(sv, top=None)
    assert sim.names == ["a", "b", "c"]
    groups = {n: [k for k, i in enumerate(idents) if i == n] for n in sim.names}
    for x, nx in enumerate(sim.names):
        for y, ny in enumerate(sim.names):
            pairs = [(i, j) for i in groups[nx] for j in groups[ny] if i != j]
            if nx == ny:
                pairs = [(i, j) for i, j in pairs if i < j]
            if not pairs:
                assert np.isnan(sim.matrix[x, y])
                continue
            brute = np.mean([m[i] @ m[j] for i, j in pairs])
            assert sim.matrix[x, y] == pytest.approx(brute, abs=1e-6)


def test_lfw_pairs_file_parses_into_its_ten_folds(shared):
    from facevault.services.protocols import read_pairs_file

    p = read_pairs_file(shared / "datasets" / "lfw" / "pairs.txt")
    assert len(p) == 6000 and p.labels.sum() == 3000
    assert sorted(np.unique(p.folds)) == list(range(10))
    assert all((p.folds == k).sum() == 600 and p.labels[p.folds == k].sum() == 300 for k in range(10))
    assert p.a[0].count("/") == 1 and p.a[0].endswith(".jpg")
    assert (shared / "datasets" / "lfw" / "images" / p.a[0]).is_file()
    dev = read_pairs_file(shared / "datasets" / "lfw" / "pairsDevTest.txt")
    assert len(dev) == 1000 and dev.labels.sum() == 500


def test_upgrading_a_0001_store_keeps_its_data(tmp_path):
    """A store written by the first schema opens under the current one with every row intact."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from facevault.core import settings as config
    from facevault.store import Catalog
    from facevault.store.catalog import _migrations_dir

    settings = config.resolve(tmp_path / "old")
    settings.store.mkdir(parents=True)
    engine = create_engine(settings.db_url)
    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO spaces (model, detector, aligner, dim, metric, revision, created_at) "
                          "VALUES ('dlib', 'dlib-hog', 'dlib-chip', 128, 'cosine', 3, '2026-01-01')"))
        conn.execute(text("INSERT INTO faces (sha256, detector, idx, x, y, w, h, score, is_subject) "
                          "VALUES ('abc', 'dlib-hog', 0, 1, 2, 3, 4, 0.9, 1)"))
        conn.execute(text("INSERT INTO vectors (face_id, space_id, vector) VALUES (1, 1, :v)"),
                      {"v": np.ones(128, "<f4").tobytes()})
    engine.dispose()
    with Catalog(settings) as cat:
        (space,) = cat.spaces()
        assert space.revision == 3
        with cat.engine.connect() as conn:
            row = conn.execute(text("SELECT length(vector), norm FROM vectors")).one()
    assert row == (512, None)
