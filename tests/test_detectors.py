"""The dlib HOG cascade on real LFW faces: fallbacks find missed faces, and a bystander never hides the subject."""

from __future__ import annotations

import pytest

from facevault.core.types import DLIB5, Detection, subject_index
from facevault.faces import imageio
from facevault.faces.detect.base import has_central, merge
from facevault.faces.detect.dlib import DlibHog


@pytest.fixture(scope="module")
def hog() -> DlibHog:
    return DlibHog()


def _lfw(shared, rel: str):
    path = shared / "datasets" / "lfw" / "images" / rel
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return imageio.load(path).rgb


def test_a_bystander_found_first_does_not_hide_the_subject(shared, hog):
    # HOG with one upsampling finds only a small face at the left edge; the centred subject needs 2x upsampling
    rgb = _lfw(shared, "Himmler_Rebu/Himmler_Rebu_0001.jpg")
    single = DlibHog(fallback=False).detect(rgb)
    assert single and not has_central(single, 250, 250)
    faces = hog.detect(rgb)
    subject = faces[subject_index(faces, 250, 250)]
    assert has_central([subject], 250, 250) and subject.source == "hog-up2"
    assert len(faces) == 2  # the bystander is kept (all faces are stored), not chosen


def test_central_face_found_by_the_first_pass_stops_the_cascade(lfw_small, hog):
    rgb = imageio.load(next((lfw_small / "Colin_Powell").glob("*.jpg"))).rgb
    faces = hog.detect(rgb)
    assert len(faces) == 1 and faces[0].source == "hog-up1" and has_central(faces, 250, 250)
    lm = faces[0].landmarks  # dlib's 5 points, set by the detector
    assert lm.scheme == DLIB5 and lm.complete and lm.points.shape == (5, 2)


def test_merge_keeps_one_box_per_face():
    a = Detection(10, 10, 100, 100, 1.0, "hog-up1")
    b = Detection(14, 12, 98, 101, 0.5, "hog-up2")  # the same face from a later pass
    c = Detection(150, 10, 60, 60, 0.4, "hog-up2")
    assert merge([a, b, c]) == [a, c]
