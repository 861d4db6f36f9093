"""Writing results: H.264 MP4 through an ffmpeg pipe and a JPEG thumbnail, both atomic.

Frames reach ffmpeg as they are decoded (``encode_mp4``: a writer thread feeds its stdin while
the caller decodes the next chunk), converted to uint8 once; the thumbnail is the first frame.

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
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
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


def _ffmpeg_command(ffmpeg: str, width: int, height: int, fps: int, target: str) -> list[str]:
    return [
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
        target,
    ]


# How much lower than the worker's the encoder's CPU priority is. The decode is the critical
# path and the encoder has a whole latent frame's decode to catch up: on a CPU worker, ffmpeg's
# threads at the same priority preempt the decoder's OpenMP threads, and each preemption stalls
# all of them at the next barrier (docs/adr/0085 has the measurement). Where cores are idle, as
# beside a GPU decode, niceness changes nothing.
ENCODER_NICENESS = 10


def _yield_cpu(pid: int) -> None:
    """Lowers ffmpeg's priority by ``ENCODER_NICENESS`` (at most to 19). Its threads are made
    after this, from its main thread, and inherit it. A failure (the process already gone) only
    costs the hint: the encode itself reports its own errors."""
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + ENCODER_NICENESS)
        os.setpriority(os.PRIO_PROCESS, pid, target)
    except OSError as exc:
        log.debug("ffmpeg %d keeps the worker's CPU priority: %s", pid, exc)


class _Encoder:
    """One ffmpeg process fed rgb24 frames on stdin by a writer thread.

    ``write`` hands a uint8 chunk to the thread (at most ``_QUEUE`` chunks wait, so memory stays
    bounded when the encoder is slower than the decoder) and returns at once: the caller decodes
    the next chunk while ffmpeg encodes this one. ``finish`` closes stdin and checks the exit
    status; ``abort`` kills ffmpeg (a cancel or a failure upstream). A second thread drains
    stderr so that ffmpeg never blocks on it.
    """

    _QUEUE = 2

    def __init__(self, ffmpeg: str, width: int, height: int, fps: int, target: str, out_path: str) -> None:
        self._out_path = out_path
        self._frame_bytes = width * height * 3
        self.frames = 0
        try:
            self._proc = subprocess.Popen(
                _ffmpeg_command(ffmpeg, width, height, fps, target),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise WorkerError(f"cannot run ffmpeg ({ffmpeg}): {exc}", "ENGINE_ERROR") from exc
        _yield_cpu(self._proc.pid)
        self._chunks: queue.Queue[Any] = queue.Queue(maxsize=self._QUEUE)
        self._stderr = bytearray()
        self._write_error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="ffmpeg-stdin", daemon=True)
        self._reader = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._writer.start()
        self._reader.start()

    def _write_loop(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while True:
            chunk = self._chunks.get()
            if chunk is None:
                break
            if self._write_error is not None:
                continue  # keep draining so that write() never blocks on a dead encoder
            try:
                stdin.write(memoryview(chunk).cast("B"))
            except (OSError, ValueError) as exc:
                self._write_error = exc
        try:
            stdin.close()
        except OSError as exc:
            self._write_error = self._write_error or exc

    def _read_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        for line in stream:
            self._stderr += line
            del self._stderr[:-4096]

    def write(self, chunk: Any) -> None:
        if (
            chunk.dtype.name != "uint8"
            or chunk.ndim != 4
            or chunk.shape[1] * chunk.shape[2] * 3 != self._frame_bytes
        ):
            raise WorkerError(f"unexpected frame chunk {chunk.shape} {chunk.dtype}", "ENGINE_ERROR")
        if self._write_error is not None:
            self._fail()
        self._chunks.put(chunk)
        self.frames += int(chunk.shape[0])

    def finish(self) -> None:
        self._chunks.put(None)
        self._writer.join()
        returncode = self._proc.wait()
        self._reader.join()
        if returncode != 0 or self._write_error is not None:
            self._fail(returncode)

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        # Unblocks the writer (its writes fail on the closed pipe) and ends it.
        with contextlib.suppress(queue.Full):
            self._chunks.put(None, timeout=5)
        self._writer.join(timeout=10)
        self._proc.wait()
        self._reader.join(timeout=10)

    def _fail(self, returncode: int | None = None) -> None:
        if returncode is None:
            returncode = self._proc.wait()
        detail = self._stderr.decode("utf-8", "replace").strip()[-600:]
        lowered = detail.lower()
        if any(s in lowered for s in ("no space left", "read-only", "permission denied", "quota")):
            raise StorageError(f"cannot write {self._out_path}: {detail}")
        raise WorkerError(
            f"ffmpeg failed ({returncode}) encoding {self.frames} frames: {detail or self._write_error}"
        )


def frame_chunks(video: Any, check: Callable[[], None] | None = None) -> Iterator[Any]:
    """uint8 chunks F×H×W×3 of a video: a streamed one's (``chunks()``, given ``check`` to run
    between its own steps), or an array's, whole."""
    chunks = getattr(video, "chunks", None)
    if chunks is not None:
        yield from chunks(check)
    else:
        yield to_uint8_frames(video)


def video_shape(video: Any) -> tuple[int, int, int]:
    """(frames, height, width) of an array or a streamed video, without decoding it."""
    shape = tuple(int(n) for n in video.shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise WorkerError(f"unexpected frame array shape {shape}", "ENGINE_ERROR")
    return shape[0], shape[1], shape[2]


def _jpeg(frame: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def encode_mp4(
    video: Any,
    fps: int,
    out_path: str,
    ffmpeg: str,
    check: Callable[[], None] | None = None,
) -> bytes:
    """H.264, yuv420p, +faststart; written atomically at ``out_path``. The frames go to ffmpeg
    as they are decoded (``frame_chunks``); ``check`` runs before each chunk and may raise (a
    cancel): ffmpeg is killed and nothing appears at ``out_path``. Returns the first frame as a
    JPEG (the thumbnail)."""
    count, height, width = video_shape(video)
    thumbnail = b""
    with atomic_target(out_path, ".mp4") as tmp:
        encoder = _Encoder(ffmpeg, width, height, fps, tmp, out_path)
        try:
            for chunk in frame_chunks(video, check):
                if check is not None:
                    check()
                if not thumbnail:
                    thumbnail = _jpeg(chunk[0])
                encoder.write(chunk)
                del chunk
            if encoder.frames != count:
                raise WorkerError(
                    f"the decoder gave {encoder.frames} frames, expected {count}", "ENGINE_ERROR"
                )
        except BaseException:
            encoder.abort()
            raise
        encoder.finish()
    return thumbnail


def write_thumbnail(frames: Any, thumbnail_path: str) -> None:
    """The first frame as a JPEG, written atomically at ``thumbnail_path``."""
    _write_file(_jpeg(to_uint8_frames(frames[:1])[0]), thumbnail_path)


def _write_file(data: bytes, path: str) -> None:
    with atomic_target(path, ".jpg") as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise _storage_error(path, exc) from exc


def write_outputs(
    video: Any,
    fps: int,
    out_path: str,
    thumbnail_path: str,
    ffmpeg: str,
    check: Callable[[], None] | None = None,
) -> None:
    """MP4 then thumbnail (the MP4's first frame); if the thumbnail fails the MP4 is removed too
    (a job is all or nothing). ``video`` is a float array F×H×W×3 or a streamed video."""
    thumbnail = encode_mp4(video, fps, out_path, ffmpeg, check)
    try:
        _write_file(thumbnail, thumbnail_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(out_path)
        raise
