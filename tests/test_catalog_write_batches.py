"""`Catalog.write_results` on SQLite and on PostgreSQL (its bulk path): a retried batch never duplicates a face,
vector or scan, leaves the same values, re-detecting a content replaces its stale faces and vectors, reused faces
keep theirs, image facts never un-mark 'missing', and both backends end with the same rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from facevault.core import settings as config
from facevault.core.types import Detection, ImageResult, Landmarks, Space
from facevault.store import catalog as catalog_mod
from facevault.store.catalog import Catalog, _landmarks_json
from facevault.store.models import Face, Image, Scan, SpaceRow, Vector

SHAS = [f"{i:064x}" for i in range(1, 9)]


def _catalog(tmp_path, url: str | None) -> Catalog:
    return Catalog(config.resolve(store=tmp_path / "store", db=url), create=True)


def _vec(seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _lm(seed: int) -> Landmarks:
    pts = np.random.default_rng(seed).uniform(0, 250, (5, 2))
    pts[4] = np.nan  # a point the detector does not give
    return Landmarks(pts, "dlib5")


def _batch() -> list[ImageResult]:
    """One of each kind of result the pipeline gives."""
    d = [Detection(10.5 + i, 20.25, 100.0, 101.0, 0.9 - i / 100, "hog-up1", _lm(i)) for i in range(3)]
    return [
        ImageResult(SHAS[0], 250, 250, [d[0]], subject=0, vectors={0: _vec(0)}, norms={0: 3.5}),
        ImageResult(SHAS[1], 300, 200, [d[1], d[2]], subject=1, vectors={1: _vec(1)}, norms={1: 2.0}),  # two faces
        ImageResult(SHAS[2], 250, 250, [Detection(1.0, 2.0, 3.0, 4.0, 0.5, "")], subject=0,  # no landmarks, no norm
                    vectors={0: _vec(2)}),
        ImageResult(SHAS[3], 250, 250),  # no face
        ImageResult(SHAS[4]).fail("corrupt-image", "truncated JPEG"),  # a file error: recorded on the image
        ImageResult(SHAS[5], 250, 250).fail("align", "bad landmarks"),  # not a file error: the scan only
        ImageResult(SHAS[6], 250, 250, [d[0]], subject=0, vectors={0: _vec(6)}, norms={0: 1.0}),  # a missing file
    ]


def _setup(cat: Catalog) -> tuple[int, int]:
    ds = cat.ensure_dataset("d", "/data")
    files = [(f"p{i}/{i}.jpg", f"p{i}", sha, 100) for i, sha in enumerate(SHAS)]
    cat.sync_images(files, dataset_id=ds)
    cat.sync_images([f for f in files if f[2] != SHAS[6]], dataset_id=ds)  # SHAS[6]'s file is gone: missing
    return (cat.ensure_space(Space("m1", "dlib-hog", "dlib-chip", 16), None).id,
            cat.ensure_space(Space("m2", "dlib-hog", "dlib-chip", 16), None).id)


def _rows(cat: Catalog) -> dict:
    """The catalog's rows as plain values, without ids (they differ between writes and backends)."""
    with cat.session() as s:
        faces = sorted((f.sha256, f.detector, f.idx, f.x, f.y, f.w, f.h, json.dumps(f.landmarks), f.landmark_scheme,
                        f.score, f.source, bool(f.is_subject)) for f in s.scalars(select(Face)))
        vectors = sorted(s.execute(select(Face.sha256, Face.idx, Vector.space_id, Vector.vector, Vector.norm)
                                   .join(Face, Face.id == Vector.face_id)).all())
        scans = sorted(s.execute(select(Scan.sha256, Scan.space_id, Scan.status, Scan.faces, Scan.error)).all())
        images = sorted(s.execute(select(Image.sha256, Image.width, Image.height, Image.status, Image.error)).all())
        revisions = dict(s.execute(select(SpaceRow.model, SpaceRow.revision)).all())
        # no landmarks: JSON null (what SQLAlchemy's JSON type writes for None), never SQL NULL
        assert s.scalar(text("SELECT count(*) FROM faces WHERE landmarks IS NULL")) == 0
    return {"faces": faces, "vectors": [tuple(v) for v in vectors], "scans": [tuple(r) for r in scans],
            "images": [tuple(r) for r in images], "revisions": revisions}


