"""Decoding by content, EXIF orientation, alpha, grayscale and 16-bit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facevault.core.errors import CorruptImage, EmptyFile, NotAnImage
from facevault.faces import imageio


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    img = Image.fromarray(np.zeros((40, 80, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = imageio.decode(_bytes(img, "JPEG", exif=exif.tobytes()))
    assert out.rgb.shape == (80, 40, 3)


def test_format_is_read_from_content_not_extension(lfw_small):
    face = Image.open(next((lfw_small / "Colin_Powell").glob("*.jpg")))
    out = imageio.decode(_bytes(face, "WEBP"))
    assert out.format == "webp" and out.rgb.shape == (250, 250, 3)


def test_alpha_grayscale_and_16bit_become_rgb_uint8():
    rgba = Image.fromarray(np.dstack([np.full((20, 20, 3), 200, np.uint8), np.zeros((20, 20), np.uint8)]), "RGBA")
    out = imageio.decode(_bytes(rgba, "PNG"))
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (20, 20, 3) and int(out.rgb[0, 0, 0]) == 127
    gray = imageio.decode(_bytes(Image.fromarray(np.full((20, 20), 90, np.uint8)), "PNG"))
    assert gray.rgb.shape == (20, 20, 3) and int(gray.rgb[5, 5, 1]) == 90
    g16 = imageio.decode(_bytes(Image.fromarray(np.full((20, 20), 65535, np.uint16)), "PNG"))
    assert int(g16.rgb[0, 0, 0]) == 255
    import cv2

    ok, enc = cv2.imencode(".png", np.full((20, 20, 3), [0, 0, 65535], np.uint16))  # BGR: pure red
    c16 = imageio.decode(enc.tobytes())
    assert c16.rgb[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    "data, exc",
    [(b"", EmptyFile), (b"hello world, no image here", NotAnImage)],
)
def test_bad_bytes_raise_specific_errors(data, exc):
    with pytest.raises(exc):
        imageio.decode(data)


def test_truncated_jpeg_is_corrupt(lfw_small):
    data = next((lfw_small / "Tony_Blair").glob("*.jpg")).read_bytes()
    with pytest.raises(CorruptImage):
        imageio.decode(data[: len(data) // 3])
