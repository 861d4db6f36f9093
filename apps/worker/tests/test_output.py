"""MP4 and thumbnail writing: real ffmpeg, read back by ffprobe; atomic and clean on failure."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from t2v_worker import output
from t2v_worker.errors import StorageError, WorkerError
from worker_support import ffprobe, moov_before_mdat


def _frames(count: int = 9, height: int = 64, width: int = 96) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((count, height, width, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    return output.find_ffmpeg(None)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_mp4_is_h264_yuv420p_faststart(tmp_path: Path, ffmpeg: str) -> None:
    out = tmp_path / "v.mp4"
    thumb = tmp_path / "v.jpg"
    output.write_outputs(_frames(), 8, str(out), str(thumb), ffmpeg)
    info = ffprobe(out)
    assert info["codec_name"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"], info["nb_read_frames"]) == (96, 64, 9)
    assert info["r_frame_rate"] == "8/1"
    assert moov_before_mdat(out)
    assert thumb.read_bytes()[:3] == b"\xff\xd8\xff"
    assert _leftovers(tmp_path) == []
    # Not mkstemp's 0600: readable by whoever serves the file, as any file this user creates.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(thumb.stat().st_mode) == 0o666 & ~umask


def test_uint8_frames_pass_through() -> None:
    frames = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    assert output.to_uint8_frames(frames) is not None
    with pytest.raises(WorkerError):
        output.to_uint8_frames(np.zeros((2, 2, 3)))


def test_missing_directory_is_a_storage_error(tmp_path: Path, ffmpeg: str) -> None:
    out = tmp_path / "absent" / "v.mp4"
    with pytest.raises(StorageError, match="absent"):
        output.write_outputs(_frames(), 8, str(out), str(tmp_path / "absent" / "v.jpg"), ffmpeg)
    assert not out.exists()


def test_rename_failure_leaves_no_partial_file(tmp_path: Path, ffmpeg: str) -> None:
    # The final path is a directory: the rename fails after the encode; the temp file goes.
    out = tmp_path / "v.mp4"
    out.mkdir()
    with pytest.raises(StorageError) as err:
        output.write_outputs(_frames(), 8, str(out), str(tmp_path / "v.jpg"), ffmpeg)
    assert err.value.code == "STORAGE_ERROR"
    assert out.is_dir() and list(out.iterdir()) == []
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "v.jpg").exists()


def test_disk_full_during_fsync(tmp_path: Path, ffmpeg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output.os, "fsync", full)
    out = tmp_path / "v.mp4"
    with pytest.raises(StorageError, match="No space left"):
        output.write_outputs(_frames(), 8, str(out), str(tmp_path / "v.jpg"), ffmpeg)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_thumbnail_failure_removes_the_video(tmp_path: Path, ffmpeg: str) -> None:
    out = tmp_path / "v.mp4"
    thumb_dir = tmp_path / "thumbs"
    with pytest.raises(StorageError):
        output.write_outputs(_frames(), 8, str(out), str(thumb_dir / "v.jpg"), ffmpeg)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_encoder_failure_is_an_engine_error(tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = tmp_path / "v.mp4"
    with pytest.raises(WorkerError) as err:
        output.encode_mp4(_frames(), 8, str(out), str(fake))
    assert err.value.code == "ENGINE_ERROR"
    assert "libx264" in str(err.value)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_find_ffmpeg_prefers_the_configured_binary(tmp_path: Path) -> None:
    assert output.find_ffmpeg("/usr/bin/ffmpeg") == "/usr/bin/ffmpeg"
    with pytest.raises(WorkerError, match="T2V_FFMPEG"):
        output.find_ffmpeg(str(tmp_path / "nope"))


def test_find_ffmpeg_falls_back_to_imageio(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("imageio_ffmpeg")
    monkeypatch.setattr(output.shutil, "which", lambda _name: None)
    assert os.path.isfile(output.find_ffmpeg(None))


def test_the_encoder_runs_below_the_decoder_priority(tmp_path: Path, ffmpeg: str) -> None:
    """ffmpeg's threads yield to the decode (docs/adr/0085): the process, and the threads it
    starts once frames arrive, run ENCODER_NICENESS below the worker."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    encoder = output._Encoder(ffmpeg, 96, 64, 8, str(tmp_path / "v.mp4"), str(tmp_path / "v.mp4"))
    try:
        encoder.write(_frames(4).astype(np.uint8))
        pid = encoder._proc.pid
        threads = os.listdir(f"/proc/{pid}/task")
        nice = {
            int(Path(f"/proc/{pid}/task/{t}/stat").read_text().rsplit(")", 1)[1].split()[16]) for t in threads
        }
    finally:
        encoder.abort()
    assert nice == {min(19, mine + output.ENCODER_NICENESS)}