def _scenario(cat: Catalog) -> list[dict]:
    """Write, retry, re-detect and reuse; the rows after each step."""
    s1, s2 = _setup(cat)
    steps = []
    cat.write_results(s1, "dlib-hog", _batch())
    steps.append(_rows(cat))
    cat.write_results(s1, "dlib-hog", _batch())  # the retry of the same batch
    steps.append(_rows(cat))
    cat.write_results(s1, "dlib-hog", _batch()[1:3])  # a retry of part of it
    steps.append(_rows(cat))
    # SHAS[1] detected anew: one face now where there were two; its old faces and vectors go
    redo = ImageResult(SHAS[1], 300, 200, [Detection(5.0, 6.0, 7.0, 8.0, 0.7, "hog-up0", _lm(9))], subject=0,
                       vectors={0: _vec(9)}, norms={0: 1.5})
    cat.write_results(s1, "dlib-hog", [redo])
    steps.append(_rows(cat))
    # a second model reusing the stored detections: new vectors for the same faces, written twice
    reuse = [ImageResult(SHAS[0], 250, 250, [Detection(10.5, 20.25, 100.0, 101.0, 0.9, "hog-up1", _lm(0))], subject=0,
                         vectors={0: _vec(20)}, norms={0: 4.0}, reused_faces=True),
             ImageResult(SHAS[1], 300, 200, [redo.faces[0]], subject=0, vectors={0: _vec(21)}, reused_faces=True)]
    cat.write_results(s2, "dlib-hog", reuse)
    cat.write_results(s2, "dlib-hog", reuse)
    steps.append(_rows(cat))
    return steps


def _check(steps: list[dict]) -> None:
    first, retried, partial, redone, reused = steps
    assert retried == {**first, "revisions": retried["revisions"]} and partial["faces"] == first["faces"]
    assert partial["vectors"] == first["vectors"] and partial["scans"] == first["scans"]
    assert retried["revisions"]["m1"] == first["revisions"]["m1"] + 1  # vectors written: bumped
    for rows in steps:  # one face per (content, detector, idx), one vector per (content, idx, space)
        keys = [f[:3] for f in rows["faces"]]
        assert len(keys) == len(set(keys))
        vkeys = [v[:3] for v in rows["vectors"]]
        assert len(vkeys) == len(set(vkeys))
        assert len({s[:2] for s in rows["scans"]}) == len(rows["scans"])
        assert len([s for s in rows["scans"] if s[1] == 1]) == 7
    assert len(first["faces"]) == 5 and len(first["vectors"]) == 4
    lm = _lm(0).to_list()
    assert first["faces"][0] == (SHAS[0], "dlib-hog", 0, 10.5, 20.25, 100.0, 101.0, json.dumps(lm), "dlib5", 0.9,
                                 "hog-up1", True)
    assert lm[-1] is None and lm[-2] is None
    assert [f[2:] for f in first["faces"] if f[0] == SHAS[1]] == [
        (0, 11.5, 20.25, 100.0, 101.0, json.dumps(_lm(1).to_list()), "dlib5", 0.89, "hog-up1", False),
        (1, 12.5, 20.25, 100.0, 101.0, json.dumps(_lm(2).to_list()), "dlib5", 0.88, "hog-up1", True)]
    assert [f for f in first["faces"] if f[0] == SHAS[2]][0][7:9] == ("null", None)
    vec = {(v[0], v[1]): v for v in first["vectors"]}
    assert vec[(SHAS[0], 0)][3] == _vec(0).astype("<f4").tobytes() and vec[(SHAS[0], 0)][4] == 3.5
    assert (SHAS[1], 0) not in vec and vec[(SHAS[1], 1)][4] == 2.0 and vec[(SHAS[2], 0)][4] is None
    assert np.array_equal(np.frombuffer(vec[(SHAS[1], 1)][3], "<f4"), _vec(1))
    scans = {s[0]: s[2:] for s in first["scans"]}
    assert scans[SHAS[1]] == ("ok", 2, None) and scans[SHAS[3]] == ("no-face", 0, None)
    assert scans[SHAS[4]] == ("error", 0, "corrupt-image: truncated JPEG")
    assert scans[SHAS[5]] == ("error", 0, "align: bad landmarks")
    images = {i[0]: i[1:] for i in first["images"]}
    assert images[SHAS[0]] == (250, 250, "ok", None) and images[SHAS[1]] == (300, 200, "ok", None)
    assert images[SHAS[3]] == (250, 250, "ok", None)
    assert images[SHAS[4]] == (None, None, "error", "corrupt-image: truncated JPEG")
    assert images[SHAS[5]] == (250, 250, "ok", None)  # not a file error: the image is fine
    assert images[SHAS[6]][2] == "missing" and images[SHAS[7]] == (None, None, "ok", None)  # never un-marked
    # re-detected: SHAS[1] has one face (the new one) and one vector, the rest as before
    assert [f[2:] for f in redone["faces"] if f[0] == SHAS[1]] == [
        (0, 5.0, 6.0, 7.0, 8.0, json.dumps(_lm(9).to_list()), "dlib5", 0.7, "hog-up0", True)]
    assert [v[1:] for v in redone["vectors"] if v[0] == SHAS[1]] == [(0, 1, _vec(9).astype("<f4").tobytes(), 1.5)]
    assert [f for f in redone["faces"] if f[0] != SHAS[1]] == [f for f in first["faces"] if f[0] != SHAS[1]]
    assert dict(s[:1] + s[2:3] for s in redone["scans"])[SHAS[1]] == "ok"
    # reused by a second space: its vectors added (once), the first space's kept, the faces untouched
    assert reused["faces"] == redone["faces"]
    assert [v for v in reused["vectors"] if v[2] == 1] == redone["vectors"]
    assert sorted((v[0], v[1], v[3], v[4]) for v in reused["vectors"] if v[2] == 2) == sorted([
        (SHAS[0], 0, _vec(20).astype("<f4").tobytes(), 4.0), (SHAS[1], 0, _vec(21).astype("<f4").tobytes(), None)])
    assert reused["revisions"]["m2"] >= 2


