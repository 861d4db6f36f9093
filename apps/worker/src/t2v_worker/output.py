"""Writing results: H.264 MP4 through an ffmpeg pipe and a JPEG thumbnail, both atomic.

Each file is written to a temp file in the directory of its final path, fsynced, renamed into
place, and the directory is fsynced. The final path therefore holds either nothing or a complete
file; temp files are removed on every failure. Any OS-level write failure is ``STORAGE_ERROR``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from .errors import StorageError, WorkerError

log = logging.getLogger(__name__)


def _creation_mode() -> int:
    # mkstemp creates 0600 files; outputs should carry the usual mode (0644 under umask 022) so
    # whoever serves them (the API, an NFS reader) can. Read once, at import, single-threaded.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _creation_mode()

# errno values that mean "the storage refused the write", as opposed to an encoder bug.
_STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EDQUOT,
    errno.EIO,
    errno.EEXIST,
    errno.ENAMETOOLONG,
}


def find_ffmpeg(configured: str | None = None) -> str:
    """``T2V_FFMPEG``, else ``ffmpeg`` on PATH, else the binary imageio-ffmpeg ships."""
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise WorkerError(f"T2V_FFMPEG={configured} is not an executable file", "ENGINE_ERROR")
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # noqa: BLE001 - any failure here means "no ffmpeg"
        raise WorkerError(
            "no ffmpeg found: set T2V_FFMPEG, put ffmpeg on PATH or install imageio-ffmpeg",
            "ENGINE_ERROR",
        ) from exc


def _storage_error(path: str, exc: OSError) -> StorageError:
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (and NFS clients) refuse fsync on a directory; the rename stands
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_target(final_path: str, suffix: str) -> Iterator[str]:
    """Yields a temp path beside ``final_path``; on clean exit fsyncs and renames it into place.

    On any exception the temp file is removed and the final path is left untouched.
    """
    directory = os.path.dirname(os.path.abspath(final_path))
    base = os.path.basename(final_path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f"{suffix}.tmp", dir=directory)
        try:
            os.fchmod(fd, _FILE_MODE)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _storage_error(final_path, exc) from exc
    try:
        yield tmp
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final_path)
        except OSError as exc:
            raise _storage_error(final_path, exc) from exc
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def to_uint8_frames(frames: Any) -> Any:
    """Pipeline output (float in [0, 1], shape F×H×W×3) → contiguous uint8 numpy array."""
    import numpy as np

    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise WorkerError(f"unexpected frame array shape {array.shape}", "ENGINE_ERROR")
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return np.ascontiguousarray(array)


def encode_mp4(frames: Any, fps: int, out_path: str, ffmpeg: str) -> None:
    """H.264, yuv420p, +faststart; written atomically at ``out_path``."""
    array = to_uint8_frames(frames)
    count, height, width, _ = array.shape
    with atomic_target(out_path, ".mp4") as tmp:
        cmd = [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(fps),
            "-i",
            "pipe:0",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            tmp,
        ]
        try:
            proc = subprocess.run(
                cmd,
                input=array.tobytes(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
        except OSError as exc:
            raise WorkerError(f"cannot run ffmpeg ({ffmpeg}): {exc}", "ENGINE_ERROR") from exc
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip()[-600:]
            lowered = detail.lower()
            if any(s in lowered for s in ("no space left", "read-only", "permission denied", "quota")):
                raise StorageError(f"cannot write {out_path}: {detail}")
            raise WorkerError(f"ffmpeg failed ({proc.returncode}) encoding {count} frames: {detail}")


def write_thumbnail(frames: Any, thumbnail_path: str) -> None:
    """The first frame as a JPEG, written atomically at ``thumbnail_path``."""
    from PIL import Image

    array = to_uint8_frames(frames)
    buffer = io.BytesIO()
    Image.fromarray(array[0]).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    with atomic_target(thumbnail_path, ".jpg") as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise _storage_error(thumbnail_path, exc) from exc


def write_outputs(frames: Any, fps: int, out_path: str, thumbnail_path: str, ffmpeg: str) -> None:
    """MP4 then thumbnail; if the thumbnail fails the MP4 is removed too (a job is all or nothing)."""
    encode_mp4(frames, fps, out_path, ffmpeg)
    try:
        write_thumbnail(frames, thumbnail_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(out_path)
        raise
