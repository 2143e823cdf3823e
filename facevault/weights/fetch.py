"""Download one weights file from one URL, unpack it, verify its sha256 and only then move it into place.

Downloading and unpacking are pooch's (`pooch.retrieve` with its `Decompress` / `Unzip` processors); the
download lands in a private staging folder beside the target, so a failed or mismatching download leaves
nothing behind and an existing file is replaced only by a verified one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from facevault.weights.locate import sha256_file

log = logging.getLogger(__name__)

TIMEOUT_S = 60
Progress = Callable[[int, "int | None"], None]


class DownloadFailed(Exception):
    """The download or unpacking failed (the caller tries the next mirror)."""


class ChecksumMismatch(Exception):
    """The downloaded file is not the one expected."""


class _Bar:
    """The progress-bar object pooch's HTTPDownloader drives (total, update, reset, close) -> `progress()`."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.total, self.done = progress, None, 0

    def update(self, n: int) -> None:
        self.done += n
        total = self.total or None
        self.progress(min(self.done, total) if total else self.done, total)

    def reset(self) -> None:
        self.done = 0

    def close(self) -> None:
        pass


def _unzip_member(member: str):
    import pooch

    class MemberUnzip(pooch.Unzip):
        """pooch.Unzip for one member given by its name or its path's tail (`pack/x.onnx` matches `x.onnx`)."""

        def _extract_file(self, fname, extract_dir):  # noqa: ANN001 (pooch's signature)
            import zipfile

            with zipfile.ZipFile(fname) as zf:
                names = zf.namelist()
            found = next((n for n in names if n == member or n.endswith("/" + member)), None)
            if found is None:
                raise DownloadFailed(f"{member} is not in the zip archive")
            self.members = [found]
            return super()._extract_file(fname, extract_dir)

    return MemberUnzip(extract_dir="unpacked")


def download(url: str, target: Path, sha256: str = "", archive: str = "", member: str = "",
             progress: Progress | None = None) -> str:
    """Fetch `url` into `target` (unpacking a "bz2" or "zip" `archive`); return the file's sha256.

    With a known `sha256` the file (unpacked) must match it, else ChecksumMismatch and nothing is kept. Without
    one, a web page instead of a file is refused. Raises DownloadFailed when the URL cannot be read or unpacked.
    """
    import pooch
    import requests

    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        processor = None
        if archive == "bz2":
            processor = pooch.Decompress(method="bzip2", name="unpacked")
        elif archive == "zip":
            processor = _unzip_member(member)
        # pooch checks a plain file's digest itself; an archive's is checked here, on the unpacked file
        known = f"sha256:{sha256}" if sha256 and not archive else None
        downloader = pooch.HTTPDownloader(progressbar=_Bar(progress) if progress else False, timeout=TIMEOUT_S,
                                          headers={"User-Agent": "facevault"})
        try:
            got = pooch.retrieve(url, known_hash=known, fname="download", path=stage, processor=processor,
                                 downloader=downloader)
        except DownloadFailed:
            raise
        except ValueError as exc:
            if known and "does not match the known hash" in str(exc):
                actual = str(exc).split(" but got ")[-1].split(".")[0]
                raise ChecksumMismatch(_mismatch(target, url, sha256, actual)) from None
            raise DownloadFailed(_reason(exc)) from None
        except requests.RequestException as exc:
            raise DownloadFailed(_reason(exc)) from None
        except (OSError, EOFError) as exc:
            what = f"cannot unpack the {archive} archive: " if archive else ""
            raise DownloadFailed(what + _reason(exc)) from None
        except Exception as exc:  # zipfile.BadZipFile and what else a processor raises
            if archive:
                raise DownloadFailed(f"cannot unpack the {archive} archive: {_reason(exc)}") from None
            raise
        final = Path(got[0] if isinstance(got, list) else got)
        digest = sha256_file(final)
        if sha256 and digest != sha256:
            raise ChecksumMismatch(_mismatch(target, url, sha256, digest))
        if not sha256:
            with open(final, "rb") as fh:
                head = fh.read(512).lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")):
                raise DownloadFailed("the server sent a web page, not the file (a link that needs a browser?)")
        os.chmod(final, 0o644)
        os.replace(final, target)
        log.info("fetched %s from %s into %s", target.name, url, target)
        return digest
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _mismatch(target: Path, url: str, expected: str, got: str) -> str:
    return (f"checksum mismatch for {target.name} from {url}: expected sha256 {expected}, got {got}; "
            "the file was not kept")


def _reason(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        text = f"HTTP {exc.response.status_code} {exc.response.reason}"
    elif isinstance(exc, requests.ConnectionError):
        text = "connection failed" + (f" ({_root(exc)})" if _root(exc) else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _root(exc: BaseException) -> str:
    """The innermost cause of a requests error, shortly (e.g. `[Errno 111] Connection refused`)."""
    while exc.__context__ is not None or exc.__cause__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.split(": ", 1)[-1] if "Errno" in text else ""
