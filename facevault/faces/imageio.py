"""Decode image bytes into an RGB uint8 array, robustly.

The format is read from the content, never from the extension (a WebP named .jpg decodes as WebP).
EXIF orientation is applied, alpha is composited onto grey, grayscale is expanded, 16-bit is scaled to 8-bit.
Every format Pillow opens is read (JPEG, PNG, WebP, BMP, TIFF, GIF's first frame, AVIF where Pillow is built
with it, HEIC with the `heic` extra). Reading is bounded: regular files only, opened non-blocking, under a byte
cap; decoding under a pixel cap (a larger JPEG decodes at 1/2, 1/4 or 1/8 scale, anything else is refused).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevault.core.errors import (
    CorruptImage,
    EmptyFile,
    FileTooLarge,
    NotAnImage,
    UnsupportedImage,
)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                            ".avif", ".heic", ".heif"})
_BACKGROUND = 127  # alpha is composited onto neutral grey
DEFAULT_MAX_BYTES = 100 * 1_000_000  # per file, checked before reading (FACEVAULT_MAX_FILE_MB)
DEFAULT_MAX_PIXELS = 40_000_000  # decoded pixels per image (FACEVAULT_MAX_PIXELS); JPEGs are decoded reduced
_LIMITS = {"bytes": DEFAULT_MAX_BYTES, "pixels": DEFAULT_MAX_PIXELS}
_HEIF: bool | None = None  # pillow-heif's opener registered (None: not tried yet)


def set_limits(max_bytes: int | None = None, max_pixels: int | None = None) -> None:
    """Bound what one worker reads and decodes (each process calls this once with the store's settings)."""
    if max_bytes is not None:
        _LIMITS["bytes"] = int(max_bytes)
    if max_pixels is not None:
        _LIMITS["pixels"] = int(max_pixels)


def limits() -> tuple[int, int]:
    return _LIMITS["bytes"], _LIMITS["pixels"]


def _register_heif() -> None:
    """HEIC/HEIF through the optional `heic` extra (pillow-heif), registered on first decode when installed."""
    global _HEIF
    if _HEIF is None:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _HEIF = True
        except ImportError:
            _HEIF = False


@dataclass(frozen=True)
class Decoded:
    rgb: np.ndarray  # HxWx3 uint8, C-contiguous
    format: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_kind(mode: int) -> str:
    """What a directory entry that is not a regular file is, from its st_mode ("a FIFO", "a folder", ...)."""
    return ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket"
            if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")


def read_bytes(path: Path, max_bytes: int | None = None, allow_empty: bool = False) -> bytes:
    """The bytes of a regular file, at most `max_bytes` (default: the configured cap). Opened non-blocking and
    checked after opening, so a FIFO, a device or a file swapped for one is refused, never waited on."""
    cap = _LIMITS["bytes"] if max_bytes is None else max_bytes
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsupportedImage(f"not a regular file ({file_kind(st.st_mode)}); not read")
        if st.st_size > cap:
            raise FileTooLarge(f"{st.st_size / 1e6:.1f} MB is over the {cap / 1e6:.1f} MB cap (FACEVAULT_MAX_FILE_MB)")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:  # grew while being read
                raise FileTooLarge(f"over the {cap / 1e6:.1f} MB cap (FACEVAULT_MAX_FILE_MB)")
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data and not allow_empty:
        raise EmptyFile("zero-byte file")
    return data


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16 or (arr.dtype.kind in "iu" and arr.max(initial=0) > 255):
        return (arr.astype(np.float32) * (255.0 / 65535.0) + 0.5).clip(0, 255).astype(np.uint8)
    if arr.dtype.kind == "f":
        top = 1.0 if float(arr.max(initial=0)) <= 1.0 else 255.0
        return (arr.astype(np.float32) * (255.0 / top) + 0.5).clip(0, 255).astype(np.uint8)
    return arr.clip(0, 255).astype(np.uint8)


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = rgb.astype(np.float32) * a + _BACKGROUND * (1.0 - a)
    return (out + 0.5).astype(np.uint8)


def _decode_pil(data: bytes) -> Decoded:
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    cap = _LIMITS["pixels"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = (img.format or "unknown").lower()
            w, h = img.size
            if w * h > cap:
                if fmt in ("jpeg", "mpo"):  # decoded at 1/2, 1/4 or 1/8 scale: memory stays bounded
                    scale = 2
                    while scale < 8 and (w // scale) * (h // scale) > cap:
                        scale *= 2
                    img.draft(img.mode, (w // scale, h // scale))
                if img.size[0] * img.size[1] > cap:
                    raise UnsupportedImage(f"{w}x{h} is over the {cap / 1e6:.0f} Mpx decode cap (FACEVAULT_MAX_PIXELS)")
            img.load()
    except UnidentifiedImageError as exc:
        raise NotAnImage("not a recognised image format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnsupportedImage(f"image too large to decode safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc) or type(exc).__name__
        raise CorruptImage(f"corrupt or truncated {fmt if 'fmt' in locals() else 'image'}: {msg}") from exc
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_uint8(np.asarray(img))
        rgb = np.repeat(gray[..., None], 3, axis=2)
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"))
        rgb = _composite(rgba[..., :3], rgba[..., 3])
    else:
        rgb = np.asarray(img.convert("RGB"))
    return Decoded(np.ascontiguousarray(rgb, dtype=np.uint8), fmt)


def _decode_cv2(data: bytes) -> Decoded | None:
    """OpenCV decode for what Pillow reads lossily or not at all (16-bit colour PNG/TIFF)."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if arr is None:
        return None
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        return Decoded(np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2)), "cv2")
    if arr.shape[2] == 4:
        rgb = _composite(arr[..., 2::-1], arr[..., 3])
        return Decoded(np.ascontiguousarray(rgb), "cv2")
    return Decoded(np.ascontiguousarray(arr[..., 2::-1]), "cv2")


def _is_16bit_colour_png(data: bytes) -> bool:
    # PNG IHDR: bit depth at byte 24, colour type at byte 25 (2 = RGB, 6 = RGBA)
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[24] == 16 and data[25] in (2, 6)


def decode(data: bytes) -> Decoded:
    """Decode bytes of any supported format; raises an ImageError subclass with a one-line reason."""
    if not data:
        raise EmptyFile("zero-byte file")
    if _is_16bit_colour_png(data):
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if w * h > _LIMITS["pixels"]:
            raise UnsupportedImage(f"{w}x{h} is over the {_LIMITS['pixels'] / 1e6:.0f} Mpx decode cap "
                                   "(FACEVAULT_MAX_PIXELS)")
        out = _decode_cv2(data)
        if out is not None:
            return out
    out = _decode_pil(data)
    h, w = out.rgb.shape[:2]
    if h < 8 or w < 8:
        raise UnsupportedImage(f"image too small ({w}x{h})")
    return out


def load(path: str | Path) -> Decoded:
    """Read (regular files only, under the size cap) and decode one image file."""
    return decode(read_bytes(Path(path)))
