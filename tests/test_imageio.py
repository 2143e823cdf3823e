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


def _formats() -> list[tuple[str, str]]:
    from PIL import features

    out = [("tiff", ".tif"), ("gif", ".gif"), ("bmp", ".bmp"), ("webp", ".webp"), ("png", ".png")]
    if features.check("avif"):
        out.append(("avif", ".avif"))
    try:
        import pillow_heif  # noqa: F401  (the optional `heic` extra)

        out.append(("heif", ".heic"))
    except ImportError:
        pass
    return out


def test_every_format_pillow_reads_is_ingested(tmp_path, lfw_small):
    """Real faces converted to each format: all decoded and embedded (HEIC when the `heic` extra is installed,
    AVIF when Pillow is built with it); a non-image file in an identity folder is counted, not silently lost."""
    from conftest import run_cli

    formats = _formats()
    root = tmp_path / "formats"
    for i, (fmt, suffix) in enumerate(formats):
        ident = ["Colin_Powell", "Tony_Blair", "Hugo_Chavez", "George_W_Bush"][i % 4]
        img = Image.open(lfw_small / ident / f"{ident}_{i // 4 + 1:04d}.jpg").convert("RGB")
        (root / ident).mkdir(parents=True, exist_ok=True)
        img.save(root / ident / f"face_{fmt}{suffix}", format=fmt.upper() if fmt != "heif" else "HEIF")
    (root / "Colin_Powell" / "readme.txt").write_text("hello")
    s = run_cli("ingest", str(root), "--json")
    assert s["files"] == len(formats)
    assert s["embedded"] == len(formats), s["problems"]
    assert s["errors"] == {"not-an-image-file": 1}


def test_gif_first_frame_and_multipage_tiff(tmp_path, lfw_small):
    face = Image.open(lfw_small / "Colin_Powell" / "Colin_Powell_0001.jpg").convert("RGB")
    grey = Image.new("RGB", face.size, (90, 90, 90))
    face.save(tmp_path / "a.gif", save_all=True, append_images=[grey])
    face.save(tmp_path / "a.tif", save_all=True, append_images=[grey])
    for name in ("a.gif", "a.tif"):
        d = imageio.load(tmp_path / name)
        assert d.rgb.shape == (face.size[1], face.size[0], 3)
        assert d.rgb.std() > 20  # the face, not the grey second frame
