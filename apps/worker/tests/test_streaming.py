"""Streamed decode → encode (docs/adr/0085): the same video as the whole-video path, bit for bit.

wan-tiny runs the real WanPipeline and the real ``AutoencoderKLWan``; with ``T2V_STREAM_DECODE``
the pipeline stops at the latents and ``DecodedVideo`` drives the VAE's decoder one latent frame
at a time into ffmpeg. The frames (float and uint8), the thumbnail and the MP4's bytes are
compared with the pipeline's own decode (``output_type="np"``) written the same way, untiled and
tiled (``tiled_decode``'s tile-by-tile order, one tile's cache alive at a time). A cancel between
chunks, or between a tiled decode's tiles, kills ffmpeg and leaves no MP4, no thumbnail and no
temp file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from t2v_worker import output
from t2v_worker.config import WorkerConfig
from t2v_worker.engines.vae_stream import DecodedVideo
from t2v_worker.errors import Cancelled
from worker_support import ffprobe, job_params

pytestmark = pytest.mark.slow

# 9 frames = 3 latent frames: the first chunk (1 frame) and two of 4.
JOB = job_params(width=128, height=64, num_frames=9, num_inference_steps=2)
# 512×256: 3 × 2 tiles per latent frame with diffusers' tile sizes.
TILED_JOB = job_params(width=512, height=256, num_frames=5, num_inference_steps=2)


def _engine(stream: bool, tiling: bool = False) -> Any:
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    engine = WanTinyEngine(WorkerConfig(engine="wan-tiny", stream_decode=stream, vae_tiling=tiling))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engines() -> dict[str, Any]:
    return {"whole": _engine(False), "streamed": _engine(True)}


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    return output.find_ffmpeg(None)


def test_streamed_frames_are_the_pipeline_frames(engines: dict[str, Any]) -> None:
    reference = engines["whole"].generate(JOB, lambda *_: None)
    assert isinstance(reference, np.ndarray)
    video = engines["streamed"].generate(JOB, lambda *_: None)
    assert isinstance(video, DecodedVideo)
    assert video.shape == reference.shape == (9, 64, 128, 3)
    np.testing.assert_array_equal(np.asarray(video), reference)
    again = engines["streamed"].generate(JOB, lambda *_: None)
    chunks = list(again.chunks())
    assert [c.shape[0] for c in chunks] == [1, 4, 4]
    assert all(c.dtype == np.uint8 and c.flags.c_contiguous for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), output.to_uint8_frames(reference))


def test_streamed_mp4_and_thumbnail_are_byte_identical(
    engines: dict[str, Any], tmp_path: Path, ffmpeg: str
) -> None:
    files = {}
    for name, engine in engines.items():
        out, thumb = tmp_path / f"{name}.mp4", tmp_path / f"{name}.jpg"
        output.write_outputs(engine.generate(JOB, lambda *_: None), JOB.fps, str(out), str(thumb), ffmpeg)
        files[name] = (out.read_bytes(), thumb.read_bytes())
    assert files["streamed"] == files["whole"]
    info = ffprobe(tmp_path / "streamed.mp4")
    assert (info["width"], info["height"], info["nb_read_frames"]) == (128, 64, 9)


def test_streamed_tiled_decode_is_diffusers_tiled_decode() -> None:
    whole, streamed = _engine(False, tiling=True), _engine(True, tiling=True)
    firsts: list[bool] = []
    forward = streamed.pipe.vae.decoder.forward

    def recording(*args: Any, **kwargs: Any) -> Any:
        firsts.append(kwargs["first_chunk"])
        return forward(*args, **kwargs)

    streamed.pipe.vae.decoder.forward = recording
    reference = whole.generate(TILED_JOB, lambda *_: None)
    frames = np.asarray(streamed.generate(TILED_JOB, lambda *_: None))
    # 6 tiles × 2 latent frames, tile by tile: each tile's frames one after the other with its
    # own cache (frame by frame across tiles would keep all 6 caches alive at once).
    assert firsts == [True, False] * 6
    np.testing.assert_array_equal(frames, reference)


def test_a_cancel_during_a_tiled_decode_stops_it_between_tiles(tmp_path: Path, ffmpeg: str) -> None:
    engine = _engine(True, tiling=True)
    forward = engine.pipe.vae.decoder.forward
    calls = {"decoder": 0, "check": 0}

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["decoder"] += 1
        return forward(*args, **kwargs)

    def check() -> None:
        calls["check"] += 1
        if calls["check"] == 3:
            raise Cancelled("cancelled during the tiled decode")

    engine.pipe.vae.decoder.forward = counting
    video = engine.generate(TILED_JOB, lambda *_: None)
    with pytest.raises(Cancelled):
        output.write_outputs(
            video, TILED_JOB.fps, str(tmp_path / "v.mp4"), str(tmp_path / "v.jpg"), ffmpeg, check
        )
    # The third check came before the third decoder call: no frame was handed out, 10 tiles'
    # frames were never decoded, and nothing was written.
    assert calls["decoder"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_automatic_tiling_follows_the_budget() -> None:
    from t2v_worker.engines.vae_stream import choose_tiling, decode_estimate

    engine = _engine(True)
    vae = engine.pipe.vae
    need = decode_estimate(vae, TILED_JOB.width, TILED_JOB.height)
    roomy = WorkerConfig(engine="wan-tiny", vae_decode_budget_mib=max(1, (need >> 20) + 1))
    tight = WorkerConfig(engine="wan-tiny", vae_decode_budget_mib=1)
    assert need > 2**20, "the estimate should exceed the tight budget at 512x256"
    assert not choose_tiling(vae, roomy, "cpu", TILED_JOB) and not vae.use_tiling
    assert choose_tiling(vae, tight, "cpu", TILED_JOB) and vae.use_tiling
    # Today's default on this machine: the host's available memory; a 512×256 decode fits.
    assert not choose_tiling(vae, WorkerConfig(engine="wan-tiny"), "cpu", TILED_JOB)


def test_cancel_mid_stream_leaves_nothing(engines: dict[str, Any], tmp_path: Path, ffmpeg: str) -> None:
    video = engines["streamed"].generate(JOB, lambda *_: None)
    out, thumb = tmp_path / "v.mp4", tmp_path / "v.jpg"
    seen = {"chunks": 0}
    cancel = threading.Event()

    def check() -> None:
        seen["chunks"] += 1
        if seen["chunks"] == 2:
            cancel.set()  # what the reader thread does on a cancel request
        if cancel.is_set():
            raise Cancelled("cancelled during decode")

    with pytest.raises(Cancelled):
        output.write_outputs(video, JOB.fps, str(out), str(thumb), ffmpeg, check)
    assert seen["chunks"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_decoder_failure_mid_stream_leaves_nothing(
    engines: dict[str, Any], tmp_path: Path, ffmpeg: str
) -> None:
    video = engines["streamed"].generate(JOB, lambda *_: None)
    decoder = video._vae.decoder
    forward = decoder.forward
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("CUDA out of memory (simulated on the third latent frame)")
        return forward(*args, **kwargs)

    decoder.forward = failing
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            output.write_outputs(video, JOB.fps, str(tmp_path / "v.mp4"), str(tmp_path / "v.jpg"), ffmpeg)
    finally:
        decoder.forward = forward
    assert sorted(p.name for p in tmp_path.iterdir()) == []
