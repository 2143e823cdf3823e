"""The study: several datasets x models x one detector ingested in one call, the grid, the study report.

Real faces: `tests/data/lfw` split in two datasets by identity (one identity in both: the same folder name in
two datasets is two identities, its files embedded once), plus a few identities of the shared seed-different
set where it is present; dlib always, arcface-mbf where the shared weights hold it, on the dlib-hog detector.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

import facevault
from tests.conftest import DATA, SHARED, run_cli

WEIGHTS = SHARED / "weights"
SEED = SHARED / "datasets" / "seed-different"
DETECTOR = "dlib-hog"
IDENTITIES = sorted(p.name for p in DATA.iterdir() if p.is_dir())


def _models() -> list[str]:
    return ["dlib", "arcface-mbf"] if (WEIGHTS / "w600k_mbf_int8.onnx").is_file() else ["dlib", "dlib+flip"]


def _copy(src: Path, dst: Path, names: list[str], n: int | None = None) -> Path:
    for name in names:
        (dst / name).mkdir(parents=True)
        for f in sorted((src / name).iterdir())[:n]:
            shutil.copy(f, dst / name / f.name)
    return dst


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    folders = [_copy(DATA, root / "lfw-a", IDENTITIES[:4], 4),
               _copy(DATA, root / "lfw-b", IDENTITIES[3:], 4)]  # IDENTITIES[3] in both
    if SEED.is_dir():
        folders.append(_copy(SEED, root / "seed", sorted(p.name for p in SEED.iterdir() if p.is_dir())[:3], 5))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVAULT_WORKERS", "1")
        mp.setenv("FACEVAULT_WEIGHTS", str(WEIGHTS if WEIGHTS.is_dir() else root / "weights"))
        mp.setenv("DEEPFACE_HOME", str(root / "deepface_home"))
        mp.delenv("FACEVAULT_DB", raising=False)
        with facevault.open(root / "store") as vault:
            first = vault.study(folders, models=_models(), detectors=[DETECTOR], out=root / "report")
        yield {"root": root, "folders": folders, "first": first, "store": root / "store"}


@pytest.fixture
def env(study, monkeypatch):
    monkeypatch.setenv("FACEVAULT_STORE", str(study["store"]))
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(WEIGHTS if WEIGHTS.is_dir() else study["root"] / "weights"))
    return study


def test_study_ingests_every_dataset_for_every_model(env):
    first = env["first"]
    names = [f.name for f in env["folders"]]
    assert first.datasets == names
    assert len(first.combinations) == 2 and not first.skipped
    assert {(i["dataset"], i["space"]) for i in first.ingests} == {(d, s) for d in names for s in first.combinations}
    shared = next(i for i in first.ingests if i["dataset"] == "lfw-b" and i["space"] == first.combinations[0])
    assert shared["skipped"] == 4  # the identity in both datasets: its files were embedded with lfw-a


def test_same_folder_name_in_two_datasets_is_two_identities(env):
    with facevault.open() as vault:
        ds = {d["name"]: d for d in vault.datasets()}
        assert ds["lfw-a"]["identities"] == 4 and ds["lfw-b"]["identities"] == 5
        both = vault.vectors(model="dlib", dataset=["lfw-a", "lfw-b"])
        twice = IDENTITIES[3]
        assert {f"lfw-a/{twice}", f"lfw-b/{twice}"} <= set(both.identities)
        assert len(set(both.identities)) == 9


def test_grid_cells_equal_evaluate_of_each_dataset_alone(env):
    grid = env["first"].grid
    with facevault.open() as vault:
        for ds in grid.datasets:
            n = int(grid.protocols[ds].split("--sample ")[1].split()[0])
            run = vault.evaluate(sample=n, datasets=[ds], calibrate=False, bootstrap=0)
            for ev in run.results:
                cell = grid.cell(ev.space_id, ds)
                assert cell is not None, (ds, ev.space)
                assert cell.accuracy == pytest.approx(ev.report.accuracy, abs=1e-12)
                assert cell.accuracy_std == pytest.approx(ev.report.accuracy_std, abs=1e-12)
                assert cell.auc == pytest.approx(ev.report.auc, abs=1e-12)
                assert cell.eer == pytest.approx(ev.report.eer, abs=1e-12)
    # and through the CLI, one dataset alone against the grid's JSON
    doc = run_cli("evaluate", "--by", "dataset", "--metric-column", "auc", "--json")
    assert doc["metric_column"] == "auc" and doc["datasets"] == grid.datasets
    assert len(doc["cells"]) == len(grid.datasets) * 2
    ds = grid.datasets[0]
    n = grid.protocols[ds].split("--sample ")[1].split()[0]
    alone = run_cli("evaluate", "--dataset", ds, "--sample", n, "--no-calibrate", "--json")
    by_space = {r["space_id"]: r for r in alone}
    for c in doc["cells"]:
        if c["dataset"] == ds:
            assert c["auc"] == pytest.approx(by_space[c["space_id"]]["auc"], abs=1e-12)
            assert c["accuracy"] == pytest.approx(by_space[c["space_id"]]["accuracy"], abs=1e-12)
    ranks = [s["mean_rank"] for s in doc["spaces"]]
    assert ranks == sorted(ranks) and math.isclose(sum(ranks), 3.0 * 1)  # two rows: ranks 1 and 2 per column
    assert set(doc["best"]) == set(grid.datasets)


def test_rerun_embeds_nothing(env):
    doc = run_cli("study", *map(str, env["folders"]), *[a for m in _models() for a in ("-m", m)], "-d", DETECTOR,
                  "--json")
    assert doc["processed"] == 0 and doc["embedded"] == 0
    assert doc["grid"]["cells"] and not doc["skipped"]


def test_absent_weights_are_skipped_not_fatal(env, tmp_path, monkeypatch):
    from facevault.services.study import combinations

    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(tmp_path / "empty"))

    spaces, skipped = combinations(["dlib", "sface"], [DETECTOR], str(tmp_path / "empty"))
    assert [s.model for s in spaces] == ["dlib"]
    assert skipped[0]["model"] == "sface" and "weights absent" in skipped[0]["reason"]
    out = run_cli("study", str(env["folders"][0]), "-m", "dlib", "-m", "sface", "-d", DETECTOR, "--weights",
                  str(tmp_path / "empty"), "--json")
    assert [s["model"] for s in out["skipped"]] == ["sface"] and out["processed"] == 0
    assert out["combinations"] == ["dlib / dlib-hog / dlib-chip"]


def test_study_report(env):
    files = env["first"].report
    assert set(files) == {"html", "md", "json"} and all(p.is_file() for p in files.values())
    import json

    doc = json.loads(files["json"].read_text())
    figs = doc["figures"]
    assert "grid" in figs
    for ds in doc["grid"]["datasets"]:
        for kind in ("roc", "distribution", "similarity"):
            assert f"{kind}-{ds}" in figs
            assert (files["json"].parent / figs[f"{kind}-{ds}"]).is_file()
    d0 = doc["datasets"][0]
    assert d0["study_threshold"] is not None and d0["threshold"] is not None
    assert "study rule" in files["md"].read_text()


def test_single_dataset_report_still_works(env, tmp_path):
    out = run_cli("report", "--out", str(tmp_path / "rep"), "--dataset", "lfw-a", "--sample", "20", "--json")
    assert out["leaderboard"] and (tmp_path / "rep" / "report.html").is_file()