def _url(backend: str, request) -> str | None:
    """None for SQLite; for PostgreSQL the throwaway server's URL (skipped without psycopg or initdb)."""
    if backend == "sqlite":
        return None
    pytest.importorskip("psycopg")
    from pgserver import find_bindir

    if find_bindir() is None:
        pytest.skip("no PostgreSQL initdb binary on this machine")
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_retried_and_redetected_batches(backend, tmp_path, request):
    url = _url(backend, request)
    with _catalog(tmp_path, url) as cat:
        assert cat.engine.dialect.name == backend
        _check(_scenario(cat))


def test_postgres_writes_the_same_rows_as_sqlite(tmp_path, request):
    url = _url("postgresql", request)
    with _catalog(tmp_path / "a", None) as cat:
        lite = _scenario(cat)
    with _catalog(tmp_path / "b", url) as cat:
        pg = _scenario(cat)
    assert pg == lite


def test_portable_writer_writes_the_same_rows_as_the_bulk_writers(tmp_path, monkeypatch):
    """The SQLAlchemy statements other backends get (MySQL, ...), run here on SQLite with its bulk writer off:
    the same scenario, the same checks, the same rows as the bulk writer."""
    with _catalog(tmp_path / "a", None) as cat:
        bulk = _scenario(cat)
    monkeypatch.setattr(catalog_mod, "BULK_DIALECTS", ())
    with _catalog(tmp_path / "b", None) as cat:
        portable = _scenario(cat)
    _check(portable)
    assert portable == bulk


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_vector_without_its_face_fails_and_writes_nothing(backend, tmp_path, request):
    url = _url(backend, request)
    with _catalog(tmp_path, url) as cat:
        s1, _ = _setup(cat)
        cat.write_results(s1, "dlib-hog", _batch()[:1])
        before = _rows(cat)
        orphan = ImageResult(SHAS[3], 250, 250, [], subject=0, vectors={0: _vec(0)}, reused_faces=True)
        with pytest.raises(IntegrityError):  # a bug upstream: refused, and the batch's other rows not kept
            cat.write_results(s1, "dlib-hog", [_batch()[2], orphan])
        assert _rows(cat) == before


def test_landmarks_json_is_to_list_dumped():
    rng = np.random.default_rng(3)
    marks = []
    for k in range(3000):
        pts = (rng.standard_normal((68, 2)) * 10.0 ** rng.integers(-3, 5)).astype(np.float32)
        pts[k % 68] = np.nan
        pts[0, 0] = np.float32(rng.integers(-4000, 4000)) / 8  # exact binary fractions: ties when rounding
        pts[0, 1] = -0.001
        marks.append(Landmarks(pts, "ibug68"))
    marks.append(_lm(0))
    assert _landmarks_json(marks) == [json.dumps(m.to_list()) for m in marks]
    assert _landmarks_json([]) == []
